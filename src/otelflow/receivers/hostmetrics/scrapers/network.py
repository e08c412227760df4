"""``network``: packets, drops, errors and bytes per interface; TCP connections by state; conntrack.

Interface counters come from psutil. TCP states are counted from /proc/net/tcp and tcp6 (what
gopsutil's connection list boils down to, without walking every process' file descriptors).
"""

from __future__ import annotations

import psutil

from otelflow.receivers.hostmetrics.config import included
from otelflow.receivers.hostmetrics.scrapers import Scraper, now_ns

TCP_STATES = {
    "01": "ESTABLISHED", "02": "SYN_SENT", "03": "SYN_RECV", "04": "FIN_WAIT_1", "05": "FIN_WAIT_2",
    "06": "TIME_WAIT", "07": "CLOSE", "08": "CLOSE_WAIT", "09": "LAST_ACK", "0A": "LISTEN", "0B": "CLOSING",
}
ALL_STATES = ("CLOSE_WAIT", "CLOSE", "CLOSING", "DELETE", "ESTABLISHED", "FIN_WAIT_1", "FIN_WAIT_2", "LAST_ACK",
              "LISTEN", "SYN_SENT", "SYN_RECV", "TIME_WAIT")


class NetworkScraper(Scraper):
    name = "network"

    def scrape(self):
        mb, errors = self.mb, []
        now = now_ns()
        try:
            counters = psutil.net_io_counters(pernic=True)
            for nic, c in counters.items():
                if not included(nic, self.cfg.include, self.cfg.exclude):
                    continue
                mb.record("system.network.packets", now, c.packets_sent, device=nic, direction="transmit")
                mb.record("system.network.packets", now, c.packets_recv, device=nic, direction="receive")
                mb.record("system.network.dropped", now, c.dropout, device=nic, direction="transmit")
                mb.record("system.network.dropped", now, c.dropin, device=nic, direction="receive")
                mb.record("system.network.errors", now, c.errout, device=nic, direction="transmit")
                mb.record("system.network.errors", now, c.errin, device=nic, direction="receive")
                mb.record("system.network.io", now, c.bytes_sent, device=nic, direction="transmit")
                mb.record("system.network.io", now, c.bytes_recv, device=nic, direction="receive")
        except OSError as exc:
            errors.append(f"failed to read network IO stats: {exc}")
        if mb.enabled("system.network.connections"):
            now = now_ns()
            try:
                counts = dict.fromkeys(ALL_STATES, 0)
                for name in ("tcp", "tcp6"):
                    path = self.fs.proc("net", name)
                    if not path.exists():
                        continue
                    for line in path.read_text().splitlines()[1:]:
                        fields = line.split()
                        if len(fields) > 3:
                            state = TCP_STATES.get(fields[3].upper(), "")
                            counts[state] = counts.get(state, 0) + 1
                for state, count in counts.items():
                    mb.record("system.network.connections", now, count, protocol="tcp", state=state)
            except OSError as exc:
                errors.append(f"failed to read TCP connections: {exc}")
        if mb.enabled("system.network.conntrack.count") or mb.enabled("system.network.conntrack.max"):
            now = now_ns()
            try:
                base = self.fs.proc("sys", "net", "netfilter")
                count = int((base / "nf_conntrack_count").read_text().strip())
                limit = int((base / "nf_conntrack_max").read_text().strip())
                mb.record("system.network.conntrack.count", now, count)
                mb.record("system.network.conntrack.max", now, limit)
            except (OSError, ValueError) as exc:
                errors.append(f"failed to read conntrack info: {exc}")
        return mb.emit(), errors
