"""The shared expr-lang engine under its two environments: the filter processor's metric data point
(MetricName, MetricType, HasLabel, Label) and a custom one, checking that the environment alone
decides which names and functions exist."""

from __future__ import annotations

import pytest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.metrics.v1.metrics_pb2 import Metric

from otelflow import exprlang
from otelflow.exprlang import Environment, ExprError, Function, UnknownName
from otelflow.exprlang.metrics import METRIC_ENV, DataPoint, ExprMatcher


def _gauge(name: str, *points: dict[str, object]) -> Metric:
    m = Metric(name=name)
    for attrs in points:
        dp = m.gauge.data_points.add(as_int=1)
        for k, v in attrs.items():
            value = AnyValue(string_value=v) if isinstance(v, str) else AnyValue(int_value=v)
            dp.attributes.append(KeyValue(key=k, value=value))
    return m


def _point(**attrs: str) -> DataPoint:
    return DataPoint("http.requests", "Sum", {k: AnyValue(string_value=v) for k, v in attrs.items()})


def test_metric_environment_names_and_functions() -> None:
    run = lambda src, p: exprlang.compile(src, METRIC_ENV)(p)  # noqa: E731
    p = _point(code="200", host="a")
    assert run('MetricName == "http.requests" && MetricType == "Sum"', p) is True
    assert run('HasLabel("code") and not HasLabel("missing")', p) is True
    assert run('Label("code") in ["200", "204"]', p) is True
    assert run('Label("missing") == ""', p) is True
    assert run('MetricName matches "^http\\\\." and Label("host") startsWith "a"', p) is True
    assert run('Label("code") > "300"', p) is False


def test_metric_environment_label_of_non_string_is_empty() -> None:
    p = DataPoint("m", "Gauge", {"n": AnyValue(int_value=3)})
    assert exprlang.compile('HasLabel("n") && Label("n") == ""', METRIC_ENV)(p) is True


def test_metric_environment_is_strict() -> None:
    with pytest.raises(UnknownName, match="unknown name body") as exc:
        exprlang.compile("body == 1", METRIC_ENV)
    assert exc.value.name == "body"
    with pytest.raises(UnknownName, match="unknown function len"):  # no builtins in filterexpr here
        exprlang.compile("len(MetricName) > 3", METRIC_ENV)
    with pytest.raises(UnknownName, match="unknown function env"):  # stanza's env() is not visible
        exprlang.compile('env("HOME") == ""', METRIC_ENV)


def test_expr_matcher_matches_when_any_point_matches() -> None:
    matcher = ExprMatcher(['MetricName == "other"', 'Label("code") == "500"'])
    assert matcher.matches(_gauge("cpu", {"code": "200"}, {"code": "500"})) is True
    assert matcher.matches(_gauge("cpu", {"code": "200"})) is False
    assert matcher.matches(_gauge("other")) is False  # no data points: nothing to evaluate
    assert matcher.matches(Metric(name="empty")) is False


def test_expr_matcher_refuses_unsupported_names_at_load() -> None:
    with pytest.raises(ValueError, match="'len' is not supported in expr expressions by otelflow"):
        ExprMatcher(["len(MetricName) > 3"])
    with pytest.raises(ValueError, match="'attributes' is not supported"):
        ExprMatcher(['attributes["a"] == "b"'])
    with pytest.raises(ValueError, match=r"unexpected token EOF \(1:"):
        ExprMatcher(['MetricName == '])


def test_runtime_type_errors_are_expr_errors_in_either_environment() -> None:
    with pytest.raises(ExprError, match="invalid operation: string < int"):
        exprlang.compile('Label("code") < 3', METRIC_ENV)(_point(code="1"))


def test_custom_environment_with_input_function_and_builtins() -> None:
    env = Environment(variables={"x": lambda d: d["x"]},
                      functions={"twice": Function(1, 1, lambda d, v: v * 2 * d["k"], with_input=True)})
    program = exprlang.compile("twice(x) + len('ab') + (y ?? 1)", env)  # y is undefined: nil
    assert program({"x": 3, "k": 10}) == 63
    with pytest.raises(ValueError, match="invalid number of arguments for twice"):
        exprlang.compile("twice(1, 2)", env)
