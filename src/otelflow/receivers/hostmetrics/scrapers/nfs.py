"""``nfs``: accepted in the config as upstream (a development-stage scraper), not implemented.

It reads nothing and reports, once, that otelflow does not collect NFS statistics.
"""

from __future__ import annotations

from otelflow.receivers.hostmetrics.scrapers import Scraper


class NFSScraper(Scraper):
    name = "nfs"

    def start(self) -> None:
        super().start()
        self.log.warning("the nfs scraper is not implemented by otelflow; it emits no metrics")

    def scrape(self):
        return [], []
