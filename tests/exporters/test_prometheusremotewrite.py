"""The ``prometheus_remote_write`` exporter: what it writes equals what otelcol-ref v0.161.0 writes
for the same OTLP input (goldens recorded by testdata/prometheusremotewrite/record.py), a real
Prometheus stores and answers it, and backend answers are handled as upstream handles them."""

from __future__ import annotations

import asyncio
import json
import math
import time
from pathlib import Path

import pytest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest

from otelflow import __version__
from otelflow.config.errors import ConfigError
from otelflow.config.model import validate
from otelflow.core import featuregates
from otelflow.core.component import ComponentID, Host, Kind, Settings, Signal
from otelflow.core.consumer import ConsumerError, PermanentError
from otelflow.core.registry import default_registry
from otelflow.core.telemetry import Telemetry
from otelflow.exporters.prometheusremotewrite import Config, PRWExporter, batches, prompb
from otelflow.exporters.prometheusremotewrite.translate import Converter, Settings as TSettings
from otelflow.pdata import otlpjson
from tests.exporters.prw_support import CaptureServer, Prometheus, normalise

DATA = Path(__file__).parent / "testdata" / "prometheusremotewrite"
CASES = json.loads((DATA / "cases.json").read_text())
STRICT_HEADERS = ("Content-Encoding", "Content-Type", "X-Prometheus-Remote-Write-Version", "X-Scope-Orgid")


def load(name: str) -> ExportMetricsServiceRequest:
    return otlpjson.decode((DATA / "inputs" / f"{name}.json").read_bytes(), ExportMetricsServiceRequest)


def exporter_config(url: str, config: dict) -> dict:
    if "http" in config:
        return {**config, "http": {**config["http"], "endpoint": url}}
    return {"endpoint": url, **config}


async def started(config: dict, telemetry: Telemetry | None = None, name: str = "") -> PRWExporter:
    factory = default_registry.get(Kind.EXPORTER, "prometheus_remote_write")
    cid = ComponentID("prometheus_remote_write", name)
    settings = Settings(id=cid, kind=Kind.EXPORTER, telemetry=telemetry or Telemetry(), signal=Signal.METRICS)
    exporter = factory.create(settings=settings, config=validate(factory.config, config, f"exporters::{cid}"))
    await exporter.start(Host())
    return exporter


# -- conformance with otelcol-ref ---------------------------------------------------------------------


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
async def test_write_requests_match_upstream(case):
    golden = json.loads((DATA / f"{case['name']}.json").read_text())
    server = await CaptureServer().start()
    exporter = await started(exporter_config(server.url, case["config"]))
    try:
        for name in case["requests"]:
            await exporter.consume(load(name))
        await server.wait_for(1)
        await exporter.shutdown()
    finally:
        await server.stop()
    got = normalise([r for _, r in server.requests])
    assert got["series"] == golden["series"]
    assert got.get("metadata") == golden.get("metadata")
    headers = {k.lower(): v for k, v in server.requests[0][0].items()}
    want = {k.lower(): v for k, v in golden["headers"].items()}
    for key in STRICT_HEADERS:
        assert headers.get(key.lower()) == want.get(key.lower()), key
    assert headers["user-agent"] == f"otelflow/{__version__}"
    if case["name"] == "small_batches":
        limit = case["config"]["max_batch_size_bytes"]
        for _, req in server.requests:
            sizes = [prompb.encoded_size(ts) for ts in req.timeseries]
            assert len(sizes) == 1 or sum(sizes) < limit
        assert abs(len(server.requests) - golden["requests"]) <= 2  # upstream's order is Go map order
    else:
        assert len(server.requests) == golden["requests"]


def test_goldens_cover_every_kind_of_series():
    names = {dict(s["labels"])["__name__"] for c in ("mixed", "edge") for s in json.loads((DATA / f"{c}.json").read_text())["series"]}
    for want in ("target_info", "http_requests_total", "http_server_request_duration_seconds_bucket",
                 "gc_pause_milliseconds", "rpc_latency_milliseconds", "queue_depth", "stale_counter_bytes_total"):
        assert want in names
    edge = json.loads((DATA / "edge.json").read_text())
    assert any(s["samples"] and s["samples"][0][1] == "StaleNaN" for s in edge["series"])
    assert any("histograms" in s for s in edge["series"])
    assert not any(dict(s["labels"])["__name__"].startswith(("delta_", "only_delta")) for s in edge["series"])


# -- a real Prometheus ---------------------------------------------------------------------------------


def _req(metrics: list[dict], resource: dict) -> ExportMetricsServiceRequest:
    body = {"resourceMetrics": [{
        "resource": {"attributes": [{"key": k, "value": {"stringValue": v}} for k, v in resource.items()]},
        "scopeMetrics": [{"scope": {"name": "shop.lib", "version": "2.1"}, "metrics": metrics}],
    }]}
    return otlpjson.decode(json.dumps(body).encode(), ExportMetricsServiceRequest)


def _ns(t: float) -> str:
    return str(int(t * 1e9))


BOUNDS = [0.1, 0.5, 1.0, 5.0]


def _push(t: float, start: float, step: int) -> ExportMetricsServiceRequest:
    """Step ``step`` of a small app: a counter growing 10 a step (10s apart), a gauge, a histogram
    whose buckets grow by (4, 4, 2, 0, 0) a step, an exponential histogram of 3 observations."""
    attrs = [{"key": "http.route", "value": {"stringValue": "/cart"}}]
    return _req([
        {"name": "http.requests", "unit": "{request}", "sum": {"aggregationTemporality": 2, "isMonotonic": True, "dataPoints": [
            {"startTimeUnixNano": _ns(start), "timeUnixNano": _ns(t), "asInt": str(10 * step), "attributes": attrs}]}},
        {"name": "queue.size", "unit": "", "gauge": {"dataPoints": [{"timeUnixNano": _ns(t), "asDouble": 40.0 + step / 2}]}},
        {"name": "http.duration", "unit": "s", "histogram": {"aggregationTemporality": 2, "dataPoints": [
            {"startTimeUnixNano": _ns(start), "timeUnixNano": _ns(t), "count": str(10 * step), "sum": 2.5 * step,
             "bucketCounts": [str(4 * step), str(4 * step), str(2 * step), "0", "0"], "explicitBounds": BOUNDS, "attributes": attrs}]}},
        {"name": "payload.size", "unit": "By", "exponentialHistogram": {"aggregationTemporality": 2, "dataPoints": [
            {"startTimeUnixNano": _ns(start), "timeUnixNano": _ns(t), "count": str(3 * step), "sum": 7.0 * step, "scale": 0,
             "zeroCount": "0", "positive": {"offset": 0, "bucketCounts": [str(step), str(2 * step)]}}]}},
    ], {"service.name": "cart", "service.namespace": "shop", "service.instance.id": "cart-1", "host.name": "node-7"})


@pytest.fixture
async def prometheus():
    prom = Prometheus()
    await prom.start()
    yield prom
    prom.stop()


async def test_prometheus_answers_what_was_written(prometheus):
    now = time.time()
    start = now - 70
    exporter = await started({"endpoint": prometheus.write_url})
    try:
        for step in range(1, 7):  # six pushes, 10 s apart, the last one at now
            await exporter.consume(_push(now - 60 + 10 * step, start, step))
    finally:
        await exporter.shutdown()
    sent = exporter.settings.telemetry.value("otelcol_exporter_sent_metric_points")
    assert sent == 6 * 4
    at = now + 1

    series = await prometheus.series('{job="shop/cart"}')
    names = {s["__name__"] for s in series}
    assert names == {
        "http_requests_total", "queue_size", "http_duration_seconds_bucket", "http_duration_seconds_sum",
        "http_duration_seconds_count", "payload_size_bytes", "target_info",
    }
    counter = next(s for s in series if s["__name__"] == "http_requests_total")
    assert counter == {"__name__": "http_requests_total", "job": "shop/cart", "instance": "cart-1", "http_route": "/cart",
                       "otel_scope_name": "shop.lib", "otel_scope_version": "2.1"}
    info = await prometheus.series("target_info")
    assert info == [{"__name__": "target_info", "job": "shop/cart", "instance": "cart-1", "host_name": "node-7"}]

    # the counter grew 10 every 10 s: 1/s
    rate = await prometheus.query('rate(http_requests_total{job="shop/cart"}[1m])', at)
    assert float(rate[0]["value"][1]) == pytest.approx(1.0, rel=1e-6)
    assert float((await prometheus.query("http_requests_total", at))[0]["value"][1]) == 60
    assert float((await prometheus.query("queue_size", at))[0]["value"][1]) == 43.0
    # cumulative buckets at the last step: le=0.1 → 24, 0.5 → 48, 1 → 60, 5 → 60, +Inf → 60; the median
    # (rank 30) lies in (0.1, 0.5]: 0.1 + 0.4 * (30 - 24) / 24
    median = await prometheus.query("histogram_quantile(0.5, sum by (le) (http_duration_seconds_bucket))", at)
    assert float(median[0]["value"][1]) == pytest.approx(0.1 + 0.4 * 6 / 24)
    p90 = await prometheus.query("histogram_quantile(0.9, sum by (le) (rate(http_duration_seconds_bucket[1m])))", at)
    assert float(p90[0]["value"][1]) == pytest.approx(0.5 + 0.5 * (9 - 8) / 2)
    # the exponential histogram is a native histogram
    count = await prometheus.query("histogram_count(payload_size_bytes)", at)
    total = await prometheus.query("histogram_sum(payload_size_bytes)", at)
    assert float(count[0]["value"][1]) == 18 and float(total[0]["value"][1]) == 42.0


async def test_stale_marker_ends_the_series_in_prometheus(prometheus):
    now = time.time()
    exporter = await started({"endpoint": prometheus.write_url, "remote_write_queue": {"enabled": False}})
    point = {"timeUnixNano": _ns(now - 5), "asDouble": 3.0}
    stale = {"timeUnixNano": _ns(now - 2), "asDouble": 0.0, "flags": 1}
    try:
        await exporter.consume(_req([{"name": "temp", "gauge": {"dataPoints": [point]}}], {"service.name": "s"}))
        assert float((await prometheus.query("temp", now - 3))[0]["value"][1]) == 3.0
        await exporter.consume(_req([{"name": "temp", "gauge": {"dataPoints": [stale]}}], {"service.name": "s"}))
    finally:
        await exporter.shutdown()
    assert await prometheus.query("temp", now - 1) == []


async def test_collector_pipeline_writes_to_prometheus(prometheus):
    from tests.conftest import running
    from tests.exporters.prw_support import free_port

    port = free_port()
    yaml_text = json.dumps({
        "receivers": {"otlp": {"protocols": {"http": {"endpoint": f"127.0.0.1:{port}"}}}},
        "exporters": {"prometheusremotewrite": {"endpoint": prometheus.write_url, "external_labels": {"cluster": "eu-1"}}},
        "service": {"pipelines": {"metrics": {"receivers": ["otlp"], "exporters": ["prometheusremotewrite"]}}},
    })
    import aiohttp

    now = time.time()
    async with running(yaml_text):
        body = otlpjson.encode(_push(now, now - 10, 1))
        async with aiohttp.ClientSession() as session:
            async with session.post(f"http://127.0.0.1:{port}/v1/metrics", data=body,
                                    headers={"Content-Type": "application/json"}) as resp:
                assert resp.status == 200
        deadline = time.monotonic() + 20
        while not (result := await prometheus.query('queue_size{cluster="eu-1"}', now + 1)):
            assert time.monotonic() < deadline
            await asyncio.sleep(0.2)
    assert float(result[0]["value"][1]) == 40.5


# -- backend answers -----------------------------------------------------------------------------------
# otelcol-ref, probed with the same capturing endpoint: 400 and 429 → one attempt, data dropped;
# 503 three times → four attempts ~50 ms apart, then sent; 503 always → ~95 attempts, then dropped
# when the 5 s timeout ends the push.


def _small() -> ExportMetricsServiceRequest:
    return _req([{"name": "g", "gauge": {"dataPoints": [{"timeUnixNano": _ns(time.time()), "asDouble": 1.0}]}}], {"service.name": "a"})


@pytest.fixture
async def capture():
    server = await CaptureServer().start()
    yield server
    await server.stop()


@pytest.mark.parametrize("status", [400, 401, 404, 413, 429])
async def test_client_errors_are_permanent_and_not_retried(capture, status):
    capture.statuses = [status] * 5
    tel = Telemetry()
    exporter = await started({"endpoint": capture.url, "remote_write_queue": {"enabled": False}}, tel)
    try:
        with pytest.raises(PermanentError, match="remote write request failed"):
            await exporter.consume(_small())
    finally:
        await exporter.shutdown()
    assert capture.attempts == 1
    assert tel.value("otelcol_exporter_send_failed_metric_points") == 1
    assert tel.value("otelcol_exporter_prometheusremotewrite_sent_batches") == 1


@pytest.mark.parametrize("status", [500, 502, 503, 504])
async def test_server_errors_are_retried_until_accepted(capture, status):
    capture.statuses = [status, status, status]
    tel = Telemetry()
    exporter = await started({"endpoint": capture.url}, tel)
    try:
        await exporter.consume(_small())
        await capture.wait_for(1)
    finally:
        await exporter.shutdown()
    assert capture.attempts == 4 and len(capture.requests) == 1
    assert tel.value("otelcol_exporter_sent_metric_points") == 1
    assert tel.value("otelcol_exporter_send_failed_metric_points") == 0
    assert tel.value("otelcol_exporter_prometheusremotewrite_sent_batches") == 4


async def test_429_is_retried_with_upstreams_feature_gate(capture):
    gate = featuregates.PRW_RETRY_ON_429
    featuregates.REGISTRY.set(gate, True)
    try:
        capture.statuses = [429, 429]
        exporter = await started({"endpoint": capture.url, "remote_write_queue": {"enabled": False}})
        try:
            await exporter.consume(_small())
        finally:
            await exporter.shutdown()
    finally:
        featuregates.REGISTRY.set(gate, False)
    assert capture.attempts == 3 and len(capture.requests) == 1


async def test_retries_end_with_the_timeout_and_later_data_still_flows(capture):
    capture.statuses = [503] * 1000
    tel = Telemetry()
    exporter = await started({"endpoint": capture.url, "timeout": "600ms", "remote_write_queue": {"enabled": False}}, tel)
    try:
        began = time.monotonic()
        with pytest.raises(ConsumerError) as err:
            await exporter.consume(_small())
        assert not isinstance(err.value, PermanentError)
        assert time.monotonic() - began < 2.0
        assert 3 <= capture.attempts < 1000  # every ~50 ms, never growing
        capture.statuses.clear()
        await exporter.consume(_small())
    finally:
        await exporter.shutdown()
    assert len(capture.requests) == 1
    assert tel.value("otelcol_exporter_send_failed_metric_points") == 1
    assert tel.value("otelcol_exporter_sent_metric_points") == 1


async def test_retry_disabled_sends_once(capture):
    capture.statuses = [500]
    exporter = await started({"endpoint": capture.url, "retry_on_failure": {"enabled": False},
                              "remote_write_queue": {"enabled": False}})
    try:
        with pytest.raises(ConsumerError):
            await exporter.consume(_small())
    finally:
        await exporter.shutdown()
    assert capture.attempts == 1


async def test_queued_failures_do_not_reach_the_caller(capture):
    capture.statuses = [400]
    tel = Telemetry()
    exporter = await started({"endpoint": capture.url}, tel)
    try:
        await exporter.consume(_small())  # queued: accepted at once
        await exporter.consume(_small())
        await capture.wait_for(1)
    finally:
        await exporter.shutdown()
    assert tel.value("otelcol_exporter_send_failed_metric_points") == 1
    assert tel.value("otelcol_exporter_sent_metric_points") == 1


async def test_one_failing_batch_fails_the_push_but_the_others_are_sent(capture):
    capture.statuses = [400]
    exporter = await started({"endpoint": capture.url, "max_batch_size_bytes": 100,
                              "remote_write_queue": {"enabled": False, "num_consumers": 1}})
    many = _req([{"name": f"g{i}", "gauge": {"dataPoints": [{"timeUnixNano": _ns(time.time()), "asDouble": 1.0}]}}
                 for i in range(5)], {"service.name": "a"})
    try:
        with pytest.raises(PermanentError):
            await exporter.consume(many)
    finally:
        await exporter.shutdown()
    assert capture.attempts == 6 and len(capture.requests) == 5  # one series a request; the first refused


async def test_headers_and_auth(capture):
    from otelflow.extensions.bearertokenauth import factory as bearer

    settings = Settings(id=ComponentID("bearertokenauth"), kind=Kind.EXTENSION, telemetry=Telemetry())
    auth = bearer.create(settings=settings, config=validate(bearer.config, {"token": "s3cret"}, "extensions::bearertokenauth"))
    await auth.start(Host())
    factory = default_registry.get(Kind.EXPORTER, "prometheus_remote_write")
    cfg = validate(factory.config, {"http": {"endpoint": capture.url, "auth": {"authenticator": "bearertokenauth"},
                                             "headers": {"X-Scope-OrgID": "t1", "Content-Type": "text/plain"}}}, "e")
    exporter = factory.create(settings=Settings(id=ComponentID("prometheus_remote_write"), kind=Kind.EXPORTER,
                                                telemetry=Telemetry(), signal=Signal.METRICS), config=cfg)
    await exporter.start(Host({ComponentID("bearertokenauth"): auth}))
    try:
        await exporter.consume(_small())
        await capture.wait_for(1)
    finally:
        await exporter.shutdown()
        await auth.shutdown()
    headers = {k.lower(): v for k, v in capture.requests[0][0].items()}
    assert headers["authorization"] == "Bearer s3cret"
    assert headers["x-scope-orgid"] == "t1"
    assert headers["content-type"] == "application/x-protobuf"  # the protocol's headers win
    assert headers["x-prometheus-remote-write-version"] == "0.1.0"


async def test_bad_input_does_not_stop_the_exporter(capture):
    exporter = await started({"endpoint": capture.url, "remote_write_queue": {"enabled": False}})
    bad = ExportMetricsServiceRequest()
    m = bad.resource_metrics.add().scope_metrics.add().metrics.add()
    m.name = ""  # no name, no data
    try:
        await exporter.consume(bad)  # nothing to send
        await exporter.consume(_small())
    finally:
        await exporter.shutdown()
    assert len(capture.requests) == 1
    assert exporter.settings.telemetry.value("otelcol_exporter_prometheusremotewrite_failed_translations") == 1


# -- config --------------------------------------------------------------------------------------------


def test_defaults_are_upstreams():
    cfg = validate(Config, {}, "exporters::prometheus_remote_write")
    assert cfg.client.endpoint == "http://some.url:9411/api/prom/push"
    assert cfg.timeout == 5.0 and cfg.client.timeout == 5.0
    assert cfg.client.write_buffer_size == 512 * 1024
    r = cfg.retry_on_failure
    assert (r.enabled, r.initial_interval, r.max_interval, r.max_elapsed_time, r.multiplier) == (True, 0.05, 30.0, 300.0, 1.5)
    q = cfg.remote_write_queue
    assert (q.enabled, q.queue_size, q.num_consumers) == (True, 10000, 5)
    assert cfg.max_batch_size_bytes == 3000000 and cfg.target_info.enabled and cfg.add_metric_suffixes
    assert not cfg.send_metadata and cfg.protobuf_message == "prometheus.WriteRequest"
    assert cfg.concurrency() == 5


# (config, otelcol-ref's error) — recorded with `otelcol-ref validate`
ERRORS = [
    ({"remote_write_queue": {"queue_size": -1}}, "remote write queue size can't be negative"),
    ({"remote_write_queue": {"queue_size": 0}}, "a 0 size queue will drop all the data"),
    ({"remote_write_queue": {"num_consumers": -1}}, "remote write consumer number can't be negative"),
    ({"max_batch_size_bytes": -1}, "max_batch_size_bytes must be greater than 0"),
    ({"max_batch_request_parallelism": 0}, "max_batch_request_parallelism can't be set to below 1"),
    ({"compression": "gzip"}, "compression type must be snappy"),
    ({"protobuf_message": "foo"}, "unknown type for remote write protobuf message foo, supported: prometheus.WriteRequest, io.prometheus.write.v2.Request"),
    ({"protobuf_message": "io.prometheus.write.v2.Request"}, "remote write v2 is only supported with the feature gate exporter.prometheusremotewritexporter.enableSendingRW2"),
    ({"translation_strategy": "bad"}, "invalid translation_strategy: bad"),
    ({"translation_strategy": "NoTranslation"}, "translation strategy NoTranslation requires Prometheus Remote Write 2.0 (UTF-8 support)"),
    ({"resource_constant_labels": {"enabled": True}}, "enabled and exclude_service_attributes are not supported under resource_constant_labels; use included and excluded instead"),
    ({"include_metadata_keys": ["content-type"]}, 'include_metadata_keys entry "content-type" collides with a reserved remote write header'),
    ({"resource_to_telemetry_conversion": {"enabled": True}, "resource_constant_labels": {"included": ["a"]}},
     "cannot configure both resource_to_telemetry_conversion and resource_constant_labels; resource_to_telemetry_conversion is deprecated"),
    ({"resource_to_telemetry_conversion": {"included": ["a"], "enabled": True}},
     "cannot configure both legacy enabled/exclude_service_attributes and included/excluded patterns; enabled and exclude_service_attributes are deprecated"),
    ({"timeout": "-1s"}, "timeout value must be greater than or equal to 0"),
]


@pytest.mark.parametrize("config,message", ERRORS)
def test_config_errors_are_upstreams(config, message):
    with pytest.raises(ConfigError) as err:
        validate(Config, {"endpoint": "http://x:1/w", **config}, "exporters::prometheus_remote_write")
    assert message in str(err.value)


@pytest.mark.parametrize("config,message", [
    ({"external_labels": {"": "x"}}, "prometheus remote write: external labels configuration contains an empty key or value"),
    ({"external_labels": {"a": ""}}, "prometheus remote write: external labels configuration contains an empty key or value"),
    ({"endpoint": ""}, "invalid endpoint"),
    ({"endpoint": "http://a b"}, "invalid endpoint"),
    ({"http": {"endpoint": ""}, "endpoint": "http://ok:1"}, "invalid endpoint"),
])
def test_build_errors_are_upstreams(config, message):
    factory = default_registry.get(Kind.EXPORTER, "prometheus_remote_write")
    cfg = validate(Config, config, "exporters::prometheus_remote_write")
    settings = Settings(id=ComponentID("prometheus_remote_write"), kind=Kind.EXPORTER, telemetry=Telemetry(), signal=Signal.METRICS)
    with pytest.raises(ValueError, match=message):
        factory.create(settings=settings, config=cfg)


def test_unknown_keys_are_ignored_as_upstream_ignores_them(caplog):
    cfg = validate(Config, {"endpoint": "http://x:1/w", "export_created_metric": {"enabled": True}, "bogus": 1,
                            "remote_write_queue": {"bogus": 2}, "tls": {"bogus": 3}}, "e")
    assert cfg.ignored_keys == ["bogus", "export_created_metric"]
    settings = Settings(id=ComponentID("prometheus_remote_write"), kind=Kind.EXPORTER, telemetry=Telemetry(), signal=Signal.METRICS)
    PRWExporter(settings, cfg)
    assert "bogus, export_created_metric" in caplog.text
    with pytest.raises(ConfigError):  # the wal block is decoded strictly upstream too
        validate(Config, {"wal": {"directory": "/tmp", "bogus": 1}}, "e")


def test_http_block_wins_over_top_level_keys():
    cfg = validate(Config, {"endpoint": "http://top:1/w", "headers": {"a": "1"}, "http": {"endpoint": "http://nested:2/w"}}, "e")
    assert cfg.client.endpoint == "http://nested:2/w" and cfg.client.headers == {}
    cfg = validate(Config, {"endpoint": "http://top:1/w", "headers": {"a": "1"}, "timeout": "2s"}, "e")
    assert cfg.client.endpoint == "http://top:1/w" and cfg.client.headers == {"a": "1"} and cfg.client.timeout == 2.0


def test_upstream_testdata_config_loads():
    import yaml

    upstream = Path("/root/go/pkg/mod/github.com/open-telemetry/opentelemetry-collector-contrib/exporter/"
                    "prometheusremotewriteexporter@v0.161.0/testdata/config.yaml")
    if not upstream.exists():
        pytest.skip("upstream sources are not on this machine")
    docs = yaml.safe_load(upstream.read_text())
    cfg = validate(Config, docs["prometheus_remote_write/2"], "e")
    assert cfg.namespace == "test-space" and cfg.max_batch_request_parallelism == 10 and cfg.concurrency() == 10
    assert cfg.retry_on_failure.initial_interval == 10.0 and cfg.client.headers["X-Scope-OrgID"] == "234"
    assert cfg.remote_write_queue.queue_size == 2000


def test_registered_with_upstreams_alias():
    for name in ("prometheus_remote_write", "prometheusremotewrite"):
        f = default_registry.get(Kind.EXPORTER, name)
        assert f is not None and f.signals == frozenset({Signal.METRICS})


# -- the wire format -----------------------------------------------------------------------------------


def _descriptor_classes():
    """prometheus.WriteRequest built as descriptors in code, to read our bytes with the protobuf runtime."""
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

    F = descriptor_pb2.FieldDescriptorProto
    fdp = descriptor_pb2.FileDescriptorProto(name="otelflow_prw_test.proto", package="prwtest", syntax="proto3")

    def msg(name, *fields):
        m = fdp.message_type.add(name=name)
        for number, fname, ftype, label, type_name, oneof in fields:
            f = m.field.add(name=fname, number=number, type=ftype, label=label)
            if type_name:
                f.type_name = ".prwtest." + type_name
            if oneof is not None:
                f.oneof_index = oneof
        return m

    O, R = F.LABEL_OPTIONAL, F.LABEL_REPEATED
    msg("Label", (1, "name", F.TYPE_STRING, O, "", None), (2, "value", F.TYPE_STRING, O, "", None))
    msg("Sample", (1, "value", F.TYPE_DOUBLE, O, "", None), (2, "timestamp", F.TYPE_INT64, O, "", None))
    msg("Exemplar", (1, "labels", F.TYPE_MESSAGE, R, "Label", None), (2, "value", F.TYPE_DOUBLE, O, "", None),
        (3, "timestamp", F.TYPE_INT64, O, "", None))
    msg("BucketSpan", (1, "offset", F.TYPE_SINT32, O, "", None), (2, "length", F.TYPE_UINT32, O, "", None))
    h = msg("Histogram", (1, "count_int", F.TYPE_UINT64, O, "", 0), (2, "count_float", F.TYPE_DOUBLE, O, "", 0),
            (3, "sum", F.TYPE_DOUBLE, O, "", None), (4, "schema", F.TYPE_SINT32, O, "", None),
            (5, "zero_threshold", F.TYPE_DOUBLE, O, "", None), (6, "zero_count_int", F.TYPE_UINT64, O, "", 1),
            (7, "zero_count_float", F.TYPE_DOUBLE, O, "", 1), (8, "negative_spans", F.TYPE_MESSAGE, R, "BucketSpan", None),
            (9, "negative_deltas", F.TYPE_SINT64, R, "", None), (10, "negative_counts", F.TYPE_DOUBLE, R, "", None),
            (11, "positive_spans", F.TYPE_MESSAGE, R, "BucketSpan", None), (12, "positive_deltas", F.TYPE_SINT64, R, "", None),
            (13, "positive_counts", F.TYPE_DOUBLE, R, "", None), (14, "reset_hint", F.TYPE_INT32, O, "", None),
            (15, "timestamp", F.TYPE_INT64, O, "", None), (16, "custom_values", F.TYPE_DOUBLE, R, "", None))
    h.oneof_decl.add(name="count")
    h.oneof_decl.add(name="zero_count")
    msg("TimeSeries", (1, "labels", F.TYPE_MESSAGE, R, "Label", None), (2, "samples", F.TYPE_MESSAGE, R, "Sample", None),
        (3, "exemplars", F.TYPE_MESSAGE, R, "Exemplar", None), (4, "histograms", F.TYPE_MESSAGE, R, "Histogram", None))
    msg("MetricMetadata", (1, "type", F.TYPE_INT32, O, "", None), (2, "metric_family_name", F.TYPE_STRING, O, "", None),
        (4, "help", F.TYPE_STRING, O, "", None), (5, "unit", F.TYPE_STRING, O, "", None))
    msg("WriteRequest", (1, "timeseries", F.TYPE_MESSAGE, R, "TimeSeries", None),
        (3, "metadata", F.TYPE_MESSAGE, R, "MetricMetadata", None))
    pool = descriptor_pool.DescriptorPool()
    pool.Add(fdp)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("prwtest.WriteRequest"))


def test_encoding_is_what_the_protobuf_runtime_reads_and_writes():
    WriteRequest = _descriptor_classes()
    conv = Converter(TSettings())
    for name in ("mixed", "edge"):
        conv.convert(load(name))
    req = prompb.WriteRequest(timeseries=conv.time_series(),
                              metadata=[prompb.MetricMetadata(prompb.COUNTER, "x_total", "help", "seconds")])
    ours = prompb.encode(req)
    theirs = WriteRequest.FromString(ours)
    assert theirs.SerializeToString(deterministic=True) == ours  # byte for byte, as the runtime writes it
    assert prompb.encode(prompb.decode(ours)) == ours
    for ts in req.timeseries:
        assert prompb.encoded_size(ts) == WriteRequest().timeseries.add().__class__.FromString(prompb.encode_series(ts)).ByteSize()
    stale = [s for ts in theirs.timeseries for s in ts.samples if math.isnan(s.value)]
    assert any(prompb.is_stale(s.value) for s in stale)


def test_batches_split_before_the_limit():
    series = [prompb.TimeSeries([("__name__", f"m{i}")], [prompb.Sample(1.0, 2), prompb.Sample(2.0, 1)]) for i in range(10)]
    size = prompb.encoded_size(series[0])
    reqs = batches(series, [], 3 * size)  # a request closes before reaching the limit: two series each
    assert [len(r.timeseries) for r in reqs] == [2, 2, 2, 2, 2]
    assert all([s.timestamp for s in ts.samples] == [1, 2] for r in reqs for ts in r.timeseries)
    meta = [prompb.MetricMetadata(1, "x")]
    assert len(batches(series, meta, 10**6)) == 2
