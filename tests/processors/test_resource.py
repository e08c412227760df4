"""The resource processor: the attribute actions on resource attributes of traces, metrics and
logs, upstream's config errors, and conformance with upstream's recorded output."""

from __future__ import annotations

import asyncio
import hashlib

import pytest
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from otelflow.config.errors import ConfigError
from otelflow.config.model import validate
from otelflow.core.component import Signal, STABLE_SIGNALS
from otelflow.processors.resource import Config
from tests.backends import HTTPBackend, free_port
from tests.conftest import running
from tests.processors.test_attributes import chain, kvs, pairs, run
from tests.processors.testdata.goldens import case_dirs, check_case, load_case, processor_types

CASES = [d for d in case_dirs() if processor_types(load_case(d)) == {"resource"}]


@pytest.mark.parametrize("case_dir", CASES, ids=lambda d: d.name)
async def test_conformance_with_upstream(case_dir, tmp_path):
    await check_case(case_dir, tmp_path / "out.jsonl")


def test_there_are_resource_goldens():
    names = {d.name for d in CASES}
    assert {"resource_seed", "resource_actions", "resource_metrics", "err_resource_no_attributes", "err_resource_bad_action"} <= names


SEED = {"resource": {"attributes": [{"key": "deployment.environment", "from_attribute": "env", "action": "insert"}]}}


def requests(resource_attrs: list[list[tuple]]):
    t, m, lg = ExportTraceServiceRequest(), ExportMetricsServiceRequest(), ExportLogsServiceRequest()
    for attrs in resource_attrs:
        rs = t.resource_spans.add()
        rs.resource.attributes.extend(kvs(attrs))
        rs.scope_spans.add().spans.add(name="s").attributes.extend(kvs([("env", "span-level")]))
        rm = m.resource_metrics.add()
        rm.resource.attributes.extend(kvs(attrs))
        rm.scope_metrics.add().metrics.add(name="g").gauge.data_points.add().attributes.extend(kvs([("env", "point")]))
        rl = lg.resource_logs.add()
        rl.resource.attributes.extend(kvs(attrs))
        rl.scope_logs.add().log_records.add().attributes.extend(kvs([("env", "record")]))
    return {Signal.TRACES: t, Signal.METRICS: m, Signal.LOGS: lg}


def resource_pairs(message) -> list[list[tuple]]:
    field = message.DESCRIPTOR.fields[0].name
    return [pairs(r.resource.attributes) for r in getattr(message, field)]


@pytest.mark.parametrize("signal", [s for s in Signal if s in STABLE_SIGNALS])
async def test_seed_inserts_deployment_environment_from_env_on_every_resource(signal):
    data = requests([[("service.name", "a"), ("env", "prod")], [("env", "dev"), ("deployment.environment", "keep")], []])[signal]
    out = await run(SEED, data, signal)
    assert resource_pairs(out) == [
        [("service.name", "a"), ("env", "prod"), ("deployment.environment", "prod")],
        [("env", "dev"), ("deployment.environment", "keep")],
        [],
    ]


@pytest.mark.parametrize("signal", [s for s in Signal if s in STABLE_SIGNALS])
async def test_item_attributes_are_not_touched(signal):
    data = requests([[("env", "prod")]])[signal]
    out = await run({"resource": {"attributes": [{"key": "env", "action": "delete"}]}}, data, signal)
    assert resource_pairs(out) == [[]]
    text = str(out)
    assert "span-level" in text or "point" in text or "record" in text


async def test_every_action_on_resource_attributes():
    data = requests([[("service.name", "checkout"), ("k8s-cluster", "c1"), ("redundant", "x"), ("tier", "3"),
                      ("url", "https://h/p"), ("tmp.a", 1), ("tmp.b", 2)]])[Signal.TRACES]
    cfg = {"resource": {"attributes": [
        {"key": "cloud.availability_zone", "value": "zone-1", "action": "upsert"},
        {"key": "k8s.cluster.name", "from_attribute": "k8s-cluster", "action": "insert"},
        {"key": "redundant", "action": "delete"},
        {"pattern": "^tmp\\.", "action": "delete"},
        {"key": "service.name", "action": "hash"},
        {"key": "tier", "action": "convert", "converted_type": "int"},
        {"key": "url", "pattern": "^(?P<scheme>[a-z]+)://(?P<host>[^/]+)", "action": "extract"},
        {"key": "service.namespace", "from_attribute": "namespace", "default_value": "default", "action": "insert"},
        {"key": "tier", "value": 4, "action": "update"},
    ]}}
    out = await run(cfg, data)
    # "redundant" goes and the last entry (k8s.cluster.name) takes its slot; the pattern delete keeps order
    assert resource_pairs(out) == [[
        ("service.name", hashlib.sha256(b"checkout").hexdigest()), ("k8s-cluster", "c1"), ("k8s.cluster.name", "c1"),
        ("tier", 4), ("url", "https://h/p"), ("cloud.availability_zone", "zone-1"), ("scheme", "https"), ("host", "h"),
        ("service.namespace", "default"),
    ]]


async def test_delete_by_key_moves_the_last_resource_attribute_into_its_slot():
    data = requests([[("a", 1), ("redundant", 2), ("b", 3), ("c", 4)]])[Signal.LOGS]
    out = await run({"resource": {"attributes": [{"key": "redundant", "action": "delete"}]}}, data, Signal.LOGS)
    assert resource_pairs(out) == [[("a", 1), ("c", 4), ("b", 3)]]


def test_attributes_are_required():
    for raw in ({}, {"attributes": None}, {"attributes": []}):
        with pytest.raises(ConfigError) as err:
            validate(Config, raw, "processors::resource")
        assert str(err.value) == 'processors::resource: missing required field "attributes"'


def test_unknown_keys_are_config_errors():
    with pytest.raises(ConfigError, match="unknown key"):
        validate(Config, {"actions": [{"key": "a", "value": 1, "action": "insert"}]}, "processors::resource")


@pytest.mark.parametrize("attributes,message", [
    ([{"key": "a", "value": 1, "action": "insert"}, {"key": "b", "action": "upsert"}],
     'error with key "b" (1-th action): error creating AttrProc. Either field "value", "from_attribute", "from_context", or "default_value" must be specified'),
    ([{"action": "insert", "value": 1}], 'error creating AttrProc due to missing required field "key" at the 0-th action'),
    ([{"key": "a", "action": "hash", "value": 1}], 'error with key "a" (0-th action): error creating AttrProc. Action "hash" does not use "value" or "from_attribute" field. These must not be specified'),
    ([{"key": "a", "action": "copy", "from_attribute": "b"}], 'error with key "a" (0-th action): error creating AttrProc due to unsupported action "copy"'),
])
def test_action_errors_match_upstream(attributes, message):
    # upstream finds these when it builds the processor, which `otelcol validate` does; otelflow at validation
    with pytest.raises(ConfigError) as err:
        validate(Config, {"attributes": attributes}, "processors::resource")
    assert str(err.value) == f"processors::resource: {message}"


async def test_resource_in_a_running_collector_for_every_signal():
    backend = await HTTPBackend().start()
    port = free_port()
    cfg = f"""
receivers: {{otlp: {{protocols: {{http: {{endpoint: "127.0.0.1:{port}"}}}}}}}}
processors:
  resource:
    attributes:
      - {{key: deployment.environment, from_attribute: env, action: insert}}
exporters: {{otlphttp: {{endpoint: "{backend.endpoint}"}}}}
service:
  pipelines:
    traces: {{receivers: [otlp], processors: [resource], exporters: [otlphttp]}}
    metrics: {{receivers: [otlp], processors: [resource], exporters: [otlphttp]}}
    logs: {{receivers: [otlp], processors: [resource], exporters: [otlphttp]}}
"""
    import aiohttp

    data = requests([[("env", "prod")], [("service.name", "x")]])
    try:
        async with running(cfg):
            async with aiohttp.ClientSession() as session:
                for signal, message in data.items():
                    async with session.post(f"http://127.0.0.1:{port}/v1/{signal.value}", data=message.SerializeToString(),
                                            headers={"Content-Type": "application/x-protobuf"}) as resp:
                        assert resp.status == 200
    finally:
        await backend.stop()
    for signal in [s for s in Signal if s in STABLE_SIGNALS]:
        got = backend.messages(signal)
        assert len(got) == 1, signal
        assert resource_pairs(got[0]) == [[("env", "prod"), ("deployment.environment", "prod")], [("service.name", "x")]]


async def test_the_exporter_sends_the_bytes_the_c_loop_wrote():
    """With the C loop, resource hands on its rewritten bytes and batch joins them: the body at the
    backend is exactly those bytes (the client's non-canonical field order kept), not an encoding of
    the message. A ResourceSpans without a Resource gets one, as on the Python path."""
    from otelflow.processors.attraction.native import _attrs
    from tests.exporters.test_passthrough import _client_body, _field, _post
    if _attrs is None:
        pytest.skip("the native attributes loop is not built")
    backend = await HTTPBackend().start()
    port = free_port()
    cfg = f"""
receivers: {{otlp: {{protocols: {{http: {{endpoint: "127.0.0.1:{port}"}}}}}}}}
processors:
  memory_limiter: {{check_interval: 1s, limit_mib: 4000}}
  resource: {{attributes: [{{key: deployment.environment, value: staging, action: insert}}]}}
  batch: {{timeout: 10s, send_batch_size: 7}}
exporters: {{otlphttp: {{endpoint: "{backend.endpoint}"}}}}
service:
  pipelines:
    traces: {{receivers: [otlp], processors: [memory_limiter, resource, batch], exporters: [otlphttp]}}
"""
    no_resource = _field(0x0A, _field(0x12, ExportTraceServiceRequest.FromString(_client_body(1))
                                      .resource_spans[0].scope_spans[0].SerializeToString()))
    bodies = [_client_body(3), no_resource, _client_body(3)]
    try:
        async with running(cfg) as service:
            proc = next(n.component for n in service.graph.nodes if str(n.id) == "resource")
            assert proc.publishes_encoded and proc.native is not None
            expected = b"".join(_attrs.apply(proc.native.program, _attrs.RESOURCES, body) for body in bodies)
            for body in bodies:
                await _post(port, body)
            for _ in range(200):
                if backend.received:
                    break
                await asyncio.sleep(0.05)
    finally:
        await backend.stop()
    got = backend.received[0]
    assert got.body == expected
    assert got.body != got.message.SerializeToString()  # not encoded again by otelflow
    assert [sorted(k for k, _ in attrs) for attrs in resource_pairs(got.message)] == [
        ["deployment.environment", "env"], ["deployment.environment"], ["deployment.environment", "env"]]


@pytest.mark.parametrize("as_received", [True, False])
async def test_what_is_handed_on_matches_the_bytes_published_with_it(as_received):
    """With the client's bytes the message is changed in place and the C loop's bytes are published
    with it; without them the C loop's output is parsed. Either way the bytes are the message's."""
    from otelflow.core.client import received_request
    from otelflow.core.component import ComponentID, Kind, Settings
    from otelflow.core.registry import default_registry
    from otelflow.core.telemetry import Telemetry
    from otelflow.processors.attraction.native import _attrs
    if _attrs is None:
        pytest.skip("the native attributes loop is not built")

    class Capture:
        def __init__(self):
            self.got = []

        async def consume(self, data) -> None:
            self.got.append((data, received_request.get()))

    factory = default_registry.get(Kind.PROCESSOR, "resource")
    config = factory.config.model_validate(SEED["resource"] | {"attributes": SEED["resource"]["attributes"] + [
        {"key": "service.name", "action": "hash"}]})
    settings_ = Settings(ComponentID.parse("resource"), Kind.PROCESSOR, Telemetry(), signal=Signal.LOGS)
    for data in (requests([[("service.name", "a"), ("env", "prod")], []])[Signal.LOGS],  # changed
                 requests([[("x", 1)]])[Signal.LOGS]):  # unchanged
        capture = Capture()
        proc = factory.create(settings=settings_, config=config, next=capture)
        proc.as_received = as_received
        body = data.SerializeToString()
        expected = ExportLogsServiceRequest.FromString(body)
        proc._apply(expected)
        token = received_request.set((data, body, 2))
        try:
            await proc.consume(data)
        finally:
            received_request.reset(token)
        (out, (message, encoded, count)), = capture.got
        assert message is out
        assert ExportLogsServiceRequest.FromString(encoded) == expected == out
        assert out is data or not as_received  # without bytes, a changed request is a new message
        assert count == (2 if as_received else None)
        if as_received:
            assert encoded == (_attrs.apply(proc.native.program, _attrs.RESOURCES, body) or body)
