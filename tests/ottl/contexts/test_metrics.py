"""Metric, datapoint and exemplar paths (upstream's ctxmetric, ctxdatapoint, ctxexemplar tests)."""

from __future__ import annotations

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest

from otelflow.ottl.contexts.types import (ExemplarSlice, ExponentialHistogramDataPointBuckets,
                                          HistogramDataPointSlice, NumberDataPointSlice,
                                          SummaryDataPointValueAtQuantileSlice, TraceID)
from otelflow.ottl.values import GoTime

from ._util import config_error, ctx_with, resolve, run_error


def make():
    req = ExportMetricsServiceRequest()
    rm = req.resource_metrics.add()
    sm = rm.scope_metrics.add()
    s = sm.metrics.add(name="sum", description="d", unit="1")
    s.sum.aggregation_temporality = 2
    s.sum.is_monotonic = True
    s.sum.data_points.add(as_double=1.5, start_time_unix_nano=1, time_unix_nano=2, flags=1)
    h = sm.metrics.add(name="hist")
    h.histogram.aggregation_temporality = 1
    h.histogram.data_points.add(count=3, sum=4.5, bucket_counts=[1, 2], explicit_bounds=[1.0])
    e = sm.metrics.add(name="exp")
    edp = e.exponential_histogram.data_points.add(scale=2, zero_count=1, count=4)
    edp.positive.offset = 1
    edp.positive.bucket_counts.extend([1, 2])
    edp.negative.offset = -1
    q = sm.metrics.add(name="summary")
    q.summary.data_points.add(count=2, sum=3.0).quantile_values.add(quantile=0.5, value=1.0)
    g = sm.metrics.add(name="gauge")
    g.gauge.data_points.add(as_int=7).exemplars.add(as_double=1.0, trace_id=bytes(range(16)))
    return req, rm, sm


def mctx(rm, sm, metric, dp=None, ex=None):
    return ctx_with(resource=rm.resource, resource_holder=rm, scope=sm.scope, scope_holder=sm, metric=metric,
                    metrics=sm.metrics, datapoint=dp, exemplar=ex)


def test_metric_paths():
    _, rm, sm = make()
    s, h, e, q, g = sm.metrics
    ctx = mctx(rm, sm, s)
    for path, orig, new in [("metric.name", "sum", "n2"), ("metric.description", "d", "d2"), ("metric.unit", "1", "s"),
                            ("metric.aggregation_temporality", 2, 1), ("metric.is_monotonic", True, False)]:
        p = resolve("metric", path)
        assert p.get(ctx) == orig
        p.set(ctx, new)
        assert p.get(ctx) == new
    assert resolve("metric", "metric.type").get(ctx) == 2
    resolve("metric", "metric.type").set(ctx, 1)  # does nothing
    assert s.WhichOneof("data") == "sum"
    dps = resolve("metric", "metric.data_points").get(ctx)
    assert isinstance(dps, NumberDataPointSlice) and len(dps) == 1
    gctx = mctx(rm, sm, g)
    assert resolve("metric", "metric.type").get(gctx) == 1
    assert resolve("metric", "metric.aggregation_temporality").get(gctx) is None
    assert resolve("metric", "metric.is_monotonic").get(gctx) is None
    resolve("metric", "metric.aggregation_temporality").set(gctx, 2)  # no temporality: nothing happens
    resolve("metric", "metric.data_points").set(gctx, dps)
    assert [dp.as_double for dp in g.gauge.data_points] == [1.5]
    hctx = mctx(rm, sm, h)
    assert isinstance(resolve("metric", "metric.data_points").get(hctx), HistogramDataPointSlice)
    assert run_error(resolve("metric", "metric.data_points").set, hctx, dps) == (
        "expects pmetric.HistogramDataPointSlice but got pmetric.NumberDataPointSlice")
    assert resolve("metric", "metric.type").get(mctx(rm, sm, e)) == 4
    assert resolve("metric", "metric.type").get(mctx(rm, sm, q)) == 5
    assert run_error(resolve("metric", "metric.is_monotonic").set, ctx, 1) == "expects bool but got int64"
    resolve("metric", 'metric.metadata["k"]').set(ctx, "v")
    assert s.metadata[0].key == "k"


def test_number_datapoint():
    _, rm, sm = make()
    s, h, e, q, g = sm.metrics
    dp = s.sum.data_points[0]
    ctx = mctx(rm, sm, s, dp)
    for path, orig, new in [("datapoint.value_double", 1.5, 2.5), ("datapoint.value_int", 0, 3),
                            ("datapoint.start_time_unix_nano", 1, 10), ("datapoint.time_unix_nano", 2, 20),
                            ("datapoint.flags", 1, 0)]:
        p = resolve("datapoint", path)
        assert p.get(ctx) == orig, path
        p.set(ctx, new)
        assert p.get(ctx) == new, path
    assert dp.WhichOneof("value") == "as_int"
    assert resolve("datapoint", "datapoint.time").get(ctx) == GoTime(20)
    resolve("datapoint", "datapoint.start_time").set(ctx, GoTime(5))
    assert dp.start_time_unix_nano == 5
    for path in ("datapoint.count", "datapoint.sum", "datapoint.bucket_counts", "datapoint.explicit_bounds",
                 "datapoint.scale", "datapoint.zero_count", "datapoint.positive", "datapoint.negative.offset",
                 "datapoint.quantile_values"):
        assert resolve("datapoint", path).get(ctx) is None, path
    assert run_error(resolve("datapoint", "datapoint.count").set, ctx, 1) == (
        "unsupported data point type: pmetric.NumberDataPoint")
    assert run_error(resolve("datapoint", "datapoint.scale").set, ctx, 1) == (
        "expects pmetric.ExponentialHistogramDataPoint but got pmetric.NumberDataPoint")
    assert run_error(resolve("datapoint", "datapoint.value_double").set, ctx, 1) == "expects float64 but got int64"
    assert isinstance(resolve("datapoint", "datapoint.exemplars").get(ctx), ExemplarSlice)
    # metric paths from the datapoint context
    assert resolve("datapoint", "metric.name").get(ctx) == "sum"


def test_histogram_datapoint():
    _, rm, sm = make()
    h = sm.metrics[1]
    dp = h.histogram.data_points[0]
    ctx = mctx(rm, sm, h, dp)
    assert resolve("datapoint", "datapoint.count").get(ctx) == 3
    assert resolve("datapoint", "datapoint.sum").get(ctx) == 4.5
    assert resolve("datapoint", "datapoint.bucket_counts").get(ctx) == [1, 2]
    assert resolve("datapoint", "datapoint.explicit_bounds").get(ctx) == [1.0]
    assert resolve("datapoint", "datapoint.value_double").get(ctx) is None
    resolve("datapoint", "datapoint.bucket_counts").set(ctx, [3, 4, 5])
    resolve("datapoint", "datapoint.explicit_bounds").set(ctx, [1.0, 2.0])
    resolve("datapoint", "datapoint.count").set(ctx, 12)
    resolve("datapoint", "datapoint.sum").set(ctx, 1.0)
    assert (list(dp.bucket_counts), list(dp.explicit_bounds), dp.count, dp.sum) == ([3, 4, 5], [1.0, 2.0], 12, 1.0)
    assert run_error(resolve("datapoint", "datapoint.bucket_counts").set, ctx, ["x"]) == (
        "invalid value type provided for a slice of uint64: string, expected int64")
    assert run_error(resolve("datapoint", "datapoint.explicit_bounds").set, ctx, [1]) == (
        "invalid value type provided for a slice of float64: int64")
    assert run_error(resolve("datapoint", "datapoint.value_int").set, ctx, 1) == (
        "expects pmetric.NumberDataPoint but got pmetric.HistogramDataPoint")
    resolve("datapoint", "datapoint.bucket_counts").set(ctx, None)
    assert list(dp.bucket_counts) == []


def test_exponential_histogram_datapoint():
    _, rm, sm = make()
    e = sm.metrics[2]
    dp = e.exponential_histogram.data_points[0]
    ctx = mctx(rm, sm, e, dp)
    assert resolve("datapoint", "datapoint.scale").get(ctx) == 2
    assert resolve("datapoint", "datapoint.zero_count").get(ctx) == 1
    assert resolve("datapoint", "datapoint.positive.offset").get(ctx) == 1
    assert resolve("datapoint", "datapoint.positive.bucket_counts").get(ctx) == [1, 2]
    assert resolve("datapoint", "datapoint.negative.offset").get(ctx) == -1
    pos = resolve("datapoint", "datapoint.positive").get(ctx)
    assert isinstance(pos, ExponentialHistogramDataPointBuckets)
    resolve("datapoint", "datapoint.negative").set(ctx, pos)
    assert dp.negative.offset == 1 and list(dp.negative.bucket_counts) == [1, 2]
    resolve("datapoint", "datapoint.scale").set(ctx, -3)
    resolve("datapoint", "datapoint.zero_count").set(ctx, 9)
    resolve("datapoint", "datapoint.negative.bucket_counts").set(ctx, [7])
    assert (dp.scale, dp.zero_count, list(dp.negative.bucket_counts)) == (-3, 9, [7])
    assert run_error(resolve("datapoint", "datapoint.positive").set, ctx, 1) == (
        "expects pmetric.ExponentialHistogramDataPointBuckets but got int64")
    assert config_error("datapoint", "datapoint.positive.foo").startswith(
        'segment "foo" from path "datapoint.positive.foo" is not a valid path')


def test_summary_datapoint_and_exemplar():
    _, rm, sm = make()
    q, g = sm.metrics[3], sm.metrics[4]
    dp = q.summary.data_points[0]
    ctx = mctx(rm, sm, q, dp)
    qv = resolve("datapoint", "datapoint.quantile_values").get(ctx)
    assert isinstance(qv, SummaryDataPointValueAtQuantileSlice) and len(qv) == 1
    assert resolve("datapoint", "datapoint.exemplars").get(ctx) is None
    assert run_error(resolve("datapoint", "datapoint.exemplars").set, ctx, None) == (
        "unsupported data point type: pmetric.SummaryDataPoint")
    resolve("datapoint", "datapoint.quantile_values").set(ctx, None)
    assert len(dp.quantile_values) == 0

    gdp = g.gauge.data_points[0]
    ex = gdp.exemplars[0]
    ectx = mctx(rm, sm, g, gdp, ex)
    assert resolve("exemplar", "exemplar.double_value").get(ectx) == 1.0
    assert resolve("exemplar", "exemplar.trace_id").get(ectx) == TraceID(bytes(range(16)))
    resolve("exemplar", "exemplar.int_value").set(ectx, 4)
    resolve("exemplar", "exemplar.time").set(ectx, GoTime(99))
    resolve("exemplar", "exemplar.span_id.string").set(ectx, "0102030405060708")
    assert (ex.as_int, ex.time_unix_nano, ex.span_id) == (4, 99, bytes(range(1, 9)))
    assert resolve("exemplar", "datapoint.value_int").get(ectx) == 7
    assert resolve("exemplar", "metric.name").get(ectx) == "gauge"
