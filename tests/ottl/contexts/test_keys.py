"""ctxutil: map/slice indexing through keys, and the errors upstream's ctxutil tests expect."""

from __future__ import annotations

import pytest

from otelflow.ottl.contexts.base import Key
from otelflow.ottl.contexts.keys import (compile_keys, get_map_value, get_slice_value, set_map,
                                          set_map_value, set_slice_value, set_value)
from otelflow.ottl.errors import OttlError
from otelflow.ottl.values import PMap, new_pmap, new_pslice, to_raw

from ._util import av, run_error


def _nil(ctx):
    return None


def K(*keys):
    out = []
    for k in keys:
        if isinstance(k, str):
            out.append(Key(string=k))
        elif isinstance(k, int):
            out.append(Key(int=k))
        else:
            out.append(Key(getter=k))
    return compile_keys(out)


def test_get_map_value_errors():
    m = new_pmap({"map": {"foo": "bar"}, "slice": ["x"], "str": "s"})
    assert run_error(get_map_value, None, m, K(_nil)) == (
        "cannot get map value: unable to resolve a string index in map: could not resolve key for "
        "map/slice, expecting 'string' but got '<nil>'")
    assert run_error(get_map_value, None, m, K("map", _nil)) == (
        "unable to resolve a string index in map: could not resolve key for map/slice, expecting "
        "'string' but got '<nil>'")
    assert run_error(get_map_value, None, m, K("slice", _nil)) == (
        "unable to resolve an integer index in slice: could not resolve key for map/slice, expecting "
        "'int64' but got '<nil>'")
    assert run_error(get_map_value, None, m, K("slice", 1)) == "index 1 out of bounds"
    assert run_error(get_map_value, None, m, K("slice", -1)) == "index -1 out of bounds"
    assert run_error(get_map_value, None, m, K("str", "x")) == "type Str does not support string indexing"
    assert run_error(get_map_value, None, m, K(0)) == (
        "cannot get map value: unable to resolve a string index in map: invalid key type")
    assert run_error(get_map_value, None, m, K("slice", "x")) == (
        "unable to resolve an integer index in slice: invalid key type")
    assert run_error(get_map_value, None, m, ()) == "cannot get map value without keys"
    assert run_error(get_map_value, None, m, K(lambda c: 3)) == (
        "cannot get map value: unable to resolve a string index in map: could not resolve key for "
        "map/slice, expecting 'string' but got 'int64'")


def test_getter_error_is_wrapped():
    def boom(ctx):
        raise OttlError("boom")
    m = new_pmap({"a": 1})
    assert run_error(get_map_value, None, m, K(boom)) == (
        "cannot get map value: unable to resolve a string index in map: boom")


def test_get_map_value_nested_and_missing():
    m = new_pmap({"map": {"foo": "bar"}, "slice": [{"k": 1}]})
    assert get_map_value(None, m, K("map", "foo")) == "bar"
    assert get_map_value(None, m, K("slice", 0, "k")) == 1
    assert get_map_value(None, m, K("slice", lambda c: 0, lambda c: "k")) == 1
    assert get_map_value(None, m, K("nope")) is None
    assert get_map_value(None, m, K("map", "nope")) is None
    assert isinstance(get_map_value(None, m, K("map")), PMap)


def test_set_map_value_errors():
    m = new_pmap({"map": {"foo": "bar"}, "slice": ["x"], "str": "s"})
    assert run_error(set_map_value, None, m, K(_nil), "value") == (
        "cannot set map value: unable to resolve a string index in map: could not resolve key for "
        "map/slice, expecting 'string' but got '<nil>'")
    assert run_error(set_map_value, None, m, K("map", _nil), "v") == (
        "unable to resolve a string index in map: could not resolve key for map/slice, expecting "
        "'string' but got '<nil>'")
    assert run_error(set_map_value, None, m, K("slice", 1), "v") == "index 1 out of bounds"
    assert run_error(set_map_value, None, m, K("slice", -1), "v") == "index -1 out of bounds"
    assert run_error(set_map_value, None, m, K("str", "x"), "v") == "type Str does not support string indexing"
    assert run_error(set_map_value, None, m, (), "v") == "cannot set map value without keys"


def test_set_map_value_creates_nested():
    m = new_pmap({"foo": {"bar": "baz"}})
    set_map_value(None, m, K("foo", "bar"), "new")
    set_map_value(None, m, K("new", 2, 0), "x")
    set_map_value(None, m, K("m", "k"), 1)
    set_map_value(None, m, K("g", lambda c: 1), "y")
    set_map_value(None, m, K("h", lambda c: "k"), "z")
    assert to_raw(m) == {"foo": {"bar": "new"}, "new": [None, None, ["x"]], "m": {"k": 1},
                         "g": [None, "y"], "h": {"k": "z"}}
    set_map_value(None, m, K("nil"), None)
    assert "nil" in m.keys() and to_raw(m)["nil"] is None


def test_set_value_types_and_error():
    a = av("x")
    set_value(a, [1, "a", 2.5, True, b"\x00", {"k": [1]}])
    assert to_raw(a) == [1, "a", 2.5, True, b"\x00", {"k": [1]}]
    set_value(a, None)
    assert a.WhichOneof("value") is None
    assert run_error(set_value, av("s"), object()) .startswith("unsupported type object for set operation")
    from otelflow.ottl.values import GoTime
    assert run_error(set_value, av("s"), GoTime(1)) == (
        "unsupported type time.Time for set operation; current value type is Str")


def test_set_map():
    m = new_pmap({"a": 1})
    set_map(m, {"b": 2})
    assert to_raw(m) == {"b": 2}
    set_map(m, new_pmap({"c": 3}))
    assert to_raw(m) == {"c": 3}
    set_map(m, m)
    assert to_raw(m) == {"c": 3}
    set_map(m, None)
    assert to_raw(m) == {}
    assert run_error(set_map, m, "x") == "unsupported type provided for setting a pcommon.Map: string"


def test_slice_value():
    s = new_pslice(["a", {"k": "v"}])
    assert get_slice_value(None, s, K(1, "k")) == "v"
    set_slice_value(None, s, K(0), "b")
    assert to_raw(s) == ["b", {"k": "v"}]
    assert run_error(get_slice_value, None, s, K(2)) == "index 2 out of bounds"
    assert run_error(get_slice_value, None, s, ()) == "cannot get slice value without key"
    assert run_error(set_slice_value, None, s, (), 1) == "cannot set slice value without key"
    assert run_error(get_slice_value, None, s, K("x")) == (
        "unable to resolve an integer index in slice: invalid key type")
