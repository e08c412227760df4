"""``disk``: I/O bytes, operations, times, merged and pending operations per device (/proc/diskstats).

psutil's per-disk counters lack the in-flight and weighted-time fields upstream reports, so the
file is read the way gopsutil reads it (512-byte sectors, times in ms turned into seconds, all-zero devices skipped).
"""

from __future__ import annotations

from otelflow.receivers.hostmetrics.config import included
from otelflow.receivers.hostmetrics.scrapers import Scraper, now_ns

SECTOR = 512


def diskstats(text: str) -> dict[str, list[int]]:
    out = {}
    for line in text.splitlines():
        fields = line.split()
        if len(fields) < 14:
            continue
        try:
            values = [int(x) for x in fields[3:14]]
        except ValueError:
            continue
        if any(values):  # devices that never did anything are left out, as gopsutil does
            out[fields[2]] = values
    return out


class DiskScraper(Scraper):
    name = "disk"

    def scrape(self):
        now = now_ns()
        try:
            stats = diskstats(self.fs.read("diskstats"))
        except OSError as exc:
            return [], [str(exc)]
        mb, cfg = self.mb, self.cfg
        for device, f in stats.items():
            if not included(device, cfg.include, cfg.exclude):
                continue
            reads, merged_r, sectors_r, time_r, writes, merged_w, sectors_w, time_w, in_flight, io_ms, weighted = f
            mb.record("system.disk.io", now, sectors_r * SECTOR, device=device, direction="read")
            mb.record("system.disk.io", now, sectors_w * SECTOR, device=device, direction="write")
            mb.record("system.disk.operations", now, reads, device=device, direction="read")
            mb.record("system.disk.operations", now, writes, device=device, direction="write")
            mb.record("system.disk.io_time", now, io_ms / 1000, device=device)
            mb.record("system.disk.operation_time", now, time_r / 1000, device=device, direction="read")
            mb.record("system.disk.operation_time", now, time_w / 1000, device=device, direction="write")
            mb.record("system.disk.pending_operations", now, in_flight, device=device)
            mb.record("system.disk.weighted_io_time", now, weighted / 1000, device=device)
            mb.record("system.disk.merged", now, merged_r, device=device, direction="read")
            mb.record("system.disk.merged", now, merged_w, device=device, direction="write")
        return mb.emit(), []
