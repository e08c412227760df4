"""One module per scraper; each reads the host with psutil (or /proc where psutil has no call for a
field upstream reports) and records into a MetricsBuilder. Scrapes run in a worker thread."""

from __future__ import annotations

import logging
import time
from typing import Any

from otelflow.receivers.hostmetrics.builder import MetricsBuilder, ScraperBase
from otelflow.receivers.hostmetrics.hostfs import HostFS


class Scraper:
    """Base: ``start`` builds the builder (start time = boot time unless a scraper says otherwise)."""

    name = ""
    start_at_boot = True

    def __init__(self, cfg: ScraperBase, fs: HostFS, version: str, logger: logging.Logger,
                 gates: dict[str, bool] | None = None):
        self.cfg = cfg
        self.fs = fs
        self.version = version
        self.log = logger
        self.gates = gates or {}
        self.mb: MetricsBuilder | None = None

    def start(self) -> None:
        start_ns = self.fs.boot_time_ns() if self.start_at_boot else time.time_ns()
        self.mb = MetricsBuilder(self.name, self.cfg, start_ns, self.version, self.log,
                                 emit_v1=self.gates.get("emit_v1", False),
                                 dont_emit_v0=self.gates.get("dont_emit_v0", False))

    def scrape(self) -> tuple[list[Any], list[str]]:
        """The ResourceMetrics of one scrape and the errors met (partial results still count)."""
        raise NotImplementedError

    def shutdown(self) -> None:
        return None


def now_ns() -> int:
    return time.time_ns()
