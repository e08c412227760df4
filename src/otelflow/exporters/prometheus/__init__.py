"""The ``prometheus`` exporter: keeps the latest value of every series it receives and serves them
on ``/metrics`` for Prometheus to scrape, as upstream's exporter/prometheusexporter (v0.161.0).

- Translation (names, units, ``_total``, labels, ``job``/``instance``, ``target_info``, scope
  labels): :mod:`otelflow.pdata.prometheus_names` and :mod:`.collector`.
- Accumulation (delta sums and histograms turned cumulative, staleness after
  ``metric_expiration``): :mod:`.accumulator`.
- Exposition: the Prometheus text format, or OpenMetrics with exemplars when
  ``enable_open_metrics`` is on and the scraper asks for it: :mod:`.exposition`.

The accumulator lives in ``settings.shared``, so it belongs to the component ID (one per
``prometheus/name`` in a service). The HTTP server is aiohttp on the event loop; building and
encoding the exposition runs on a worker thread from a snapshot taken on the loop.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiohttp import web

from otelflow.core.component import Component, Factory, Host, Kind, Settings, Signal
from otelflow.core.netaddr import split_host_port
from otelflow.core.tls import server_ssl_context
from otelflow.exporters.prometheus import exposition
from otelflow.exporters.prometheus.accumulator import Accumulator
from otelflow.exporters.prometheus.collector import PrometheusCollector
from otelflow.exporters.prometheus.config import Config, ResourceAttributeFilter
from otelflow.pdata import count_data_points

__all__ = ["Config", "PrometheusExporter", "factory"]


class _State:
    """What every instance of one component ID shares: the series, the collector, the server."""

    def __init__(self, config: Config, logger: logging.Logger):
        self.config = config
        self.log = logger
        labels = config.resource_labels()
        if labels is config.resource_to_telemetry_conversion:
            logger.warning("resource_to_telemetry_conversion is deprecated; use resource_constant_labels instead")
        self.accumulator = Accumulator(config.metric_expiration, ResourceAttributeFilter(labels) if labels else None)
        with_suffixes, utf8 = config.naming()
        self.collector = PrometheusCollector(
            self.accumulator.snapshot,
            namespace=config.namespace,
            const_labels=config.const_labels,
            send_timestamps=config.send_timestamps,
            without_scope_info=config.without_scope_info,
            with_suffixes=with_suffixes,
            utf8=utf8,
            expiration=config.metric_expiration,
        )
        self.runner: web.AppRunner | None = None
        self.cleanup: asyncio.Task | None = None
        self.port: int | None = None
        self.users = 0

    async def start(self) -> None:
        self.users += 1
        if self.runner is not None:
            return
        c = self.config
        app = web.Application()
        app.router.add_get("/metrics", self._handle)
        self.runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self.runner.setup()
        host, port = split_host_port(c.endpoint.strip())
        ssl_context = server_ssl_context(c.tls) if c.tls is not None else None
        site = web.TCPSite(self.runner, host or None, port, ssl_context=ssl_context, reuse_address=True)
        try:
            await site.start()
        except BaseException:
            await self.runner.cleanup()
            self.runner = None
            raise
        self.port = site._server.sockets[0].getsockname()[1]
        self.log.info("Prometheus exporter serving /metrics on %s", c.endpoint)
        if c.metric_expiration > 0:
            self.cleanup = asyncio.create_task(self._cleanup_loop(c.metric_expiration))

    async def stop(self) -> None:
        self.users -= 1
        if self.users > 0:
            return
        if self.cleanup is not None:
            self.cleanup.cancel()
            try:
                await self.cleanup
            except asyncio.CancelledError:
                pass
            self.cleanup = None
        if self.runner is not None:
            await self.runner.cleanup()
            self.runner = None

    async def _cleanup_loop(self, every: float) -> None:
        # Evict expired series even when nobody scrapes (upstream's cleanup goroutine).
        while True:
            await asyncio.sleep(every)
            self.accumulator.expire()
            with self.collector._lock:
                self.collector._cleanup_families()

    def _headers(self, content_type: str) -> dict[str, str]:
        headers: dict[str, str] = {}
        extra = self.config.response_headers
        if isinstance(extra, dict):
            headers.update(extra)
        else:
            for item in extra:
                if "name" in item:
                    headers[item["name"]] = item.get("value", "")
        headers["Content-Type"] = content_type
        return headers

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        content_type = exposition.negotiate(request.headers.get("Accept"), self.config.enable_open_metrics)
        entries = self.accumulator.snapshot()
        body = await asyncio.to_thread(lambda: exposition.render(self.collector.collect(entries), content_type))
        response = web.Response(body=body, headers=self._headers(content_type))
        if "gzip" in request.headers.get("Accept-Encoding", ""):
            response.enable_compression(web.ContentCoding.gzip)
        return response


class PrometheusExporter(Component):
    mutates_data = False

    def __init__(self, settings: Settings, config: Config):
        self.settings = settings
        self.config = config
        state = settings.shared.get("prometheus")
        if state is None:
            state = settings.shared["prometheus"] = _State(config, settings.logger)
        self.state: _State = state

    @property
    def port(self) -> int | None:
        return self.state.port

    async def start(self, host: Host) -> None:
        await self.state.start()

    async def shutdown(self) -> None:
        await self.state.stop()

    async def consume(self, data: Any) -> None:
        self.state.accumulator.accumulate(data)
        self.settings.telemetry.add("otelcol_exporter_sent_metric_points", count_data_points(data), exporter=str(self.settings.id))

    def families(self):
        """The families a scrape would show now (tests, debugging)."""
        return self.state.collector.collect()


factory = Factory(
    type="prometheus",
    kind=Kind.EXPORTER,
    config=Config,
    create=lambda settings, config: PrometheusExporter(settings, config),
    signals=frozenset({Signal.METRICS}),
    stability="beta",
    one_instance=True,
)
