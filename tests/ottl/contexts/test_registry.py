"""ContextDef metadata: path context names, enums, lower contexts, priorities."""

from __future__ import annotations

import pytest

from otelflow.ottl.contexts import CONTEXT_PRIORITY, CONTEXTS, lower_contexts_for, priority_of
from otelflow.ottl.errors import OttlConfigError


def test_contexts_and_names():
    assert set(CONTEXTS) == {"resource", "scope", "span", "spanevent", "metric", "datapoint", "exemplar", "log"}
    assert CONTEXTS["span"].path_context_names == ("span", "resource", "instrumentation_scope", "scope", "otelcol")
    assert CONTEXTS["scope"].path_context_names == ("scope", "resource", "otelcol")
    assert CONTEXTS["resource"].path_context_names == ("resource", "otelcol")
    assert CONTEXTS["log"].accepts("instrumentation_scope")


def test_enums():
    assert CONTEXTS["span"].parse_enum("SPAN_KIND_SERVER") == 2
    assert CONTEXTS["spanevent"].parse_enum("STATUS_CODE_ERROR") == 2
    assert CONTEXTS["log"].parse_enum("SEVERITY_NUMBER_FATAL4") == 24
    assert CONTEXTS["metric"].parse_enum("METRIC_DATA_TYPE_SUMMARY") == 5
    assert CONTEXTS["datapoint"].parse_enum("FLAG_NO_RECORDED_VALUE") == 1
    assert CONTEXTS["datapoint"].parse_enum("AGGREGATION_TEMPORALITY_DELTA") == 1
    with pytest.raises(OttlConfigError, match="^enum symbol, FOO, not found$"):
        CONTEXTS["span"].parse_enum("FOO")
    with pytest.raises(OttlConfigError, match="^resource context does not provide Enum support$"):
        CONTEXTS["resource"].parse_enum("SPAN_KIND_SERVER")
    with pytest.raises(OttlConfigError, match="^instrumentation scope context does not provide Enum support$"):
        CONTEXTS["scope"].parse_enum("X")
    with pytest.raises(OttlConfigError, match="^exemplar context does not support enums$"):
        CONTEXTS["exemplar"].parse_enum("X")
    assert not CONTEXTS["metric"].has_enum("SPAN_KIND_SERVER")


def test_inference_tables():
    assert CONTEXT_PRIORITY[0] == "log" and CONTEXT_PRIORITY[-1] == "resource"
    assert priority_of("otelcol") > priority_of("resource")
    assert lower_contexts_for("resource", ["resource", "scope", "span", "spanevent"]) == ["spanevent", "span", "scope"]
    assert lower_contexts_for("span", ["resource", "scope", "span", "spanevent"]) == ["spanevent"]
    assert lower_contexts_for("instrumentation_scope", ["resource", "scope", "span", "spanevent"]) == ["spanevent", "span"]
    assert lower_contexts_for("metric", ["resource", "scope", "metric", "datapoint"]) == ["datapoint"]
    assert CONTEXTS["scope"].lower_contexts == ("log", "exemplar", "datapoint", "metric", "spanevent", "span")
