"""``load``: 1/5/15-minute load averages, per CPU with ``cpu_average``."""

from __future__ import annotations

import psutil

from otelflow.receivers.hostmetrics.scrapers import Scraper, now_ns


class LoadScraper(Scraper):
    name = "load"

    def scrape(self):
        now = now_ns()
        try:
            one, five, fifteen = (float(x) for x in self.fs.read("loadavg").split()[:3])
        except (OSError, ValueError) as exc:
            return [], [str(exc)]
        if self.cfg.cpu_average:
            cpus = psutil.cpu_count(logical=True) or 1
            one, five, fifteen = one / cpus, five / cpus, fifteen / cpus
        self.mb.record("system.cpu.load_average.1m", now, one)
        self.mb.record("system.cpu.load_average.5m", now, five)
        self.mb.record("system.cpu.load_average.15m", now, fifteen)
        return self.mb.emit(), []
