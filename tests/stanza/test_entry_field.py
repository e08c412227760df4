"""Entry fields, pipeline wiring and OTLP conversion: the contract other stanza modules build on."""

from __future__ import annotations

import pytest

from otelflow.config.errors import ConfigError
from otelflow.stanza.convert import to_logs_request
from otelflow.stanza.entry import Entry
from otelflow.stanza.field import FieldError, parse_field
from otelflow.stanza.operator import OperatorConfig, Transformer, TransformerConfig
from otelflow.stanza.pipeline import build_pipeline
from otelflow.stanza.registry import register


@pytest.mark.parametrize(
    "text, root, keys",
    [
        ("body", "body", ()),
        ("body.a.b", "body", ("a", "b")),
        ('attributes["a.b"]', "attributes", ("a.b",)),
        ("attributes['k8s.pod'].x", "attributes", ("k8s.pod", "x")),
        ("resource.host", "resource", ("host",)),
    ],
)
def test_parse_field(text: str, root: str, keys: tuple[str, ...]) -> None:
    field = parse_field(text)
    assert (field.root, field.keys) == (root, keys)
    assert parse_field(str(field)) == field


@pytest.mark.parametrize(
    "text, message",
    [
        ("attributes", "attributes cannot be referenced without subfield"),
        ("foo.bar", "unrecognized prefix"),
        ("body[a]", "strings in brackets must be surrounded by quotes"),
        ('body["a"', "unclosed left bracket"),
        ('body["a]', "unclosed double quote"),
    ],
)
def test_parse_field_errors(text: str, message: str) -> None:
    with pytest.raises(FieldError, match=message):
        parse_field(text)


def test_set_get_delete() -> None:
    entry = Entry(body="text")
    parse_field("body.a.b").set(entry, 1)
    assert entry.body == {"a": {"b": 1}}
    parse_field("body.a").set(entry, {"c": 2})  # maps merge
    assert entry.body == {"a": {"b": 1, "c": 2}}
    parse_field("attributes", rootable=True).set(entry, {"x": "y"})
    assert entry.attributes == {"x": "y"}
    assert parse_field("attributes.x").get(entry) == ("y", True)
    assert parse_field("attributes.x.y").get(entry) == (None, False)
    assert parse_field("body.a.b").delete(entry) == (1, True)
    assert parse_field("resource.r").delete(entry) == (None, False)
    with pytest.raises(FieldError):
        parse_field("attributes", rootable=True).set(entry, "not a map")
    clone = entry.copy()
    clone.body["a"]["c"] = 3
    assert entry.body["a"]["c"] == 2


class _UpperConfig(TransformerConfig):
    type: str = "test_upper"
    field: str = "body"


class _Upper(Transformer):
    def __init__(self, cfg: _UpperConfig) -> None:
        super().__init__(cfg)
        self.field = parse_field(cfg.field)

    def transform(self, entry: Entry) -> None:
        value, ok = self.field.get(entry)
        if not isinstance(value, str):
            raise ValueError("not a string")
        self.field.set(entry, value.upper())


register("test_upper", _UpperConfig, _Upper)


def test_pipeline_chains_and_on_error() -> None:
    pipe = build_pipeline(
        [{"type": "test_upper"}, {"type": "test_upper", "field": "body.x", "on_error": "drop"}], "ops"
    )
    assert list(pipe.operators) == ["test_upper", "test_upper1"]
    out = pipe.process([Entry(body="a"), Entry(body=5)])
    # the first entry fails the second operator (no body.x) and is dropped; the second fails the
    # first operator (send) and then the second (drop)
    assert out == []
    assert pipe.errors == 3
    pipe = build_pipeline([{"type": "test_upper"}], "ops")
    assert [e.body for e in pipe.process([Entry(body="a"), Entry(body=5)])] == ["A", 5]


def test_pipeline_fan_out_copies() -> None:
    pipe = build_pipeline(
        [
            {"type": "test_upper", "id": "a", "output": ["b", "c"]},
            {"type": "test_upper", "id": "b", "field": "attributes.k", "on_error": "send_quiet", "output": "c"},
            {"type": "test_upper", "id": "c", "field": "body"},
        ],
        "ops",
    )
    out = pipe.process([Entry(body="x")])
    assert [e.body for e in out] == ["X", "X"]
    assert out[0] is not out[1]


def test_fan_out_runs_outputs_in_listed_order() -> None:
    pipe = build_pipeline(
        [
            {"type": "test_upper", "id": "a", "output": ["c", "b"]},
            {"type": "test_upper", "id": "b", "field": "attributes.b", "on_error": "send_quiet", "output": "d"},
            {"type": "test_upper", "id": "c", "field": "attributes.c", "on_error": "send_quiet", "output": "d"},
            {"type": "test_upper", "id": "d"},
        ],
        "ops",
    )
    out = pipe.process([Entry(body="x", attributes={"b": "from b", "c": "from c"})])
    assert [e.attributes for e in out] == [{"b": "from b", "c": "FROM C"}, {"b": "FROM B", "c": "from c"}]


@pytest.mark.parametrize(
    "ops, message",
    [
        ([{"type": "nope"}], "ops::0::type: unsupported type"),
        ([{"id": "x"}], "ops::0::type: missing required `type` field."),
        ([{"type": "test_upper", "id": "a"}, {"type": "test_upper", "id": "a"}], "ops::1::id: operator with id 'a' already exists"),
        ([{"type": "test_upper", "output": "zz"}], "ops::0::output: operators cannot be connected"),
        ([{"type": "test_upper", "on_error": "explode"}], "ops::0::on_error"),
        (
            [{"type": "test_upper", "id": "a", "output": "b"}, {"type": "test_upper", "id": "b", "output": "a"}],
            "circular dependency",
        ),
    ],
)
def test_pipeline_config_errors(ops: list[dict], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        build_pipeline(ops, "ops")
    assert message in str(info.value)


def test_unknown_keys_are_ignored_with_a_warning_as_upstream() -> None:
    warnings: list = []
    pipe = build_pipeline([{"type": "test_upper", "bogus": 1, "on_eror": "drop"}], "ops", warnings)
    assert [e.body for e in pipe.process([Entry(body="a")])] == ["A"]
    assert sorted(str(w) for w in warnings) == [
        "ops::0::bogus: unknown key ignored (as upstream's operator decoding does)",
        "ops::0::on_eror: unknown key ignored (as upstream's operator decoding does)",
    ]


def test_convert_groups_by_resource_and_scope() -> None:
    entries = [
        Entry(body="a", resource={"host": "h1"}, severity=9, timestamp=10, observed_timestamp=11),
        Entry(body={"k": [1, 2.5, True, b"\x01"]}, resource={"host": "h2"}, scope_name="s"),
        Entry(body=None, resource={"host": "h1"}, scope_name="s", severity=17, severity_text="bad",
              trace_id=bytes(range(16)), span_id=bytes(range(8)), trace_flags=b"\x01"),
        Entry(body="d", resource={"host": "h1"}),
    ]
    req = to_logs_request(entries, "dflt", "1.0")
    assert len(req.resource_logs) == 2
    rl = req.resource_logs[0]
    assert [s.scope.name for s in rl.scope_logs] == ["dflt", "s"]
    assert [r.body.string_value for r in rl.scope_logs[0].log_records] == ["a", "d"]
    first = rl.scope_logs[0].log_records[0]
    assert (first.time_unix_nano, first.observed_time_unix_nano, first.severity_number, first.severity_text) == (10, 11, 9, "INFO")
    third = rl.scope_logs[1].log_records[0]
    assert not third.HasField("body")
    assert (third.severity_text, third.flags, third.trace_id) == ("bad", 1, bytes(range(16)))
    body = req.resource_logs[1].scope_logs[0].log_records[0].body
    values = body.kvlist_value.values[0].value.array_value.values
    assert [v.WhichOneof("value") for v in values] == ["int_value", "double_value", "bool_value", "bytes_value"]
