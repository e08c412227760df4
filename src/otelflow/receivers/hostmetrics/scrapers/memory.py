"""``memory``: usage and utilization by state, limit, page size and Linux extras from /proc/meminfo.

Values are read as gopsutil reads them: ``cached`` includes SReclaimable, and ``used`` is
MemTotal − MemAvailable (upstream's beta gate UseLinuxMemAvailable, on by default) or
MemTotal − MemFree − Buffers − Cached with that gate off.
"""

from __future__ import annotations

import math
import os

from otelflow.core import featuregates
from otelflow.receivers.hostmetrics.scrapers import Scraper, now_ns

USE_MEM_AVAILABLE = featuregates.REGISTRY.register(
    "receiver.hostmetricsreceiver.UseLinuxMemAvailable", featuregates.BETA,
    "When enabled, the used value for the system.memory.usage and system.memory.utilization metrics will be based "
    "on the Linux kernel's MemAvailable statistic instead of MemFree, Buffers, and Cached.").id


def go_round(x: float) -> float:
    return math.copysign(math.floor(abs(x) + 0.5), x)


def ratio(num: int, den: int) -> float:
    """Upstream's precision.Ratio: rounded to as many decimals as the larger operand has digits."""
    if den == 0:
        return math.nan if num == 0 else math.inf
    digits = max(int(math.floor(math.log10(max(num, den, 1)))) + 1, 1)
    mul = 10.0 ** digits
    return go_round(num / den * mul) / mul


def meminfo(text: str) -> dict[str, int]:
    out = {}
    for line in text.splitlines():
        key, _, rest = line.partition(":")
        parts = rest.split()
        if not parts:
            continue
        try:
            value = int(parts[0])
        except ValueError:
            continue
        out[key.strip()] = value * 1024 if len(parts) > 1 and parts[1] == "kB" else value
    return out


class MemoryScraper(Scraper):
    name = "memory"

    def scrape(self):
        now = now_ns()
        try:
            info = meminfo(self.fs.read("meminfo"))
        except OSError as exc:
            return [], [str(exc)]
        total, free = info.get("MemTotal", 0), info.get("MemFree", 0)
        buffers = info.get("Buffers", 0)
        sreclaimable = info.get("SReclaimable", 0)
        cached = info.get("Cached", 0) + sreclaimable
        available = info.get("MemAvailable", cached + free)
        sunreclaim = info.get("SUnreclaim", 0)
        if featuregates.REGISTRY.is_enabled(USE_MEM_AVAILABLE):
            used = total - available
        else:
            used = total - free - buffers - cached
        mb = self.mb
        states = (("used", used), ("free", free), ("buffered", buffers), ("cached", cached),
                  ("slab_reclaimable", sreclaimable), ("slab_unreclaimable", sunreclaim))
        for state, value in states:
            mb.record("system.memory.usage", now, value, state=state)
        if total <= 0:
            return [], [f"invalid total memory: {total}"]
        for state, value in states:
            mb.record("system.memory.utilization", now, ratio(max(value, 0), total), state=state)
        mb.record("system.memory.limit", now, total)
        mb.record("system.linux.memory.available", now, available)
        mb.record("system.linux.memory.dirty", now, info.get("Dirty", 0))
        mb.record("system.memory.linux.shared", now, info.get("Shmem", 0))
        hp_total, hp_free = info.get("HugePages_Total", 0), info.get("HugePages_Free", 0)
        mb.record("system.memory.linux.hugepages.page_size", now, info.get("Hugepagesize", 0))
        mb.record("system.memory.linux.hugepages.limit", now, hp_total)
        mb.record("system.memory.linux.hugepages.usage", now, hp_free, **{"system.memory.linux.hugepages.state": "free"})
        mb.record("system.memory.linux.hugepages.usage", now, hp_total - hp_free,
                  **{"system.memory.linux.hugepages.state": "used"})
        mb.record("system.memory.linux.hugepages.reserved", now, info.get("HugePages_Rsvd", 0))
        mb.record("system.memory.linux.hugepages.surplus", now, info.get("HugePages_Surp", 0))
        if hp_total:
            mb.record("system.memory.linux.hugepages.utilization", now, ratio(hp_free, hp_total),
                      **{"system.memory.linux.hugepages.state": "free"})
            mb.record("system.memory.linux.hugepages.utilization", now, ratio(hp_total - hp_free, hp_total),
                      **{"system.memory.linux.hugepages.state": "used"})
        mb.record("system.memory.page_size", now, os.sysconf("SC_PAGE_SIZE"))
        return mb.emit(), []
