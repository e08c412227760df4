"""The kafka exporter against a real Apache Kafka 4.x broker (tests/kafka_broker.py): real SDK
telemetry in over OTLP, records read back with confluent-kafka and compared as protobuf; trace-ID
partitioning as upstream's sarama_compat partitioner; a stopped broker means retries while the
collector keeps accepting, and nothing accepted is lost once the broker is back."""

from __future__ import annotations

import asyncio
import re
import time
from pathlib import Path

import aiohttp
import xxhash
import pytest
from confluent_kafka import Consumer, TopicPartition
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from otelflow.config.model import ConfigError, validate
from otelflow.exporters.kafka import Config, sarama_partition
from otelflow.exporters.kafka.partition import map_hash
from otelflow.core.component import Signal
from tests.exporters.helpers import started_exporter
from otelflow.pdata import otlpjson
from tests.backends import free_port
from tests.conftest import running
from tests.kafka_broker import kafka_broker  # noqa: F401 - the session fixture
from tests.sdk import SDKApp, flatten, merged


def read_topic(bootstrap: str, topic: str, expected: int, timeout: float = 30.0) -> list:
    """Every record of ``topic`` from the start, once at least ``expected`` are there."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": f"read-{topic}", "enable.auto.commit": False})
    try:
        md = c.list_topics(topic, timeout=10).topics[topic]
        c.assign([TopicPartition(topic, p, 0) for p in md.partitions])
        out = []
        deadline = time.monotonic() + timeout
        while len(out) < expected and time.monotonic() < deadline:
            msg = c.poll(0.5)
            if msg is not None and msg.error() is None:
                out.append(msg)
        # anything beyond `expected` would be a duplicate or a stray: drain briefly to see it
        while (msg := c.poll(0.5)) is not None:
            if msg.error() is None:
                out.append(msg)
        return out
    finally:
        c.close()


def collector_yaml(http_port: int, bootstrap: str, prefix: str, extra: str = "") -> str:
    return f"""
receivers:
  otlp:
    protocols:
      http: {{endpoint: "127.0.0.1:{http_port}"}}
exporters:
  kafka:
    brokers: ["{bootstrap}"]
    partition_traces_by_id: true
    traces: {{topic: {prefix}_spans}}
    metrics: {{topic: {prefix}_metrics}}
    logs: {{topic: {prefix}_logs, encoding: otlp_json}}
{extra}
service:
  pipelines:
    traces: {{receivers: [otlp], exporters: [kafka]}}
    metrics: {{receivers: [otlp], exporters: [kafka]}}
    logs: {{receivers: [otlp], exporters: [kafka]}}
"""


def test_config_defaults_and_errors():
    c = validate(Config, {}, "exporters::kafka")
    assert c.brokers == ["localhost:9092"] and c.client_id == "otel-collector"
    assert (c.traces.topic, c.metrics.topic, c.logs.topic) == ("otlp_spans", "otlp_metrics", "otlp_logs")
    assert c.traces.encoding == "otlp_proto" and c.timeout == 5.0
    assert (c.producer.required_acks, c.producer.compression, c.producer.max_message_bytes) == (1, "none", 1000000)
    assert validate(Config, {"producer": {"required_acks": "all"}}, "x").producer.required_acks == -1
    assert validate(Config, {"traces": {"encoding": "otlp_json"}}, "x").traces.topic == "otlp_spans"
    for bad, text in [({"producer": {"required_acks": 2}}, "expected 'all' (-1), 0, or 1"),
                      ({"brokers": []}, "brokers must be specified"),
                      ({"producer": {"compression": "brotli"}}, "compression"),
                      ({"topic_from_metadata": "x"}, "topic_from_metadata"),
                      ({"partition_logs_by_resource_attributes": True, "partition_logs_by_trace_id": True},
                       "partition_logs_by_resource_attributes and partition_logs_by_trace_id cannot both be enabled")]:
        with pytest.raises(ConfigError, match=text.replace("(", r"\(").replace(")", r"\)")):
            validate(Config, bad, "exporters::kafka")


def test_sarama_partition():
    # FNV-1a 32 of "a" is 0xe40c292c: negative as int32 (-468965076), so sarama takes |h| % n
    assert sarama_partition(b"a", 7) == 468965076 % 7
    assert sarama_partition(b"", 5) == abs(0x811C9DC5 - (1 << 32)) % 5
    assert all(0 <= sarama_partition(bytes([i]), 3) < 3 for i in range(256))


def test_sarama_partition_matches_franz_go():
    """Golden from franz-go v1.21.6's SaramaCompatHasher(FNV-1a), the hasher upstream's default
    ``sarama_compat`` partitioner uses (generator: testdata/kafka/sarama_partitions.go.txt)."""
    lines = (Path(__file__).parent / "testdata" / "kafka" / "sarama_partitions.txt").read_text().split("\n")
    rows = [line.split() for line in lines if line]
    assert len(rows) == 2000
    for key, *parts in rows:
        assert [sarama_partition(key.encode(), n) for n in (3, 5, 7)] == [int(p) for p in parts], key


async def _post(session: aiohttp.ClientSession, port: int, path: str, message) -> int:
    async with session.post(f"http://127.0.0.1:{port}/v1/{path}", data=message.SerializeToString(),
                            headers={"Content-Type": "application/x-protobuf"}) as resp:
        return resp.status


async def test_sdk_to_kafka_identical_and_partitioned_by_trace_id(kafka_broker):
    prefix = "e2e"
    kafka_broker.create_topic(f"{prefix}_spans", 3)
    port = free_port()
    async with running(collector_yaml(port, kafka_broker.bootstrap, prefix)):
        app = SDKApp("http", f"http://127.0.0.1:{port}")
        await asyncio.to_thread(app.emit, 6)
        await asyncio.to_thread(app.shutdown)
        sent = app.sent()
        trace_ids = {s.trace_id for rs in sent["traces"].resource_spans for ss in rs.scope_spans for s in ss.spans}
        spans = await asyncio.to_thread(read_topic, kafka_broker.bootstrap, f"{prefix}_spans", len(trace_ids))
        metrics = await asyncio.to_thread(read_topic, kafka_broker.bootstrap, f"{prefix}_metrics", 1)
        logs = await asyncio.to_thread(read_topic, kafka_broker.bootstrap, f"{prefix}_logs", 1)

    # one record per trace, keyed by its hex trace ID, on sarama_compat's partition
    assert len(spans) == len(trace_ids) == 6
    got = []
    for rec in spans:
        req = ExportTraceServiceRequest.FromString(rec.value())
        ids = {s.trace_id for rs in req.resource_spans for ss in rs.scope_spans for s in ss.spans}
        assert len(ids) == 1 and rec.key() == next(iter(ids)).hex().encode()
        assert rec.partition() == sarama_partition(rec.key(), 3)
        got.append(req)
    assert len({r.partition() for r in spans}) > 1  # 6 traces over 3 partitions: spread, not one
    assert flatten(merged(got)) == flatten(sent["traces"])

    # metrics: otlp_proto, unkeyed; logs: otlp_json
    assert all(r.key() is None for r in metrics)
    assert flatten(merged([ExportMetricsServiceRequest.FromString(r.value()) for r in metrics])) == flatten(sent["metrics"])
    log_reqs = [otlpjson.decode(r.value(), ExportLogsServiceRequest) for r in logs]
    assert flatten(merged(log_reqs)) == flatten(sent["logs"])
    assert logs[0].value().startswith(b'{"resourceLogs":[')


async def test_broker_down_retries_and_keeps_serving(kafka_broker):
    prefix = "outage"
    kafka_broker.create_topic(f"{prefix}_spans", 2)
    extra = """    timeout: 1s
    retry_on_failure: {initial_interval: 200ms, max_interval: 1s, max_elapsed_time: 120s}"""
    port = free_port()
    async with running(collector_yaml(port, kafka_broker.bootstrap, prefix, extra)):
        kafka_broker.stop()
        try:
            app = SDKApp("http", f"http://127.0.0.1:{port}")
            await asyncio.to_thread(app.emit, 4)
            await asyncio.to_thread(app.flush)  # accepted into the sending queue while the broker is down
            await asyncio.sleep(3)  # several failed attempts
            async with aiohttp.ClientSession() as session:  # still serving
                assert await _post(session, port, "traces", app.spans.sent[0]) == 200
        finally:
            await asyncio.to_thread(kafka_broker.start)
        await asyncio.to_thread(app.shutdown)
        sent = app.spans.sent
        expected = {s.trace_id for m in sent for rs in m.resource_spans for ss in rs.scope_spans for s in ss.spans}
        records = await asyncio.to_thread(read_topic, kafka_broker.bootstrap, f"{prefix}_spans", len(expected))
    got = {ExportTraceServiceRequest.FromString(r.value()).resource_spans[0].scope_spans[0].spans[0].trace_id
           for r in records}
    assert len(expected) == 4 and got == expected  # nothing accepted was lost (the repeated request may add duplicates)


def test_map_hash_as_pdatautil():
    from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

    kvs = [KeyValue(key="service.name", value=AnyValue(string_value="api")),
           KeyValue(key="host.id", value=AnyValue(int_value=7))]
    canon = b"\xf4host.id\xfa" + (7).to_bytes(8, "little") + b"\xf4service.name\xf7api"
    want = xxhash.xxh64_intdigest(canon).to_bytes(8, "little") + xxhash.xxh64_intdigest(canon + b"\xf3").to_bytes(8, "little")
    assert map_hash(kvs) == want == map_hash(list(reversed(kvs)))
    assert map_hash([]) == bytes(16)


def test_map_hash_matches_upstream_go():
    """Hex digests printed by contrib pdatautil v0.161.0 (testdata/kafka/maphash.go.txt)."""
    from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue, KeyValue, KeyValueList

    def kv(key, **value):
        return KeyValue(key=key, value=AnyValue(**value))

    maps = [
        [],
        [kv("service.name", string_value="api")],
        [kv("service.name", string_value="api"), kv("host.id", int_value=7)],
        [kv("service.name", string_value="checkout"), kv("ok", bool_value=True), kv("ratio", double_value=0.5),
         kv("raw", bytes_value=bytes([1, 2, 3])),
         kv("tags", array_value=ArrayValue(values=[AnyValue(string_value="a"), AnyValue(int_value=2)])),
         kv("nested", kvlist_value=KeyValueList(values=[kv("z", string_value="last"), kv("a", string_value="first")])),
         KeyValue(key="none")],
    ]
    golden = ["00000000000000000000000000000000", "29f1ab300aa7f78f23f077d69c837d53",
              "98f5301d22111df57a911118e200b223", "7bed715f0febbce9c86cfe8a62c711ef"]
    assert [map_hash(m).hex() for m in maps] == golden


def _resource(name: str):
    from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

    return [KeyValue(key="service.name", value=AnyValue(string_value=name))]


async def test_metrics_by_resource_and_logs_by_trace_id(kafka_broker):
    from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord
    from opentelemetry.proto.metrics.v1.metrics_pb2 import Metric

    for t in ("res_metrics", "tid_logs"):
        kafka_broker.create_topic(t, 4)
    metrics = ExportMetricsServiceRequest()
    for name in ("a", "b", "c"):
        rm = metrics.resource_metrics.add()
        rm.resource.attributes.extend(_resource(name))
        rm.scope_metrics.add().metrics.append(Metric(name=f"m_{name}"))
    logs = ExportLogsServiceRequest()
    rl = logs.resource_logs.add()
    rl.resource.attributes.extend(_resource("a"))
    sl = rl.scope_logs.add()
    ids = [bytes([i]) * 16 for i in (1, 2)]
    for tid in (ids[0], ids[1], ids[0], b""):
        sl.log_records.append(LogRecord(trace_id=tid, body={"string_value": tid.hex()}))

    common = {"brokers": [kafka_broker.bootstrap], "sending_queue": {"enabled": False}}
    m_exp = await started_exporter("kafka", {**common, "metrics": {"topic": "res_metrics"},
                                             "partition_metrics_by_resource_attributes": True}, Signal.METRICS)
    l_exp = await started_exporter("kafka", {**common, "logs": {"topic": "tid_logs"},
                                             "partition_logs_by_trace_id": True}, Signal.LOGS)
    try:
        await m_exp.consume(metrics)  # returns once the broker acknowledged every record
        await l_exp.consume(logs)
    finally:
        await m_exp.shutdown()
        await l_exp.shutdown()

    m_recs = await asyncio.to_thread(read_topic, kafka_broker.bootstrap, "res_metrics", 3)
    assert len(m_recs) == 3
    for r in m_recs:
        req = ExportMetricsServiceRequest.FromString(r.value())
        assert len(req.resource_metrics) == 1
        assert r.key() == map_hash(req.resource_metrics[0].resource.attributes)
        assert r.partition() == sarama_partition(r.key(), 4)
    assert flatten(merged([ExportMetricsServiceRequest.FromString(r.value()) for r in m_recs])) == flatten(metrics)

    l_recs = await asyncio.to_thread(read_topic, kafka_broker.bootstrap, "tid_logs", 3)
    by_key = {r.key(): ExportLogsServiceRequest.FromString(r.value()) for r in l_recs}
    assert len(l_recs) == 3 and set(by_key) == {ids[0].hex().encode(), ids[1].hex().encode(), None}
    assert len(by_key[ids[0].hex().encode()].resource_logs[0].scope_logs[0].log_records) == 2
    for r in l_recs:
        if r.key() is not None:
            assert r.partition() == sarama_partition(r.key(), 4)
    assert flatten(merged(list(by_key.values()))) == flatten(logs)


@pytest.mark.parametrize("compression", ["gzip", "snappy", "lz4", "zstd"])
async def test_compression_acks_all_and_too_large(kafka_broker, compression):
    from otelflow.core.consumer import PermanentError

    topic = f"comp_{compression}"
    kafka_broker.create_topic(topic, 1)
    small = ExportTraceServiceRequest()
    small.resource_spans.add().scope_spans.add().spans.add(trace_id=b"\x01" * 16, span_id=b"\x02" * 8, name="s")
    big = ExportTraceServiceRequest()
    span = big.resource_spans.add().scope_spans.add().spans.add(trace_id=b"\x03" * 16, span_id=b"\x04" * 8, name="b")
    span.attributes.add(key="blob").value.string_value = "x" * 4000
    exp = await started_exporter("kafka", {"brokers": [kafka_broker.bootstrap], "traces": {"topic": topic},
                                           "sending_queue": {"enabled": False},
                                           "producer": {"compression": compression, "required_acks": "all",
                                                        "max_message_bytes": 3000}})
    try:
        with pytest.raises(PermanentError, match=f"error exporting to topic '{topic}'"):
            await exp.consume(big)  # larger than max_message_bytes: no retry can help
        await exp.consume(small)  # the exporter keeps working
    finally:
        await exp.shutdown()
    recs = await asyncio.to_thread(read_topic, kafka_broker.bootstrap, topic, 1)
    assert [ExportTraceServiceRequest.FromString(r.value()) for r in recs] == [small]


async def test_broker_killed_mid_stream_loses_nothing_acknowledged(kafka_broker):
    """A stream of batches with acks=all while the broker is killed (SIGKILL) and started again on
    the same log dir: every batch whose consume() returned (the broker acknowledged all its
    records) is in the topic afterwards, and the batches caught by the outage are retried until
    they are delivered, not dropped."""
    topic = "killed_mid_stream"
    kafka_broker.create_topic(topic, 2)
    exp = await started_exporter("kafka", {
        "brokers": [kafka_broker.bootstrap], "traces": {"topic": topic}, "timeout": "2s",
        "producer": {"required_acks": "all"}, "sending_queue": {"enabled": False},
        "retry_on_failure": {"initial_interval": "200ms", "max_interval": "1s", "max_elapsed_time": "90s"}})
    acked: list[int] = []

    def batch(i: int) -> ExportTraceServiceRequest:
        req = ExportTraceServiceRequest()
        scope = req.resource_spans.add().scope_spans.add()
        for j in range(5):
            scope.spans.add(trace_id=i.to_bytes(8, "big") + j.to_bytes(8, "big"), span_id=b"\x01" * 8, name=f"b{i}-{j}")
        return req

    async def stream() -> None:
        for i in range(40):
            await exp.consume(batch(i))
            acked.append(i)
            await asyncio.sleep(0.05)

    try:
        task = asyncio.create_task(stream())
        while len(acked) < 10:
            await asyncio.sleep(0.05)
        await asyncio.to_thread(kafka_broker.kill)
        at_kill = len(acked)
        await asyncio.sleep(2)  # batches in flight fail and are retried
        await asyncio.to_thread(kafka_broker.start)
        await asyncio.wait_for(task, 90)
    finally:
        await exp.shutdown()
    assert at_kill < 40 and acked == list(range(40))
    recs = await asyncio.to_thread(read_topic, kafka_broker.bootstrap, topic, 40)
    names = {s.name for r in recs for rs in ExportTraceServiceRequest.FromString(r.value()).resource_spans
             for ss in rs.scope_spans for s in ss.spans}
    assert names == {f"b{i}-{j}" for i in range(40) for j in range(5)}


def test_producer_settings_as_configkafka_v0162():
    c = validate(Config, {}, "exporters::kafka")
    assert (c.producer.flush_max_messages, c.producer.linger, c.producer.max_broker_write_bytes) == (10000, 0.01, 100 << 20)
    for bad, text in [({"flush_max_messages": 0}, "flush_max_messages (0) must be at least 1"),
                      ({"max_broker_write_bytes": 1000}, "max_broker_write_bytes (1000) must be at least 104857600"),
                      ({"max_message_bytes": 209715200},
                       "max_message_bytes (209715200) cannot be greater than max_broker_write_bytes (104857600)"),
                      ({"max_message_bytes": -1000}, "max_message_bytes (-1000) must be non-negative")]:
        with pytest.raises(ConfigError, match=re.escape(f"exporters::kafka::producer: {text}")):
            validate(Config, {"producer": bad}, "exporters::kafka")


@pytest.mark.parametrize("signal", [Signal.TRACES, Signal.LOGS])
def test_native_cut_by_trace_id_equals_parsed_cut(signal):
    """The exporter cuts by trace ID on the encoded request in C (otelflow.native._route); its
    records (keys and messages, in order) are the parsed cut's."""
    from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord
    from opentelemetry.proto.trace.v1.trace_pb2 import Span

    from otelflow.core.component import ComponentID, Kind, Settings
    from otelflow.core.telemetry import Telemetry
    from otelflow.exporters.kafka import KafkaExporter
    from otelflow.exporters.kafka.partition import _route

    if _route is None:
        pytest.skip("native module not built")
    ids = [bytes([1]) * 16, bytes([2]) * 16, b"", bytes(16), bytes([3]) * 8]
    if signal is Signal.TRACES:
        req, key, cfg = ExportTraceServiceRequest(), "partition_traces_by_id", {}
        for r in range(2):
            rs = req.resource_spans.add(schema_url=f"r{r}")
            rs.resource.attributes.extend(_resource(f"svc{r}"))
            for s in range(2):
                scope = rs.scope_spans.add(schema_url=f"s{s}")
                scope.scope.name = f"scope{s}"
                for i, tid in enumerate(ids * 2):
                    scope.spans.append(Span(trace_id=tid, span_id=bytes([i + 1]) * 8, name=f"{r}{s}{i}"))
    else:
        req, key, cfg = ExportLogsServiceRequest(), "partition_logs_by_trace_id", {}
        for r in range(2):
            rl = req.resource_logs.add()
            rl.resource.attributes.extend(_resource(f"svc{r}"))
            sl = rl.scope_logs.add()
            for i, tid in enumerate(ids * 2):
                sl.log_records.append(LogRecord(trace_id=tid, body={"string_value": f"{r}{i}"}))
    settings = Settings(id=ComponentID("kafka"), kind=Kind.EXPORTER, telemetry=Telemetry(), signal=signal)
    exp = KafkaExporter(settings, validate(Config, {key: True, **cfg}, "exporters::kafka"))
    assert exp.native_cut is not None
    native = exp._records(req)
    exp.native_cut = None
    parsed = exp._records(req)
    # the same keys in the same order, and equal messages (the bytes may order fields differently:
    # C copies the envelope fields as they came)
    assert [k for k, _ in native] == [k for k, _ in parsed]
    def decoded(value: bytes):
        msg = type(req).FromString(value)
        for res in getattr(msg, "resource_spans" if signal is Signal.TRACES else "resource_logs"):
            for scope in getattr(res, "scope_spans" if signal is Signal.TRACES else "scope_logs"):
                if not scope.scope.ByteSize():  # the parsed cut writes an absent scope as an empty one
                    scope.ClearField("scope")
        return msg

    assert [decoded(v) for _, v in native] == [decoded(v) for _, v in parsed]
    assert len(native) == 2 * (2 if signal is Signal.TRACES else 1) * len(ids)
