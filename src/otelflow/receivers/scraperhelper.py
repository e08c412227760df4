"""The scraper controller of the one-scraper receivers (``redis``, ``nginx``, ``http_check``).

Upstream builds these with ``scraperhelper``: ``collection_interval``/``initial_delay``/``timeout``
keys, a fixed ticker, a first scrape right after ``initial_delay``, and the ``otelcol_scraper_*``
counters. The metric toggles and the builder are host_metrics' (``hostmetrics.builder``, given the
receiver's own metadata). A failing scrape is counted every time but logged once per distinct error
until a scrape succeeds again, so an unreachable server cannot flood the log.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.metrics.v1 import metrics_pb2
from pydantic import model_validator

from otelflow import __version__
from otelflow.config.model import Duration
from otelflow.core.component import Component, Host, Settings, Signal
from otelflow.core.consumer import Consumer, ConsumerError
from otelflow.pdata import count_data_points
from otelflow.receivers.ticker import Ticker
from otelflow.receivers.hostmetrics.builder import MetricsBuilder, ScraperBase, scraper_fields

CONTRIB = "github.com/open-telemetry/opentelemetry-collector-contrib/receiver/"

__all__ = ["ControllerConfig", "ScraperReceiver", "metrics_fields", "new_builder"]


class ControllerConfig(ScraperBase):
    """``scraperhelper.ControllerConfig`` plus mdatagen's ``metrics``/``resource_attributes`` (added per receiver)."""

    collection_interval: Duration = 60.0
    initial_delay: Duration = 1.0
    timeout: Duration = 0.0

    @model_validator(mode="after")
    def _controller(self) -> "ControllerConfig":
        problems = []
        if self.collection_interval <= 0:
            problems.append('"collection_interval": requires positive value')
        if self.timeout < 0:
            problems.append('"timeout": requires positive value')
        if problems:
            raise ValueError("; ".join(problems))
        return self


def metrics_fields(name: str, metadata: dict) -> dict[str, Any]:
    """The ``metrics`` and ``resource_attributes`` fields of a receiver's config, from its metadata."""
    return scraper_fields(name, metadata)


def new_builder(name: str, config: ScraperBase, metadata: dict, settings: Settings) -> MetricsBuilder:
    """An mdatagen-style builder whose scope is ``…/receiver/<name>receiver`` and has no schema URL."""
    return MetricsBuilder(name, config, time.time_ns(), __version__, settings.logger, metadata=metadata,
                          scope=CONTRIB + name + "receiver", schema_url="")


class ScraperReceiver(Ticker, Component):
    """Runs ``scrape()`` on upstream's schedule and sends what it returns; subclasses do the I/O."""

    scraper_name = ""

    def __init__(self, settings: Settings, config: Any, consumers: dict[Signal, Consumer]):
        self.settings = settings
        self.config = config
        self.consumer = consumers[Signal.METRICS]
        self.log = settings.logger
        self.failures = 0  # scrapes that ended in an error, for tests and zpages-like views
        self._last_error: str | None = None
        self._task: asyncio.Task | None = None
        self._stop = asyncio.Event()

    # -- what a receiver provides ----------------------------------------------------------------
    async def start_scraper(self, host: Host) -> None:
        """Opens clients; an exception here fails the collector's start, as upstream's ``start``."""

    async def scrape(self) -> list[metrics_pb2.ResourceMetrics]:
        """One scrape; raise to report an error (whatever was recorded before is dropped)."""
        raise NotImplementedError

    async def close_scraper(self) -> None:
        """Closes clients."""

    # -- the controller --------------------------------------------------------------------------
    async def start(self, host: Host) -> None:
        await self.start_scraper(host)
        self.start_ticking()

    async def scrape_once(self) -> None:
        labels = {"receiver": str(self.settings.id), "scraper": self.scraper_name}
        try:
            call = self.scrape()
            rms = await (asyncio.wait_for(call, self.config.timeout) if self.config.timeout > 0 else call)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a failing server must not stop the ticker
            self._failed(exc, labels)
            return
        if self._last_error is not None:
            self.log.info("Scraping recovered (scraper %s)", self.scraper_name)
            self._last_error = None
        await self._send(rms, labels)

    def _failed(self, exc: BaseException, labels: dict[str, str]) -> None:
        self.failures += 1
        message = "context deadline exceeded" if isinstance(exc, asyncio.TimeoutError) else str(exc) or type(exc).__name__
        self.settings.telemetry.add("otelcol_scraper_errored_metric_points", 1, **labels)
        if message != self._last_error:
            self.log.error("Error scraping metrics (scraper %s): %s", self.scraper_name, message)
            self._last_error = message

    async def _send(self, rms: list[metrics_pb2.ResourceMetrics], labels: dict[str, str]) -> None:
        request = ExportMetricsServiceRequest()
        request.resource_metrics.extend(rms)
        count = count_data_points(request)
        self.settings.telemetry.add("otelcol_scraper_scraped_metric_points", count, **labels)
        if not count:
            return
        receiver = {"receiver": labels["receiver"]}
        try:
            await self.consumer.consume(request)
        except ConsumerError as exc:
            self.settings.telemetry.add("otelcol_receiver_refused_metric_points", count, transport="", **receiver)
            self.log.debug("Scrape commit failed: %s", exc)
            return
        self.settings.telemetry.add("otelcol_receiver_accepted_metric_points", count, transport="", **receiver)

    async def shutdown(self) -> None:
        await self.stop_ticking()
        await self.close_scraper()
