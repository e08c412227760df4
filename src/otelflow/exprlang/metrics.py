"""The legacy metric filter's expressions (``match_type: expr``, upstream internal/filter/filterexpr):
run once per data point with ``MetricName``, ``MetricType`` ("Gauge", "Sum", "Histogram",
"ExponentialHistogram", "Summary"), ``HasLabel("k")`` and ``Label("k")`` (the point's string
attribute, or ""). Other names and functions are refused when the config loads."""

from __future__ import annotations

from typing import Any, NamedTuple

from otelflow.exprlang.compiler import UnknownName, compile
from otelflow.exprlang.environment import Environment, Function

_TYPES = {"gauge": "Gauge", "sum": "Sum", "histogram": "Histogram", "exponential_histogram": "ExponentialHistogram",
          "summary": "Summary"}


class DataPoint(NamedTuple):
    """What one evaluation sees: the metric's name and type and the point's attributes."""

    name: str
    type: str
    attributes: dict[str, Any]  # key -> AnyValue


def _label(point: DataPoint, key: Any) -> str:
    value = point.attributes.get(key)
    if value is None or value.WhichOneof("value") != "string_value":
        return ""
    return value.string_value


METRIC_ENV = Environment(
    variables={"MetricName": lambda p: p.name, "MetricType": lambda p: p.type},
    functions={"HasLabel": Function(1, 1, lambda p, k: k in p.attributes, with_input=True),
               "Label": Function(1, 1, _label, with_input=True)},
    builtins=False,
    allow_undefined=False,
)


class ExprMatcher:
    """filterexpr.Matcher over one metric: true when some expression holds for some data point."""

    def __init__(self, expressions: list[str]):
        self.programs = []
        for source in expressions:
            try:
                self.programs.append(compile(source, METRIC_ENV))
            except UnknownName as exc:
                raise ValueError(f"{exc.name!r} is not supported in expr expressions by otelflow "
                                 f"(expression {source!r})") from None

    def matches(self, metric) -> bool:
        kind = metric.WhichOneof("data")
        if kind is None:
            return False
        mtype = _TYPES[kind]
        for program in self.programs:
            for dp in getattr(metric, kind).data_points:
                point = DataPoint(metric.name, mtype, {kv.key: kv.value for kv in dp.attributes})
                if program(point) is True:
                    return True
        return False
