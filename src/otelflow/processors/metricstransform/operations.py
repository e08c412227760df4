"""The per-metric operations and ``transform_metric``, which applies a transform's new name and
operations to one metric, as upstream's transformMetric: with ``action: update`` a metric whose
points do not all match ``experimental_match_labels`` keeps its name, and only the point-wise
operations (update_label, toggle_scalar_data_type, experimental_scale_value) touch its matching
points; the others need every point to match."""

from __future__ import annotations

import math

from opentelemetry.proto.metrics.v1.metrics_pb2 import Metric

from otelflow.processors.metricstransform.aggregate import _trunc, filter_attrs, group_points, merge_points
from otelflow.processors.metricstransform.config import Operation
from otelflow.processors.metricstransform.filters import Filter
from otelflow.processors.metricstransform.pdata import copy_details, find, points, put, put_str, remove, str_of


class TransformError(Exception):
    """Upstream's warning for an operation that cannot apply; the metric is kept."""


class Op:
    """An operation with its lookup tables built once."""

    def __init__(self, cfg: Operation, version: str):
        self.cfg = cfg
        self.action = cfg.action
        self.new_value = cfg.new_value.replace("{{version}}", version)
        self.value_map = {va.value: va.new_value.replace("{{version}}", version) for va in cfg.value_actions}
        self.label_set = list(dict.fromkeys(cfg.label_set))
        self.aggregated = set(cfg.aggregated_values)


def _aggregate(metric: Metric, agg: str) -> None:
    groups: dict[str, list] = {}
    merged = Metric()
    copy_details(metric, merged)
    group_points(metric, groups)
    merge_points(merged, agg, groups)
    metric.CopyFrom(merged)  # like upstream's MoveTo: the metric's metadata does not survive


def aggregate_labels(metric: Metric, op: Op) -> None:
    if metric.WhichOneof("data") == "summary":
        raise TransformError(f"aggregate_labels is not supported for Summary metrics: {metric.name}")
    filter_attrs(metric, op.label_set)
    _aggregate(metric, op.cfg.aggregation_type)


def aggregate_label_values(metric: Metric, op: Op) -> None:
    if metric.WhichOneof("data") == "summary":
        raise TransformError(f"aggregate_label_values is not supported for Summary metrics: {metric.name}")
    for dp in points(metric) or ():
        kv = find(dp.attributes, op.cfg.label)
        if kv is not None and str_of(kv.value) in op.aggregated:
            kv.value.Clear()
            kv.value.string_value = op.new_value
    _aggregate(metric, op.cfg.aggregation_type)


def update_label(metric: Metric, op: Op, f: Filter) -> None:
    for dp in points(metric) or ():
        attrs = dp.attributes
        if not f.match_attrs(attrs):
            continue
        key = op.cfg.label
        kv = find(attrs, key)
        if kv is None:
            continue
        value = type(kv.value)()
        value.CopyFrom(kv.value)
        if op.cfg.new_label:
            put(attrs, op.cfg.new_label).CopyFrom(value)
            remove(attrs, key)
            key = op.cfg.new_label
        new = op.value_map.get(str_of(value))
        if new is not None:
            put_str(attrs, key, new)


def add_label(metric: Metric, op: Op) -> None:
    for dp in points(metric) or ():
        if find(dp.attributes, op.cfg.new_label) is None:
            put_str(dp.attributes, op.cfg.new_label, op.new_value)


def delete_label_value(metric: Metric, op: Op) -> None:
    dps = points(metric)
    if dps is None:
        return
    keep = [dp for dp in dps if not _has(dp.attributes, op.cfg.label, op.cfg.label_value)]
    if len(keep) != len(dps):
        kept = [type(dp)() for dp in keep]
        for k, dp in zip(kept, keep):
            k.CopyFrom(dp)
        del dps[:]
        dps.extend(kept)


def _has(attrs, key: str, value: str) -> bool:
    kv = find(attrs, key)
    return kv is not None and str_of(kv.value) == value


def toggle_scalar(metric: Metric, f: Filter) -> None:
    if metric.WhichOneof("data") not in ("gauge", "sum"):
        return
    for dp in points(metric):
        if not f.match_attrs(dp.attributes):
            continue
        kind = dp.WhichOneof("value")
        if kind == "as_int":
            dp.as_double = float(dp.as_int)
        elif kind == "as_double":
            dp.as_int = _trunc(dp.as_double)


def scale_value(metric: Metric, op: Op, f: Filter) -> None:
    scale = op.cfg.experimental_scale
    kind = metric.WhichOneof("data")
    if kind not in ("gauge", "sum", "histogram", "exponential_histogram"):
        return
    for dp in points(metric):
        if not f.match_attrs(dp.attributes):
            continue
        if kind in ("gauge", "sum"):
            value = dp.WhichOneof("value")
            if value == "as_int":
                dp.as_int = _trunc(float(dp.as_int) * scale)
            elif value == "as_double":
                dp.as_double = dp.as_double * scale
            continue
        for field in ("sum", "min", "max"):
            if dp.HasField(field):
                setattr(dp, field, getattr(dp, field) * scale)
        if kind == "histogram":
            for i, bound in enumerate(dp.explicit_bounds):
                dp.explicit_bounds[i] = bound * scale
        else:
            dp.zero_threshold = dp.zero_threshold * scale
            for side in (dp.positive, dp.negative):
                if len(side.bucket_counts):
                    side.offset = _scaled_offset(dp.scale, side.offset, scale)
        for ex in dp.exemplars:
            value = ex.WhichOneof("value")
            if value == "as_int":
                ex.as_int = _trunc(float(ex.as_int) * scale)
            elif value == "as_double":
                ex.as_double = ex.as_double * scale


def _scaled_offset(scale: int, offset: int, factor: float) -> int:
    """The bucket index of the scaled midpoint of bucket ``offset`` (upstream's updateOffset)."""
    base = math.pow(2, math.pow(2, -scale))
    value = (math.pow(base, offset) + math.pow(base, offset + 1)) / 2 * factor
    index = math.ceil(math.log(value) * math.ldexp(math.log2(math.e), scale)) - 1
    return max(-(2**31), min(2**31 - 1, index))


def count_points(metric: Metric) -> int:
    dps = points(metric)
    return len(dps) if dps is not None else 0


def transform_metric(metric: Metric, action: str, new_name: str, f: Filter, ops: list[Op]) -> bool:
    """Apply name and operations; False when the metric had points and now has none (drop it).
    Raises TransformError (after applying what came before) as upstream returns its error."""
    was_empty = count_points(metric) == 0
    can_change = action != "update" or f.match_all(metric)
    if new_name and can_change:
        metric.name = f.expand(new_name, metric.name) or new_name
    for op in ops:
        a = op.action
        if a == "update_label":
            update_label(metric, op, f)
        elif a == "aggregate_labels" and can_change:
            aggregate_labels(metric, op)
        elif a == "aggregate_label_values" and can_change:
            aggregate_label_values(metric, op)
        elif a == "toggle_scalar_data_type":
            toggle_scalar(metric, f)
        elif a == "experimental_scale_value":
            scale_value(metric, op, f)
        elif a == "add_label" and can_change:
            add_label(metric, op)
        elif a == "delete_label_value" and can_change:
            delete_label_value(metric, op)
    return was_empty or count_points(metric) > 0
