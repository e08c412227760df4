"""Transformer operators through real pipelines: config errors with YAML paths, entry errors per
on_error, router/filter routing, recombine batching and timed flush (conformance goldens cover the
rest against otelcol-ref)."""

from __future__ import annotations

import pytest

from otelflow.config.errors import ConfigError
from otelflow.stanza.entry import Entry
from otelflow.stanza.pipeline import build_pipeline

PATH = "receivers::file_log::operators"


def run(ops: list[dict], entries: list[Entry], flush: bool = True) -> list[Entry]:
    pipe = build_pipeline(ops, PATH)
    out = pipe.process(entries)
    return out + (pipe.flush(0, force=True) if flush else [])


def config_error(ops: list[dict]) -> str:
    with pytest.raises(ConfigError) as info:
        build_pipeline(ops, PATH)
    return str(info.value)


@pytest.mark.parametrize(
    "op, path, message",
    [
        ({"type": "move", "to": "body.x"}, "0::from", "copy: missing from field"),
        ({"type": "copy", "from": "body.x"}, "0::to", "copy: missing to field"),
        ({"type": "move", "from": "nowhere.x", "to": "body"}, "0::from", "unrecognized prefix"),
        ({"type": "remove"}, "0::field", "remove: field is empty"),
        ({"type": "retain", "fields": []}, "0::fields", "retain: 'fields' is empty"),
        ({"type": "flatten"}, "0::field", "invalid field type"),
        ({"type": "filter", "expr": "body =="}, "0::expr", "failed to compile expression 'body =='"),
        ({"type": "filter", "expr": "true", "drop_ratio": 1.5}, "0::drop_ratio", "drop_ratio must be a number between 0 and 1"),
        ({"type": "router", "routes": [{"expr": "(", "output": "x"}]}, "0::routes::0::expr", "failed to compile expression"),
        ({"type": "add", "field": "body.x", "value": "EXPR(1 +)"}, "0::value", "failed to compile expression"),
        ({"type": "add", "field": "body.x", "value": 1, "if": "body =="}, "0::if", "failed to compile expression"),
        ({"type": "recombine", "combine_field": "body"}, "0", "one of is_first_entry and is_last_entry must be set"),
        ({"type": "recombine", "combine_field": "body", "is_first_entry": "true", "is_last_entry": "true"}, "0",
         "only one of is_first_entry and is_last_entry can be set"),
        ({"type": "recombine", "is_first_entry": "true"}, "0::combine_field", "missing required argument 'combine_field'"),
        ({"type": "recombine", "combine_field": "body", "is_last_entry": "true", "overwrite_with": "middle"},
         "0::overwrite_with", "invalid value 'middle' for parameter 'overwrite_with'"),
        ({"type": "recombine", "combine_field": "body", "is_last_entry": "true", "max_log_size": "12 parsecs"},
         "0::max_log_size", "invalid byte size"),
        ({"type": "recombine", "combine_field": "body", "is_last_entry": "body =="}, "0::is_last_entry", "failed to compile is_last_entry"),
        ({"type": "filter", "expr": "true", "on_error": "explode"}, "0::on_error", ""),
        ({"type": "filter", "expr": "true", "if": "(("}, "0::if", "failed to compile expression"),
        ({"type": "container", "max_log_size": "big"}, "0::max_log_size", "invalid byte size"),
    ],
)
def test_config_errors_name_their_path(op: dict, path: str, message: str) -> None:
    text = config_error([op])
    assert f"{PATH}::{path}" in text and message in text


def test_router_output_must_exist() -> None:
    text = config_error([{"type": "router", "routes": [{"expr": "true", "output": "nope"}]}])
    assert "output does not exist" in text and "nope" in text


def test_move_copy_add_remove() -> None:
    (out,) = run(
        [
            {"type": "move", "from": "body.a", "to": "attributes.a"},
            {"type": "copy", "from": "attributes.a", "to": "resource.a"},
            {"type": "add", "field": "body.c", "value": {"x": [1, 2]}},
            {"type": "add", "id": "e", "field": "attributes.e", "value": "EXPR(attributes.a + '!')"},
            {"type": "remove", "field": "body.b"},
        ],
        [Entry(body={"a": "1", "b": "2"})],
    )
    assert out.body == {"c": {"x": [1, 2]}}
    assert out.attributes == {"a": "1", "e": "1!"}
    assert out.resource == {"a": "1"}


def test_copy_does_not_alias_maps() -> None:
    (out,) = run([{"type": "copy", "from": "body.m", "to": "attributes.m"}, {"type": "add", "field": "body.m.k", "value": "changed"}],
                 [Entry(body={"m": {"k": "v"}})])
    assert out.attributes == {"m": {"k": "v"}} and out.body == {"m": {"k": "changed"}}


def test_remove_whole_attributes_and_resource() -> None:
    (out,) = run([{"type": "remove", "field": "attributes"}, {"type": "remove", "id": "r", "field": "resource"}],
                 [Entry(body="b", attributes={"a": 1}, resource={"r": 1})])
    assert out.attributes is None and out.resource is None


@pytest.mark.parametrize("on_error, sent", [("send", True), ("send_quiet", True), ("drop", False), ("drop_quiet", False)])
def test_entry_error_follows_on_error(on_error: str, sent: bool) -> None:
    out = run([{"type": "move", "from": "body.missing", "to": "body.x", "on_error": on_error}], [Entry(body={"a": 1})])
    assert (out == [Entry(body={"a": 1})]) if sent else out == []


def test_if_skips_and_expression_errors_go_to_on_error() -> None:
    ops = [{"type": "add", "field": "attributes.big", "value": True, "if": "body.n > 10", "on_error": "drop"}]
    out = run(ops, [Entry(body={"n": 11}), Entry(body={"n": 1}), Entry(body={"n": "text"})])
    assert [e.attributes for e in out] == [{"big": True}, None]


def test_flatten_and_retain() -> None:
    (out,) = run(
        [{"type": "flatten", "field": "body.m"}, {"type": "retain", "fields": ["body.a", "body.b", "attributes.keep"]}],
        [Entry(body={"m": {"a": 1, "b": {"c": 2}}, "z": 3}, attributes={"keep": 1, "drop": 2}, resource={"r": 1})],
    )
    assert out.body == {"a": 1, "b": {"c": 2}}
    assert out.attributes == {"keep": 1}
    assert out.resource == {"r": 1}


def test_flatten_non_map_restores_field() -> None:
    out = run([{"type": "flatten", "field": "body.m", "on_error": "send_quiet"}], [Entry(body={"m": "s"})])
    assert out[0].body == {"m": "s"}


def test_router_first_match_default_and_drop() -> None:
    ops = [
        {
            "type": "router",
            "routes": [
                {"expr": 'body.level == "error"', "output": "errors", "attributes": {"route": "EXPR(body.level)-r"}},
                {"expr": "body.level startsWith 'e'", "output": "second"},
                {"expr": "body.level.nested == 1", "output": "second"},  # runtime error: route skipped
            ],
            "default": ["fallback"],
        },
        {"type": "add", "id": "errors", "field": "attributes.to", "value": "errors", "output": "end"},
        {"type": "add", "id": "second", "field": "attributes.to", "value": "second", "output": "end"},
        {"type": "add", "id": "fallback", "field": "attributes.to", "value": "fallback", "output": "end"},
        {"type": "noop", "id": "end"},
    ]
    out = run(ops, [Entry(body={"level": "error"}), Entry(body={"level": "warn"}), Entry(body={"level": "eek"})])
    assert sorted((e.body["level"], e.attributes["to"]) for e in out) == [
        ("eek", "second"), ("error", "errors"), ("warn", "fallback")
    ]
    assert next(e for e in out if e.body["level"] == "error").attributes["route"] == "error-r"
    no_default = [ops[0] | {"default": None}, *ops[1:]]
    out = run(no_default, [Entry(body={"level": "warn"})])
    assert out == []


def test_filter_drop_ratio() -> None:
    entries = [Entry(body={"i": i}) for i in range(4000)]
    assert run([{"type": "filter", "expr": "body.i % 2 == 0"}], [e.copy() for e in entries[:10]]) == [
        Entry(body={"i": i}) for i in range(1, 10, 2)
    ]
    kept = run([{"type": "filter", "expr": "true", "drop_ratio": 0.25}], entries)
    assert 2700 < len(kept) < 3300  # 3000 expected
    assert len(run([{"type": "filter", "expr": "true", "drop_ratio": 0}], entries[:50])) == 50


def test_filter_expression_error_drops_entry() -> None:
    assert run([{"type": "filter", "expr": "body.n > 1"}], [Entry(body={"n": "x"}), Entry(body={"n": 0})]) == [Entry(body={"n": 0})]


def _lines(*bodies: str, path: str = "/a.log") -> list[Entry]:
    return [Entry(body=b, attributes={"log.file.path": path}, observed_timestamp=1_000_000_000) for b in bodies]


def test_recombine_first_entry_per_source_and_timed_flush() -> None:
    pipe = build_pipeline([{"type": "recombine", "combine_field": "body", "is_first_entry": "body startsWith 'S'",
                            "force_flush_period": "2s"}], PATH)
    out = pipe.process(_lines("S1", " a", path="/a.log") + _lines("S2", " b", path="/b.log") + _lines(" c", "S3", path="/a.log"))
    assert [e.body for e in out] == ["S1\n a\n c"]
    assert pipe.flush(2_900_000_000) == []  # 1.9 s after the first entry: still held
    assert sorted(e.body for e in pipe.flush(3_000_000_000)) == ["S2\n b", "S3"]


def test_recombine_last_entry_newest_and_limits() -> None:
    ops = [{"type": "recombine", "combine_field": "body", "is_last_entry": "body endsWith '.'", "combine_with": "",
            "overwrite_with": "newest", "max_batch_size": 3}]
    entries = _lines("a", "b", "c", "d", "e.")
    for i, e in enumerate(entries):
        e.attributes["i"] = i
    out = run(ops, entries)
    assert [(e.body, e.attributes["i"]) for e in out] == [("abc", 2), ("de.", 4)]
    out = run([{"type": "recombine", "combine_field": "body", "is_first_entry": "body == 'S'", "max_log_size": 5}],
              _lines("S", "12", "34", "56", "S"))
    assert [e.body for e in out] == ["S\n12\n34", "56", "S"]


def test_recombine_unmatched_batch_and_max_sources() -> None:
    out = run([{"type": "recombine", "combine_field": "body", "is_first_entry": "body == 'S'", "max_unmatched_batch_size": 2}],
              _lines("x", "y", "z"), flush=False)
    assert [e.body for e in out] == ["x\ny"]
    pipe = build_pipeline([{"type": "recombine", "combine_field": "body", "is_last_entry": "false", "max_sources": 2}], PATH)
    out = pipe.process(_lines("a", path="/1") + _lines("b", path="/2") + _lines("c", path="/3"))
    assert sorted(e.body for e in out) == ["a", "b"]
    assert [e.body for e in pipe.flush(0, force=True)] == ["c"]


def test_recombine_without_source_pools_and_non_string_field_is_kept_out() -> None:
    pipe = build_pipeline([{"type": "recombine", "combine_field": "body.msg", "is_first_entry": "body.first == true"}], PATH)
    out = pipe.process([Entry(body={"first": True, "msg": "a"}), Entry(body={"msg": "b"}), Entry(body={"msg": 7}),
                        Entry(body={"first": True, "msg": "c"})])
    assert [e.body["msg"] for e in out] == ["a\nb"]
    assert [e.body["msg"] for e in pipe.flush(0, force=True)] == ["c"]


@pytest.mark.parametrize(
    "text, expected",
    [('"a\\tb"', "a\tb"), ("`r\\n`", "r\\n"), ("'x'", "x"), ('"\\u00e9\\101\\x41"', "éAA"), ("'\\''", "'")],
)
def test_go_unquote(text: str, expected: str) -> None:
    from otelflow.stanza.operators.transformer.unquote import go_unquote

    assert go_unquote(text) == expected


@pytest.mark.parametrize("text", ['"', "plain", "'ab'", '"\\q"', '"a"b"', "`a`b`", '"\\u12"', '"\\400"'])
def test_go_unquote_invalid(text: str) -> None:
    from otelflow.stanza.operators.transformer.unquote import go_unquote

    with pytest.raises(ValueError, match="invalid syntax"):
        go_unquote(text)


def test_unquote_and_assign_keys() -> None:
    (out,) = run([{"type": "unquote", "field": "body.q"}, {"type": "assign_keys", "field": "body.l", "keys": ["a", "b"]}],
                 [Entry(body={"q": '"x\\n"', "l": [1, 2]})])
    assert out.body == {"q": "x\n", "l": {"a": 1, "b": 2}}
    assert run([{"type": "assign_keys", "field": "body.l", "keys": ["a"], "on_error": "drop"}], [Entry(body={"l": [1, 2]})]) == []
    assert "assign_keys missing required field keys" in config_error([{"type": "assign_keys", "field": "body"}])
