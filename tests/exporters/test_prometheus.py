"""The ``prometheus`` exporter: /metrics equals upstream's (goldens recorded from otelcol-ref v0.161.0
by testdata/prometheus/record.py), plus the behaviour the goldens cannot show (expiry, restarts,
deltas over time, negotiation, config errors)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import aiohttp
import pytest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_openmetrics
from prometheus_client.parser import text_string_to_metric_families as parse_text

from otelflow.config.errors import ConfigError
from otelflow.config.model import validate
from otelflow.core.component import ComponentID, Host, Kind, Settings, Signal
from otelflow.core.registry import default_registry
from otelflow.core.telemetry import Telemetry
from otelflow.exporters.prometheus import Config, PrometheusExporter
from otelflow.exporters.prometheus import exposition
from otelflow.exporters.prometheus.accumulator import Accumulator
from otelflow.exporters.prometheus.collector import PrometheusCollector
from otelflow.pdata import otlpjson
from otelflow.pdata import prometheus_names as names
from tests.backends import free_port
from tests.conftest import running

DATA = Path(__file__).parent / "testdata" / "prometheus"
CASES = json.loads((DATA / "cases.json").read_text())
ACCEPT = {
    "text": "text/plain;version=0.0.4;q=1,*/*;q=0.1",
    "openmetrics": "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,"
    "text/plain;version=0.0.4;q=0.5,*/*;q=0.1",
}


def normalise(body: str) -> dict[str, tuple[list[str], list[str]]]:
    """family name -> (HELP/TYPE lines, sorted sample lines); exemplar labels sorted (Go's order
    of them is random)."""
    families: dict[str, tuple[list[str], list[str]]] = {}
    current = None
    for line in body.splitlines():
        if line.startswith("# HELP ") or line.startswith("# TYPE ") or line.startswith("# UNIT "):
            name = line.split(" ")[2]
            if current is None or current[0] != name:
                current = (name, families.setdefault(name, ([], [])))
            current[1][0].append(line)
        elif line == "# EOF":
            families["# EOF"] = ([line], [])
        elif line:
            main, sep, exemplar = line.partition(" # ")
            if sep:
                labels, _, rest = exemplar.partition("} ")
                parts = sorted(labels.lstrip("{").split(","))
                line = main + " # {" + ",".join(parts) + "} " + rest
            current[1][1].append(line)
    return {k: (h, sorted(s)) for k, (h, s) in families.items()}


def exporter_yaml(otlp_port: int, prom_port: int, config: dict) -> str:
    cfg = {
        "receivers": {"otlp": {"protocols": {"http": {"endpoint": f"127.0.0.1:{otlp_port}"}}}},
        "exporters": {"prometheus": {"endpoint": f"127.0.0.1:{prom_port}", **config}},
        "service": {"pipelines": {"metrics": {"receivers": ["otlp"], "exporters": ["prometheus"]}}},
    }
    return json.dumps(cfg)


async def scrape(port: int, accept: str | None = None) -> tuple[str, str]:
    headers = {"Accept": accept} if accept else {}
    async with aiohttp.ClientSession() as session:
        async with session.get(f"http://127.0.0.1:{port}/metrics", headers=headers) as resp:
            assert resp.status == 200
            return resp.headers["Content-Type"], await resp.text()


async def post_json(port: int, body: bytes) -> None:
    async with aiohttp.ClientSession() as session:
        async with session.post(f"http://127.0.0.1:{port}/v1/metrics", data=body, headers={"Content-Type": "application/json"}) as resp:
            assert resp.status == 200, await resp.text()


# ---------------------------------------------------------------------------------------------
# Conformance with upstream


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
async def test_metrics_page_matches_upstream(case):
    otlp_port, prom_port = free_port(), free_port()
    async with running(exporter_yaml(otlp_port, prom_port, case["config"])):
        for name in case["requests"]:
            await post_json(otlp_port, (DATA / "inputs" / f"{name}.json").read_bytes())
        for accept in case["accept"]:
            ctype, body = await scrape(prom_port, ACCEPT[accept])
            want = (DATA / f"{case['name']}.{accept}.txt").read_text()
            assert ctype == (DATA / f"{case['name']}.{accept}.ctype").read_text().strip()
            assert normalise(body) == normalise(want)
            # and it is a page the reference Python parsers accept
            if ctype.startswith("application/openmetrics-text"):
                list(parse_openmetrics(body))
            else:
                list(parse_text(body))


def test_goldens_cover_every_metric_type():
    text = (DATA / "default.text.txt").read_text()
    for typ in ("gauge", "counter", "histogram", "summary"):
        assert f" {typ}\n" in text
    assert "target_info{" in text
    assert "# {" in (DATA / "openmetrics.openmetrics.txt").read_text()  # exemplars


# ---------------------------------------------------------------------------------------------
# Names


@pytest.mark.parametrize(
    "name, unit, kind, want",
    [
        ("system.filesystem.usage", "By", names.GAUGE, "system_filesystem_usage_bytes"),
        ("system.io", "By", names.MONOTONIC_COUNTER, "system_io_bytes_total"),
        ("network_transmitted_bytes_total", "By", names.MONOTONIC_COUNTER, "network_transmitted_bytes_total"),
        ("system.network.dropped", "{packets}", names.GAUGE, "system_network_dropped"),
        ("hw.fan.speed_ratio", "1", names.GAUGE, "hw_fan_speed_ratio"),
        ("objects", "1", names.MONOTONIC_COUNTER, "objects_total"),
        ("broken.metric.speed", "km/h", names.GAUGE, "broken_metric_speed_km_per_hour"),
        ("mongodbatlas.process.oplog.rate", "GiBy/h", names.GAUGE, "mongodbatlas_process_oplog_rate_gibibytes_per_hour"),
        ("active_directory.ds.replication.object.rate", "{objects}/s", names.GAUGE, "active_directory_ds_replication_object_rate_per_second"),
        ("http.server.request.duration", "s", names.HISTOGRAM, "http_server_request_duration_seconds"),
        ("traces.span.metrics.calls", "", names.MONOTONIC_COUNTER, "traces_span_metrics_calls_total"),
        ("traces.span.metrics.duration", "ms", names.HISTOGRAM, "traces_span_metrics_duration_milliseconds"),
        ("2xx.count", "", names.GAUGE, "_2xx_count"),
        ("queue.size", "", names.NON_MONOTONIC_COUNTER, "queue_size"),
    ],
)
def test_metric_names(name, unit, kind, want):
    assert names.metric_name(name, unit, kind) == want


def test_metric_name_options():
    assert names.metric_name("http.requests", "{request}", names.MONOTONIC_COUNTER, with_suffixes=False) == "http_requests"
    assert names.metric_name("requests", "", names.MONOTONIC_COUNTER, namespace="my.ns") == "my.ns_requests_total"
    assert names.metric_name("a.b", "s", names.MONOTONIC_COUNTER, utf8=True) == "a.b_seconds_total"
    with pytest.raises(ValueError):
        names.metric_name("...", "", names.GAUGE)


@pytest.mark.parametrize(
    "label, want",
    [
        ("label:with:colons", "label_with_colons"),
        ("label!with&special$chars)", "label_with_special_chars_"),
        ("label.with.dots", "label_with_dots"),
        ("123label", "key_123label"),
        ("_label", "key_label"),
        ("__label_starting_with_2underscores", "key_label_starting_with_2underscores"),
        ("label__with__double__underscores", "label_with_double_underscores"),
        ("__reserved__label__name__", "__reserved_label_name__"),
        ("http.status_code", "http_status_code"),
    ],
)
def test_label_names(label, want):
    assert names.label_name(label) == want


def test_label_names_that_cannot_be():
    with pytest.raises(ValueError):
        names.label_name("")
    with pytest.raises(ValueError):
        names.label_name("___", underscore_sanitization=False)
    # with upstream's default sanitization a lone "_" becomes "key_"
    assert names.label_name("ようこそ") == "key_"


# ---------------------------------------------------------------------------------------------
# Exposition details


@pytest.mark.parametrize(
    "value, text, om",
    [(42.0, "42", "42.0"), (1048576.0, "1.048576e+06", "1.048576e+06"), (1e-7, "1e-07", "1e-07"), (0.25, "0.25", "0.25"),
     (100000.0, "100000", "100000.0"), (1.0, "1", "1.0"), (0.0, "0", "0.0"), (float("inf"), "+Inf", "+Inf"),
     (float("nan"), "NaN", "NaN"), (-3.5, "-3.5", "-3.5"), (1700000005.0, "1.700000005e+09", "1.700000005e+09")],
)
def test_go_float_formats(value, text, om):
    assert exposition.go_float(value) == text
    assert exposition.om_float(value) == om


@pytest.mark.parametrize(
    "accept, openmetrics, want",
    [
        (ACCEPT["openmetrics"], True, exposition.OPENMETRICS_1),
        (ACCEPT["openmetrics"], False, exposition.TEXT),
        ("application/openmetrics-text", True, exposition.OPENMETRICS_0),
        ("*/*", True, exposition.TEXT),
        (None, True, exposition.TEXT),
        ("application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited,text/plain;q=0.5", True, exposition.TEXT),
    ],
)
def test_negotiation(accept, openmetrics, want):
    assert exposition.negotiate(accept, openmetrics) == want + exposition.ESCAPING


# ---------------------------------------------------------------------------------------------
# Behaviour over time


def _request(metrics: list[dict], resource: dict | None = None) -> ExportMetricsServiceRequest:
    res = resource or {"service.name": "svc", "service.instance.id": "i1"}
    body = {"resourceMetrics": [{
        "resource": {"attributes": [{"key": k, "value": {"stringValue": v}} for k, v in res.items()]},
        "scopeMetrics": [{"scope": {"name": "s"}, "metrics": metrics}],
    }]}
    return otlpjson.decode(json.dumps(body).encode(), ExportMetricsServiceRequest)


def _sum(name: str, value: int, start: int, end: int, temporality: int = 1, attrs: dict | None = None) -> dict:
    return {"name": name, "sum": {"aggregationTemporality": temporality, "isMonotonic": True, "dataPoints": [{
        "attributes": [{"key": k, "value": {"stringValue": v}} for k, v in (attrs or {}).items()],
        "startTimeUnixNano": str(start), "timeUnixNano": str(end), "asInt": str(value)}]}}


def _values(collector: PrometheusCollector) -> dict[tuple, float]:
    out = {}
    for family in collector.collect():
        for s in family.samples:
            out[(s.name, tuple(sorted((k, v) for k, v in s.labels.items() if not k.startswith("otel_scope"))))] = s.value
    return out


class _Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def test_series_expire_after_metric_expiration():
    clock = _Clock()
    acc = Accumulator(60.0, clock=clock)
    collector = PrometheusCollector(acc.snapshot, expiration=60.0, clock=clock)
    acc.accumulate(_request([_sum("a", 1, 1, 2, 2)]))
    clock.now += 30
    acc.accumulate(_request([_sum("b", 1, 1, 2, 2)]))
    assert {k[0] for k in _values(collector)} == {"a_total", "b_total", "target_info"}
    clock.now += 31
    assert {k[0] for k in _values(collector)} == {"b_total", "target_info"}
    clock.now += 60
    assert _values(collector) == {}


def test_delta_sums_become_cumulative_across_requests():
    acc = Accumulator(300.0)
    collector = PrometheusCollector(acc.snapshot)
    total = 0
    for i in range(5):
        acc.accumulate(_request([_sum("jobs", i + 1, 10 * i, 10 * (i + 1))]))
        total += i + 1
        values = _values(collector)
        assert values[("jobs_total", (("instance", "i1"), ("job", "svc")))] == total


def test_restarted_app_is_a_new_series_not_a_drop():
    """A restart brings a new service.instance.id: the old series keeps its last value (until it
    expires) and the new one starts from its own first value."""
    acc = Accumulator(300.0)
    collector = PrometheusCollector(acc.snapshot)
    acc.accumulate(_request([_sum("reqs", 50, 1, 2, 2)], {"service.name": "api", "service.instance.id": "old"}))
    acc.accumulate(_request([_sum("reqs", 3, 5, 6, 2)], {"service.name": "api", "service.instance.id": "new"}))
    values = _values(collector)
    assert values[("reqs_total", (("instance", "old"), ("job", "api")))] == 50
    assert values[("reqs_total", (("instance", "new"), ("job", "api")))] == 3


def test_older_cumulative_points_are_ignored():
    acc = Accumulator(300.0)
    collector = PrometheusCollector(acc.snapshot)
    acc.accumulate(_request([_sum("c", 10, 1, 20, 2)]))
    acc.accumulate(_request([_sum("c", 4, 1, 10, 2)]))
    assert _values(collector)[("c_total", (("instance", "i1"), ("job", "svc")))] == 10


def test_label_collisions_drop_the_series(caplog):
    acc = Accumulator(300.0)
    collector = PrometheusCollector(acc.snapshot)
    acc.accumulate(_request([_sum("c", 1, 1, 2, 2, {"a.b": "x", "a_b": "y"}), _sum("ok", 1, 1, 2, 2)]))
    assert {k[0] for k in _values(collector)} == {"ok_total", "target_info"}
    assert "duplicate label name" in caplog.text


def test_type_conflicts_keep_the_first_type():
    acc = Accumulator(300.0)
    collector = PrometheusCollector(acc.snapshot)
    gauge = {"name": "x_total", "gauge": {"dataPoints": [{"timeUnixNano": "5", "asInt": "1"}]}}
    acc.accumulate(_request([_sum("x", 1, 1, 2, 2)]))
    acc.accumulate(_request([gauge], {"service.name": "other"}))
    families = {f.name: f for f in collector.collect()}
    assert families["x"].type == "counter"  # prometheus_client names counter families without _total
    assert [s.name for s in families["x"].samples] == ["x_total"]


def test_families_work_with_prometheus_client_registry():
    """The collector is a prometheus_client custom collector: its own exposition can render it."""
    from prometheus_client import CollectorRegistry, generate_latest
    from prometheus_client.openmetrics.exposition import generate_latest as generate_openmetrics

    acc = Accumulator(300.0)
    acc.accumulate(otlpjson.decode((DATA / "inputs" / "mixed.json").read_bytes(), ExportMetricsServiceRequest))
    registry = CollectorRegistry(auto_describe=False)
    registry.register(PrometheusCollector(acc.snapshot))
    def samples(text: str) -> dict:
        def labels(d: dict) -> tuple:
            return tuple(sorted((k, float(v) if k in ("le", "quantile") else v) for k, v in d.items()))
        return {f.name: {(s.name, labels(s.labels), s.value) for s in f.samples} for f in parse_text(text)}

    ours = samples((DATA / "default.text.txt").read_text())
    theirs = samples(generate_latest(registry).decode())
    assert ours == theirs
    assert "# EOF" in generate_openmetrics(registry).decode()


# ---------------------------------------------------------------------------------------------
# The component


def test_config_defaults_and_errors():
    cfg = validate(Config, {"endpoint": "0.0.0.0:8889"}, "exporters::prometheus")
    assert cfg.metric_expiration == 300.0 and cfg.add_metric_suffixes and not cfg.enable_open_metrics
    assert cfg.naming() == (True, False)
    validate(Config, {"endpoint": ":8889", "sending_queue": {"enabled": False}, "without_scope_info": True,
                      "resource_constant_labels": {"included": ["*"]}, "translation_strategy": "NoTranslation",
                      "tls": None, "read_header_timeout": "5s"}, "x")
    for bad, message in (
        ({}, "non-blank address"),
        ({"endpoint": ":1", "translation_strategy": "Nope"}, "invalid translation_strategy"),
        ({"endpoint": ":1", "resource_constant_labels": {"enabled": True}}, "not supported under resource_constant_labels"),
        ({"endpoint": ":1", "resource_constant_labels": {"included": ["a"]}, "resource_to_telemetry_conversion": {"enabled": True}}, "cannot configure both"),
        ({"endpoint": ":1", "no_such_key": 1}, "unknown key"),
    ):
        with pytest.raises(ConfigError, match=message):
            validate(Config, bad, "exporters::prometheus")


def test_registered_for_metrics_only():
    factory = default_registry.get(Kind.EXPORTER, "prometheus")
    assert factory.signals == frozenset({Signal.METRICS})


async def test_served_only_on_metrics_path_and_gzip():
    port = free_port()
    settings = Settings(id=ComponentID("prometheus"), kind=Kind.EXPORTER, telemetry=Telemetry(), signal=Signal.METRICS)
    exporter = PrometheusExporter(settings, validate(Config, {"endpoint": f"127.0.0.1:{port}"}, "x"))
    await exporter.start(Host())
    try:
        await exporter.consume(_request([_sum("hits", 7, 1, 2, 2)]))
        async with aiohttp.ClientSession() as session:
            async with session.get(f"http://127.0.0.1:{port}/other") as resp:
                assert resp.status == 404
            async with session.get(f"http://127.0.0.1:{port}/metrics", headers={"Accept-Encoding": "gzip"}) as resp:
                assert resp.headers.get("Content-Encoding") == "gzip"
                assert 'hits_total{instance="i1",job="svc",otel_scope_name="s"' in await resp.text()
    finally:
        await exporter.shutdown()


async def test_shared_state_belongs_to_the_component_id():
    port = free_port()
    shared: dict = {}
    cfg = validate(Config, {"endpoint": f"127.0.0.1:{port}"}, "x")
    a = PrometheusExporter(Settings(id=ComponentID("prometheus"), kind=Kind.EXPORTER, telemetry=Telemetry(), signal=Signal.METRICS, shared=shared), cfg)
    b = PrometheusExporter(Settings(id=ComponentID("prometheus"), kind=Kind.EXPORTER, telemetry=Telemetry(), signal=Signal.METRICS, shared=shared), cfg)
    assert a.state is b.state


def test_openmetrics_page_parses_with_exemplars():
    body = (DATA / "openmetrics.openmetrics.txt").read_text()
    families = {f.name: f for f in parse_openmetrics(body)}
    sample = next(s for s in families["http_requests"].samples if s.exemplar)
    assert sample.exemplar.labels["trace_id"] == "0102030405060708090a0b0c0d0e0f10"
    assert re.search(r"le=\"0.01\"} 3 # \{", body)


async def test_tls(tmp_path):
    import shutil
    import ssl
    import subprocess

    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make a test certificate")
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
                    "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True)
    port = free_port()
    cfg = validate(Config, {"endpoint": f"127.0.0.1:{port}", "tls": {"cert_file": str(cert), "key_file": str(key)}}, "x")
    exporter = PrometheusExporter(Settings(id=ComponentID("prometheus"), kind=Kind.EXPORTER, telemetry=Telemetry(), signal=Signal.METRICS), cfg)
    await exporter.start(Host())
    try:
        await exporter.consume(_request([_sum("secure", 1, 1, 2, 2)]))
        ctx = ssl.create_default_context(cafile=str(cert))
        async with aiohttp.ClientSession() as session:
            async with session.get(f"https://127.0.0.1:{port}/metrics", ssl=ctx) as resp:
                assert "secure_total{" in await resp.text()
    finally:
        await exporter.shutdown()
