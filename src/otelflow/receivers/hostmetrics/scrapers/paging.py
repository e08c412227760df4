"""``paging``: swap usage per device (/proc/swaps), page operations and faults (/proc/vmstat).

As gopsutil, every /proc/vmstat counter used here is multiplied by 4 KiB (faults too).
"""

from __future__ import annotations

from otelflow.receivers.hostmetrics.scrapers import Scraper, now_ns

PAGE = 4 * 1024

def parse_swaps(text: str) -> list[tuple[str, int, int]]:
    """(device, used bytes, total bytes) per swap area, with upstream's header checks."""
    lines = text.splitlines()
    if not lines:
        raise ValueError('unexpected end-of-file in "/proc/swaps"')
    header = lines[0].split()
    if len(header) < 4 or header[0] != "Filename" or header[2] != "Size" or header[3] != "Used":
        raise ValueError(f'couldn\'t parse "/proc/swaps": unexpected header {header}')
    out = []
    for line in lines[1:]:
        fields = line.split()
        if len(fields) < 4:
            raise ValueError(f'couldn\'t parse "/proc/swaps": expected ≥4 fields in row but got {fields}')
        total, used = int(fields[2]) * 1024, int(fields[3]) * 1024
        out.append((fields[0], used, total))
    return out

class PagingScraper(Scraper):
    name = "paging"

    def scrape(self):
        mb, errors = self.mb, []
        now = now_ns()
        try:
            with open("/proc/swaps", encoding="utf-8") as fh:  # upstream reads this path as it is
                swaps = parse_swaps(fh.read())
            for device, used, total in swaps:
                mb.record("system.paging.usage", now, used, device=device, state="used")
                mb.record("system.paging.usage", now, total - used, device=device, state="free")
                mb.record("system.paging.utilization", now, used / total if total else float("nan"),
                          device=device, state="used")
                mb.record("system.paging.utilization", now, (total - used) / total if total else float("nan"),
                          device=device, state="free")
        except (OSError, ValueError) as exc:
            errors.append(f"failed to read page file stats: {exc}")
        now = now_ns()
        try:
            vm = {}
            for line in self.fs.read("vmstat").splitlines():
                key, _, value = line.partition(" ")
                if value.strip().isdigit():
                    vm[key] = int(value) * PAGE
            mb.record("system.paging.operations", now, vm.get("pswpin", 0), direction="page_in", type="major")
            mb.record("system.paging.operations", now, vm.get("pswpout", 0), direction="page_out", type="major")
            mb.record("system.paging.operations", now, vm.get("pgpgin", 0), direction="page_in", type="minor")
            mb.record("system.paging.operations", now, vm.get("pgpgout", 0), direction="page_out", type="minor")
            mb.record("system.paging.faults", now, vm.get("pgmajfault", 0), type="major")
            mb.record("system.paging.faults", now, vm.get("pgfault", 0) - vm.get("pgmajfault", 0), type="minor")
        except OSError as exc:
            errors.append(f"failed to read swap info: {exc}")
        return mb.emit(), errors
