"""The native OTTL fast path for traces (otelflow/ottl/native.py, native/ottl/) against the Python
engine, which is the reference: random requests through every supported statement and condition
shape under each error mode, native and Python, must give the same messages (and bytes) and the
same outcome. Also: nothing of a request is lost through the native side's messages, and the
processors pick the native path exactly when every statement is in the subset.
"""

from __future__ import annotations

import asyncio
import random

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1 import common_pb2

from otelflow.core.component import ComponentID, Kind, Settings, Signal
from otelflow.core.consumer import ConsumerError
from otelflow.core.registry import default_registry
from otelflow.core.telemetry import Telemetry
from otelflow.ottl import native
from otelflow.ottl.errors import OttlError
from tests.fuzz import corpus

pytestmark = pytest.mark.skipif(not native.available(),
                                reason="otelflow.native._ottl is not built (no cargo when otelflow was installed)")

MODES = ("propagate", "ignore", "silent")

STATEMENTS = [
    r'set(span.attributes["http.original_url"], span.attributes["http.url"])',
    r'replace_pattern(span.attributes["http.url"], "card=\\d+", "card=****")',
    r'delete_key(span.attributes, "db.statement")',
    r'set(span.attributes["deployment.tier"], "bench") where resource.attributes["env"] == "bench"',
    r'truncate_all(span.attributes, 4)',
    r'truncate_all(span.attributes, 5, false, "..")',
    r'truncate_all(resource.attributes, 2, true, "~")',
    r'set(span.name, span.attributes["k"])',
    r'set(span.attributes["k"], nil)',
    r'set(span.attributes["copy"], resource.attributes["k"])',
    r'set(span.attributes["k"], span.attributes["k"])',
    r'set(span.status.code, STATUS_CODE_ERROR) where span.kind == SPAN_KIND_SERVER',
    r'set(span.status.message, Concat([span.name, span.attributes["k"], 5, true, nil], "-"))',
    r'set(span.kind, span.attributes["k"])',
    r'set(span.trace_id.string, span.attributes["k"])',
    r'set(span.span_id.string, "0000000000000000")',
    r'set(span.attributes["tid"], span.trace_id.string)',
    r'set(span.attributes["sid"], span.parent_span_id.string)',
    r'set(span.attributes["start"], span.start_time_unix_nano) where span.end_time_unix_nano > 0',
    r'set(span.end_time_unix_nano, span.attributes["k"])',
    r'set(span.trace_state, "a=b") where span.trace_state == ""',
    r'delete_matching_keys(span.attributes, "^h")',
    r'keep_matching_keys(resource.attributes, "a|e")',
    r'keep_keys(span.attributes, ["k", "http.url", "op"])',
    r'keep_keys(scope.attributes, [])',
    r'limit(span.attributes, 1, ["k"])',
    r'limit(span.attributes, 2, [])',
    r'replace_all_patterns(span.attributes, "value", "(a+)|(é)", "<$1${2}>")',
    r'replace_all_patterns(span.attributes, "key", "^(.)", "x${1}")',
    r'replace_all_patterns(resource.attributes, "key", "[.]", "_")',
    r'replace_pattern(span.name, "o*", "-")',
    r'replace_pattern(span.status.message, "^$", "empty")',
    r'set(scope.name, ToUpperCase(scope.name))',
    r'set(scope.version, ToLowerCase(span.attributes["k"]))',
    r'set(span.attributes["m"], "yes") where IsMatch(span.attributes["k"], "^[0-9]+$")',
    r'set(span.attributes["m2"], IsMatch(span.name, "(?i)OP"))',
    r'set(span.attributes["cmp"], true) where span.attributes["k"] < 10 or span.attributes["k"] == "a"',
    r'set(span.attributes["n"], 1) where not (span.attributes["k"] != nil and resource.attributes["k"] >= 1.5)',
    r'set(scope.version, "v") where scope.attributes["k"] == resource.attributes["k"]',
    r'set(span.attributes["b"], 0x0102) where span.attributes["k"] != 0x0102',
    r'set(resource.attributes["r"], span.name)',
    r'set(scope.attributes["s"], -2.5) where span.attributes["k"] <= -1',
    r'set(span.attributes["f"], span.attributes["k"]) where span.attributes["k"] > 0.5 and span.attributes["k"] < 2',
    r'set(instrumentation_scope.name, "i") where span.attributes["k"] == span.attributes["other"]',
]

CONDITIONS = [
    r'span.attributes["drop.me"] == true',
    r'span.attributes["k"] == nil',
    r'IsMatch(span.name, "^o")',
    r'span.kind == SPAN_KIND_CLIENT and resource.attributes["k"] != "x"',
    r'span.attributes["k"] > 0',
    r'Concat([span.name, span.attributes["k"]], "") == "op0"',
    r'ToLowerCase(span.attributes["k"]) == "a"',
    r'not IsMatch(span.attributes["k"], "\\d")',
]

_KEYS = ["k", "other", "http.url", "db.statement", "env", "drop.me", "a", "e", "h1"]
_STRINGS = ["", "a", "op", "A", "aaa", "é", "日本語テキスト", "card=4111&card=22", "bench", "0102", "12",
            "0123456789abcdef0123456789abcdef", "0123456789ABCDEF", "x" * 70]


def _random_value(rng: random.Random, av) -> None:
    pick = rng.randrange(6)
    if pick == 0:
        av.string_value = rng.choice(_STRINGS)
    elif pick == 1:
        av.int_value = rng.choice([0, 1, -1, 5, 10, 2**63 - 1])
    elif pick == 2:
        av.double_value = rng.choice([0.0, 1.0, 1.5, -2.5, float("nan")])
    elif pick == 3:
        av.bool_value = rng.random() < 0.5
    elif pick == 4:
        av.bytes_value = rng.choice([b"", b"\x01\x02", b"\xff"])
    else:
        corpus._value(rng, av, 0)


def _enrich(rng: random.Random, req) -> None:
    """corpus.request()'s random traces, plus the keys the statements above look at."""
    for rs in req.resource_spans:
        for key in rng.sample(_KEYS, rng.randrange(4)):
            _random_value(rng, rs.resource.attributes.add(key=key).value)
        if rng.random() < 0.3:
            rs.ClearField("resource")
        for ss in rs.scope_spans:
            if rng.random() < 0.3:
                _random_value(rng, ss.scope.attributes.add(key="k").value)
            if rng.random() < 0.2:
                ss.ClearField("scope")
            for sp in ss.spans:
                for key in rng.sample(_KEYS, rng.randrange(6)):
                    _random_value(rng, sp.attributes.add(key=key).value)
                if rng.random() < 0.1:
                    sp.attributes.add(key="k")  # a key without a value
                if rng.random() < 0.3:
                    sp.ClearField("status")
    if rng.random() < 0.1:
        req.resource_spans.add()  # a resource without scopes


def random_request(rng: random.Random) -> ExportTraceServiceRequest:
    req = corpus.request(rng, Signal.TRACES)
    _enrich(rng, req)
    return ExportTraceServiceRequest.FromString(req.SerializeToString())


def _processor(kind: str, cfg: dict, next_=None):
    factory = default_registry.get(Kind.PROCESSOR, kind)
    config = factory.config.model_validate(cfg)
    settings_ = Settings(ComponentID.parse(f"{kind}/t"), Kind.PROCESSOR, Telemetry(), signal=Signal.TRACES)
    return factory.create(settings=settings_, config=config, next=next_ or _Sink())


class _Sink:
    def __init__(self):
        self.got = []

    async def consume(self, data) -> None:
        self.got.append(data.SerializeToString(deterministic=True))


_PAIRS: dict = {}


def transform_pair(statements: tuple[str, ...], mode: str, conditions: tuple[str, ...] = ()):
    key = ("t", statements, mode, conditions)
    if key not in _PAIRS:
        if conditions or not any("span." in s for s in statements):  # else inferred: span
            cfg = {"error_mode": mode, "trace_statements": [
                {"context": "span", "conditions": list(conditions), "statements": list(statements)}]}
        else:
            cfg = {"error_mode": mode, "trace_statements": list(statements)}
        nat, ref = _processor("transform", cfg), _processor("transform", cfg)
        assert nat.native is not None, f"not native: {statements}"
        ref.native = None
        _PAIRS[key] = (nat, ref)
    return _PAIRS[key]


def _run_transform(proc, req):
    try:
        proc.process(req)
        return None
    except OttlError as e:
        return str(e)


def assert_same(nat_req, ref_req):
    assert nat_req == ref_req
    assert nat_req.SerializeToString(deterministic=True) == ref_req.SerializeToString(deterministic=True)


_SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("statement", STATEMENTS)
@_SETTINGS
@given(rnd=st.randoms(use_true_random=False))
def test_statement_native_equals_python(statement, mode, rnd):
    nat, ref = transform_pair((statement,), mode)
    req = random_request(rnd)
    a, b = ExportTraceServiceRequest(), ExportTraceServiceRequest()
    a.CopyFrom(req)
    b.CopyFrom(req)
    assert _run_transform(nat, a) == _run_transform(ref, b)
    assert_same(a, b)


@pytest.mark.parametrize("mode", MODES)
@_SETTINGS
@given(rnd=st.randoms(use_true_random=False))
def test_statement_sequences_and_group_conditions(mode, rnd):
    statements = tuple(rnd.sample(STATEMENTS, 4))
    conditions = tuple(c.replace("span.", "") for c in rnd.sample(CONDITIONS, 2))
    nat, ref = transform_pair(statements, mode, conditions)
    req = random_request(rnd)
    a, b = ExportTraceServiceRequest(), ExportTraceServiceRequest()
    a.CopyFrom(req)
    b.CopyFrom(req)
    assert _run_transform(nat, a) == _run_transform(ref, b)
    assert_same(a, b)


def filter_pair(cfg: dict):
    import json
    key = ("f", json.dumps(cfg, sort_keys=True))
    if key not in _PAIRS:
        nat, ref = _processor("filter", cfg), _processor("filter", cfg)
        assert nat.native is not None, f"not native: {cfg}"
        ref.native = None
        _PAIRS[key] = (nat, ref)
    return _PAIRS[key]


async def _run_filter(proc, req):
    sink = _Sink()
    proc.next = sink
    try:
        await proc.consume(req)
        err = None
    except ConsumerError as e:
        err = str(e)
    return err, sink.got


def _filter_configs(conds: list[str], mode: str) -> list[dict]:
    return [
        {"error_mode": mode, "traces": {"span": conds}},
        {"error_mode": mode, "trace_conditions": [{"conditions": conds}]},
        {"error_mode": mode, "trace_conditions": [{"context": "span", "conditions": [c.replace("span.", "") for c in conds]},
                                                  {"conditions": conds[:1]}]},
    ]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("condition", CONDITIONS)
@_SETTINGS
@given(rnd=st.randoms(use_true_random=False))
def test_condition_native_equals_python(condition, mode, rnd):
    req = random_request(rnd)
    extra = rnd.choice(CONDITIONS)
    for cfg in _filter_configs([condition, extra], mode):
        nat, ref = filter_pair(cfg)
        a, b = ExportTraceServiceRequest(), ExportTraceServiceRequest()
        a.CopyFrom(req)
        b.CopyFrom(req)
        got_nat = asyncio.run(_run_filter(nat, a))
        got_ref = asyncio.run(_run_filter(ref, b))
        assert got_nat == got_ref
        assert_same(a, b)


# ------------------------------------------------------------------------------ the messages


def _every_field_request() -> ExportTraceServiceRequest:
    req = ExportTraceServiceRequest()
    rs = req.resource_spans.add(schema_url="https://r")
    rs.resource.dropped_attributes_count = 3
    rs.resource.attributes.add(key="s", key_strindex=4).value.string_value = "v"
    rs.resource.entity_refs.add(schema_url="e", type="service", id_keys=["a", "b"], description_keys=["c"])
    values = rs.resource.attributes.add(key="all").value.array_value.values
    values.add().string_value = "x"
    values.add().bool_value = True
    values.add().int_value = -5
    values.add().double_value = 2.5
    values.add().bytes_value = b"\x00\x01"
    values.add().string_value_strindex = 7
    values.add().kvlist_value.values.add(key="n").value.int_value = 1
    values.add().array_value.values.add()
    values.add()
    ss = rs.scope_spans.add(schema_url="https://s")
    ss.scope.name, ss.scope.version, ss.scope.dropped_attributes_count = "lib", "1.0", 2
    ss.scope.attributes.add(key="sa").value.bool_value = False
    sp = ss.spans.add(trace_id=bytes(range(16)), span_id=bytes(range(8)), trace_state="a=b",
                      parent_span_id=bytes(range(1, 9)), flags=0x301, name="n", kind=5,
                      start_time_unix_nano=2**64 - 1, end_time_unix_nano=7, dropped_attributes_count=1,
                      dropped_events_count=2, dropped_links_count=3)
    sp.attributes.add(key="k").value.int_value = 2**63 - 1
    sp.attributes.add(key="empty")
    ev = sp.events.add(time_unix_nano=9, name="ev", dropped_attributes_count=4)
    ev.attributes.add(key="e").value.double_value = -0.0
    ln = sp.links.add(trace_id=bytes(16), span_id=b"\x01" * 8, trace_state="x=y", dropped_attributes_count=5, flags=1)
    ln.attributes.add(key="l").value.string_value = "é"
    sp.status.message, sp.status.code = "bad", 2
    rs2 = req.resource_spans.add()
    rs2.scope_spans.add().spans.add().status.SetInParent()
    return req


def _set_fields(msg, seen: set) -> None:
    for fd, value in msg.ListFields():
        seen.add(fd.full_name)
        if fd.message_type is not None:
            for m in (value if fd.is_repeated else [value]):
                _set_fields(m, seen)


def test_every_field_survives_the_native_messages():
    from otelflow.native import _ottl
    req = _every_field_request()
    seen: set = set()
    _set_fields(req, seen)

    def all_fields(desc, acc):
        for fd in desc.fields:
            if fd.full_name in acc:
                continue
            acc.add(fd.full_name)
            if fd.message_type is not None:
                all_fields(fd.message_type, acc)
        return acc
    missing = all_fields(ExportTraceServiceRequest.DESCRIPTOR, set()) - seen
    assert not missing, f"the test request leaves fields unset: {sorted(missing)}"
    data = req.SerializeToString()
    back = _ottl.roundtrip(data)
    assert ExportTraceServiceRequest.FromString(back) == req
    assert back == data
    for rnd_seed in range(50):
        r = random_request(random.Random(rnd_seed)).SerializeToString()
        assert _ottl.roundtrip(r) == r


@pytest.mark.parametrize("pattern,text,template", [
    ("a*", "baaac", "X"),
    ("x*", "abxd", "-"),
    (r"(?P<n>\d+)", "a12b3", "<${n}$1x$$>"),
    (r"(\w+)@(\w+)", "joe@example é@x", "$2:$1"),
    (r"\s+", "a \t\nb", "_"),
    (r"[\d.]+", "v1.2.3-x", "N"),
    (r"\Q.*\E", "a.*b", "!"),
    ("a{x", "a{xa{x", "y"),
    ("(?i)É", "éÉe", "E"),
    (r"\bfoo\b", "foo foobar foo", "bar"),
    (r"^$", "", "empty"),
    (r"(a)|(b)", "ab", "[$1|$2]"),
])
def test_regex_replace_like_the_python_engine(pattern, text, template):
    from otelflow.native import _ottl
    from otelflow.ottl.funcs._regex import compile_go_regex, replace_all
    assert _ottl.replace_all(pattern, text, template) == replace_all(compile_go_regex(pattern), text, template)


# ------------------------------------------------------------------------------ choosing the path


def test_bench_config_runs_native_and_unsupported_statements_do_not():
    import yaml
    from pathlib import Path
    cfg = yaml.safe_load((Path(__file__).resolve().parents[2] / "bench" / "configs" / "ottl-traces.yaml").read_text())
    transform = _processor("transform", cfg["processors"]["transform/bench"])
    filt = _processor("filter", cfg["processors"]["filter/bench"])
    assert transform.native is not None and filt.native is not None
    req = random_request(random.Random(1))
    status, _ = transform.native.transform(req.SerializeToString())
    assert status in (native.CHANGED, native.UNCHANGED)
    for statements in (['set(span.attributes["x"], Int("1"))'],
                       ['set(span.attributes["a"]["b"], 1)'],
                       ['set(span.attributes["x"], 1)', 'set(span.attributes["y"], span.events)'],
                       ['set(span.attributes["x"], Split(span.name, ","))'],
                       ['set(span.attributes["x"], 1 + 1)'],
                       ['set(span.attributes["x"], span.cache["a"])']):
        assert _processor("transform", {"trace_statements": statements}).native is None, statements
    assert _processor("transform", {"trace_statements": [
        {"context": "resource", "statements": ['set(attributes["x"], 1)']}]}).native is None
    assert _processor("filter", {"traces": {"span": ['IsMatch(name, "a")'],
                                            "spanevent": ['name == "x"']}}).native is None
    assert _processor("filter", {"traces": {"span": ['Len(name) > 3']}}).native is None


def test_native_runs_without_going_back_to_python_on_the_bench_load():
    import sys
    from pathlib import Path
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
    import micro_ottl
    body = micro_ottl.telemetrygen_like(16)
    nat, _ = transform_pair(tuple(STATEMENTS[:5]), "ignore")
    status, out = nat.native.transform(body)
    assert status == native.CHANGED
    ref = ExportTraceServiceRequest.FromString(body)
    nat_ref = _processor("transform", {"error_mode": "ignore", "trace_statements": STATEMENTS[:5]})
    nat_ref.native = None
    nat_ref.process(ref)
    assert ExportTraceServiceRequest.FromString(out) == ref


def test_an_error_under_propagate_fails_the_request_with_the_python_text():
    nat, _ = transform_pair(('set(span.name, span.attributes["k"])',), "propagate")
    req = ExportTraceServiceRequest()
    req.resource_spans.add().scope_spans.add().spans.add().attributes.add(key="k").value.int_value = 1
    with pytest.raises(ConsumerError, match="failed to execute statement: set"):
        asyncio.run(nat.consume(req))
