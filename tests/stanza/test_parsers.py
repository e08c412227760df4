"""Parser operators: build-time config errors with their YAML paths, and the on_error paths."""

from __future__ import annotations

import pytest

from otelflow.config.errors import ConfigError
from otelflow.stanza.entry import Entry
from otelflow.stanza.operators.parser.gocsv import read_csv_row
from otelflow.stanza.operators.parser.key_value_parser import split_string
from otelflow.stanza.pipeline import build_pipeline

P = "receivers::filelog::operators"


@pytest.mark.parametrize(
    "op, where, message",
    [
        ({"type": "regex_parser"}, "0::regex", "missing required field 'regex'"),
        ({"type": "regex_parser", "regex": "(a)"}, "0::regex", "no named capture groups"),
        ({"type": "regex_parser", "regex": "(?P<a>"}, "0::regex", "compiling regex"),
        ({"type": "csv_parser"}, "0", "missing required field 'header' or 'header_attribute'"),
        ({"type": "csv_parser", "header": "a,b", "delimiter": "::"}, "0::delimiter", "invalid 'delimiter'"),
        ({"type": "csv_parser", "header": "a,b", "lazy_quotes": True, "ignore_quotes": True}, "0", "only one of"),
        ({"type": "csv_parser", "header": "ab"}, "0::header", "missing field delimiter in header"),
        ({"type": "key_value_parser", "delimiter": " "}, "0::delimiter", "cannot be the same value"),
        ({"type": "json_parser", "timestamp": {"layout": "%Y"}}, "0::timestamp", "missing required parameter 'parse_from'"),
        ({"type": "json_parser", "timestamp": {"parse_from": "body.t"}}, "0::timestamp", "missing required configuration parameter `layout`"),
        ({"type": "time_parser", "parse_from": "body.t", "layout_type": "epoch", "layout": "min"}, "0", "invalid `layout` for `epoch` type"),
        ({"type": "time_parser", "parse_from": "body.t", "layout": "%Y", "location": "Mars/Olympus"}, "0", "failed to load location"),
        ({"type": "time_parser", "parse_from": "body.t", "layout_type": "gotime", "layout": "05 999"}, "0", "invalid fractional seconds"),
        ({"type": "severity_parser"}, "0", "missing required field 'parse_from'"),
        ({"type": "severity_parser", "parse_from": "body", "mapping": {"info": 1.5}}, "0", "cannot be parsed as a severity"),
        ({"type": "json_parser", "parse_from": "attributes"}, "0::parse_from", "cannot be referenced without subfield"),
        ({"type": "json_parser", "body": "attributes.x", "parse_to": "body"}, "0::parse_to", "not allowed"),
        ({"type": "json_parser", "parse_ints": "maybe"}, "0", "parse_ints"),
        ({"type": "json_parser", "timestamp": {"parse_from": "body.t", "layout": "%Y", "bogus": 1, "layout_type": "x"}}, "0::timestamp", "unsupported layout_type x"),
    ],
)
def test_build_errors(op: dict, where: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        build_pipeline([op], P)
    text = str(info.value)
    assert text.startswith(f"{P}::{where}"), text
    assert message in text


def test_on_error_send_keeps_entry_unchanged_and_drop_removes_it() -> None:
    lines = ['{"a": 1}', "not json"]
    send = build_pipeline([{"type": "json_parser"}], P).process([Entry(body=b) for b in lines])
    assert [e.attributes for e in send] == [{"a": 1.0}, None]
    drop = build_pipeline([{"type": "json_parser", "on_error": "drop_quiet"}], P).process([Entry(body=b) for b in lines])
    assert [e.body for e in drop] == ['{"a": 1}']


def test_timestamp_failure_sends_parsed_entry() -> None:
    pipe = build_pipeline(
        [{"type": "json_parser", "timestamp": {"parse_from": "attributes.t", "layout_type": "epoch", "layout": "s"}}], P
    )
    (entry,) = pipe.process([Entry(body='{"t": "soon"}')])
    assert entry.attributes == {"t": "soon"} and entry.timestamp == 0 and pipe.errors == 1


def test_go_csv_and_kv_splitting() -> None:
    assert read_csv_row('a,"b,c",d', ",", False) == ["a", "b,c", "d"]
    assert read_csv_row('a,"multi\nline",b', ",", False) == ["a", "multi\nline", "b"]
    assert read_csv_row('a,b"c', ",", True) == ["a", 'b"c']
    assert split_string('a=1  b="x y" c=\'z\'', " ") == ["a=1", "b=x y", "c=z"]
    with pytest.raises(ValueError):
        split_string('a="open', " ")


def test_if_skips_and_errors_follow_on_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """`if` through the expression module's compile_expr (stood in for here, to test the contract)."""
    import sys
    import types

    def compile_expr(source: str):
        if source == "bad syntax":
            raise ValueError("unexpected token")
        if source == "not bool":
            return lambda entry: "yes"
        return lambda entry: entry.body.startswith("{")

    monkeypatch.setitem(sys.modules, "otelflow.stanza.expr", types.SimpleNamespace(compile_expr=compile_expr))
    pipe = build_pipeline([{"type": "json_parser", "if": 'body matches "^{"'}], P)
    out = pipe.process([Entry(body='{"a": 1}'), Entry(body="plain")])
    assert [e.attributes for e in out] == [{"a": 1.0}, None] and pipe.errors == 0
    with pytest.raises(ConfigError, match=f"{P}::0::if: failed to compile expression 'bad syntax'"):
        build_pipeline([{"type": "json_parser", "if": "bad syntax"}], P)
    pipe = build_pipeline([{"type": "json_parser", "if": "not bool", "on_error": "drop_quiet"}], P)
    assert pipe.process([Entry(body='{"a": 1}')]) == [] and pipe.errors == 1
