"""Random OTLP through OTTL statements and conditions: nothing may fail except as an OTTL error.

Every statement runs in ``propagate`` mode, one at a time, on requests that hold every AnyValue
kind, empty IDs, extreme numbers, NaN and deep nesting. A statement may legitimately fail (Int of
a map); it must then fail with upstream's kind of error (OttlError), never with a Python
exception escaping from a function or a path, which would be a bug in otelflow. The request must
still serialise afterwards.
"""

from __future__ import annotations

import random

from hypothesis import given, settings, strategies as st

from otelflow.core.component import Signal
from otelflow.ottl.collection import iterate_items
from otelflow.ottl.compiler import Parser
from otelflow.ottl.contexts import CONTEXTS
from otelflow.ottl.contexts.base import TransformContext
from otelflow.ottl.errors import OttlError
from otelflow.ottl.funcs import STANDARD
from tests.fuzz.corpus import request
from tests.fuzz.harness import examples

# Python exception names that, found in an OttlError's text, mean a function raised something raw.
_INTERNAL = ("TypeError", "AttributeError", "KeyError", "IndexError", "ValueError", "OverflowError",
             "ZeroDivisionError", "UnicodeError", "RecursionError", "struct.error", "NotImplementedError")

SPAN = [
    'set(span.attributes["copy"], span.attributes["service.name"])',
    'set(span.name, Concat([span.name, span.attributes["op"], resource.attributes["a"]], "/"))',
    'replace_pattern(span.name, "[0-9]+", "{n}")',
    'replace_all_patterns(span.attributes, "value", "a+", "b")',
    'replace_all_patterns(span.attributes, "key", "^o", "O")',
    'replace_match(span.name, "op*", "op")',
    'delete_key(span.attributes, "a")',
    'delete_matching_keys(span.attributes, "^s.*")',
    'keep_keys(resource.attributes, ["a", "op"])',
    'limit(span.attributes, 2, [])',
    'truncate_all(span.attributes, 3)',
    'merge_maps(span.attributes, resource.attributes, "upsert")',
    'flatten(span.attributes, "f")',
    'set(span.attributes["len"], Len(span.attributes))',
    'set(span.attributes["int"], Int(span.attributes["op"]))',
    'set(span.attributes["dbl"], Double(span.attributes["0"]))',
    'set(span.attributes["str"], String(span.attributes["null"]))',
    'set(span.attributes["sha"], SHA256(span.name))',
    'set(span.attributes["fnv"], FNV(span.name))',
    'set(span.attributes["json"], ParseJSON(span.attributes["null"]))',
    'set(span.attributes["kv"], ParseKeyValue(span.name))',
    'set(span.attributes["split"], Split(span.name, "."))',
    'set(span.attributes["sub"], Substring(span.name, 1, 2))',
    'set(span.attributes["case"], ConvertCase(span.name, "snake"))',
    'set(span.attributes["tid"], span.trace_id.string)',
    'set(span.attributes["dur"], span.end_time - span.start_time)',
    'set(span.attributes["ns"], UnixNano(span.start_time))',
    'set(span.status.code, STATUS_CODE_ERROR) where span.kind == SPAN_KIND_SERVER',
    'set(span.attributes["k"], Keys(span.attributes))',
    'set(span.attributes["m"], IsMatch(span.name, "^o"))',
    'set(span.attributes["hex"], Hex(span.span_id))',
    'set(span.attributes["x"], span.attributes["a"][0]) where IsList(span.attributes["a"])',
    'set(span.attributes["y"], span.attributes["a"]["b"]) where IsMap(span.attributes["a"])',
    'set(span.attributes["div"], span.dropped_attributes_count / 0)',
    'set(span.trace_state["k"], "v")',
    'append(span.attributes["list"], "x")',
]
SPAN_CONDITIONS = [
    'span.attributes["op"] == "op" or span.name != nil',
    'IsMatch(span.name, ".*") and not (span.kind > 2)',
    'span.attributes["a"] < 10',
    'span.start_time_unix_nano >= span.end_time_unix_nano',
]
LOG = [
    'set(log.attributes["body"], log.body)',
    'set(log.body, ParseJSON(log.body)) where IsString(log.body)',
    'merge_maps(log.attributes, ParseJSON(log.body), "insert") where IsString(log.body)',
    'set(log.severity_number, SEVERITY_NUMBER_ERROR) where log.severity_text == "op"',
    'set(log.attributes["keys"], Keys(log.body)) where IsMap(log.body)',
    'set(log.body["x"], 1) where IsMap(log.body)',
    'set(log.attributes["idx"], log.body[0]) where IsList(log.body)',
    'set(log.attributes["t"], Time(log.severity_text, "%Y-%m-%d"))',
    'set(log.attributes["up"], ToUpperCase(log.body))',
    'set(log.attributes["b64"], Decode(log.body, "base64"))',
    'set(log.attributes["url"], URL(log.body))',
    'set(log.attributes["fmt"], Format("%s-%d", [log.severity_text, log.severity_number]))',
    'set(log.attributes["ex"], ExtractPatterns(log.body, "(?P<w>[a-z]+)"))',
]
DATAPOINT = [
    'set(datapoint.attributes["v"], datapoint.value_double * 2)',
    'set(datapoint.attributes["i"], datapoint.value_int + 1)',
    'set(metric.name, Concat([metric.name, "x"], "_")) where metric.type == METRIC_DATA_TYPE_SUM',
    'set(datapoint.attributes["c"], datapoint.count) where metric.type == METRIC_DATA_TYPE_HISTOGRAM',
    'delete_key(datapoint.attributes, "op")',
]


def _run(signal: Signal, context: str, statements: list[str], conditions: list[str], rng: random.Random) -> None:
    parser = Parser(CONTEXTS[context], STANDARD)
    compiled = [parser.parse_statement(s) for s in statements]
    conds = [parser.parse_condition(c) for c in conditions]
    req = request(rng, signal)
    ctx = TransformContext()
    for item in iterate_items(req, context, ctx):
        for stmt in compiled:
            _check(lambda: stmt.execute(item), stmt.text)
        for cond in conds:
            _check(lambda: cond.eval(item), cond.text)
    req.SerializeToString()


def _check(call, text: str) -> None:
    try:
        call()
    except OttlError as e:
        assert not str(e).startswith(_INTERNAL), f"{text}: {e}"


@settings(max_examples=examples(150))
@given(st.randoms(use_true_random=False))
def test_span_statements_fail_only_as_ottl_errors(rng):
    _run(Signal.TRACES, "span", SPAN, SPAN_CONDITIONS, rng)


@settings(max_examples=examples(150))
@given(st.randoms(use_true_random=False))
def test_log_statements_fail_only_as_ottl_errors(rng):
    _run(Signal.LOGS, "log", LOG, [], rng)


@settings(max_examples=examples(100))
@given(st.randoms(use_true_random=False))
def test_datapoint_statements_fail_only_as_ottl_errors(rng):
    _run(Signal.METRICS, "datapoint", DATAPOINT, [], rng)


def test_every_statement_compiles():
    for context, statements in (("span", SPAN + SPAN_CONDITIONS), ("log", LOG), ("datapoint", DATAPOINT)):
        parser = Parser(CONTEXTS[context], STANDARD)
        for s in statements:
            if s in SPAN_CONDITIONS:
                parser.parse_condition(s)
            else:
                parser.parse_statement(s)
