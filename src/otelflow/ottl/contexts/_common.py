"""Accessor builders shared by the contexts: attributes-like maps and typed scalar fields."""

from __future__ import annotations

from typing import Callable

from ..values import PMap, get_value
from .keys import CKey, expect_int, expect_str, get_map_value, set_map, set_map_value, to_uint32
from .registry import Accessor


def map_accessor(field_of: Callable, keys: tuple[CKey, ...] | None) -> Accessor:
    """A map path: ``field_of(ctx)`` gives the repeated KeyValue field. Without keys the path is
    the whole map (PMap; set with ctxutil.SetMap), with keys the value under them."""
    if keys is None:
        def get(ctx):
            return PMap(field_of(ctx))

        def set_(ctx, val):
            set_map(field_of(ctx), val)
        return get, set_

    if len(keys) == 1 and keys[0].s is not None:
        name = keys[0].s

        def get_lit(ctx):
            for kv in field_of(ctx):
                if kv.key == name:
                    return get_value(kv.value)
            return None

        def set_lit(ctx, val):
            set_map_value(ctx, field_of(ctx), keys, val)
        return get_lit, set_lit

    def get_k(ctx):
        return get_map_value(ctx, field_of(ctx), keys)

    def set_k(ctx, val):
        set_map_value(ctx, field_of(ctx), keys, val)
    return get_k, set_k


def str_field(msg_of: Callable, field: str) -> Accessor:
    """A string field: get as is, set only from a string (ExpectType[string])."""
    def get(ctx):
        return getattr(msg_of(ctx), field)

    def set_(ctx, val):
        setattr(msg_of(ctx), field, expect_str(val))
    return get, set_


def uint32_count(msg_of: Callable, field: str) -> Accessor:
    """A uint32 count read as int64 and set from an int64 (truncated as Go's uint32(i))."""
    def get(ctx):
        return getattr(msg_of(ctx), field)

    def set_(ctx, val):
        setattr(msg_of(ctx), field, to_uint32(expect_int(val)))
    return get, set_
