"""The kafka receiver against a real Apache Kafka 4.x broker (tests/kafka_broker.py, one per module):
real SDK telemetry through otelflow's kafka exporter and back through the receiver, compared as
protobuf; at-least-once across a kill -9 of the consuming collector and across a broker restart;
header extraction, initial_offset, undecodable records, and the config's keys and refusals."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from confluent_kafka import Producer
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord

from otelflow.config.model import ConfigError, validate
from otelflow.core.component import Signal, STABLE_SIGNALS
from otelflow.pdata import otlpjson
from otelflow.receivers.kafka import Config
from otelflow.receivers.kafka.encoding import DecodeError, decoder
from tests.backends import HTTPBackend, free_port
from tests.conftest import running
from tests.exporters.test_kafka_otelcol import normalized
from tests.kafka_broker import SECURE_USERS, running_broker
from tests.kafka.test_client_auth import _secure_configs
from tests.sdk import SDKApp, flatten, merged

REPO = Path(__file__).resolve().parents[2]
TESTDATA = Path(__file__).parent / "testdata" / "kafka"


@pytest.fixture(scope="module")
def broker():
    """This module's own broker (the restart test must not disturb other modules' topics), with
    SASL and TLS listeners besides the plaintext one."""
    with running_broker(sasl_users=SECURE_USERS, tls=True) as b:
        yield b


class SlowBackend(HTTPBackend):
    """An OTLP/HTTP backend that takes ``delay`` seconds per request: records stay in flight."""

    def __init__(self, delay: float = 0.0):
        super().__init__()
        self.delay = delay

    async def _handle(self, request):
        if self.delay:
            await asyncio.sleep(self.delay)
        return await super()._handle(request)


def log_request(body: str, **resource: str) -> ExportLogsServiceRequest:
    req = ExportLogsServiceRequest()
    rl = req.resource_logs.add()
    rl.resource.attributes.extend(KeyValue(key=k, value=AnyValue(string_value=v)) for k, v in resource.items())
    rl.scope_logs.add().log_records.append(LogRecord(time_unix_nano=1_700_000_000_000_000_000,
                                                     body=AnyValue(string_value=body)))
    return req


def produce(bootstrap: str, topic: str, values: list[bytes], headers: list | None = None) -> None:
    p = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 5})
    for i, value in enumerate(values):
        while True:
            try:
                p.produce(topic, value, partition=i % _partitions(p, topic), headers=headers)
                break
            except BufferError:
                p.poll(0.1)
    assert p.flush(30) == 0


def _partitions(p: Producer, topic: str, _cache: dict = {}) -> int:  # noqa: B006 - a per-process memo
    if topic not in _cache:
        _cache[topic] = len(p.list_topics(topic, timeout=10).topics[topic].partitions)
    return _cache[topic]


def bodies(backend: HTTPBackend) -> list[str]:
    return [lr.body.string_value for m in backend.messages(Signal.LOGS) for rl in m.resource_logs
            for sl in rl.scope_logs for lr in sl.log_records]


async def wait_for(check, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.1)


def receiver_yaml(bootstrap: str, name: str, topic: str, group: str, extra: str = "", indent: str = "  ") -> str:
    return (f"{indent}kafka/{name}:\n{indent}  brokers: [\"{bootstrap}\"]\n{indent}  group_id: {group}\n"
            f"{indent}  logs: {{topics: [{topic}]}}\n" + "".join(f"{indent}  {line}\n" for line in extra.splitlines() if line))


def sink_yaml(backend: HTTPBackend, receivers: list[str]) -> str:
    """Receivers into an otlphttp exporter without a queue: an answer only after the backend's."""
    pipes = "\n".join(f"    logs/{r.split('/')[1]}: {{receivers: [{r}], exporters: [otlphttp]}}" for r in receivers)
    return f"""
exporters:
  otlphttp:
    endpoint: {backend.endpoint}
    sending_queue: {{enabled: false}}
    retry_on_failure: {{enabled: false}}
service:
  telemetry: {{metrics: {{level: none}}}}
  pipelines:
{pipes}
"""


# -- config -----------------------------------------------------------------------------------------

def test_config_defaults_and_refusals():
    c = validate(Config, {}, "receivers::kafka")
    assert (c.brokers, c.client_id, c.group_id, c.initial_offset) == (["localhost:9092"], "otel-collector",
                                                                       "otel-collector", "latest")
    assert (c.traces.topics, c.metrics.topics, c.logs.topics) == (["otlp_spans"], ["otlp_metrics"], ["otlp_logs"])
    assert c.traces.encoding == c.metrics.encoding == c.logs.encoding == "otlp_proto"
    assert (c.session_timeout, c.heartbeat_interval, c.max_fetch_wait) == (10.0, 3.0, 0.25)
    assert (c.autocommit.enable, c.autocommit.interval) == (True, 1.0)
    assert (c.message_marking.after, c.message_marking.on_error, c.message_marking.on_permanent_error) == (False,) * 3
    assert not c.error_backoff.enabled and not c.header_extraction.extract_headers
    settings = c.consumer_settings()
    assert settings["partition.assignment.strategy"] == "cooperative-sticky"  # franz-go's default
    assert settings["enable.auto.offset.store"] is False and settings["auto.commit.interval.ms"] == 1000
    # on_permanent_error takes on_error's value unless written (upstream's Unmarshal)
    mm = validate(Config, {"message_marking": {"after": True, "on_error": True}}, "x").message_marking
    assert (mm.after, mm.on_error, mm.on_permanent_error) == (True, True, True)
    mm = validate(Config, {"message_marking": {"on_error": True, "on_permanent_error": False}}, "x").message_marking
    assert (mm.on_error, mm.on_permanent_error) == (True, False)
    c = validate(Config, {"autocommit": {"enable": False}, "group_rebalance_strategies": ["range", "roundrobin"],
                          "group_instance_id": "a-1", "auth": {"sasl": {"mechanism": "SCRAM-SHA-512",
                                                                         "username": "u", "password": "p"}}}, "x")
    s = c.consumer_settings()
    assert s["enable.auto.commit"] is False and s["partition.assignment.strategy"] == "range,roundrobin"
    assert s["group.instance.id"] == "a-1" and s["security.protocol"] == "SASL_PLAINTEXT"
    for bad, text in [
        ({"traces": {"topic": "x"}}, 'traces::topic: unknown key, did you mean "topics"'),  # gone in v0.161
        ({"topic": "x"}, "topic: unknown key"),
        ({"default_fetch_size": 1}, "default_fetch_size: unknown key"),
        ({"initial_offset": "oldest"}, "initial_offset should be one of 'latest' or 'earliest'. configured value oldest"),
        ({"min_fetch_size": 9, "max_fetch_size": 2}, r"max_fetch_size \(2\) cannot be less than min_fetch_size \(9\)"),
        ({"logs": {"topics": ["a"], "exclude_topics": ["b"]}},
         "logs.exclude_topics is configured but none of the configured logs.topics use regex pattern"),
        ({"logs": {"topics": ["^a"], "exclude_topics": [""]}}, "logs.exclude_topics contains empty string"),
        ({"traces": {"topics": ["^a"], "exclude_topics": ["(x"]}}, "traces.exclude_topic contains invalid regex"),
        ({"group_rebalance_strategies": [" "]}, "group_rebalance_strategies entries cannot be empty"),
        ({"group_rebalance_strategies": ["sticky"]}, "implements only range, roundrobin, cooperative-sticky"),
        ({"partition_processing": {"independent": True, "max_buffered_batches": 0}},
         "partition_processing.max_buffered_batches must be greater than zero"),
        ({"partition_processing": {"independent": True}}, "does not implement independent partition workers"),
        ({"error_backoff": {"randomization_factor": 2}}, "randomization_factor value must be less than or equal to 1"),
        ({"brokers": []}, "brokers must be specified"),
    ]:
        with pytest.raises(ConfigError, match=text):
            validate(Config, bad, "receivers::kafka")


def test_encodings_as_upstream_names_them():
    with pytest.raises(ValueError, match='unrecognized metrics encoding "zipkin_json"'):
        decoder(Signal.METRICS, "zipkin_json")
    with pytest.raises(ValueError, match="not implemented"):
        decoder(Signal.TRACES, "zipkin_thrift")
    req = log_request("x", **{"service.name": "a"})
    assert decoder(Signal.LOGS, "otlp_proto")(req.SerializeToString()) == req
    assert flatten(decoder(Signal.LOGS, "otlp_json")(otlpjson.encode(req))) == flatten(req)
    for encoding in ("otlp_proto", "otlp_json", "zipkin_json", "zipkin_proto", "jaeger_proto", "jaeger_json"):
        with pytest.raises(DecodeError):
            decoder(Signal.TRACES, encoding)(b"\xff\x00not this")
    # logs-only encodings: one record, the value as its body
    body = decoder(Signal.LOGS, "raw")(b"\x00\xff").resource_logs[0].scope_logs[0].log_records[0].body
    assert body.bytes_value == b"\x00\xff"
    text = decoder(Signal.LOGS, "text_utf-16")("d\u00e9j\u00e0".encode("utf-16-le"))
    record = text.resource_logs[0].scope_logs[0].log_records[0]
    assert record.body.string_value == "d\u00e9j\u00e0" and record.observed_time_unix_nano > 0
    logs = decoder(Signal.LOGS, "json")(b'{"n": 2, "m": {"a": [true]}}')
    body = logs.resource_logs[0].scope_logs[0].log_records[0].body
    assert body.kvlist_value.values[0].value.double_value == 2.0  # Go's float64 for every JSON number
    assert body.kvlist_value.values[1].value.kvlist_value.values[0].value.array_value.values[0].bool_value
    with pytest.raises(DecodeError):
        decoder(Signal.LOGS, "json")(b"[1, 2]")
    with pytest.raises(ValueError, match="invalid text encoding: unsupported encoding 'klingon'"):
        decoder(Signal.LOGS, "text_klingon")
    with pytest.raises(ValueError, match='unrecognized metrics encoding "raw"'):
        decoder(Signal.METRICS, "raw")


@pytest.mark.parametrize("encoding", ["zipkin_proto", "zipkin_json", "jaeger_proto", "jaeger_json"])
def test_zipkin_and_jaeger_records_as_otelcol_ref_reads_them(encoding):
    """Goldens: records otelcol-ref's kafka exporter wrote in ``encoding`` and what otelcol-ref's
    kafka receiver delivered for them (testdata/kafka/README.md)."""
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    folder = TESTDATA / encoding
    values = sorted(folder.glob("*.value"))
    assert values
    decode = decoder(Signal.TRACES, encoding)
    got = merged([decode(v.read_bytes()) for v in values])
    want = otlpjson.decode((folder / "expected.otlp.json").read_bytes(), ExportTraceServiceRequest)
    assert flatten(normalized(got)) == flatten(normalized(want))


# -- end to end ------------------------------------------------------------------------------------

@pytest.mark.parametrize("encoding", ["otlp_proto", "otlp_json"])
async def test_exporter_to_receiver_carries_sdk_data_unchanged(broker, encoding):
    """SDK -> otlp receiver -> kafka exporter -> broker -> kafka receiver -> otlphttp -> backend."""
    prefix = f"rt_{encoding}"
    for t in ("spans", "metrics", "logs"):
        broker.create_topic(f"{prefix}_{t}", 2)
    backend = await SlowBackend().start()
    port = free_port()
    topics = {"traces": "spans", "metrics": "metrics", "logs": "logs"}
    exporter = "".join(f"    {s}: {{topic: {prefix}_{t}, encoding: {encoding}}}\n" for s, t in topics.items())
    receiver = "".join(f"    {s}: {{topics: [{prefix}_{t}], encoding: {encoding}}}\n" for s, t in topics.items())
    pipelines = "".join(f"    {s}/in: {{receivers: [otlp], exporters: [kafka]}}\n"
                        f"    {s}/out: {{receivers: [kafka], exporters: [otlphttp]}}\n" for s in topics)
    yaml = f"""
receivers:
  otlp: {{protocols: {{http: {{endpoint: "127.0.0.1:{port}"}}}}}}
  kafka:
    brokers: ["{broker.bootstrap}"]
    group_id: {prefix}
    initial_offset: earliest
    message_marking: {{after: true}}
{receiver}exporters:
  kafka:
    brokers: ["{broker.bootstrap}"]
    partition_traces_by_id: true
{exporter}  otlphttp:
    endpoint: {backend.endpoint}
    sending_queue: {{enabled: false}}
service:
  telemetry: {{metrics: {{level: none}}}}
  pipelines:
{pipelines}"""
    try:
        async with running(yaml) as service:
            app = SDKApp("http", f"http://127.0.0.1:{port}")
            await asyncio.to_thread(app.emit, 4)
            await asyncio.to_thread(app.shutdown)
            sent = app.sent()
            want = {s: flatten(sent[s]) for s in topics}

            def arrived(sig: Signal) -> bool:
                got = backend.messages(sig)
                return bool(got) and len(flatten(merged(got))) >= len(want[sig.value])

            await wait_for(lambda: all(arrived(s) for s in STABLE_SIGNALS), 30, "every signal back from Kafka")
            await asyncio.sleep(0.3)  # a duplicate would show now
            telemetry = service.telemetry
        for sig in [s for s in Signal if s in STABLE_SIGNALS]:
            assert flatten(merged(backend.messages(sig))) == want[sig.value], sig
        assert telemetry.value("otelcol_receiver_accepted_spans", receiver="kafka", transport="kafka") == \
            len(want["traces"])
        assert telemetry.value("otelcol_receiver_refused_spans", receiver="kafka") == 0
    finally:
        await backend.stop()


async def test_headers_initial_offset_and_undecodable_records(broker):
    """One collector, four receivers on one topic in their own groups:
    - early (earliest) sees the record written before it joined, late (latest) does not;
    - headers: extract_headers copies the listed headers to resource attributes;
    - skip (after: true, on_permanent_error: true) and default (after: false) log, count and skip
      the garbage record and go on; stuck (after: true alone) pauses the partition as upstream."""
    topic = "misc"
    broker.create_topic(topic, 1)
    await asyncio.to_thread(produce, broker.bootstrap, topic, [log_request("before").SerializeToString()])
    backend = await SlowBackend().start()
    names = ["early", "late", "headers", "skip", "stuck"]
    extras = {
        "early": "initial_offset: earliest",
        "late": "initial_offset: latest",
        "headers": "initial_offset: earliest\nheader_extraction: {extract_headers: true, headers: [tenant, absent]}",
        "skip": "initial_offset: earliest\nmessage_marking: {after: true, on_error: false, on_permanent_error: true}",
        "stuck": "initial_offset: earliest\nmessage_marking: {after: true}",
    }
    # a resource processor per receiver tells the backend who delivered each record
    procs = "".join(f"  resource/{n}:\n    attributes: [{{key: via, value: {n}, action: upsert}}]\n" for n in names)
    pipes = "".join(f"    logs/{n}: {{receivers: [kafka/{n}], processors: [resource/{n}], exporters: [otlphttp]}}\n"
                    for n in names)
    yaml = ("receivers:\n" + "".join(receiver_yaml(broker.bootstrap, n, topic, f"misc-{n}", extras[n]) for n in names)
            + "processors:\n" + procs + sink_yaml(backend, []).replace("  pipelines:\n", "  pipelines:\n" + pipes))
    try:
        async with running(yaml) as service:
            t = service.telemetry
            await wait_for(lambda: all(t.value("otelcol_kafka_receiver_partition_start", receiver=f"kafka/{n}")
                                       for n in names), 30, "every receiver assigned its partition")
            await asyncio.sleep(1.0)  # "late" fetched its start offset (the end) before more arrive
            await asyncio.to_thread(produce, broker.bootstrap, topic, [
                log_request("one", **{"service.name": "api"}).SerializeToString(),
                b"\x0a\xffthis is not protobuf",
                log_request("two").SerializeToString(),
            ], headers=[("tenant", b"acme"), ("other", b"x"), ("tenant", b"second")])

            def got(n: str) -> list[str]:
                return [lr.body.string_value for m in backend.messages(Signal.LOGS) for rl in m.resource_logs
                        if any(a.key == "via" and a.value.string_value == n for a in rl.resource.attributes)
                        for sl in rl.scope_logs for lr in sl.log_records]

            await wait_for(lambda: all(got(n)[-1:] == ["two"] for n in ("early", "late", "headers", "skip")), 20,
                           "records after the garbage one")
            await asyncio.sleep(1.0)  # "stuck" had as long to go past it
            failed = t.value("otelcol_kafka_receiver_unmarshal_failed_log_records", receiver="kafka/skip")
            failed_default = t.value("otelcol_kafka_receiver_unmarshal_failed_log_records", receiver="kafka/early")
        assert got("early") == ["before", "one", "two"]
        assert got("late") == ["one", "two"]
        assert got("skip") == ["before", "one", "two"] and failed == failed_default == 1
        assert got("stuck") == ["before", "one"]  # paused at the garbage record, as upstream
        for m in backend.messages(Signal.LOGS):
            for rl in m.resource_logs:
                attrs = {a.key: a.value.string_value for a in rl.resource.attributes}
                if attrs["via"] == "headers" and rl.scope_logs[0].log_records[0].body.string_value != "before":
                    assert attrs.get("kafka.header.tenant") == "acme" and "kafka.header.absent" not in attrs
                    assert "kafka.header.other" not in attrs
                elif attrs["via"] != "headers":
                    assert not any(k.startswith("kafka.header.") for k in attrs)
    finally:
        await backend.stop()


def _otelflow(config: Path, log: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    with open(log, "ab") as out:
        return subprocess.Popen([sys.executable, "-m", "otelflow", "--config", str(config)], cwd=REPO, env=env,
                                stdout=out, stderr=subprocess.STDOUT)


async def test_kill_9_mid_stream_loses_nothing(broker, tmp_path: Path):
    """after: true + error_backoff: a slow, at first failing backend keeps records in flight; the
    consuming collector is killed with SIGKILL and started again in the same group: every record
    arrives (duplicates allowed: what was accepted after the last commit comes again)."""
    topic, n = "alo", 300
    broker.create_topic(topic, 2)
    await asyncio.to_thread(produce, broker.bootstrap, topic,
                            [log_request(f"rec-{i}").SerializeToString() for i in range(n)])
    backend = await SlowBackend(delay=0.01).start()
    backend.statuses = [503] * 5  # retryable: the receiver backs off and retries the same record
    extra = """initial_offset: earliest
message_marking: {after: true}
error_backoff: {enabled: true, initial_interval: 50ms, max_interval: 200ms, max_elapsed_time: 0s}
autocommit: {interval: 200ms}"""
    config = tmp_path / "c.yaml"
    config.write_text("receivers:\n" + receiver_yaml(broker.bootstrap, "alo", topic, "alo", extra)
                      + sink_yaml(backend, ["kafka/alo"]))
    log = tmp_path / "otelflow.log"
    proc = _otelflow(config, log)
    try:
        await wait_for(lambda: len(bodies(backend)) >= n // 3 or proc.poll() is not None, 40, "a third of the records")
        assert proc.poll() is None, log.read_text()[-3000:]
        os.kill(proc.pid, signal.SIGKILL)
        await asyncio.to_thread(proc.wait, 10)
        before = len(bodies(backend))
        assert before < n, "everything arrived before the kill: nothing was in flight"
        proc = _otelflow(config, log)
        want = {f"rec-{i}" for i in range(n)}
        await wait_for(lambda: want <= set(bodies(backend)) or proc.poll() is not None, 40, "every record")
        got = bodies(backend)
        dupes = len(got) - len(set(got))
        assert want == set(got), f"lost {len(want - set(got))} of {n} records ({dupes} duplicates)\n" + \
            log.read_text()[-2000:]
        assert backend.attempts >= len(got) + 5  # the 503s were retried
        print(f"kill -9 after {before} of {n} records delivered: {dupes} duplicates after restart")
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.to_thread(proc.wait, 20)
        except subprocess.TimeoutExpired:
            proc.kill()
        await backend.stop()


async def test_broker_restart_mid_stream_loses_nothing(broker):
    """Records acknowledged by the broker before and after a broker restart all reach the backend,
    with a collector that keeps running across the outage."""
    topic, n = "restart", 200
    broker.create_topic(topic, 2)
    backend = await SlowBackend(delay=0.01).start()
    # backoff gives up after ~300ms: the partition is rewound and the record fetched again
    backend.statuses = [503] * 8
    extra = "initial_offset: earliest\nmessage_marking: {after: true}\n" \
            "error_backoff: {enabled: true, initial_interval: 100ms, multiplier: 2, max_interval: 1s, max_elapsed_time: 300ms}"
    yaml = "receivers:\n" + receiver_yaml(broker.bootstrap, "rs", topic, "restart", extra) + sink_yaml(backend, ["kafka/rs"])
    try:
        async with running(yaml):
            first = [log_request(f"a-{i}").SerializeToString() for i in range(n // 2)]
            await asyncio.to_thread(produce, broker.bootstrap, topic, first)
            await wait_for(lambda: len(bodies(backend)) >= n // 8, 30, "records flowing")
            mid = len(set(bodies(backend)))
            await asyncio.to_thread(broker.restart)
            second = [log_request(f"b-{i}").SerializeToString() for i in range(n // 2)]
            await asyncio.to_thread(produce, broker.bootstrap, topic, second)
            want = {f"a-{i}" for i in range(n // 2)} | {f"b-{i}" for i in range(n // 2)}
            await wait_for(lambda: want <= set(bodies(backend)), 45, "every record after the restart")
        got = bodies(backend)
        assert want == set(got), f"lost {len(want - set(got))}; {len(got) - len(set(got))} duplicates"
        assert mid < n // 2, "the first half was through before the restart"
        assert backend.attempts >= len(got) + 8
    finally:
        await backend.stop()


@pytest.mark.parametrize("case", ["scram256", "mtls", "sasl_ssl"])
async def test_receiver_over_sasl_and_tls(broker, case):
    """The shared client settings work in the receiver: SCRAM over plaintext, TLS with a client
    certificate, SCRAM-SHA-512 over TLS."""
    topic = f"auth_{case}"
    broker.create_topic(topic, 1)
    await asyncio.to_thread(produce, broker.bootstrap, topic, [log_request(f"{case}-{i}").SerializeToString()
                                                              for i in range(3)])
    backend = await SlowBackend().start()
    receiver = {**_secure_configs(broker)[case], "group_id": topic, "initial_offset": "earliest",
                "logs": {"topics": [topic]}}
    text = yaml.safe_dump({"receivers": {"kafka": receiver}}) + sink_yaml(backend, ["kafka/x"]).replace(
        "kafka/x", "kafka").replace("logs/x:", "logs:")
    try:
        async with running(text):
            await wait_for(lambda: len(bodies(backend)) >= 3, 30, f"records over {case}")
        assert sorted(bodies(backend)) == [f"{case}-{i}" for i in range(3)]
    finally:
        await backend.stop()


async def test_regex_topics_with_and_without_exclusions(broker):
    """``^``-topics are regexes (librdkafka's own regex subscription); exclude_topics removes
    matching topics from them (the receiver resolves the names itself)."""
    for name in ("xr_orders", "xr_debug_1", "xr_payments", "other"):
        broker.create_topic(name, 1)
        await asyncio.to_thread(produce, broker.bootstrap, name, [log_request(name).SerializeToString()])
    excluding, plain = await SlowBackend().start(), await SlowBackend().start()
    yaml_text = f"""
receivers:
  kafka/excluding:
    brokers: ["{broker.bootstrap}"]
    group_id: regex-excluding
    initial_offset: earliest
    logs: {{topics: ["^xr_.*"], exclude_topics: ["^xr_debug"]}}
  kafka/plain:
    brokers: ["{broker.bootstrap}"]
    group_id: regex-plain
    initial_offset: earliest
    logs: {{topics: ["^xr_.*"]}}
exporters:
  otlphttp/excluding: {{endpoint: "{excluding.endpoint}", sending_queue: {{enabled: false}}}}
  otlphttp/plain: {{endpoint: "{plain.endpoint}", sending_queue: {{enabled: false}}}}
service:
  telemetry: {{metrics: {{level: none}}}}
  pipelines:
    logs/excluding: {{receivers: [kafka/excluding], exporters: [otlphttp/excluding]}}
    logs/plain: {{receivers: [kafka/plain], exporters: [otlphttp/plain]}}
"""
    try:
        async with running(yaml_text):
            await wait_for(lambda: len(bodies(excluding)) >= 2 and len(bodies(plain)) >= 3, 30,
                           "records of the matching topics")
            await asyncio.sleep(1.0)
        assert sorted(bodies(excluding)) == ["xr_orders", "xr_payments"]
        assert sorted(bodies(plain)) == ["xr_debug_1", "xr_orders", "xr_payments"]
    finally:
        await excluding.stop()
        await plain.stop()
