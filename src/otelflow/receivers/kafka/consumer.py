"""One Kafka consumer-group member per signal: fetch, decode, hand to the pipeline, mark offsets.

The loop follows upstream's franz-go consumer (receiver/kafkareceiver v0.161.0):

- a fetch (librdkafka ``consume`` in this signal's own thread, so the event loop never blocks) is
  split by partition; partitions are processed concurrently, records of one partition in order, and
  the next fetch waits until all are done;
- ``message_marking.after: false`` (upstream's default) marks a record before the pipeline sees
  it; ``after: true`` marks it only once the pipeline accepted it (at-least-once). A record whose
  error ``on_error``/``on_permanent_error`` says to mark is logged and skipped;
- a retryable error is retried in place with ``error_backoff`` when that is enabled; when it gives
  up, the partition is rewound to the failed record, which the next fetch brings again. Without
  ``error_backoff`` (or for an unmarked permanent error) the partition is paused until the next
  rebalance assigns it afresh, as upstream pauses it;
- marking = librdkafka's offset store (``enable.auto.offset.store`` off); the stored offsets are
  committed every ``autocommit.interval``, on rebalance and on close, or, with autocommit off,
  synchronously after every fetch.

A record that does not decode is a permanent error: counted, logged (rate-limited) and skipped
unless ``after: true`` with ``on_permanent_error: false`` says to stop the partition."""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import re
import time
from collections import defaultdict

from confluent_kafka import Consumer, KafkaError, KafkaException, Message as KafkaMessage, TopicPartition
from google.protobuf.message import Message

from otelflow.core.client import request_metadata
from otelflow.core.component import Settings, Signal
from otelflow.core.consumer import Consumer as Next, ConsumerError, PermanentError, is_permanent
from otelflow.core.sending_queue import Backoff
from otelflow.core.telemetry import ITEM_NAMES
from otelflow.pdata import COUNTERS
from otelflow.receivers.kafka.config import Config
from otelflow.receivers.kafka.encoding import DecodeError, Decoder

_FETCH_MAX = 500  # records per librdkafka consume() call
_FETCH_WAIT = 0.2  # seconds one consume() call may wait for records (bounds shutdown latency)
_MIN_BACKOFF = 0.01  # a zero-valued error_backoff would otherwise spin
_RESOURCES = {Signal.TRACES: "resource_spans", Signal.METRICS: "resource_metrics", Signal.LOGS: "resource_logs"}
_UNMARSHAL_FAILED = {Signal.TRACES: "otelcol_kafka_receiver_unmarshal_failed_spans",
                     Signal.METRICS: "otelcol_kafka_receiver_unmarshal_failed_metric_points",
                     Signal.LOGS: "otelcol_kafka_receiver_unmarshal_failed_log_records"}


class _Throttled:
    """Logs one line per ``every`` seconds per message kind and says how many it held back."""

    def __init__(self, log: logging.Logger, every: float = 10.0):
        self.log = log
        self.every = every
        self._last: dict[str, tuple[float, int]] = {}

    def __call__(self, level: int, kind: str, text: str, *args: object) -> None:
        now = time.monotonic()
        last, held = self._last.get(kind, (0.0, 0))
        if now - last < self.every:
            self._last[kind] = (last, held + 1)
            return
        self._last[kind] = (now, 0)
        if held:
            text += " (%d similar messages suppressed)"
            args = (*args, held)
        self.log.log(level, text, *args)


class _ClientLog:
    """librdkafka's log lines (``logger.log(level, "%s [%s] %s", facility, name, text)``), at most one
    per facility every few seconds: a broker that is down would otherwise log every reconnect."""

    def __init__(self, log: logging.Logger):
        self.throttled = _Throttled(log, every=5.0)

    def log(self, level: int, fmt: str, *args: object) -> None:
        self.throttled(level, f"client:{args[0] if args else fmt}", fmt, *args)


class SignalConsumer:
    def __init__(self, settings: Settings, config: Config, signal: Signal, topics: list[str],
                 decode: Decoder, next_consumer: Next, exclude: list[str] | None = None):
        self.settings = settings
        self.config = config
        self.signal = signal
        self.topics = topics
        # librdkafka subscribes to a regex itself but cannot exclude from it: with exclude_topics
        # the receiver resolves the topic list and subscribes to the names (see _resolve)
        self.exclude = [re.compile(x) for x in exclude or []]
        self._subscribed: list[str] | None = None
        self._resolved_at = 0.0
        self.decode = decode
        self.next = next_consumer
        self.log = settings.logger
        self.throttled = _Throttled(self.log)
        self.labels = {"receiver": str(settings.id), "transport": "kafka"}
        self.items = ITEM_NAMES[signal]
        self.count = COUNTERS[signal]
        mm = config.message_marking
        self.after, self.on_error, self.on_permanent = mm.after, mm.on_error, mm.on_permanent_error
        hx = config.header_extraction
        self.headers = {h: f"kafka.header.{h}" for h in hx.headers} if hx.extract_headers else {}
        self.consumer: Consumer | None = None
        self._thread = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix=f"kafka-{settings.id}-{signal.value}")
        self._closing = asyncio.Event()
        self._task: asyncio.Task | None = None
        self._paused: set[tuple[str, int]] = set()
        self._marks: dict[tuple[str, int], int] = {}  # next offset to commit, when autocommit is off

    # -- lifecycle ----------------------------------------------------------------------------------

    async def start(self) -> None:
        def build() -> Consumer:  # may read TLS files: off the event loop
            conf = self.config.consumer_settings()
            # librdkafka drops a member that does not poll within this; franz-go has no such limit
            # and a slow pipeline (error_backoff) must not cost the assignment: librdkafka's max
            conf["max.poll.interval.ms"] = 86_400_000
            consumer = Consumer(conf, logger=_ClientLog(self.log))
            if self.exclude:
                self._resolve(consumer)
            else:
                self._subscribe(consumer, self.topics)
            return consumer

        self.consumer = await asyncio.get_running_loop().run_in_executor(self._thread, build)
        self._task = asyncio.get_running_loop().create_task(self._run(), name=f"kafka-{self.settings.id}-{self.signal.value}")

    async def shutdown(self, grace: float = 10.0) -> None:
        self._closing.set()
        if self._task is not None:
            done, _ = await asyncio.wait({self._task}, timeout=grace)
            if not done:  # a pipeline that does not answer: its records stay unmarked
                self._task.cancel()
                await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        if self.consumer is not None:
            loop = asyncio.get_running_loop()
            await self._commit_marks(loop)
            # close() commits the stored offsets (autocommit) and leaves the group
            await loop.run_in_executor(self._thread, self.consumer.close)
            self.consumer = None
        self._thread.shutdown(wait=False)

    def _subscribe(self, consumer: Consumer, topics: list[str]) -> None:
        if topics:
            consumer.subscribe(topics, on_assign=self._assigned, on_revoke=self._revoked, on_lost=self._lost)
        else:
            consumer.unsubscribe()
        self._subscribed = topics

    def _resolve(self, consumer: Consumer) -> None:
        """Subscribe to the topics the regexes match minus ``exclude_topics`` (consume thread).
        Checked again every ``metadata::refresh_interval``, as a regex subscription is."""
        self._resolved_at = time.monotonic()
        try:
            names = consumer.list_topics(timeout=10).topics
        except KafkaException as exc:
            self.throttled(logging.ERROR, "resolve", "cannot list topics for the regex subscription: %s", exc.args[0])
            return
        wanted = sorted(name for name in names if not name.startswith("__") and self._wanted(name))
        if wanted != self._subscribed:
            self.log.info("subscribing to topics %s", wanted)
            self._subscribe(consumer, wanted)

    def _wanted(self, name: str) -> bool:
        matches = any(re.search(t, name) if t.startswith("^") else t == name for t in self.topics)
        return matches and not any(x.search(name) for x in self.exclude)

    # -- rebalance callbacks (run in the consume thread, between fetches) ----------------------------

    def _assigned(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        for tp in partitions:
            self._paused.discard((tp.topic, tp.partition))
        self.settings.telemetry.add("otelcol_kafka_receiver_partition_start", len(partitions), **self.labels)

    def _revoked(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        for tp in partitions:
            self._marks.pop((tp.topic, tp.partition), None)
            self._paused.discard((tp.topic, tp.partition))
        self.settings.telemetry.add("otelcol_kafka_receiver_partition_close", len(partitions), **self.labels)

    _lost = _revoked

    # -- the loop ------------------------------------------------------------------------------------

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        consumer = self.consumer
        refresh = self.config.metadata.refresh_interval or 300.0
        while not self._closing.is_set():
            due = refresh if self._subscribed else 5.0  # nothing matched yet: look again sooner
            if self.exclude and time.monotonic() - self._resolved_at >= due:
                await loop.run_in_executor(self._thread, self._resolve, consumer)
            if not self._subscribed and self.exclude:  # nothing matches yet: consume() would raise
                await self._sleep(min(refresh, 1.0))
                continue
            try:
                records = await loop.run_in_executor(self._thread, consumer.consume, _FETCH_MAX, _FETCH_WAIT)
            except KafkaException as exc:
                self.throttled(logging.ERROR, "fetch", "consumer fetch error: %s", exc.args[0])
                await asyncio.sleep(0.5)
                continue
            batches: dict[tuple[str, int], list[KafkaMessage]] = defaultdict(list)
            for record in records:
                err = record.error()
                if err is not None:
                    if err.code() != KafkaError._PARTITION_EOF:
                        self.throttled(logging.ERROR, "fetch", "consumer fetch error: %s (topic %s, partition %s)",
                                       err.str(), record.topic(), record.partition())
                    continue
                tp = (record.topic(), record.partition())
                if tp not in self._paused:
                    batches[tp].append(record)
            if not batches:
                continue
            await asyncio.gather(*(self._partition(tp, batch) for tp, batch in batches.items()))
            await self._commit_marks(loop)

    async def _partition(self, tp: tuple[str, int], records: list[KafkaMessage]) -> None:
        telemetry = self.settings.telemetry
        attrs = {**self.labels, "topic": tp[0], "partition": str(tp[1])}
        telemetry.add("otelcol_kafka_receiver_records", len(records), **attrs)
        last = None
        for record in records:
            if not self.after:
                self._mark(record)
            telemetry.set("otelcol_kafka_receiver_current_offset", record.offset(), **attrs)
            err = await self._handle(record, attrs)
            if err is not None:  # after: true and this error is not to be marked
                self._stop_partition(tp, record, err)
                break
            if self.after:
                self._mark(record)
            last = record
        if last is not None:
            try:
                _, high = self.consumer.get_watermark_offsets(TopicPartition(*tp), cached=True)
                if high >= 0:
                    telemetry.set("otelcol_kafka_receiver_offset_lag", high - 1 - last.offset(), **attrs)
            except KafkaException:
                pass

    async def _handle(self, record: KafkaMessage, attrs: dict[str, str]) -> BaseException | None:
        """None when the record is done with (accepted, or skipped as message_marking says); the
        error when it must stay unmarked."""
        backoff: Backoff | None = None  # made on the first refusal: most records never need one
        while True:
            err = await self._consume(record, attrs)
            if err is None:
                return None
            permanent = is_permanent(err)
            if self.config.error_backoff.enabled and not permanent:
                backoff = backoff or Backoff(self.config.error_backoff)
                delay = backoff.next_delay()
                if delay is not None:
                    self.throttled(logging.INFO, "backoff", "Backing off due to error from the next consumer: %s "
                                   "(delay %.3fs)", err, delay)
                    if await self._sleep(max(delay, _MIN_BACKOFF)):
                        return err  # shutting down: leave it unmarked
                    continue
                self.log.warning("Stop error backoff because the configured max_elapsed_time is reached "
                                 "(max_elapsed_time %ss)", self.config.error_backoff.max_elapsed_time)
            mark = self.on_permanent if permanent else self.on_error
            if self.after and not mark:
                return err
            self.throttled(logging.ERROR, "skip", "failed to consume message, skipping due to message_marking "
                           "config: %s (offset %d)", err, record.offset())
            return None

    async def _consume(self, record: KafkaMessage, attrs: dict[str, str]) -> BaseException | None:
        telemetry = self.settings.telemetry
        try:
            request = self.decode(record.value() or b"")
        except DecodeError as exc:
            telemetry.add(_UNMARSHAL_FAILED[self.signal], 1, **attrs)
            self.throttled(logging.ERROR, "unmarshal", "failed to unmarshal message: %s (topic %s, partition %d, "
                           "offset %d)", exc, record.topic(), record.partition(), record.offset())
            return PermanentError(str(exc))
        headers = record.headers() or []
        if self.headers:
            self._extract_headers(request, headers)
        count = self.count(request)
        token = request_metadata.set(_metadata(record, headers))
        try:
            await self.next.consume(request)
        except ConsumerError as exc:
            telemetry.add(f"otelcol_receiver_refused_{self.items}", count, **self.labels)
            return exc
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - a component's bug must not stop the consumer
            self.throttled(logging.ERROR, "pipeline", "pipeline failed on a kafka record: %r", exc)
            telemetry.add(f"otelcol_receiver_refused_{self.items}", count, **self.labels)
            return ConsumerError(repr(exc))
        finally:
            request_metadata.reset(token)
        telemetry.add(f"otelcol_receiver_accepted_{self.items}", count, **self.labels)
        return None

    def _extract_headers(self, request: Message, headers: list[tuple[str, bytes | None]]) -> None:
        found = []
        for raw, key in self.headers.items():
            for name, value in headers:
                if name == raw:
                    found.append((key, (value or b"").decode("utf-8", "replace")))
                    break
        for entry in getattr(request, _RESOURCES[self.signal]):
            attrs = entry.resource.attributes
            for key, value in found:
                for kv in attrs:
                    if kv.key == key:
                        kv.value.Clear()
                        kv.value.string_value = value
                        break
                else:
                    attrs.add(key=key).value.string_value = value

    # -- offsets ---------------------------------------------------------------------------------

    def _mark(self, record: KafkaMessage) -> None:
        tp = TopicPartition(record.topic(), record.partition(), record.offset() + 1)
        try:
            self.consumer.store_offsets(offsets=[tp])
        except KafkaException as exc:  # the partition was revoked meanwhile
            self.throttled(logging.DEBUG, "mark", "cannot mark offset: %s", exc.args[0])
            return
        if not self.config.autocommit.enable:
            self._marks[(tp.topic, tp.partition)] = tp.offset

    async def _commit_marks(self, loop: asyncio.AbstractEventLoop) -> None:
        if self.config.autocommit.enable or not self._marks:
            return
        offsets = [TopicPartition(t, p, o) for (t, p), o in self._marks.items()]
        self._marks.clear()
        try:
            await loop.run_in_executor(self._thread, lambda: self.consumer.commit(offsets=offsets, asynchronous=False))
        except KafkaException as exc:
            self.throttled(logging.ERROR, "commit", "failed to commit offsets: %s", exc.args[0])

    def _stop_partition(self, tp: tuple[str, int], record: KafkaMessage, err: BaseException) -> None:
        where = TopicPartition(tp[0], tp[1], record.offset())
        if self._closing.is_set():
            return  # the record stays unmarked; whoever owns the partition next reads it again
        if self.config.error_backoff.enabled and not is_permanent(err):
            self.log.info("rewinding partition to retry failed record on next poll (topic %s, partition %d, "
                          "offset %d)", tp[0], tp[1], record.offset())
            try:
                self.consumer.seek(where)
            except KafkaException as exc:
                self.log.error("cannot rewind partition: %s", exc.args[0])
            return
        kind = "permanent processing error" if is_permanent(err) else "processing error (no backoff configured)"
        self.log.error("pausing partition due to %s, partition will remain paused until rebalance "
                       "(topic %s, partition %d, offset %d): %s", kind, tp[0], tp[1], record.offset(), err)
        self._paused.add(tp)
        try:
            self.consumer.pause([where])
            self.consumer.seek(where)  # what is resumed later starts at the unmarked record
        except KafkaException:
            pass

    async def _sleep(self, seconds: float) -> bool:
        """Wait, or return True early when the receiver is shutting down."""
        try:
            await asyncio.wait_for(self._closing.wait(), seconds)
            return True
        except asyncio.TimeoutError:
            return False


def _metadata(record: KafkaMessage, headers: list[tuple[str, bytes | None]]) -> dict[str, list[str]]:
    """What upstream puts in client.Info for a record: topic, partition, offset and the headers."""
    out: dict[str, list[str]] = {"kafka.topic": [record.topic()], "kafka.partition": [str(record.partition())],
                                 "kafka.offset": [str(record.offset())]}
    for name, value in headers:
        out.setdefault(name.lower(), []).append((value or b"").decode("utf-8", "replace"))
    return out
