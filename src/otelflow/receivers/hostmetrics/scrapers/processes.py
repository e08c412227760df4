"""``processes``: process counts by status and processes created since boot.

Statuses come from each process' state letter (via psutil); running and blocked are then taken from
/proc/stat and anything left of /proc/loadavg's total is ``unknown``, as upstream does.
"""

from __future__ import annotations

import psutil

from otelflow.receivers.hostmetrics.scrapers import Scraper, now_ns

STATUS = {
    psutil.STATUS_RUNNING: "running", psutil.STATUS_SLEEPING: "sleeping", psutil.STATUS_DISK_SLEEP: "blocked",
    psutil.STATUS_STOPPED: "stopped", psutil.STATUS_TRACING_STOP: "stopped", psutil.STATUS_ZOMBIE: "zombies",
    psutil.STATUS_IDLE: "idle", psutil.STATUS_LOCKED: "locked", psutil.STATUS_WAITING: "paging",
    psutil.STATUS_WAKING: "paging",  # Linux "W", which gopsutil calls Wait
}


class ProcessesScraper(Scraper):
    name = "processes"

    def scrape(self):
        now = now_ns()
        counts: dict[str, int] = {}
        try:
            for proc in psutil.process_iter():
                try:
                    status = STATUS.get(proc.status(), "unknown")
                except (psutil.Error, OSError):
                    continue
                counts[status] = counts.get(status, 0) + 1
            stat = {}
            for line in self.fs.read("stat").splitlines():
                key, _, value = line.partition(" ")
                if key in ("processes", "procs_running", "procs_blocked"):
                    stat[key] = int(value)
            total = int(self.fs.read("loadavg").split()[3].split("/")[1])
        except (OSError, ValueError, IndexError, psutil.Error) as exc:
            return [], [str(exc)]
        counts["blocked"] = stat.get("procs_blocked", 0)
        counts["running"] = stat.get("procs_running", 0)
        known = sum(counts.values())
        if total > known:
            counts["unknown"] = total - known
        for status, count in counts.items():
            self.mb.record("system.processes.count", now, count, status=status)
        self.mb.record("system.processes.created", now, stat.get("processes", 0))
        return self.mb.emit(), []
