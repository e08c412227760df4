"""The attributes processor: each action, each include/exclude rule, upstream's config errors,
conformance with upstream's recorded output (tests/processors/testdata) and the real Python SDK
through ``attributes/scrub`` and ``resource`` to a real OTLP backend."""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
import struct

import pytest
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1 import trace_pb2

from otelflow.config.errors import ConfigError
from otelflow.config.model import validate
from otelflow.core.component import ComponentID, Kind, Settings, Signal
from otelflow.core.registry import default_registry
from otelflow.core.telemetry import Telemetry
from otelflow.processors import attraction
from otelflow.processors.attraction import (
    ActionConfig,
    AttrProc,
    ClientInfo,
    GoRegexp,
    GoRegexpError,
    as_string,
    context_value,
    value_from_raw,
)
from otelflow.processors.attributes import Config
from tests.backends import GRPCBackend, free_port
from tests.conftest import running
from tests.processors.testdata.goldens import HERE, case_dirs, check_case, load_case, processor_types
from tests.sdk import SDKApp, merged


# ---------------------------------------------------------------------------------------------
# Helpers


class Sink:
    mutates_data = False

    def __init__(self):
        self.received = []

    async def consume(self, data):
        self.received.append(data)


def chain(processors: dict, signal: Signal):
    """The processors built from their YAML-shaped configs, in order, in front of a sink."""
    sink = Sink()
    head = sink
    for name, raw in reversed(list(processors.items())):
        cid = ComponentID.parse(name)
        factory = default_registry.get(Kind.PROCESSOR, cid.type)
        cfg = validate(factory.config, raw, f"processors::{name}")
        settings = Settings(id=cid, kind=Kind.PROCESSOR, telemetry=Telemetry(), signal=signal)
        head = factory.create(settings=settings, config=cfg, next=head)
    return head, sink


async def run(processors: dict, data, signal: Signal | None = None):
    signal = signal or {ExportTraceServiceRequest: Signal.TRACES, ExportLogsServiceRequest: Signal.LOGS,
                        ExportMetricsServiceRequest: Signal.METRICS}[type(data)]
    head, sink = chain(processors, signal)
    await head.consume(data)
    return sink.received[0]


def kvs(pairs) -> list[KeyValue]:
    out = []
    for key, raw in pairs:
        kv = KeyValue(key=key)
        if isinstance(raw, AnyValue):
            kv.value.CopyFrom(raw)
        else:
            value_from_raw(raw, kv.value)
        out.append(kv)
    return out


def raw(value: AnyValue):
    kind = value.WhichOneof("value")
    if kind is None:
        return None
    if kind == "kvlist_value":
        return {kv.key: raw(kv.value) for kv in value.kvlist_value.values}
    if kind == "array_value":
        return [raw(v) for v in value.array_value.values]
    return getattr(value, kind)


def pairs(attrs) -> list[tuple]:
    return [(kv.key, raw(kv.value)) for kv in attrs]


def apply(actions: list[dict], attrs: list[tuple], info: ClientInfo | None = None) -> list[tuple]:
    proc = AttrProc([ActionConfig.model_validate(a) for a in actions])
    span = trace_pb2.Span()
    span.attributes.extend(kvs(attrs))
    proc.process(span.attributes, info)
    return pairs(span.attributes)


def traces(*resources) -> ExportTraceServiceRequest:
    """resources: (resource attrs, [(scope name, scope version, [(span name, kind, attrs)])])."""
    req = ExportTraceServiceRequest()
    for rattrs, scopes in resources:
        rs = req.resource_spans.add()
        rs.resource.attributes.extend(kvs(rattrs))
        for sname, sversion, spans in scopes:
            ss = rs.scope_spans.add()
            ss.scope.name, ss.scope.version = sname, sversion
            for name, kind, attrs in spans:
                span = ss.spans.add(name=name, kind=kind)
                span.attributes.extend(kvs(attrs))
    return req


def marked(req: ExportTraceServiceRequest, key: str = "m") -> list[str]:
    return [span.name for rs in req.resource_spans for ss in rs.scope_spans for span in ss.spans
            if any(kv.key == key for kv in span.attributes)]


MARK = [{"key": "m", "value": True, "action": "insert"}]


# ---------------------------------------------------------------------------------------------
# Conformance with upstream (goldens recorded from otelcol-ref by testdata/record.py)

CASES = [d for d in case_dirs() if "attributes" in processor_types(load_case(d))]


@pytest.mark.parametrize("case_dir", CASES, ids=lambda d: d.name)
async def test_conformance_with_upstream(case_dir, tmp_path):
    await check_case(case_dir, tmp_path / "out.jsonl")


def test_goldens_cover_every_action_and_rule():
    configs = json.dumps([load_case(d) for d in case_dirs()], default=str)
    for needle in ('"insert"', '"update"', '"upsert"', '"delete"', '"hash"', '"extract"', '"convert"',
                   '"services"', '"span_names"', '"span_kinds"', '"attributes"', '"resources"', '"libraries"',
                   '"log_bodies"', '"log_severity_texts"', '"log_severity_number"', '"metric_names"',
                   '"regexp"', '"strict"', '"from_attribute"', '"from_context"', '"default_value"'):
        assert needle in configs, needle


# ---------------------------------------------------------------------------------------------
# insert / update / upsert


def test_insert_only_adds_missing_keys_at_the_end():
    got = apply([{"key": "new", "value": "v", "action": "insert"}, {"key": "a", "value": "x", "action": "insert"}],
                [("a", "1"), ("b", 2)])
    assert got == [("a", "1"), ("b", 2), ("new", "v")]


def test_update_only_changes_existing_keys_in_place():
    got = apply([{"key": "a", "value": 5, "action": "update"}, {"key": "zz", "value": 1, "action": "update"}],
                [("a", "1"), ("b", 2)])
    assert got == [("a", 5), ("b", 2)]


def test_upsert_inserts_or_updates():
    got = apply([{"key": "a", "value": True, "action": "upsert"}, {"key": "c", "value": 1.5, "action": "upsert"}],
                [("a", "1"), ("b", 2)])
    assert got == [("a", True), ("b", 2), ("c", 1.5)]


@pytest.mark.parametrize("value,expected_kind", [
    ("s", "string_value"), (7, "int_value"), (2.5, "double_value"), (False, "bool_value"),
    ([1, "a", [True]], "array_value"), ({"k": {"n": 1}}, "kvlist_value"), ([], "array_value"), ({}, "kvlist_value"),
])
def test_value_of_every_yaml_type_becomes_the_matching_any_value(value, expected_kind):
    proc = AttrProc([ActionConfig(key="k", value=value, action="insert")])
    span = trace_pb2.Span()
    proc.process(span.attributes)
    assert span.attributes[0].value.WhichOneof("value") == expected_kind
    assert raw(span.attributes[0].value) == value


def test_large_yaml_integers_wrap_as_in_go():
    assert value_from_raw(2**63).int_value == -(2**63)
    assert value_from_raw(2**64 + 1).double_value == float(2**64 + 1)


def test_from_attribute_copies_any_type_and_skips_when_absent():
    got = apply([{"key": "copy", "from_attribute": "m", "action": "insert"},
                 {"key": "none", "from_attribute": "absent", "action": "insert"}],
                [("m", {"x": [1, 2]})])
    assert got == [("m", {"x": [1, 2]}), ("copy", {"x": [1, 2]})]


def test_default_value_used_when_the_source_is_missing():
    got = apply([{"key": "region", "from_attribute": "cloud.region", "default_value": "us-east-1", "action": "insert"},
                 {"key": "a", "from_attribute": "cloud.region", "default_value": 0, "action": "update"},
                 {"key": "t", "from_context": "metadata.tenant", "default_value": "none", "action": "upsert"}],
                [("a", "x")])
    assert got == [("a", 0), ("region", "us-east-1"), ("t", "none")]


def test_action_names_are_case_insensitive():
    assert apply([{"key": "a", "value": 1, "action": "INSERT"}, {"key": "a", "action": "Hash"}], []) == \
        [("a", hashlib.sha256(struct.pack("<q", 1)).hexdigest())]


def test_from_context_reads_client_info_as_upstream():
    info = ClientInfo(metadata={"X-Tenant": ["a", "b"]}, auth={"subject": "alice", "groups": ["x", "y"]}, address="10.0.0.1")
    assert raw(context_value(info, "metadata.x-tenant")) == "a;b"
    assert raw(context_value(info, "X-TENANT")) == "a;b"  # no prefix: metadata, case-insensitive
    assert raw(context_value(info, "auth.subject")) == "alice"
    assert raw(context_value(info, "auth.groups")) == "x;y"
    assert raw(context_value(info, "client.address")) == "10.0.0.1"
    assert context_value(info, "metadata.absent") is None
    assert context_value(None, "metadata.x-tenant") is None
    got = apply([{"key": "tenant", "from_context": "metadata.x-tenant", "action": "insert"}], [], info)
    assert got == [("tenant", "a;b")]


# ---------------------------------------------------------------------------------------------
# delete


def test_delete_by_key_moves_the_last_entry_into_the_gap():
    got = apply([{"key": "b", "action": "delete"}], [("a", 1), ("b", 2), ("c", 3), ("d", 4)])
    assert got == [("a", 1), ("d", 4), ("c", 3)]


def test_delete_by_pattern_keeps_the_order():
    got = apply([{"pattern": "^tmp", "action": "delete"}], [("tmp1", 1), ("a", 2), ("tmp2", 3), ("b", 4)])
    assert got == [("a", 2), ("b", 4)]


def test_delete_removes_only_the_first_of_repeated_keys():
    got = apply([{"key": "d", "action": "delete"}], [("d", 1), ("x", 2), ("d", 3)])
    assert got == [("d", 3), ("x", 2)]


# ---------------------------------------------------------------------------------------------
# hash


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.mark.parametrize("value,digest", [
    ("https://example.com/a?b=c", sha(b"https://example.com/a?b=c")),
    ("", sha(b"")),
    ("héllo ☃", sha("héllo ☃".encode())),
    (-42, sha(struct.pack("<q", -42))),
    (2**63 - 1, sha(b"\xff" * 7 + b"\x7f")),
    (3.25, sha(struct.pack("<d", 3.25))),
    (-0.0, sha(b"\x00" * 7 + b"\x80")),
    (True, sha(b"\x01")),
    (False, sha(b"\x00")),
    (b"\xde\xad", ""),
    ({"x": 1}, ""),
    ([1], ""),
    (None, ""),
])
def test_hash_is_sha256_hex_of_the_value_bytes(value, digest):
    assert apply([{"key": "k", "action": "hash"}], [("k", value)]) == [("k", digest)]


def test_hash_digests_equal_upstream_goldens():
    golden = json.loads((HERE / "hash_every_type" / "expected.json").read_text())
    upstream = {a["key"]: a["value"]["stringValue"] for a in golden[0]["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["attributes"]}
    assert upstream["str"] == sha(b"https://example.com/a?b=c")
    assert upstream["int"] == sha(struct.pack("<q", -42))
    assert upstream["dbl"] == sha(struct.pack("<d", 3.25))
    assert upstream["bool_t"] == sha(b"\x01")
    assert upstream["empty_str"] == sha(b"")
    assert upstream["bytes"] == upstream["map"] == upstream["slice"] == upstream["empty"] == ""


def test_hash_by_pattern_and_key_hashes_a_key_matched_by_both_twice():
    got = dict(apply([{"key": "a.x", "pattern": "^a\\.", "action": "hash"}], [("a.x", "v"), ("a.y", "w"), ("b", "z")]))
    assert got == {"a.x": sha(sha(b"v").encode()), "a.y": sha(b"w"), "b": "z"}


# ---------------------------------------------------------------------------------------------
# extract


def test_extract_creates_one_attribute_per_named_group():
    pattern = r"^(?P<proto>\w+)://(?P<host>[^/]*)(?P<path>/[^?]*)?(?:\?(?P<query>.*))?$"
    got = apply([{"key": "url", "pattern": pattern, "action": "extract"}], [("url", "https://h/p?q=1"), ("host", "old")])
    assert got == [("url", "https://h/p?q=1"), ("host", "h"), ("proto", "https"), ("path", "/p"), ("query", "q=1")]


def test_extract_sets_unmatched_groups_to_empty_strings():
    got = apply([{"key": "v", "pattern": "(?P<a>x)|(?P<b>y)", "action": "extract"}], [("v", "y")])
    assert got == [("v", "y"), ("a", ""), ("b", "y")]


def test_extract_ignores_non_strings_and_non_matches():
    actions = [{"key": "v", "pattern": "(?P<d>\\d+)", "action": "extract"}]
    assert apply(actions, [("v", 42)]) == [("v", 42)]
    assert apply(actions, [("v", "none")]) == [("v", "none")]
    assert apply(actions, []) == []


def test_extract_accepts_go_group_syntax_and_repeated_names():
    got = apply([{"key": "v", "pattern": "(?<n>a)(?P<n>b)", "action": "extract"}], [("v", "ab")])
    assert got == [("v", "ab"), ("n", "b")]


# ---------------------------------------------------------------------------------------------
# convert

INT64_MIN = -(2**63)


@pytest.mark.parametrize("value,target,expected", [
    ("123", "int", 123), ("+5", "int", 5), ("010", "int", 10), ("-9223372036854775808", "int", INT64_MIN),
    ("1.5", "int", "1.5"), (" 1", "int", " 1"), ("1_000", "int", "1_000"), ("0x10", "int", "0x10"),
    ("9223372036854775808", "int", "9223372036854775808"),
    (2.9, "int", 2), (-2.9, "int", -2), (1e19, "int", INT64_MIN), (math.nan, "int", INT64_MIN), (math.inf, "int", INT64_MIN),
    (True, "int", 1), (False, "int", 0), (7, "int", 7), ({"a": 1}, "int", {"a": 1}), ([1], "int", [1]), (b"\x01", "int", b"\x01"),
    ("3.14", "double", 3.14), ("1E+2", "double", 100.0), (".5", "double", 0.5), ("0x1p-2", "double", 0.25),
    ("1_000.5", "double", 1000.5), ("-Infinity", "double", -math.inf), ("1e400", "double", "1e400"), ("1e-400", "double", 0.0),
    ("+nan", "double", "+nan"), ("1 ", "double", "1 "), ("abc", "double", "abc"), ("0x10", "double", "0x10"),
    (-7, "double", -7.0), (True, "double", 1.0), (2.5, "double", 2.5), ([1], "double", [1]),
    (-12, "string", "-12"), (0.1, "string", "0.1"), (100.0, "string", "100"), (1e21, "string", "1e+21"),
    (1e-7, "string", "1e-7"), (-0.0, "string", "-0"), (1.5e-6, "string", "0.0000015"), (math.nan, "string", "NaN"),
    (-math.inf, "string", "-Infinity"), (True, "string", "true"), (b"\xde\xad\xbe\xef", "string", "3q2+7w=="),
    ({"z": "<\u2028\n", "a": [1.0, None]}, "string", '{"a":[1,null],"z":"<\\u2028\\n"}'), ([math.nan], "string", ""),
    (None, "string", ""),
])
def test_convert_follows_go_rules(value, target, expected):
    got = apply([{"key": "k", "action": "convert", "converted_type": target}], [("k", value)])
    if isinstance(expected, float) and math.isnan(expected):
        assert math.isnan(got[0][1])
    else:
        assert got == [("k", expected)]
        assert type(got[0][1]) is type(expected)


def test_nan_string_converts_to_nan_double():
    got = apply([{"key": "k", "action": "convert", "converted_type": "double"}], [("k", "NaN")])
    assert math.isnan(got[0][1])


def test_as_string_of_nested_values_is_go_json():
    value = value_from_raw({"b": [1e21, 0.5, "x\b\x01"], "a": {"k": None}})
    assert as_string(value) == '{"a":{"k":null},"b":[1e+21,0.5,"x\\b\\u0001"]}'


# ---------------------------------------------------------------------------------------------
# config errors, with upstream's messages


def test_actions_are_required():
    with pytest.raises(ConfigError) as err:
        validate(Config, {}, "processors::attributes")
    assert str(err.value) == 'processors::attributes: missing required field "actions"'


def test_unknown_action_field_is_a_config_error():
    with pytest.raises(ConfigError, match="unknown key"):
        validate(Config, {"actions": [{"key": "a", "valeu": 1, "action": "insert"}]}, "processors::attributes")


@pytest.mark.parametrize("action,message", [
    ({"value": 1, "action": "insert"}, 'error creating AttrProc due to missing required field "key" at the 0-th action'),
    ({"action": "delete"}, 'error creating AttrProc due to missing required field (at least one of "key" and "pattern" have to be used) at the 0-th action'),
    ({"key": "a", "action": "upsert"}, 'error with key "a" (0-th action): error creating AttrProc. Either field "value", "from_attribute", "from_context", or "default_value" must be specified'),
    ({"key": "a", "value": None, "action": "insert"}, 'Either field "value", "from_attribute", "from_context", or "default_value" must be specified'),
    ({"key": "a", "value": 1, "from_context": "x", "action": "insert"}, 'error with key "a" (0-th action): error creating AttrProc due to multiple value sources being set'),
    ({"key": "a", "value": 1, "pattern": "x", "action": "insert"}, 'Action "insert" does not use the "pattern" field. This must not be specified'),
    ({"key": "a", "from_attribute": "b", "action": "hash"}, 'Action "hash" does not use "value" or "from_attribute" field. These must not be specified'),
    ({"key": "a", "pattern": "a(?=b)", "action": "delete"}, 'error creating AttrProc. Field "pattern" has invalid pattern: "a(?=b)"'),
    ({"key": "a", "action": "extract"}, 'error creating AttrProc due to missing required field "pattern" for action "extract"'),
    ({"key": "a", "pattern": "(a)", "action": "extract"}, 'Field "pattern" contains at least one unnamed matcher group'),
    ({"key": "a", "pattern": "a", "action": "extract"}, 'Field "pattern" contains no named matcher groups'),
    ({"key": "a", "action": "convert"}, 'error creating AttrProc due to missing required field "converted_type" for action "convert"'),
    ({"key": "a", "action": "convert", "converted_type": "bool"}, 'invalid value "bool" in field "converted_type" for action "convert"'),
    ({"key": "a", "action": "convert", "converted_type": "int", "pattern": "x"}, 'Action "convert" does not use value sources or "pattern" field'),
    ({"key": "a\"b", "value": 1, "action": "Rename"}, 'error with key "a\\"b" (0-th action): error creating AttrProc due to unsupported action "rename"'),
])
def test_action_errors_match_upstream(action, message):
    with pytest.raises(ValueError) as err:
        AttrProc([ActionConfig.model_validate(action)])
    assert message in str(err.value)


async def test_bad_actions_stop_the_collector_from_starting():
    cfg = f"""
receivers: {{otlp: {{protocols: {{http: {{endpoint: "127.0.0.1:{free_port()}"}}}}}}}}
processors:
  attributes/bad: {{actions: [{{key: a, action: convert, converted_type: float}}]}}
exporters: {{debug: {{}}}}
service: {{pipelines: {{traces: {{receivers: [otlp], processors: [attributes/bad], exporters: [debug]}}}}}}
"""
    with pytest.raises(ConfigError) as err:
        async with running(cfg):
            pass
    assert "processors::attributes/bad" in str(err.value)
    assert 'invalid value "float" in field "converted_type"' in str(err.value)


# ---------------------------------------------------------------------------------------------
# include / exclude


def sample() -> ExportTraceServiceRequest:
    SERVER, CLIENT, INTERNAL, UNSPEC = 2, 3, 1, 0
    return traces(
        ([("service.name", "checkout"), ("env", "prod")], [
            ("shop", "1.0", [("GET /cart", SERVER, [("code", 200), ("ratio", 0.5), ("ok", True), ("tags", ["a", "b"])]),
                             ("db", CLIENT, [("code", 500), ("big", 1e21)])]),
            ("other", "", [("health", INTERNAL, [])]),
        ]),
        ([("env", "dev")], [("shop", "2.0", [("orphan", UNSPEC, [("code", 200)])])]),
    )


@pytest.mark.parametrize("include,exclude,expected", [
    ({"match_type": "strict", "services": ["checkout"]}, None, ["GET /cart", "db", "health"]),
    ({"match_type": "strict", "services": ["<nil-service-name>"]}, None, ["orphan"]),
    ({"match_type": "regexp", "services": ["^check"], "span_names": ["^GET", "^db$"]}, None, ["GET /cart", "db"]),
    (None, {"match_type": "strict", "span_names": ["db"]}, ["GET /cart", "health", "orphan"]),
    ({"match_type": "strict", "span_kinds": ["SPAN_KIND_SERVER", "SPAN_KIND_INTERNAL"]}, None, ["GET /cart", "health"]),
    ({"match_type": "regexp", "span_kinds": ["UNSPECIFIED"]}, None, ["orphan"]),
    ({"match_type": "strict", "attributes": [{"key": "code", "value": 200}]}, None, ["GET /cart", "orphan"]),
    ({"match_type": "strict", "attributes": [{"key": "code", "value": 200.0}]}, None, []),  # int is not double
    ({"match_type": "strict", "attributes": [{"key": "ratio", "value": 0.5}, {"key": "ok", "value": True}]}, None, ["GET /cart"]),
    ({"match_type": "strict", "attributes": [{"key": "tags", "value": ["a", "b"]}]}, None, ["GET /cart"]),
    ({"match_type": "strict", "attributes": [{"key": "tags", "value": ["b", "a"]}]}, None, []),
    ({"attributes": [{"key": "code"}]}, None, ["GET /cart", "db", "orphan"]),  # key only: no match_type needed
    ({"match_type": "regexp", "attributes": [{"key": "code", "value": "^5"}]}, None, ["db"]),
    ({"match_type": "regexp", "attributes": [{"key": "big", "value": "^10{21}$"}]}, None, ["db"]),  # 'f' formatting
    ({"match_type": "regexp", "attributes": [{"key": "tags", "value": ".*"}]}, None, []),  # slices are never text
    ({"match_type": "strict", "resources": [{"key": "env", "value": "dev"}]}, None, ["orphan"]),
    ({"match_type": "strict", "libraries": [{"name": "shop"}]}, None, ["GET /cart", "db", "orphan"]),
    ({"match_type": "strict", "libraries": [{"name": "shop", "version": "2.0"}]}, None, ["orphan"]),
    ({"match_type": "strict", "libraries": [{"name": "other", "version": ""}]}, None, ["health"]),
    ({"match_type": "strict", "libraries": [{"name": "shop"}, {"name": "other"}]}, None, []),  # every entry must match
    ({"match_type": "strict", "services": ["checkout"]}, {"match_type": "regexp", "span_names": ["^db"]}, ["GET /cart", "health"]),
])
async def test_span_include_exclude(include, exclude, expected):
    cfg = {"actions": MARK}
    if include is not None:
        cfg["include"] = include
    if exclude is not None:
        cfg["exclude"] = exclude
    out = await run({"attributes": cfg}, sample())
    assert marked(out) == expected


def logs_sample() -> ExportLogsServiceRequest:
    req = ExportLogsServiceRequest()
    rl = req.resource_logs.add()
    rl.resource.attributes.extend(kvs([("service.name", "api")]))
    sl = rl.scope_logs.add()
    sl.scope.name = "lib"
    for i, (body, number, text) in enumerate([("user in", 9, "INFO"), ({"msg": "x"}, 17, "ERROR"), (None, 0, ""), (5, 5, "DEBUG")]):
        rec = sl.log_records.add(severity_number=number, severity_text=text)
        if body is not None:
            value_from_raw(body, rec.body)
        rec.attributes.extend(kvs([("i", i)]))
    return req


def marked_logs(req) -> list[int]:
    return [raw(rec.attributes[0].value) for rl in req.resource_logs for sl in rl.scope_logs for rec in sl.log_records
            if any(kv.key == "m" for kv in rec.attributes)]


@pytest.mark.parametrize("include,exclude,expected", [
    ({"match_type": "regexp", "log_bodies": ["^user", '"msg"', "^5$"]}, None, [0, 1, 3]),
    ({"match_type": "strict", "log_bodies": ['{"msg":"x"}', ""]}, None, [1, 2]),
    ({"match_type": "strict", "log_severity_texts": ["INFO", "DEBUG"]}, None, [0, 3]),
    ({"log_severity_number": {"min": 9}}, None, [0, 1]),
    ({"log_severity_number": {"min": 17, "match_undefined": True}}, None, [1, 2]),
    (None, {"log_severity_number": {"min": 6}}, [2, 3]),
    ({"match_type": "strict", "resources": [{"key": "service.name", "value": "api"}], "attributes": [{"key": "i", "value": 2}]}, None, [2]),
    ({"match_type": "regexp", "libraries": [{"name": "^li"}]}, {"match_type": "strict", "attributes": [{"key": "i", "value": 0}]}, [1, 2, 3]),
])
async def test_log_include_exclude(include, exclude, expected):
    cfg = {"actions": MARK}
    if include is not None:
        cfg["include"] = include
    if exclude is not None:
        cfg["exclude"] = exclude
    out = await run({"attributes": cfg}, logs_sample())
    assert marked_logs(out) == expected


def metrics_sample() -> ExportMetricsServiceRequest:
    req = ExportMetricsServiceRequest()
    sm = req.resource_metrics.add().scope_metrics.add()
    for kind in ("gauge", "sum", "histogram", "exponential_histogram", "summary"):
        metric = sm.metrics.add(name=f"app.{kind}")
        for route in ("/a", "/b"):
            getattr(metric, kind).data_points.add().attributes.extend(kvs([("route", route), ("secret", "s")]))
    return req


def point_attrs(req) -> dict[str, list]:
    out = {}
    for rm in req.resource_metrics:
        for sm in rm.scope_metrics:
            for metric in sm.metrics:
                kind = metric.WhichOneof("data")
                out[metric.name] = [pairs(p.attributes) for p in getattr(metric, kind).data_points]
    return out


async def test_metric_actions_apply_to_every_data_point_of_every_type():
    out = await run({"attributes": {"actions": [{"key": "secret", "action": "delete"}, {"key": "n", "value": 1, "action": "insert"}]}},
                    metrics_sample())
    got = point_attrs(out)
    assert len(got) == 5
    for name, points in got.items():
        assert points == [[("route", "/a"), ("n", 1)], [("route", "/b"), ("n", 1)]], name


@pytest.mark.parametrize("include,exclude,expected", [
    ({"match_type": "strict", "metric_names": ["app.gauge", "app.summary"]}, None, ["app.gauge", "app.summary"]),
    (None, {"match_type": "regexp", "metric_names": ["hist"]}, ["app.gauge", "app.sum", "app.summary"]),
    ({"match_type": "strict", "resources": [{"key": "nope"}]}, None,  # upstream: resources filter nothing for metrics
     ["app.gauge", "app.sum", "app.histogram", "app.exponential_histogram", "app.summary"]),
])
async def test_metric_include_exclude_by_name(include, exclude, expected):
    cfg = {"actions": MARK}
    if include is not None:
        cfg["include"] = include
    if exclude is not None:
        cfg["exclude"] = exclude
    got = point_attrs(await run({"attributes": cfg}, metrics_sample()))
    assert [name for name, points in got.items() if ("m", True) in points[0]] == expected


@pytest.mark.parametrize("signal,include,message", [
    (Signal.TRACES, {"match_type": "strict"}, 'at least one of "attributes", "libraries",  or "resources" field must be specified'),
    (Signal.TRACES, {"match_type": "strict", "log_severity_number": {"min": 1}}, "log_severity_number should not be specified for trace spans"),
    (Signal.TRACES, {"match_type": "strict", "span_kinds": ["client"]},
     "span_kinds string must match one of the standard span kinds when match_type=strict: "
     "[     SPAN_KIND_CLIENT SPAN_KIND_CONSUMER SPAN_KIND_INTERNAL SPAN_KIND_PRODUCER SPAN_KIND_SERVER]"),
    (Signal.TRACES, {"match_type": "wild", "span_names": ["x"]}, "error creating span name filters: unrecognized match_type: 'wild', valid types are: [regexp strict]"),
    (Signal.TRACES, {"match_type": "regexp", "span_names": ["(x"]}, "error creating span name filters: error parsing regexp: missing closing ): `(x`"),
    (Signal.TRACES, {"match_type": "regexp", "resources": [{"key": "a", "value": True}]}, 'error creating resource filters: match_type=regexp for "a" only supports Str, but found Bool'),
    (Signal.TRACES, {"match_type": "strict", "attributes": [{"key": ""}]}, "error creating attribute filters: can't have empty key in the list of attributes"),
    (Signal.TRACES, {"libraries": [{"name": "x"}]}, "error creating library name filters: unrecognized match_type: '', valid types are: [regexp strict]"),
    (Signal.LOGS, {"match_type": "strict", "span_names": ["x"]}, "services, span_names, span_kinds and metric_names are not valid for log records"),
    (Signal.LOGS, {"match_type": "regexp", "log_severity_texts": ["a**"]}, "error creating log record severity text filters: error parsing regexp: invalid nested repetition operator: `**`"),
    (Signal.METRICS, {"match_type": "strict", "libraries": [{"name": "x"}]}, '"span_names", "span_kinds", "log_bodies", "log_severity_texts", "log_severity_number", "services", "attributes" and "libraries" are not valid for metrics'),
    (Signal.METRICS, {"match_type": "strict"}, 'at least one of "metric_names" or "resources" field must be specified'),
    (Signal.METRICS, {"metric_names": ["x"]}, "unrecognized match_type: '', valid types are: [regexp strict]"),
])
def test_match_errors_match_upstream(signal, include, message):
    with pytest.raises(ValueError) as err:
        chain({"attributes": {"include": include, "actions": MARK}}, signal)
    assert str(err.value) == message


def test_same_config_can_be_valid_for_one_signal_only():
    cfg = {"attributes": {"include": {"match_type": "strict", "metric_names": ["m"]}, "actions": MARK}}
    chain(cfg, Signal.METRICS)
    with pytest.raises(ValueError, match="metric_names should not be specified for trace spans"):
        chain(cfg, Signal.TRACES)


# ---------------------------------------------------------------------------------------------
# Go regular expressions


@pytest.mark.parametrize("pattern,text,matches", [
    ("abc$", "abc\n", False),          # Go's $ is the very end unless (?m)
    ("(?m)^b$", "a\nb\nc", True),
    (r"^\d+$", "١٢", False),             # \d is ASCII in Go
    (r"\w", "é", False),
    (r"\bfoo\b", "a foo b", True),
    ("a(?i)b|c", "C", True),             # mid-pattern flags reach the next alternatives of the group
    ("a(?i)b|c", "AB", False),
    ("[[:upper:]][[:digit:]]", "A1", True),
    (r"\Qa.b\E", "axb", False),
    ("x{,2}", "x{,2}", True),            # not a repetition in Go
    (r"\x{263a}", "☺", True),
    ("tmp", "a.tmp.b", True),             # unanchored, like MatchString
])
def test_go_regexp_semantics(pattern, text, matches):
    assert GoRegexp(pattern).matches(text) is matches


@pytest.mark.parametrize("pattern,message", [
    ("(abc", "error parsing regexp: missing closing ): `(abc`"),
    ("a)", "error parsing regexp: unexpected ): `a)`"),
    ("a(?=b)", "error parsing regexp: invalid or unsupported Perl syntax: `(?=`"),
    ("a**", "error parsing regexp: invalid nested repetition operator: `**`"),
    ("[z-a]", "error parsing regexp: invalid character class range: `z-a`"),
    (r"\1", "error parsing regexp: invalid escape sequence: `\\1`"),
    ("*a", "error parsing regexp: missing argument to repetition operator: `*`"),
    ("[abc", "error parsing regexp: missing closing ]: `[abc`"),
])
def test_go_regexp_errors(pattern, message):
    with pytest.raises(GoRegexpError) as err:
        GoRegexp(pattern)
    assert str(err.value) == message


def test_group_names_follow_go():
    assert GoRegexp("(?P<a>x)(y)(?<b>z)").names == ["", "a", "", "b"]


# ---------------------------------------------------------------------------------------------
# The work is done once at config time


def test_actions_are_compiled_once(monkeypatch):
    proc = AttrProc([ActionConfig(key="a", pattern="^a", action="hash"), ActionConfig(key="x", value={"k": [1]}, action="insert")])
    compiled = list(proc.actions)

    def fail(*args, **kwargs):  # neither regexes nor config values may be rebuilt per item
        raise AssertionError("rebuilt on the data path")

    monkeypatch.setattr(attraction.actions, "GoRegexp", fail)
    monkeypatch.setattr(attraction.actions, "value_from_raw", fail)
    for _ in range(3):
        span = trace_pb2.Span()
        span.attributes.extend(kvs([("a", "v")]))
        proc.process(span.attributes)
    assert proc.actions == compiled


# ---------------------------------------------------------------------------------------------
# The real Python SDK, through attributes/scrub and resource, to a real backend

URLS = ["https://example.com/a?b=c", "https://shop.example/cart?id=42", "http://localhost:8080/"]


def scrub_config(grpc_port: int, http_port: int, backend: str) -> str:
    return f"""
receivers:
  otlp:
    protocols:
      grpc: {{endpoint: "127.0.0.1:{grpc_port}"}}
      http: {{endpoint: "127.0.0.1:{http_port}"}}
processors:
  attributes/scrub:
    actions:
      - key: http.url
        action: hash
      - key: db.statement
        action: delete
  resource:
    attributes:
      - key: deployment.environment
        from_attribute: env
        action: insert
exporters:
  otlp:
    endpoint: {backend}
    tls: {{insecure: true}}
service:
  pipelines:
    traces: {{receivers: [otlp], processors: [attributes/scrub, resource], exporters: [otlp]}}
    logs: {{receivers: [otlp], processors: [attributes/scrub, resource], exporters: [otlp]}}
    metrics: {{receivers: [otlp], processors: [resource], exporters: [otlp]}}
"""


def items(message):
    """(resource attrs, scope name, item name or body, item attrs) of every span/log/data point."""
    out = []
    field = message.DESCRIPTOR.fields[0].name
    for res in getattr(message, field):
        rattrs = dict(pairs(res.resource.attributes))
        for scope in getattr(res, res.DESCRIPTOR.fields_by_number[2].name):
            for item in getattr(scope, scope.DESCRIPTOR.fields_by_number[2].name):
                if hasattr(item, "attributes"):
                    out.append((rattrs, scope.scope.name, getattr(item, "name", None) or raw(item.body), dict(pairs(item.attributes))))
                else:  # a metric: its data points
                    kind = item.WhichOneof("data")
                    for point in getattr(item, kind).data_points:
                        out.append((rattrs, scope.scope.name, item.name, dict(pairs(point.attributes))))
    return sorted(out, key=lambda t: json.dumps(t, sort_keys=True, default=str))


def scrubbed(entry):
    """What upstream's attributes/scrub + resource make of one item, written independently."""
    rattrs, scope, name, attrs = entry
    rattrs = dict(rattrs)
    if "env" in rattrs and "deployment.environment" not in rattrs:
        rattrs["deployment.environment"] = rattrs["env"]
    attrs = dict(attrs)
    if "http.url" in attrs:
        attrs["http.url"] = hashlib.sha256(attrs["http.url"].encode()).hexdigest()
    attrs.pop("db.statement", None)
    return rattrs, scope, name, attrs


@pytest.mark.parametrize("protocol", ["grpc", "http"])
async def test_sdk_app_through_scrub_and_resource_to_a_backend(protocol):
    backend = await GRPCBackend().start()
    gp, hp = free_port(), free_port()
    try:
        async with running(scrub_config(gp, hp, backend.endpoint)):
            endpoint = f"127.0.0.1:{gp}" if protocol == "grpc" else f"http://127.0.0.1:{hp}"
            app = SDKApp(protocol, endpoint, extra_resource={"env": "prod"})

            def emit():
                tracer = app.tracer_provider.get_tracer("shop.db", "1.0")
                for i, url in enumerate(URLS):
                    with tracer.start_as_current_span("GET", attributes={"http.url": url, "db.statement": f"SELECT {i}", "n": i}):
                        app.log.info("request %d", i, extra={"http.url": url, "db.statement": "SELECT 1"})
                app.emit(2)

            await asyncio.to_thread(emit)
            await asyncio.to_thread(app.shutdown)
            sent = app.sent()

            def arrived():
                return all(len(items(merged(backend.messages(Signal(s))) or type(m)())) >= len(items(m))
                           for s, m in sent.items() if m is not None)

            deadline = asyncio.get_running_loop().time() + 15
            while not arrived():
                assert asyncio.get_running_loop().time() < deadline, "data did not arrive"
                await asyncio.sleep(0.05)
    finally:
        await backend.stop()

    got = {s: items(merged(backend.messages(Signal(s)))) for s in sent}
    for signal, message in sent.items():
        want = sorted((scrubbed(e) for e in items(message)), key=lambda t: json.dumps(t, sort_keys=True, default=str))
        assert got[signal] == want, signal
    # the three URLs arrived hashed exactly as upstream hashes them (digest from the recorded golden)
    golden = json.loads((HERE / "hash_every_type" / "expected.json").read_text())
    upstream_digest = next(a["value"]["stringValue"] for a in golden[0]["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["attributes"] if a["key"] == "str")
    span_urls = sorted(attrs["http.url"] for _, _, _, attrs in got["traces"] if "http.url" in attrs)
    log_urls = sorted(attrs["http.url"] for _, _, _, attrs in got["logs"] if "http.url" in attrs)
    assert span_urls == log_urls == sorted(hashlib.sha256(u.encode()).hexdigest() for u in URLS)
    assert upstream_digest in span_urls
    for signal in ("traces", "logs", "metrics"):
        assert got[signal]
        for rattrs, _, _, attrs in got[signal]:
            assert rattrs["deployment.environment"] == "prod" and rattrs["env"] == "prod"
            assert "db.statement" not in attrs


async def test_the_c_loop_takes_the_clients_bytes_only_while_they_still_match():
    """At the head of a pipeline (the graph sets ``as_received``) the C loop reads the bytes the
    receiver parsed instead of encoding the request again; a copy is encoded afresh."""
    from otelflow.core.client import received_request
    from otelflow.processors.attraction.native import _attrs

    if _attrs is None:
        pytest.skip("the C loop is not built")
    head, sink = chain({"attributes": {"actions": [{"key": "seen", "value": "yes", "action": "insert"}]}}, Signal.TRACES)
    head.as_received = True
    req = ExportTraceServiceRequest()
    req.resource_spans.add().scope_spans.add().spans.add(name="parsed")
    client = ExportTraceServiceRequest()
    client.resource_spans.add().scope_spans.add().spans.add(name="as sent")  # stands in for the client's bytes
    token = received_request.set((req, client.SerializeToString(), None))
    try:
        await head.consume(req)
        copy = ExportTraceServiceRequest()
        copy.CopyFrom(req)
        await head.consume(copy)
    finally:
        received_request.reset(token)
    names = [out.resource_spans[0].scope_spans[0].spans[0].name for out in sink.received]
    assert names == ["as sent", "parsed"]
    assert all(out.resource_spans[0].scope_spans[0].spans[0].attributes[0].key == "seen" for out in sink.received)
