"""The ``spanmetrics`` connector: what it emits equals upstream's (goldens recorded from otelcol-ref
v0.161.0 by testdata/spanmetrics/record.py), modulo timestamps, ordering and the collector's own
instance ID; plus config, adjusted counts, delta/cumulative over time, expiry, the running service."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from otelflow.config.errors import ConfigError
from otelflow.config.model import validate
from otelflow.connectors.spanmetrics import SpanMetrics, adjusted_count
from otelflow.connectors.spanmetrics.config import Config
from otelflow.pdata.expohisto import ExpoHistogram as ExponentialHistogram, map_to_index
from otelflow.connectors.spanmetrics.glob import compile_glob
from otelflow.core.component import ComponentID, Kind, Settings, Signal
from otelflow.core.registry import default_registry
from otelflow.core.telemetry import Telemetry
from otelflow.pdata import otlpjson
from tests.backends import free_port
from tests.conftest import running

DATA = Path(__file__).parent / "testdata" / "spanmetrics"
CASES = json.loads((DATA / "cases.json").read_text())
SPANS = otlpjson.decode((DATA / "inputs" / "spans.json").read_bytes(), ExportTraceServiceRequest)


class Recorder:
    mutates_data = False

    def __init__(self):
        self.requests: list[ExportMetricsServiceRequest] = []
        self.arrived = asyncio.Event()

    async def consume(self, data):
        self.requests.append(data)
        self.arrived.set()


def connector(config: dict, clock=None) -> tuple[SpanMetrics, Recorder]:
    cfg = validate(Config, config, "connectors::spanmetrics")
    rec = Recorder()
    settings = Settings(id=ComponentID("spanmetrics"), kind=Kind.CONNECTOR, telemetry=Telemetry())
    kwargs = {"clock": clock} if clock else {}
    return SpanMetrics(settings, cfg, rec, **kwargs), rec


def flatten(req: ExportMetricsServiceRequest) -> list[tuple]:
    """Every data point with its resource, scope and metric; timestamps cleared, the collector's
    instance ID masked, attribute order kept (upstream's order is deterministic)."""
    out = []
    for rm in req.resource_metrics:
        res = rm.resource.SerializeToString(deterministic=True)
        for sm in rm.scope_metrics:
            scope = sm.scope.SerializeToString(deterministic=True)
            for m in sm.metrics:
                kind = m.WhichOneof("data")
                data = getattr(m, kind)
                head = (m.name, m.unit, m.description, kind, data.aggregation_temporality, getattr(data, "is_monotonic", None))
                points = list(data.data_points)
                if not points:
                    out.append((res, scope, head, b""))
                for dp in points:
                    dp.start_time_unix_nano = 0
                    dp.time_unix_nano = 0
                    for e in dp.exemplars:
                        e.time_unix_nano = 0
                    for kv in dp.attributes:
                        if kv.key == "collector.instance.id":
                            kv.value.string_value = "<collector>"
                    out.append((res, scope, head, dp.SerializeToString(deterministic=True)))
    return sorted(out)


def golden(name: str) -> list[ExportMetricsServiceRequest]:
    lines = (DATA / f"{name}.jsonl").read_text().splitlines()
    return [otlpjson.decode(line.encode(), ExportMetricsServiceRequest) for line in lines]


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
async def test_emitted_metrics_match_upstream(case):
    conn, rec = connector(case["config"])
    conn.aggregate(SPANS)
    want = golden(case["name"])
    flushes = 2 if len(want) > 1 else 3
    for _ in range(flushes):
        await conn.flush()
    got = [r for r in rec.requests if r.resource_metrics]
    assert len(got) == min(len(want), flushes)
    for mine, theirs in zip(got, want):
        assert flatten(mine) == flatten(theirs)
    if conn.delta:
        # upstream keeps flushing: an empty request when nothing arrived
        assert len(rec.requests[-1].resource_metrics) == 0


def test_names_units_and_defaults():
    cfg = validate(Config, {}, "x")
    assert cfg.metrics_flush_interval == 60.0
    assert cfg.namespace == "traces.span.metrics"
    assert cfg.histogram.unit == "ms"
    assert cfg.bounds() == [2, 4, 6, 8, 10, 50, 100, 200, 400, 800, 1000, 1400, 2000, 5000, 10000, 15000]
    assert not cfg.delta and cfg.resource_metrics_cache_size == 1000 and cfg.exemplars.max_per_data_point == 5
    seconds = validate(Config, {"histogram": {"unit": "S", "explicit": {"buckets": ["10ms", "1s", 2500000]}}}, "x")
    assert seconds.bounds() == [0.01, 1.0, 0.0025]


@pytest.mark.parametrize(
    "config, message",
    [
        ({"dimensions": [{"name": "span.kind"}]}, 'failed validating dimensions: duplicate dimension name "span.kind"'),
        ({"dimensions": [{"name": "a", "glob": "b"}]}, "must set only one of"),
        ({"dimensions": [{}]}, "must set one of"),
        ({"dimensions": [{"glob": "span.*"}]}, 'conflicting with glob "span.*"'),
        ({"calls_dimensions": [{"glob": "x", "default": "y"}]}, "`default` is not supported"),
        ({"events": {"enabled": True}}, "no dimensions configured for events"),
        ({"histogram": {"exponential": {}, "explicit": {}}}, "use either `explicit` or `exponential`"),
        ({"histogram": {"unit": "h"}}, 'unknown Unit "h"'),
        ({"metrics_expiration": "-20s"}, "invalid metrics_expiration"),
        ({"aggregation_temporality": "AGGREGATION_TEMPORALITY_DELTA", "metric_timestamp_cache_size": 0}, "invalid delta timestamp cache size"),
        ({"aggregation_cardinality_limit": -1}, "invalid aggregation_cardinality_limit"),
        ({"nope": 1}, "unknown key"),
    ],
)
def test_config_errors(config, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace("*", r"\*").replace(".", r"\.")):
        validate(Config, config, "connectors::spanmetrics")


def test_registered_under_both_names():
    for name in ("spanmetrics", "span_metrics"):
        factory = default_registry.get(Kind.CONNECTOR, name)
        assert factory.pairs == frozenset({(Signal.TRACES, Signal.METRICS)})


def test_globs():
    g = compile_glob("db.*")
    assert g.match("db.system") and not g.match("db.system.x") and not g.match("dbx")
    assert compile_glob("db.**").match("db.a.b")
    assert compile_glob("http.{method,route}").match("http.route")
    assert compile_glob("[a-c]?").match("bz") and not compile_glob("[!a-c]?").match("bz")


def test_adjusted_counts():
    assert adjusted_count("") == (1, False)
    assert adjusted_count("vendor=x") == (1, False)
    assert adjusted_count("ot=th:8") == (2, True)
    assert adjusted_count("ot=th:c") == (4, True)
    assert adjusted_count("ot=th:0") == (1, True)
    assert adjusted_count("ot=rv:abcdefabcdefab;th:8,vendor=x") == (2, True)
    assert adjusted_count("ot=th:zz") == (1, False)
    assert adjusted_count("ot=th:8;") == (1, False)
    # th:aaab... is 1/(1-0.6667): 3 and a bit, rounded up sometimes
    assert adjusted_count("ot=th:aaab", rng=lambda: 0.0) == (4, True)
    assert adjusted_count("ot=th:aaab", rng=lambda: 0.999999) == (3, True)


def test_exponential_histogram_mapping():
    assert map_to_index(1.0, 20) == -1 and map_to_index(2.0, 0) == 0 and map_to_index(3.0, 0) == 1
    assert map_to_index(4.0, -1) == 0 and map_to_index(5.0, -1) == 1
    h = ExponentialHistogram(4)
    for v in (1, 2, 4, 8, 16, 1000):
        h.update(v)
    assert h.reported_scale <= 0 and sum(h.positive.counts) == 6
    z = ExponentialHistogram()
    z.update(0.0)
    assert z.reported_scale == 0 and z.zero_count == 1


class _Clock:
    def __init__(self):
        self.now = 1_700_000_000.0

    def __call__(self):
        return self.now


def _spans(names_and_ms: list[tuple[str, float]], service: str = "svc", error: bool = False) -> ExportTraceServiceRequest:
    body = {"resourceSpans": [{"resource": {"attributes": [{"key": "service.name", "value": {"stringValue": service}}]},
            "scopeSpans": [{"spans": [
                {"traceId": "0102030405060708090a0b0c0d0e0f10", "spanId": "0102030405060708", "name": n, "kind": 2,
                 "startTimeUnixNano": "1000000000", "endTimeUnixNano": str(1000000000 + int(ms * 1e6)),
                 "status": {"code": 2} if error else {}} for n, ms in names_and_ms]}]}]}
    return otlpjson.decode(json.dumps(body).encode(), ExportTraceServiceRequest)


def _calls(req: ExportMetricsServiceRequest) -> dict[str, tuple[int, int, int]]:
    out = {}
    for rm in req.resource_metrics:
        for m in rm.scope_metrics[0].metrics:
            if m.name.endswith(".calls"):
                for dp in m.sum.data_points:
                    name = next(kv.value.string_value for kv in dp.attributes if kv.key == "span.name")
                    out[name] = (dp.as_int, dp.start_time_unix_nano, dp.time_unix_nano)
    return out


async def test_cumulative_series_start_at_zero_then_count():
    clock = _Clock()
    conn, rec = connector({}, clock)
    conn.aggregate(_spans([("a", 5), ("a", 7)]))
    await conn.flush()
    clock.now += 10
    conn.aggregate(_spans([("a", 5)]))
    await conn.flush()
    first, second = _calls(rec.requests[0]), _calls(rec.requests[1])
    assert first["a"][0] == 0 and second["a"][0] == 3
    assert first["a"][1] == second["a"][1]  # one start time for the whole series


async def test_delta_points_chain_their_timestamps():
    clock = _Clock()
    conn, rec = connector({"aggregation_temporality": "AGGREGATION_TEMPORALITY_DELTA"}, clock)
    conn.aggregate(_spans([("a", 5), ("a", 7)]))
    await conn.flush()
    clock.now += 10
    conn.aggregate(_spans([("a", 5)]))
    await conn.flush()
    first, second = _calls(rec.requests[0]), _calls(rec.requests[1])
    assert first["a"][0] == 2 and second["a"][0] == 1
    assert second["a"][1] == first["a"][2]  # starts where the previous point ended


async def test_metrics_expiration_drops_idle_resources():
    clock = _Clock()
    conn, rec = connector({"metrics_expiration": "30s"}, clock)
    conn.aggregate(_spans([("a", 5)], service="old"))
    await conn.flush()
    clock.now += 31
    conn.aggregate(_spans([("b", 5)], service="new"))
    await conn.flush()
    await conn.flush()
    services = {kv.value.string_value for rm in rec.requests[-1].resource_metrics for kv in rm.resource.attributes}
    assert services == {"new"}


async def test_resource_cache_evicts_least_recent_after_reporting_it():
    conn, rec = connector({"resource_metrics_cache_size": 1})
    conn.aggregate(_spans([("a", 5)], service="one"))
    conn.aggregate(_spans([("a", 5)], service="two"))
    await conn.flush()
    await conn.flush()
    assert len(rec.requests[0].resource_metrics) == 2
    assert len(rec.requests[1].resource_metrics) == 1


async def test_in_a_running_service_feeds_the_metrics_pipeline(tmp_path):
    port = free_port()
    out = tmp_path / "metrics.jsonl"
    yaml = json.dumps({
        "receivers": {"otlp": {"protocols": {"http": {"endpoint": f"127.0.0.1:{port}"}}}},
        "connectors": {"span_metrics": {"metrics_flush_interval": "200ms"}},
        "exporters": {"file": {"path": str(out), "flush_interval": "50ms"}},
        "service": {"pipelines": {
            "traces": {"receivers": ["otlp"], "exporters": ["span_metrics"]},
            "metrics": {"receivers": ["span_metrics"], "exporters": ["file"]},
        }},
    })
    import aiohttp

    async with running(yaml):
        async with aiohttp.ClientSession() as session:
            async with session.post(f"http://127.0.0.1:{port}/v1/traces", data=(DATA / "inputs" / "spans.json").read_bytes(),
                                    headers={"Content-Type": "application/json"}) as resp:
                assert resp.status == 200
        deadline = asyncio.get_running_loop().time() + 30
        while True:
            lines = [json.loads(x) for x in out.read_text().splitlines()] if out.exists() else []
            nonzero = [x for x in lines if '"asInt":"4"' in json.dumps(x, separators=(",", ":"))]
            if nonzero:
                break
            assert asyncio.get_running_loop().time() < deadline, "no flush with the counted spans"
            await asyncio.sleep(0.1)
    names = {m["name"] for line in lines for rm in line["resourceMetrics"] for sm in rm["scopeMetrics"] for m in sm["metrics"]}
    assert names == {"traces.span.metrics.calls", "traces.span.metrics.duration"}


async def test_exemplars_reach_prometheus_as_openmetrics_exemplars():
    """spanmetrics with exemplars -> the prometheus exporter -> OpenMetrics with trace IDs."""
    import aiohttp

    otlp_port, prom_port = free_port(), free_port()
    yaml = json.dumps({
        "receivers": {"otlp": {"protocols": {"http": {"endpoint": f"127.0.0.1:{otlp_port}"}}}},
        "connectors": {"spanmetrics": {"metrics_flush_interval": "100ms", "exemplars": {"enabled": True}}},
        "exporters": {"prometheus": {"endpoint": f"127.0.0.1:{prom_port}", "enable_open_metrics": True}},
        "service": {"pipelines": {
            "traces": {"receivers": ["otlp"], "exporters": ["spanmetrics"]},
            "metrics": {"receivers": ["spanmetrics"], "exporters": ["prometheus"]},
        }},
    })
    accept = "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5"
    async with running(yaml):
        async with aiohttp.ClientSession() as session:
            async with session.post(f"http://127.0.0.1:{otlp_port}/v1/traces", data=(DATA / "inputs" / "spans.json").read_bytes(),
                                    headers={"Content-Type": "application/json"}) as resp:
                assert resp.status == 200
            deadline = asyncio.get_running_loop().time() + 30
            while True:
                async with session.get(f"http://127.0.0.1:{prom_port}/metrics", headers={"Accept": accept}) as resp:
                    body = await resp.text()
                bucket = [line for line in body.splitlines()
                          if line.startswith("traces_span_metrics_duration_milliseconds_bucket") and 'span_name="POST /orders"' in line and " # {" in line]
                if bucket:
                    break
                assert asyncio.get_running_loop().time() < deadline, body
                await asyncio.sleep(0.1)
    assert 'trace_id="00000000000000000000000000000004"' in bucket[0] and 'le="1400.0"' in bucket[0]
    assert "# TYPE traces_span_metrics_calls counter" in body


@pytest.mark.parametrize("asked,used", [(0, 160), (-3, 160), (1, 2), (2, 2), (500, 500), (20000, 16384)])
def test_exponential_histogram_size_as_go_expohisto_validates_it(asked, used):
    assert ExponentialHistogram(asked).max_size == used
