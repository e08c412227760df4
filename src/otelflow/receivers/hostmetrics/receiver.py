"""The receiver: upstream's scraper controller around the configured scrapers.

After ``initial_delay`` it scrapes at once and then every ``collection_interval`` (a fixed
ticker, as Go's). Each scraper runs in a worker thread, so the event loop never blocks on /proc;
their ResourceMetrics are joined into one request per tick. A scraper that fails, raises or
overruns ``timeout`` is logged ("Error scraping metrics") and the others' data still goes out.
"""

from __future__ import annotations

import asyncio

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest

from otelflow import __version__
from otelflow.core import featuregates
from otelflow.core.component import Component, Host, Settings, Signal
from otelflow.core.consumer import Consumer, ConsumerError
from otelflow.pdata import count_data_points
from otelflow.receivers.ticker import Ticker
from otelflow.receivers.hostmetrics.config import Config
from otelflow.receivers.hostmetrics.hostfs import HostFS
from otelflow.receivers.hostmetrics.scrapers import Scraper
from otelflow.receivers.hostmetrics.scrapers.cpu import CPUScraper
from otelflow.receivers.hostmetrics.scrapers.disk import DiskScraper
from otelflow.receivers.hostmetrics.scrapers.filesystem import FilesystemScraper
from otelflow.receivers.hostmetrics.scrapers.load import LoadScraper
from otelflow.receivers.hostmetrics.scrapers.memory import MemoryScraper
from otelflow.receivers.hostmetrics.scrapers.network import NetworkScraper
from otelflow.receivers.hostmetrics.scrapers.nfs import NFSScraper
from otelflow.receivers.hostmetrics.scrapers.paging import PagingScraper
from otelflow.receivers.hostmetrics.scrapers.process import DONT_EMIT_V0, EMIT_V1, ProcessScraper
from otelflow.receivers.hostmetrics.scrapers.processes import ProcessesScraper
from otelflow.receivers.hostmetrics.scrapers.system import SystemScraper

SCRAPERS: dict[str, type[Scraper]] = {
    "cpu": CPUScraper, "disk": DiskScraper, "filesystem": FilesystemScraper, "load": LoadScraper,
    "memory": MemoryScraper, "network": NetworkScraper, "nfs": NFSScraper, "paging": PagingScraper,
    "processes": ProcessesScraper, "process": ProcessScraper, "system": SystemScraper,
}

RECEIVER_DONT_EMIT_V0 = featuregates.REGISTRY.register(
    "receiver.hostmetrics.DontEmitV0SystemConventions", featuregates.ALPHA,
    "When enabled, all scrapers stop emitting legacy semantic convention metrics, superseding per-scraper gates.").id
RECEIVER_EMIT_V1 = featuregates.REGISTRY.register(
    "receiver.hostmetrics.EmitV1SystemConventions", featuregates.ALPHA,
    "When enabled, all scrapers emit metrics aligned with the latest semantic conventions, superseding "
    "per-scraper gates.").id


class HostMetricsReceiver(Ticker, Component):
    def __init__(self, settings: Settings, config: Config, consumers: dict[Signal, Consumer]):
        self.settings = settings
        self.config = config
        self.consumer = consumers[Signal.METRICS]
        self.log = settings.logger
        self.scrapers: list[Scraper] = []
        self._task: asyncio.Task | None = None
        self._stop = asyncio.Event()

    async def start(self, host: Host) -> None:
        for receiver_gate, scraper_gate in ((RECEIVER_DONT_EMIT_V0, DONT_EMIT_V0), (RECEIVER_EMIT_V1, EMIT_V1)):
            if featuregates.REGISTRY.is_enabled(receiver_gate):
                self.log.warning("receiver-level gate enabled, enabling process scraper gate for the entire "
                                 "collector process (receiver-gate %s, scraper-gate %s)", receiver_gate, scraper_gate)
                featuregates.REGISTRY.set(scraper_gate, True)
        fs = HostFS(self.config.root_path)
        fs.apply()
        for name, cfg in self.config.scrapers.configured().items():
            scraper = SCRAPERS[name](cfg, fs, __version__, self.log.getChild(name))
            await asyncio.to_thread(scraper.start)
            self.scrapers.append(scraper)
        self.start_ticking()

    async def scrape_once(self) -> None:
        request = ExportMetricsServiceRequest()
        labels = {"receiver": str(self.settings.id)}
        for scraper in self.scrapers:
            try:
                call = asyncio.to_thread(scraper.scrape)
                if self.config.timeout > 0:
                    call = asyncio.wait_for(call, self.config.timeout)
                rms, errors = await call
            except asyncio.TimeoutError:
                rms, errors = [], ["context deadline exceeded"]
            except Exception as exc:  # a broken scraper must not take the others down
                rms, errors = [], [f"{type(exc).__name__}: {exc}"]
            request.resource_metrics.extend(rms)
            points = sum(count_data_points(_wrap(rm)) for rm in rms)
            self.settings.telemetry.add("otelcol_scraper_scraped_metric_points", points, scraper=scraper.name,
                                        **labels)
            if errors:
                self.settings.telemetry.add("otelcol_scraper_errored_metric_points", len(errors),
                                            scraper=scraper.name, **labels)
                self.log.error("Error scraping metrics (scraper %s): %s", scraper.name, "; ".join(errors[:20])
                               + (f"; and {len(errors) - 20} more" if len(errors) > 20 else ""))
        if not request.resource_metrics:
            return
        count = count_data_points(request)
        try:
            await self.consumer.consume(request)
        except ConsumerError as exc:
            self.settings.telemetry.add("otelcol_receiver_refused_metric_points", count, transport="", **labels)
            self.log.debug("Scrape commit failed: %s", exc)
            return
        self.settings.telemetry.add("otelcol_receiver_accepted_metric_points", count, transport="", **labels)

    async def shutdown(self) -> None:
        await self.stop_ticking()
        for scraper in self.scrapers:
            scraper.shutdown()
        if self.config.root_path not in ("", "/"):
            HostFS.reset()


def _wrap(rm) -> ExportMetricsServiceRequest:
    request = ExportMetricsServiceRequest()
    request.resource_metrics.append(rm)
    return request
