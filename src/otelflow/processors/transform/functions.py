"""Which OTTL functions each context of the transform processor offers (upstream's
internal/{traces,metrics,logs}/functions.go and, for ``conditions``, filterottl's Standard*Funcs).

Statements get the standard library plus the context's own functions: ``IsRootSpan`` and
``set_semconv_span_name`` for span, the metric functions for metric, the histogram and summary
data point functions for datapoint, the log parsing functions for log. A group's ``conditions`` get
the standard *converters* only, plus ``IsRootSpan`` (span) and ``HasAttrOnDatapoint`` /
``HasAttrKeyOnDatapoint`` (metric).
"""

from __future__ import annotations

from otelflow.ottl.errors import OttlError
from otelflow.ottl.functions import FunctionDef, FunctionTable, Kind as K, P, combine

from . import log_functions, metric_aggregate, metric_functions, metric_histograms, trace_functions

SPAN = FunctionTable()
METRIC_CONDITIONS = FunctionTable()


@SPAN.function("IsRootSpan")
def build_is_root_span():
    def run(ctx):
        parent = ctx.span.parent_span_id
        return len(parent) == 0 or parent == b"\x00" * len(parent)
    return run


def _has_attribute(key: str, expected: str | None):
    def run(ctx):
        metric = ctx.metric
        kind = metric.WhichOneof("data")
        if kind is None:
            raise OttlError("unknown metric type")
        for dp in getattr(metric, kind).data_points:
            for kv in dp.attributes:
                if kv.key == key:
                    if expected is None:
                        return True
                    v = kv.value
                    return (v.string_value if v.WhichOneof("value") == "string_value" else "") == expected
        return False
    return run


@METRIC_CONDITIONS.function("HasAttrOnDatapoint", P("key", K.STRING), P("expected_val", K.STRING))
def build_has_attr_on_datapoint(key, expected_val):
    return _has_attribute(key, expected_val)


@METRIC_CONDITIONS.function("HasAttrKeyOnDatapoint", P("key", K.STRING))
def build_has_attr_key_on_datapoint(key):
    return _has_attribute(key, None)


_LOG_PARSING = "this log parsing function of the transform processor is not ported to otelflow yet"

# Functions upstream's transform offers that otelflow does not: a config using one is refused
# with this reason instead of "undefined function".
TRANSFORM_NOT_SUPPORTED: dict[str, dict[str, str]] = {
    "log": {"ParseCEF": _LOG_PARSING, "ParseELF": _LOG_PARSING, "ParseLEEF": _LOG_PARSING},
}

# The contexts each signal's statements may use (upstream's ParserCollection per signal).
SIGNAL_CONTEXTS = {
    "traces": ("resource", "scope", "span", "spanevent"),
    "metrics": ("resource", "scope", "metric", "datapoint", "exemplar"),
    "logs": ("resource", "scope", "log"),
}


def _standard() -> tuple[dict[str, FunctionDef], dict[str, str]]:
    from otelflow.ottl.funcs import NOT_SUPPORTED, STANDARD
    return STANDARD, NOT_SUPPORTED


def _only_in(table: dict[str, FunctionDef], context: str) -> dict[str, FunctionDef]:
    """Drop the functions the standard library restricts to other contexts."""
    return {n: d for n, d in table.items() if d.contexts is None or context in d.contexts}


def statement_functions(context: str) -> dict[str, FunctionDef]:
    standard, _ = _standard()
    own: dict[str, FunctionDef] = {}
    if context == "span":
        own = combine(SPAN.table(), trace_functions.SPAN.table())
    elif context == "metric":
        own = combine(metric_functions.METRIC.table(), metric_aggregate.METRIC.table(),
                      metric_histograms.METRIC.table())
    elif context == "datapoint":
        own = combine(metric_functions.DATAPOINT.table(), metric_histograms.DATAPOINT.table())
    elif context == "log":
        own = log_functions.LOG.table()
    return combine(_only_in(standard, context), own)


def condition_functions(context: str) -> dict[str, FunctionDef]:
    standard, _ = _standard()
    table = {n: d for n, d in _only_in(standard, context).items() if not d.is_editor}
    if context == "span":
        table = combine(table, SPAN.table())
    elif context == "metric":
        table = combine(table, METRIC_CONDITIONS.table())
    return table


def not_supported(context: str) -> dict[str, str]:
    _, standard = _standard()
    return {**standard, **TRANSFORM_NOT_SUPPORTED.get(context, {})}
