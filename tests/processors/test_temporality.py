"""cumulativetodelta and deltatocumulative: conformance with otelcol-ref (goldens under
testdata/temporality, recorded by its record.py), staleness, limits and the stream identity."""

from __future__ import annotations

import asyncio

import pytest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest

from otelflow.core.component import ComponentID, Kind, Settings, Signal
from otelflow.core.registry import default_registry
from otelflow.core.telemetry import Telemetry
from otelflow.config.model import validate
from tests.processors.testdata.temporality import rig

CASES = rig.case_dirs()


@pytest.mark.parametrize("case_dir", CASES, ids=[d.name for d in CASES])
async def test_conformance_with_upstream(case_dir, tmp_path):
    await rig.check(case_dir, tmp_path / "out.jsonl")


def test_goldens_cover_both_processors_and_every_metric_kind():
    names = {d.name for d in CASES}
    assert {"c2d_sums_past", "c2d_sums_future", "c2d_histograms", "c2d_exponential",
            "d2c_sums", "d2c_histograms", "d2c_exponential", "d2c_max_streams"} <= names
    assert all((d / "expected.json").exists() for d in CASES)


class Sink:
    mutates_data = False

    def __init__(self):
        self.got: list[ExportMetricsServiceRequest] = []

    async def consume(self, data):
        self.got.append(data)


def build(type_: str, cfg: dict | None = None):
    factory = default_registry.get(Kind.PROCESSOR, type_)
    config = validate(factory.config, cfg or {}, f"processors::{type_}")
    settings = Settings(ComponentID(type_), Kind.PROCESSOR, Telemetry(), Signal.METRICS)
    sink = Sink()
    return factory.create(settings=settings, config=config, next=sink), sink, settings.telemetry


def sums(points, temporality, name="m", start=1):
    req = ExportMetricsServiceRequest()
    m = req.resource_metrics.add().scope_metrics.add().metrics.add()
    m.name = name
    m.sum.aggregation_temporality = temporality
    m.sum.is_monotonic = True
    for attr, ts, value in points:
        dp = m.sum.data_points.add(start_time_unix_nano=start, time_unix_nano=ts, as_int=value)
        kv = dp.attributes.add(key="k")
        kv.value.string_value = attr
    return req


def values(sink):
    return [(dp.attributes[0].value.string_value, dp.as_int) for r in sink.got for rm in r.resource_metrics
            for sm in rm.scope_metrics for m in sm.metrics for dp in m.sum.data_points]


def test_aliases_are_registered():
    for name in ("cumulativetodelta", "cumulative_to_delta", "deltatocumulative", "delta_to_cumulative"):
        assert default_registry.get(Kind.PROCESSOR, name) is not None


def test_both_declare_that_state_is_keyed_by_metric_stream():
    for name in ("cumulativetodelta", "deltatocumulative"):
        proc, _, _ = build(name)
        assert proc.keyed_by == "metric stream"


async def test_max_streams_drops_new_streams_and_counts_them():
    proc, sink, tel = build("deltatocumulative", {"max_streams": 2})
    await proc.consume(sums([("a", 10, 1), ("b", 10, 1), ("c", 10, 1)], 1))
    await proc.consume(sums([("a", 20, 2), ("c", 20, 2)], 1))
    assert values(sink) == [("a", 1), ("b", 1), ("a", 3)]
    assert len(proc.states) == 2
    assert tel.value("otelcol_deltatocumulative_datapoints", error="limit") == 2
    assert tel.value("otelcol_deltatocumulative_streams_limit") == 2


async def test_stale_streams_are_evicted_on_the_timer_and_free_room_under_the_limit():
    proc, sink, tel = build("deltatocumulative", {"max_streams": 1, "max_stale": "50ms"})
    proc.sweep_interval = 0.05
    await proc.start(None)
    try:
        await proc.consume(sums([("a", 10, 5)], 1))
        await asyncio.sleep(0.3)
        assert len(proc.states) == 0 and tel.value("otelcol_deltatocumulative_streams_tracked") == 0
        await proc.consume(sums([("b", 20, 7)], 1))   # room again
        assert values(sink) == [("a", 5), ("b", 7)]
    finally:
        await proc.shutdown()


async def test_cumulativetodelta_evicts_by_data_timestamp_every_max_staleness():
    import time
    proc, sink, tel = build("cumulativetodelta", {"max_staleness": "100ms", "initial_value": "keep"})
    now = time.time_ns()
    await proc.start(None)
    try:
        await proc.consume(sums([("old", now - 10**9, 5), ("fresh", now + 3600 * 10**9, 5)], 2))
        assert len(proc.tracker) == 2
        await asyncio.sleep(0.35)
        assert len(proc.tracker) == 1 and tel.value("otelcol_cumulativetodelta_streams_tracked") == 1
    finally:
        await proc.shutdown()


async def test_cumulativetodelta_counts_converted_and_dropped_points():
    proc, sink, tel = build("cumulativetodelta")
    await proc.consume(sums([("a", 10, 5)], 2))
    await proc.consume(sums([("a", 20, 8)], 2))
    await proc.consume(sums([("a", 30, 2)], 2))
    assert values(sink) == [("a", 3)]
    assert tel.value("otelcol_cumulativetodelta_datapoints", metric_type="sum") == 1
    assert tel.value("otelcol_cumulativetodelta_datapoints_dropped", reason="initial") == 1
    assert tel.value("otelcol_cumulativetodelta_datapoints_dropped", reason="reset") == 1


async def test_deltatocumulative_forwards_nothing_when_every_point_was_dropped():
    proc, sink, _ = build("deltatocumulative", {"max_streams": 0})
    await proc.consume(sums([("a", 10, 5)], 1))
    assert sink.got == []


def test_attribute_identity_ignores_order_and_keeps_types():
    from opentelemetry.proto.common.v1.common_pb2 import KeyValue

    from otelflow.pdata.maphash import canonical

    def kvs(*pairs):
        out = []
        for k, v in pairs:
            kv = KeyValue(key=k)
            if isinstance(v, int):
                kv.value.int_value = v
            elif isinstance(v, dict):
                for ik, iv in v.items():
                    kv.value.kvlist_value.values.add(key=ik).value.string_value = iv
            else:
                kv.value.string_value = v
            out.append(kv)
        return out

    assert canonical(kvs(("a", "1"), ("b", 2))) == canonical(kvs(("b", 2), ("a", "1")))
    assert canonical(kvs(("a", "1"))) != canonical(kvs(("a", 1)))
    assert canonical(kvs(("m", {"x": "1", "y": "2"}))) == canonical(kvs(("m", {"y": "2", "x": "1"})))
    assert canonical([]) == b""


# The documented bound (docs/processors/{cumulativetodelta,deltatocumulative}.md): state for one
# million distinct streams grows RSS by at most 400 MB (measured: about 270 bytes per stream).
BYTES_PER_STREAM_BOUND = 400


@pytest.mark.parametrize("type_", ["cumulativetodelta", "deltatocumulative"])
def test_a_million_streams_stay_within_the_documented_memory_bound(type_):
    import json
    import subprocess
    import sys
    from pathlib import Path

    repo = Path(__file__).resolve().parents[2]
    out = subprocess.run([sys.executable, "-m", "tests.processors.temporality_memory", type_, "1000000"],
                         cwd=repo, capture_output=True, text=True, timeout=120, check=True)
    result = json.loads(out.stdout)
    assert result["streams"] == 1_000_000
    assert result["rss_growth"] <= 1_000_000 * BYTES_PER_STREAM_BOUND, result


async def test_absurd_exponential_points_are_dropped_without_killing_anything():
    for type_, temporality in (("cumulativetodelta", 2), ("deltatocumulative", 1)):
        proc, sink, _ = build(type_, {"initial_value": "keep"} if type_ == "cumulativetodelta" else {})
        for scale, zt, ts in ((20, 0.0, 10), (-2_000_000_000, float("inf"), 20), (2_000_000_000, 1.0, 30)):
            req = ExportMetricsServiceRequest()
            m = req.resource_metrics.add().scope_metrics.add().metrics.add(name="e")
            m.exponential_histogram.aggregation_temporality = temporality
            dp = m.exponential_histogram.data_points.add(start_time_unix_nano=1, time_unix_nano=ts, scale=scale,
                                                         count=5, zero_threshold=zt)
            dp.positive.offset = 3
            dp.positive.bucket_counts.extend([1, 2, 2])
            await proc.consume(req)
