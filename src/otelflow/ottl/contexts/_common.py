"""Accessor builders shared by the contexts, so that a context module declares its paths.

Every context repeats the same few kinds of path (a string field, a uint32 count, a timestamp
read as int64 or as a time.Time, an attributes map, a repeated message field ...); each kind is
built here once. A builder takes where the message lives on the TransformContext as a dotted
slot path (``"span"``, ``"span.status"``, ``"scope_holder"``) and returns the ``(get, set)``
pair of closures. The reads use ``operator.attrgetter`` on the whole dotted path, a single C
call, so a resolved path costs no more per item than a hand-written closure.

A context module then declares a ``PATHS`` table (segment name → accessor, or → a function of
the ``PathCursor`` for paths that take keys or a next segment) and gets its parser from
``path_parser`` and its ContextDef from ``context_def``.
"""

from __future__ import annotations

from operator import attrgetter
from typing import Callable, Mapping

from ..values import GoTime, PMap, get_value
from .keys import (CKey, expect_int, expect_str, expect_time, expect_type, get_map_value, set_map,
                   set_map_value, set_message_slice, to_int32, to_int64, to_uint32, to_uint64)
from .registry import Accessor, ContextDef, PathCursor, PathParser, segment_error

__all__ = [
    "map_accessor", "str_field", "uint32_count", "int32_field", "typed_field", "time_unix_nano",
    "time_field", "message_slice", "message_field", "next_segment", "path_parser", "context_def",
]


def map_accessor(field_of: Callable, keys: tuple[CKey, ...] | None) -> Accessor:
    """A map path: ``field_of(ctx)`` gives the repeated KeyValue field (a slot path string is
    taken as ``attrgetter`` of it). Without keys the path is the whole map (PMap; set with
    ctxutil.SetMap), with keys the value under them; one literal key is looked up inline, the
    common case (``attributes["http.url"]``)."""
    if isinstance(field_of, str):
        field_of = attrgetter(field_of)
    if keys is None:
        def get(ctx):
            return PMap(field_of(ctx))

        def set_(ctx, val):
            set_map(field_of(ctx), val)
        return get, set_

    def set_k(ctx, val):
        set_map_value(ctx, field_of(ctx), keys, val)

    if len(keys) == 1 and keys[0].s is not None:
        name = keys[0].s

        def get_lit(ctx):
            for kv in field_of(ctx):
                if kv.key == name:
                    return get_value(kv.value)
            return None
        return get_lit, set_k

    def get_k(ctx):
        return get_map_value(ctx, field_of(ctx), keys)
    return get_k, set_k


def _split(msg: str, field: str):
    """The reader of ``msg.field`` and the reader of ``msg`` (what a setter writes into)."""
    return attrgetter(f"{msg}.{field}"), attrgetter(msg)


def str_field(msg: str, field: str) -> Accessor:
    """A string field: get as is, set only from a string (ExpectType[string])."""
    return typed_field(msg, field, expect_str)


def typed_field(msg: str, field: str, expect: Callable) -> Accessor:
    """A field read as is and set from what ``expect`` accepts (expect_str, expect_float ...)."""
    get, msg_of = _split(msg, field)

    def set_(ctx, val):
        setattr(msg_of(ctx), field, expect(val))
    return get, set_


def uint32_count(msg: str, field: str) -> Accessor:
    """A uint32 field (counts, log flags) read as int64 and set from an int64, truncated as Go's
    uint32(i)."""
    get, msg_of = _split(msg, field)

    def set_(ctx, val):
        setattr(msg_of(ctx), field, to_uint32(expect_int(val)))
    return get, set_


def int32_field(msg: str, field: str) -> Accessor:
    """An int32 enum field (span kind, status code, severity number) set from an int64,
    truncated as Go's int32(i)."""
    get, msg_of = _split(msg, field)

    def set_(ctx, val):
        setattr(msg_of(ctx), field, to_int32(expect_int(val)))
    return get, set_


def time_unix_nano(msg: str, field: str) -> Accessor:
    """A fixed64 timestamp read as Go's int64(ts) and set from an int64."""
    read, msg_of = _split(msg, field)

    def get(ctx):
        return to_int64(read(ctx))

    def set_(ctx, val):
        setattr(msg_of(ctx), field, to_uint64(expect_int(val)))
    return get, set_


def time_field(msg: str, field: str) -> Accessor:
    """The same timestamp as a time.Time (``time``, ``start_time`` ...)."""
    read, msg_of = _split(msg, field)

    def get(ctx):
        return GoTime(to_int64(read(ctx)))

    def set_(ctx, val):
        setattr(msg_of(ctx), field, to_uint64(expect_time(val).ns))
    return get, set_


def message_slice(msg: str, field: str, wrapper: type) -> Accessor:
    """A repeated message field as its pdata slice type (``wrapper``, e.g. SpanEventSlice); set
    replaces it with a copy of a slice of the same type (ctxutil.SetPSliceValue)."""
    read = attrgetter(f"{msg}.{field}")

    def get(ctx):
        return wrapper(read(ctx))

    def set_(ctx, val):
        set_message_slice(read(ctx), wrapper, val)
    return get, set_


def message_field(msg: str, field: str, wrapper: type) -> Accessor:
    """A message field as its pdata type (``wrapper``, e.g. Status); set copies a value of that
    type into it (ExpectType[wrapper], then CopyTo)."""
    read = attrgetter(f"{msg}.{field}")

    def get(ctx):
        return wrapper(read(ctx))

    def set_(ctx, val):
        if type(val) is not wrapper:
            expect_type(val, False, wrapper.go_type)
        dest = read(ctx)
        if val.obj is not dest:
            dest.CopyFrom(val.obj)
    return get, set_


def next_segment(path: PathCursor, plain: Accessor, subs: Mapping[str, Accessor], context: str,
                 doc_ref: str) -> Accessor:
    """A path with optional sub-paths (``kind`` / ``kind.string``, ``status.code``, ``trace_id``
    / ``trace_id.string`` ...): ``plain`` without a next segment, ``subs[next]`` with one; another
    next segment is ctxerror's segment error naming it (with the whole path's text)."""
    nxt = path.next()
    if nxt is None:
        return plain
    acc = subs.get(nxt.name)
    if acc is None:
        raise segment_error(nxt.name, path.string(), context, doc_ref)
    return acc


def path_parser(context: str, doc_ref: str, paths: Mapping[str, object]) -> PathParser:
    """The context's PathGetSetter from its table: a value is an accessor (a tuple, built once
    and shared: its closures hold no per-path state) or a function of the PathCursor (paths
    that use keys or a next segment). A name not in the table is ctxerror's segment error."""
    def parse_path(path: PathCursor) -> Accessor:
        entry = paths.get(path.name)
        if entry is None:
            raise segment_error(path.name, path.string(), context, doc_ref)
        return entry if type(entry) is tuple else entry(path)
    return parse_path


def context_def(name: str, doc_ref: str, path_context_names: tuple[str, ...], own: PathParser,
                inherited: tuple = (), otelcol_parser: PathParser | None = None,
                enums: Mapping[str, int] | None = None, enum_error: str | None = None,
                aliases: tuple[str, ...] = ()) -> ContextDef:
    """A ContextDef whose parsers are ``own`` for its name (and ``aliases``) and each
    ``inherited`` context module's ``parse_path`` for that module's name (the scope module's also
    for its legacy ``instrumentation_scope``), plus ``otelcol_parser`` if given.
    ``path_context_names`` keeps upstream's order, which differs from context to context."""
    parsers: dict[str, PathParser] = {}
    for mod in inherited:
        parsers[mod.NAME] = mod.parse_path
        legacy = getattr(mod, "LEGACY_NAME", None)
        if legacy is not None:
            parsers[legacy] = mod.parse_path
    for alias in (name, *aliases):
        parsers[alias] = own
    if otelcol_parser is not None:
        parsers["otelcol"] = otelcol_parser
    return ContextDef(name, doc_ref, path_context_names, parsers, enums, enum_error)
