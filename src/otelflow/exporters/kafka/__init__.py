"""The ``kafka`` exporter: OTLP batches as Kafka records, with exporterhelper's queue and retries.

Record values are what upstream writes: ``otlp_proto`` is the serialized ``TracesData`` /
``MetricsData`` / ``LogsData``, which is byte-for-byte the Export*ServiceRequest message otelflow
carries (both are field 1, repeated resource entries); ``otlp_json`` is upstream's OTLP/JSON.
With ``partition_traces_by_id`` a batch is cut into one record per (resource, scope, trace ID), keyed by the lower-hex
trace ID, and the partition is chosen as upstream's default ``sarama_compat`` sticky-key
partitioner does (FNV-1a 32 of the key as a signed int, modulo partitions, absolute value), so
otelflow and otelcol-ref put a trace on the same partition. ``partition_logs_by_trace_id`` does
the same for logs; ``partition_{metrics,logs}_by_resource_attributes`` send one record per resource
keyed by upstream's MapHash of its attributes (see partition.py).

The client is confluent-kafka (librdkafka; see docs/scaling.md for the measurement), configured
from the shared client settings in ``otelflow.kafka`` (brokers, SASL, TLS, metadata). ``produce``
only appends to librdkafka's buffer; a thread runs ``poll`` and resolves each record's future on
the event loop when the broker acknowledges it (or librdkafka gives up after ``timeout``)."""

from __future__ import annotations

import asyncio
import logging
import re
import threading
import time

from confluent_kafka import KafkaError, KafkaException, Producer
from google.protobuf.message import Message

from otelflow.core.component import Factory, Host, Kind, Settings, Signal
from otelflow.core.consumer import ConsumerError, PermanentError
from otelflow.core.exporterhelper import QueuedRetryExporter
from otelflow.exporters.kafka.config import Config
from otelflow.kafka.client import librdkafka_settings
from otelflow.exporters.kafka.partition import (
    LOG_TRACE_ID, SPAN_TRACE_ID, by_resource, by_trace_id, encoded_by_trace_id, sarama_partition,
)
from otelflow.pdata import otlpjson

_RDKAFKA_SHARE = 0.9  # of ``timeout``: when librdkafka gives up on a record
_WAIT_SHARE = 0.97  # of ``timeout``: when an attempt stops waiting for delivery reports
_METADATA_TTL = 10.0  # seconds a topic's partition count is trusted before asking the broker again

# librdkafka errors that no retry can fix; upstream marks franz-go's non-retriable errors permanent.
_PERMANENT = {
    KafkaError.MSG_SIZE_TOO_LARGE, KafkaError.TOPIC_EXCEPTION,
    KafkaError.TOPIC_AUTHORIZATION_FAILED, KafkaError.RECORD_LIST_TOO_LARGE, KafkaError._INVALID_ARG,
    KafkaError.CLUSTER_AUTHORIZATION_FAILED,
}


class _Pending:
    """The delivery reports of one attempt's records, counted where librdkafka calls back (the
    poll thread): the event loop hears once, with the first error, when the last report is in."""

    __slots__ = ("loop", "future", "left", "error", "lock")

    def __init__(self, loop: asyncio.AbstractEventLoop, count: int):
        self.loop = loop
        self.future: asyncio.Future = loop.create_future()
        self.left = count
        self.error: KafkaError | None = None
        self.lock = threading.Lock()
        if count == 0:
            self.future.set_result(None)

    def report(self, err: KafkaError | None, _msg=None) -> None:
        with self.lock:
            if err is not None and self.error is None:
                self.error = err
            self.left -= 1
            last = self.left == 0
        if last:
            self.loop.call_soon_threadsafe(self._done)

    def _done(self) -> None:
        if not self.future.done():  # an attempt that timed out has cancelled it
            self.future.set_result(self.error)


class _Repeats(logging.Filter):
    """librdkafka logs every failed connection attempt (several a second while a password or a
    certificate is wrong): let one of each kind through per interval."""

    def __init__(self, interval: float = 30.0):
        super().__init__()
        self.interval = interval
        self.seen: dict[str, float] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        kind = re.sub(r"\d+", "#", record.getMessage())
        now = time.monotonic()
        if now - self.seen.get(kind, -self.interval) < self.interval:
            return False
        if len(self.seen) > 1000:
            self.seen.clear()
        self.seen[kind] = now
        return True


def _quiet(log: logging.Logger) -> logging.Logger:
    child = log.getChild("librdkafka")
    if not any(isinstance(f, _Repeats) for f in child.filters):
        child.addFilter(_Repeats())
    return child


# Connection-level errors worth naming when records time out: credentials and certificates can be
# fixed on either side while the data waits in the queue, so they stay retryable.
_CLIENT_ERRORS = {
    KafkaError._AUTHENTICATION, KafkaError.SASL_AUTHENTICATION_FAILED, KafkaError._SSL,
    KafkaError._TRANSPORT, KafkaError._ALL_BROKERS_DOWN, KafkaError._RESOLVE,
    KafkaError.UNSUPPORTED_SASL_MECHANISM, KafkaError.ILLEGAL_SASL_STATE,
}


class KafkaExporter(QueuedRetryExporter):
    def __init__(self, settings: Settings, config: Config):
        super().__init__(settings, config.sending_queue, config.retry_on_failure, config.timeout)
        self.config = config
        sig = {Signal.TRACES: config.traces, Signal.METRICS: config.metrics, Signal.LOGS: config.logs}[settings.signal]
        self.topic = sig.topic
        self.serialize = (lambda m: m.SerializeToString()) if sig.encoding == "otlp_proto" else otlpjson.encode
        self.split = self._splitter(settings.signal, config)
        # (trace ID field, key of a zero trace ID) when the cut by trace ID can run on the bytes
        self.native_cut: tuple[int, bytes | None] | None = None
        if sig.encoding == "otlp_proto":
            if settings.signal is Signal.TRACES and config.partition_traces_by_id:
                self.native_cut = (SPAN_TRACE_ID, b"")
            elif settings.signal is Signal.LOGS and config.partition_logs_by_trace_id:
                self.native_cut = (LOG_TRACE_ID, None)
        self.producer: Producer | None = None
        self._poller: threading.Thread | None = None
        self._running = False
        self._partitions: tuple[float, int] | None = None
        self._last_client_error: KafkaError | None = None

    def _client_config(self) -> dict:
        """The shared client settings (auth, tls, metadata) plus the producer's own.
        May read a CA bundle (see librdkafka_settings): called from a worker thread."""
        c = self.config
        p = c.producer
        conf = librdkafka_settings(c)
        conf.update({
            "acks": p.required_acks,
            "compression.type": p.compression,
            "message.max.bytes": p.max_message_bytes,
            # librdkafka caps a batch at 1,000,000 messages
            "batch.num.messages": min(p.flush_max_messages, 1_000_000),
            "linger.ms": p.linger * 1000,
        })
        if p.compression_params is not None and p.compression_params.level:
            conf["compression.level"] = p.compression_params.level
        if c.timeout:
            # librdkafka gives up on a record a little before the exporter's attempt times out, so
            # the attempt ends with librdkafka's reason rather than a bare timeout
            conf["message.timeout.ms"] = max(1, int(c.timeout * 1000 * _RDKAFKA_SHARE))
        return conf

    async def start_client(self, host: Host) -> None:
        conf = await asyncio.to_thread(self._client_config)
        conf["error_cb"] = self._client_error
        self._last_client_error = None
        self.producer = Producer(conf, logger=_quiet(self.log))
        self._running = True
        self._poller = threading.Thread(target=self._poll, name=f"kafka-poll-{self.settings.id}", daemon=True)
        self._poller.start()

    def _client_error(self, err: KafkaError) -> None:
        """librdkafka's connection-level errors (authentication, TLS, brokers down) never reach a
        record's delivery report, which only says it timed out: keep the latest to explain that."""
        self._last_client_error = err

    def _why(self, text: str) -> str:
        err = self._last_client_error
        if err is not None and err.code() in _CLIENT_ERRORS:
            return f"{text} (client error: {err.str()})"
        return text

    def _poll(self) -> None:
        producer = self.producer
        while self._running:
            producer.poll(0.1)

    async def stop_client(self) -> None:
        if self.producer is None:
            return
        producer = self.producer
        await asyncio.to_thread(producer.flush, self.config.timeout or 5.0)
        self._running = False
        if self._poller is not None:
            await asyncio.to_thread(self._poller.join)
        self.producer = None

    # -- one attempt ------------------------------------------------------------------------------

    @staticmethod
    def _splitter(signal: Signal, c: Config):
        """The upstream partition_* option that applies to this signal, as a function to keyed parts."""
        if signal is Signal.TRACES and c.partition_traces_by_id:
            # upstream keys a zero trace ID with the empty string (still hashed), not with no key
            return lambda req: [(k if k is not None else b"", r) for k, r in
                                by_trace_id(req, "resource_spans", "scope_spans", "spans")]
        if signal is Signal.LOGS and c.partition_logs_by_trace_id:
            return lambda req: by_trace_id(req, "resource_logs", "scope_logs", "log_records")
        if signal is Signal.LOGS and c.partition_logs_by_resource_attributes:
            return lambda req: by_resource(req, "resource_logs")
        if signal is Signal.METRICS and c.partition_metrics_by_resource_attributes:
            return lambda req: by_resource(req, "resource_metrics")
        return None

    def _records(self, data: Message) -> list[tuple[bytes | None, bytes]]:
        if self.split is None:
            return [(None, self.serialize(data))]
        if self.native_cut is not None:
            records = encoded_by_trace_id(data, *self.native_cut)
            if records is not None:
                return records
        return [(key, self.serialize(req)) for key, req in self.split(data)]

    async def _partition_count(self) -> int:
        now = time.monotonic()
        if self._partitions is not None and now - self._partitions[0] < _METADATA_TTL:
            return self._partitions[1]
        timeout = self.config.timeout or 5.0
        try:
            md = await asyncio.to_thread(self.producer.list_topics, self.topic, timeout)
        except KafkaException as exc:
            raise ConsumerError(self._why(f"error exporting to topic {self.topic!r}: {exc.args[0]}")) from None
        topic = md.topics.get(self.topic)
        if topic is None or topic.error is not None or not topic.partitions:
            why = topic.error if topic is not None and topic.error is not None else "no partitions known"
            raise ConsumerError(self._why(f"error exporting to topic {self.topic!r}: {why}"))
        self._partitions = (now, len(topic.partitions))
        return len(topic.partitions)

    async def send(self, data: Message) -> None:
        records = self._records(data)
        partitions = await self._partition_count() if self.split is not None else 0
        pending = _Pending(asyncio.get_running_loop(), len(records))
        report = pending.report
        produce = self.producer.produce
        for key, value in records:
            kwargs = {"key": key, "on_delivery": report}
            if key is not None:
                kwargs["partition"] = sarama_partition(key, partitions)
            while True:
                try:
                    produce(self.topic, value, **kwargs)
                    break
                except BufferError:  # librdkafka's local queue is full: let the poller drain it
                    await asyncio.sleep(0.01)
                except KafkaException as exc:
                    report(exc.args[0])
                    break
        if self.config.timeout:
            try:
                err = await asyncio.wait_for(pending.future, self.config.timeout * _WAIT_SHARE)
            except asyncio.TimeoutError:
                raise ConsumerError(self._why(f"error exporting to topic {self.topic!r}: "
                                              "no acknowledgement from the broker in time")) from None
        else:
            err = await pending.future
        if err is not None:
            self._partitions = None  # a partition may have moved or the topic changed
            text = f"error exporting to topic {self.topic!r}: {err.str()}"
            if err.code() in _PERMANENT or err.fatal():
                raise PermanentError(text)
            raise ConsumerError(self._why(text))
        self._last_client_error = None


factory = Factory(
    type="kafka",
    kind=Kind.EXPORTER,
    config=Config,
    create=lambda settings, config: KafkaExporter(settings, config),
    signals=frozenset({Signal.TRACES, Signal.METRICS, Signal.LOGS}),
    stability="beta",
)

__all__ = ["Config", "KafkaExporter", "factory", "sarama_partition"]
