"""pdata's Map and metric helpers on protobuf messages, where upstream's results depend on them:
attribute order after put/remove (remove moves the last entry into the gap), ``Str()`` of a
non-string value being empty, and the data points of whichever type a metric holds."""

from __future__ import annotations

import base64
import json
from typing import Any

from opentelemetry.proto.common.v1.common_pb2 import AnyValue
from opentelemetry.proto.metrics.v1.metrics_pb2 import Metric

NUMBER_TYPES = ("gauge", "sum")


def points(metric: Metric):
    """The data points of ``metric`` (a repeated field), or None when it holds no data."""
    kind = metric.WhichOneof("data")
    return getattr(metric, kind).data_points if kind else None


def find(attrs, key: str):
    for kv in attrs:
        if kv.key == key:
            return kv
    return None


def str_of(value: AnyValue) -> str:
    return value.string_value if value.WhichOneof("value") == "string_value" else ""


def put(attrs, key: str) -> AnyValue:
    """The value slot for ``key``: the existing one, cleared, or a new one at the end."""
    kv = find(attrs, key)
    if kv is None:
        kv = attrs.add()
        kv.key = key
    else:
        kv.value.Clear()
    return kv.value


def put_str(attrs, key: str, value: str) -> None:
    put(attrs, key).string_value = value


def remove(attrs, key: str) -> None:
    """pcommon.Map.Remove: the last entry takes the removed one's place."""
    for i, kv in enumerate(attrs):
        if kv.key == key:
            last = len(attrs) - 1
            if i != last:
                attrs[i].CopyFrom(attrs[last])
            del attrs[last]
            return


def raw(value: AnyValue) -> Any:
    kind = value.WhichOneof("value")
    if kind == "string_value":
        return value.string_value
    if kind == "bool_value":
        return value.bool_value
    if kind == "int_value":
        return value.int_value
    if kind == "double_value":
        d = value.double_value
        return int(d) if d.is_integer() else d  # Go's JSON writes 1.0 as 1
    if kind == "bytes_value":
        return base64.b64encode(value.bytes_value).decode()
    if kind == "array_value":
        return [raw(v) for v in value.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: raw(kv.value) for kv in value.kvlist_value.values}
    return None


def attrs_key(attrs) -> str:
    """What upstream's data point hash key holds of the attributes: the JSON of the raw map."""
    return json.dumps({kv.key: raw(kv.value) for kv in attrs}, sort_keys=True)


def copy_details(src: Metric, dst: Metric) -> None:
    """Name, unit, description and the type with its temporality/monotonicity; no points, no metadata."""
    dst.name, dst.unit, dst.description = src.name, src.unit, src.description
    kind = src.WhichOneof("data")
    if kind is None:
        return
    target = getattr(dst, kind)
    target.SetInParent()
    if kind in ("sum", "histogram", "exponential_histogram"):
        target.aggregation_temporality = getattr(src, kind).aggregation_temporality
    if kind == "sum":
        target.is_monotonic = src.sum.is_monotonic
