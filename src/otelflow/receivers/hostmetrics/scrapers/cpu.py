"""``cpu``: per-CPU time by state, utilization between scrapes, logical/physical counts, frequency."""

from __future__ import annotations

import psutil

from otelflow.receivers.hostmetrics.scrapers import Scraper, now_ns

STATES = (("user", "user"), ("system", "system"), ("idle", "idle"), ("irq", "interrupt"), ("nice", "nice"),
          ("softirq", "softirq"), ("steal", "steal"), ("iowait", "wait"))


def _total(t) -> float:
    return t.user + t.system + t.idle + t.nice + t.iowait + t.irq + t.softirq + t.steal


class CPUScraper(Scraper):
    name = "cpu"

    def start(self) -> None:
        super().start()
        self.previous: list | None = None

    def scrape(self):
        mb = self.mb
        now = now_ns()
        try:
            times = psutil.cpu_times(percpu=True)
        except OSError as exc:
            return [], [str(exc)]
        for i, t in enumerate(times):
            for field, state in STATES:
                mb.record("system.cpu.time", now, getattr(t, field, 0.0), cpu=f"cpu{i}", state=state)
        if self.previous is not None:
            for i, (old, new) in enumerate(zip(self.previous, times)):
                elapsed = _total(new) - _total(old)
                for field, state in STATES:
                    value = (getattr(new, field, 0.0) - getattr(old, field, 0.0)) / elapsed if elapsed > 0 else 0.0
                    mb.record("system.cpu.utilization", now, value, cpu=f"cpu{i}", state=state)
        self.previous = times
        errors = []
        if mb.enabled("system.cpu.physical.count"):
            mb.record("system.cpu.physical.count", now, psutil.cpu_count(logical=False) or 0)
        if mb.enabled("system.cpu.logical.count"):
            mb.record("system.cpu.logical.count", now, psutil.cpu_count(logical=True) or 0)
        if mb.enabled("system.cpu.frequency"):
            try:
                for processor, mhz in self._cpuinfo():
                    mb.record("system.cpu.frequency", now, mhz * 1_000_000, cpu=f"cpu{processor}")
            except OSError as exc:
                errors.append(str(exc))
        return mb.emit(), errors

    def _cpuinfo(self) -> list[tuple[int, float]]:
        """(processor, MHz) from /proc/cpuinfo, as procfs reads it."""
        out, processor = [], None
        for line in self.fs.read("cpuinfo").splitlines():
            key, _, value = line.partition(":")
            key, value = key.strip(), value.strip()
            if key == "processor":
                processor = int(value)
            elif key == "cpu MHz" and processor is not None:
                out.append((processor, float(value)))
        return out
