"""The OTTL function tables of the filter processor (upstream's internal/filter/filterottl).

Every context gets the standard converters (conditions never edit data); the span context adds
``IsRootSpan`` and the metric context ``HasAttrOnDatapoint`` and ``HasAttrKeyOnDatapoint``. The
routing connector and tail_sampling compose their tables from the same pieces.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from otelflow.ottl.errors import OttlError
from otelflow.ottl.functions import FunctionDef, FunctionTable, Kind, P

_T = FunctionTable()


def _datapoints(metric):
    kind = metric.WhichOneof("data")
    if kind is None:
        return None
    return getattr(metric, kind).data_points


def _check_datapoints(ctx: Any, key: str, expected: str | None) -> bool:
    """The first data point carrying ``key`` decides: present (and, with a value, a string equal
    to it; other types read as "")."""
    points = _datapoints(ctx.metric)
    if points is None:
        raise OttlError("unknown metric type")
    for dp in points:
        for kv in dp.attributes:
            if kv.key == key:
                if expected is None:
                    return True
                v = kv.value
                return (v.string_value if v.WhichOneof("value") == "string_value" else "") == expected
    return False


@_T.function("HasAttrOnDatapoint", P("key", Kind.STRING), P("expected_val", Kind.STRING), contexts=["metric"])
def _has_attr_on_datapoint(key, expected_val):
    return lambda ctx: _check_datapoints(ctx, key, expected_val)


@_T.function("HasAttrKeyOnDatapoint", P("key", Kind.STRING), contexts=["metric"])
def _has_attr_key_on_datapoint(key):
    return lambda ctx: _check_datapoints(ctx, key, None)


_ROOT = FunctionTable()


@_ROOT.function("IsRootSpan", contexts=["span"])
def _is_root_span():
    return lambda ctx: len(ctx.span.parent_span_id) == 0


_METRIC_FUNCS = _T.table()
_ROOT_SPAN = _ROOT.table()


def _standard():
    from otelflow.ottl.funcs import NOT_SUPPORTED, STANDARD
    return STANDARD, NOT_SUPPORTED


@lru_cache(maxsize=None)
def converters() -> dict[str, FunctionDef]:
    """ottlfuncs.StandardConverters: every standard function whose name is a converter's."""
    standard, _ = _standard()
    return {name: d for name, d in standard.items() if not d.is_editor}


def not_supported() -> dict[str, str]:
    return _standard()[1]


def is_root_span() -> dict[str, FunctionDef]:
    standard, _ = _standard()
    if "IsRootSpan" in standard:
        return {"IsRootSpan": standard["IsRootSpan"]}
    return dict(_ROOT_SPAN)


@lru_cache(maxsize=None)
def filter_functions(context: str) -> dict[str, FunctionDef]:
    """filterottl.Standard<Context>Funcs."""
    table = dict(converters())
    if context == "span":
        table.update(is_root_span())
    elif context == "metric":
        table.update(_METRIC_FUNCS)
    return table
