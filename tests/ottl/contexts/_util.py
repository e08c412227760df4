"""Helpers for the context tests: parse a path text the way the grammar splits it, build items."""

from __future__ import annotations

import re

import pytest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

from otelflow.ottl.contexts import CONTEXTS, Key, Segment, TransformContext
from otelflow.ottl.errors import OttlConfigError, OttlError
from otelflow.ottl.values import new_pmap, set_value

_SEG = re.compile(r'([a-z_][a-z0-9_]*)((?:\[(?:"[^"]*"|-?\d+)\])*)')
_KEY = re.compile(r'\[("([^"]*)"|(-?\d+))\]')


def split(text: str, getter_keys: dict | None = None):
    """(prefix, segments) as the grammar gives them: with two or more dotted parts the first one,
    when it has no keys, is the path's context."""
    parts = []
    pos = 0
    while pos < len(text):
        m = _SEG.match(text, pos)
        assert m, text
        keys = []
        for km in _KEY.finditer(m.group(2)):
            if km.group(2) is not None:
                keys.append(Key(string=km.group(2)))
            else:
                keys.append(Key(int=int(km.group(3))))
        parts.append(Segment(m.group(1), tuple(keys)))
        pos = m.end()
        if pos < len(text):
            assert text[pos] == ".", text
            pos += 1
    if len(parts) > 1 and not parts[0].keys:
        return parts[0].name, tuple(parts[1:])
    return "", tuple(parts)


def resolve(context: str, text: str):
    prefix, segs = split(text)
    return CONTEXTS[context].resolve(prefix, segs, text)


def config_error(context: str, text: str) -> str:
    with pytest.raises(OttlConfigError) as ei:
        resolve(context, text)
    return str(ei.value)


def run_error(fn, *args) -> str:
    with pytest.raises(OttlError) as ei:
        fn(*args)
    return str(ei.value)


def fill_attributes(kvs) -> None:
    """The attribute set upstream's tests use (str, bool, int, double, bytes, arrays, nested)."""
    def put(k, v):
        set_value(kvs.add(key=k).value, v)
    put("str", "val")
    put("bool", True)
    put("int", 10)
    put("double", 1.2)
    put("bytes", b"\x01\x03\x02")
    put("arr_empty", [])
    put("arr_str", ["one", "two"])
    put("arr_bool", [True, False])
    put("arr_int", [2, 3])
    put("arr_float", [1.0, 2.0])
    put("arr_bytes", [b"\x01\x02\x03", b"\x02\x03\x04"])
    put("slice", [{"map": "pass"}])


def ctx_with(**slots) -> TransformContext:
    slots.setdefault("cache", new_pmap())
    return TransformContext(**slots)


def av(v) -> AnyValue:
    a = AnyValue()
    set_value(a, v)
    return a
