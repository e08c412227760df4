"""``system``: uptime in whole seconds since boot."""

from __future__ import annotations

import time

from otelflow.receivers.hostmetrics.scrapers import Scraper, now_ns


class SystemScraper(Scraper):
    name = "system"

    def scrape(self):
        now = now_ns()
        self.mb.record("system.uptime", now, float(int(time.time()) - self.fs.boot_time()))
        return self.mb.emit(), []
