"""The ``prometheus_remote_write`` exporter (alias ``prometheusremotewrite``): metrics to a
Prometheus Remote-Write 1.0 endpoint, as upstream's exporter/prometheusremotewriteexporter v0.161.0.

Each push is translated (:mod:`.translate`), its series cut into requests of at most
``max_batch_size_bytes`` (:func:`batches`), and each request sent as a snappy-compressed
``prometheus.WriteRequest`` (:mod:`.prompb`), up to ``concurrency`` requests at a time.

Retries are this exporter's own, as upstream's: per request, 5xx and connection errors are retried
(429 only with the ``exporter.prometheusremotewritexporter.RetryOn429`` gate), other answers are
permanent; the delay is drawn around ``initial_interval`` every time (upstream leaves the backoff's
maximum interval at zero, so it never grows), bounded by ``max_elapsed_time`` and by ``timeout``,
which limits the whole push. The exporterhelper part (:class:`QueuedRetryExporter`) gives the
``remote_write_queue`` (one consumer unless ``EnableMultipleWorkers`` is on), the timeout and the
``otelcol_exporter_*`` counters; it does no retrying of its own here.
"""

from __future__ import annotations

import asyncio
import random
import time
from typing import Any

import aiohttp
import cramjam

from otelflow import __version__
from otelflow.config.settings import QueueSettings, RetrySettings
from otelflow.core import featuregates
from otelflow.core.component import Factory, Host, Kind, Settings, Signal
from otelflow.core.consumer import ConsumerError, PermanentError
from otelflow.core.exporterhelper import QueuedRetryExporter
from otelflow.core.tls import client_ssl_context
from otelflow.exporters.prometheus.config import ResourceAttributeFilter
from otelflow.exporters.prometheusremotewrite import prompb
from otelflow.exporters.prometheusremotewrite.config import GATE_MULTIPLE_WORKERS, GATE_RETRY_429, Config
from otelflow.exporters.prometheusremotewrite.translate import Converter, Settings as TranslateSettings, to_metadata

__all__ = ["Config", "PRWExporter", "factory", "batches"]

USER_AGENT = f"otelflow/{__version__}"
TELEMETRY_PREFIX = "otelcol_exporter_prometheusremotewrite_"


def batches(series: list[prompb.TimeSeries], metadata: list[prompb.MetricMetadata], max_bytes: int) -> list[prompb.WriteRequest]:
    """Series (then metadata) cut into requests as upstream's batchTimeSeries cuts them: a request is
    closed before the item that would take it to ``max_bytes`` or over; samples sorted by time."""
    requests: list[prompb.WriteRequest] = []
    for items, make in ((series, lambda b: prompb.WriteRequest(timeseries=b)), (metadata, lambda b: prompb.WriteRequest(metadata=b))):
        batch: list = []
        size = 0
        for item in items:
            n = prompb.encoded_size(item)
            if size + n >= max_bytes:
                requests.append(make(batch))
                batch, size = [], 0
            batch.append(item)
            size += n
        if batch:
            requests.append(make(batch))
    for req in requests:
        for ts in req.timeseries:
            ts.samples.sort(key=lambda s: s.timestamp)
    return requests


class _Backoff:
    """cenkalti/backoff v5 as upstream builds it: MaxInterval unset, so every delay is drawn around
    the initial interval; ``max_elapsed_time`` bounds the total."""

    def __init__(self, retry: RetrySettings):
        self.retry = retry
        self.started = time.monotonic()

    def next_delay(self) -> float | None:
        r = self.retry
        delta = r.randomization_factor * r.initial_interval
        delay = r.initial_interval - delta + random.random() * (2 * delta + 1e-9)
        if r.max_elapsed_time > 0 and time.monotonic() - self.started + delay > r.max_elapsed_time:
            return None
        return delay


class PRWExporter(QueuedRetryExporter):
    def __init__(self, settings: Settings, config: Config):
        q = config.remote_write_queue
        consumers = q.num_consumers if featuregates.REGISTRY.is_enabled(GATE_MULTIPLE_WORKERS) else 1
        queue = QueueSettings.model_construct(
            enabled=q.enabled, queue_size=max(q.queue_size, 1), num_consumers=max(consumers, 1), sizer="requests",
            batch=None,  # upstream builds this queue without NewDefaultQueueConfig: never batched
        )
        super().__init__(settings, queue, RetrySettings.model_construct(enabled=False), config.timeout)
        self.config = config
        self.url = config.endpoint_url()
        with_suffixes, utf8 = config.naming()
        labels = config.resource_labels()
        self.translate_settings = TranslateSettings(
            namespace=config.namespace,
            external_labels=config.sanitized_external_labels(),
            disable_target_info=not config.target_info.enabled,
            disable_scope_info=config.disable_scope_info,
            with_suffixes=with_suffixes,
            utf8=utf8,
            send_metadata=config.send_metadata,
            resource_labels=ResourceAttributeFilter(labels) if labels is not None else None,
        )
        self.concurrency = config.concurrency()
        self.retry_429 = featuregates.REGISTRY.is_enabled(GATE_RETRY_429)
        self.tel_labels = {"exporter": str(settings.id), "endpoint": self.url}
        self.session: aiohttp.ClientSession | None = None
        self._auth = None
        self._server_hostname = None
        self._warn_config()

    def _warn_config(self) -> None:
        c, log = self.config, self.log
        if c.ignored_keys:
            log.warning("Unknown keys are ignored, as upstream ignores them: %s", ", ".join(c.ignored_keys))
        if c.wal is not None:
            log.warning("wal is not supported by otelflow; requests are sent without a write-ahead log")
        if c.convert_explicit_histograms_to_nhcb:
            log.warning("convert_explicit_histograms_to_nhcb is not supported by otelflow; classic histograms are sent")
        if c.include_metadata_keys:
            log.warning("include_metadata_keys is not supported by otelflow; no client metadata is forwarded")
        if c.remote_write_queue.num_consumers != 5 and not featuregates.REGISTRY.is_enabled(GATE_MULTIPLE_WORKERS):
            log.warning(
                "`remote_write_queue.num_consumers` will be used to configure processing parallelism, rather than "
                "request parallelism in a future release. This may cause out-of-order issues unless you take action. "
                "Please migrate to using `max_batch_request_parallelism` to keep the your existing behavior."
            )
        if not c.add_metric_suffixes:
            log.warning("`add_metric_suffixes` is deprecated. Please use `translation_strategy: UnderscoreEscapingWithoutSuffixes` instead.")
        if c.resource_constant_labels.is_empty() and not c.resource_to_telemetry_conversion.is_empty():
            log.warning("resource_to_telemetry_conversion is deprecated; use resource_constant_labels instead")

    # -- client ------------------------------------------------------------------------------------

    async def start_client(self, host: Host) -> None:
        c = self.config.client
        if c.auth is not None:
            from otelflow.extensions.auth import http_client_authenticator

            self._auth = http_client_authenticator(host, c.auth.authenticator)
        https = self.url.startswith("https://")
        ssl = await asyncio.to_thread(client_ssl_context, c.tls) if https else None
        if https and c.tls.server_name_override:
            self._server_hostname = c.tls.server_name_override
        connector = aiohttp.TCPConnector(
            limit=c.max_conns_per_host or 100, ssl=ssl if ssl is not None else True, force_close=c.disable_keep_alives
        )
        self.session = aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=c.timeout or None))
        self.settings.telemetry.add(TELEMETRY_PREFIX + "consumers", self.concurrency, **self.tel_labels)

    async def stop_client(self) -> None:
        if self.session is not None:
            await self.session.close()
            self.session = None

    # -- one push ----------------------------------------------------------------------------------

    def _prepare(self, data: Any) -> tuple[list[bytes], int, list[str]]:
        """Translate, batch, encode and compress (on a worker thread: it is all CPU)."""
        conv = Converter(self.translate_settings)
        conv.convert(data)
        series = conv.time_series()
        errors = list(conv.errors)
        metadata: list[prompb.MetricMetadata] = []
        if self.translate_settings.send_metadata:
            metadata, meta_errors = to_metadata(data, self.translate_settings)
            errors += meta_errors
        if not series:
            return [], 0, errors
        bodies = [bytes(cramjam.snappy.compress_raw(prompb.encode(r)))
                  for r in batches(series, metadata, self.config.max_batch_size_bytes)]
        return bodies, len(series), errors

    async def send(self, data: Any) -> None:
        bodies, count, errors = await asyncio.to_thread(self._prepare, data)
        tel = self.settings.telemetry
        if errors:
            tel.add(TELEMETRY_PREFIX + "failed_translations", 1, **self.tel_labels)
            self.log.debug("failed to translate metrics, exporting remaining metrics error=%s translated=%d", "; ".join(errors), count)
        tel.add(TELEMETRY_PREFIX + "translated_time_series", count, **self.tel_labels)
        if not bodies:
            return
        queue = list(bodies)
        failures: list[ConsumerError] = []

        async def worker() -> None:
            while queue:
                body = queue.pop(0)
                try:
                    await self._execute(body)
                except ConsumerError as exc:
                    failures.append(exc)

        await asyncio.gather(*(worker() for _ in range(min(self.concurrency, len(bodies)))))
        if failures:
            message = "; ".join(str(f) for f in failures)
            if any(isinstance(f, PermanentError) for f in failures):
                raise PermanentError(message)
            raise ConsumerError(message)

    def _headers(self) -> dict[str, str]:
        headers = dict(self.config.client.headers)
        if self._auth is not None:
            auth = self._auth.http_headers()
            names = {k.lower() for k in auth}
            headers = {k: v for k, v in headers.items() if k.lower() not in names} | auth
        fixed = {
            "Content-Encoding": "snappy",
            "User-Agent": USER_AGENT,
            "Content-Type": "application/x-protobuf",
            "X-Prometheus-Remote-Write-Version": "0.1.0",
        }
        lower = {k.lower() for k in fixed}
        return {k: v for k, v in headers.items() if k.lower() not in lower} | fixed

    async def _execute(self, body: bytes) -> None:
        backoff = _Backoff(self.config.retry_on_failure) if self.config.retry_on_failure.enabled else None
        attempt = 0
        while True:
            attempt += 1
            try:
                await self._attempt(body, attempt)
                return
            except PermanentError:
                raise
            except ConsumerError:
                delay = backoff.next_delay() if backoff is not None else None
                if delay is None:
                    raise
                await asyncio.sleep(delay)

    async def _attempt(self, body: bytes, attempt: int) -> None:
        extra = {"server_hostname": self._server_hostname} if self._server_hostname else {}
        tel = self.settings.telemetry
        try:
            async with self.session.post(
                self.url, data=body, headers=self._headers(), proxy=self.config.client.proxy_url or None, **extra
            ) as resp:
                tel.add(TELEMETRY_PREFIX + "sent_batches", 1, **self.tel_labels)
                if 200 <= resp.status < 300:
                    await resp.read()
                    return
                detail = (await resp.content.read(1024)).decode("utf-8", "replace")
        except aiohttp.ClientError as exc:
            tel.add(TELEMETRY_PREFIX + "sent_batches", 1, **self.tel_labels)
            raise ConsumerError(f"Post \"{self.url}\": {exc}") from None
        self.log.error(
            "failed to send WriteRequest to remote endpoint status_code=%d endpoint=%s retry_attempt=%d error=%s",
            resp.status, self.url, attempt, detail.strip(),
        )
        if 500 <= resp.status < 600 or (self.retry_429 and resp.status == 429):
            raise ConsumerError("remote write request failed")
        raise PermanentError("Permanent error: remote write request failed")


def _create(settings: Settings, config: Config) -> PRWExporter:
    return PRWExporter(settings, config)


factory = Factory(
    type="prometheus_remote_write",
    kind=Kind.EXPORTER,
    config=Config,
    create=_create,
    signals=frozenset({Signal.METRICS}),
    stability="beta",
)
