"""Editors: functions that change the telemetry in place (lower-case names, return nothing).

Map editors work on the live PMap the path gives and then ``set`` it back, as upstream does: for
a live map that write is a no-op, for a map that came from a Go-map value it stores the result.
"""

from __future__ import annotations

from typing import Any

from opentelemetry.proto.common.v1.common_pb2 import AnyValue

from otelflow.core import featuregates

from ..errors import OttlConfigError, OttlError
from ..functions import FunctionTable, Kind as K, P
from ..values import PMap, PSlice, GoTime, Duration, new_pmap, new_pslice, type_name, value_type_name
from ._glob import GlobError, compile_glob
from ._regex import dynamic_regex, go_finditer, expand_go, replace_all
from ._util import as_pslice, call_converter, from_utf8, get_pmap, go_quote, literal_of, rune_start, utf8

T = FunctionTable()



@T.function("set", P("target", K.GETSETTER), P("value", K.GETTER))
def build_set(target, value):
    # ottl.set.allowNil (beta, on by default in v0.161.0): set() writes nil instead of skipping it.
    allow_nil = featuregates.REGISTRY.is_enabled(featuregates.OTTL_SET_ALLOW_NIL)

    def run(ctx):
        v = value(ctx)
        if v is None and not allow_nil:
            return None
        target.set(ctx, v)
        return None
    return run


@T.function("delete_key", P("target", K.PMAP_GETSETTER), P("key", K.STRING_GETTER))
def build_delete_key(target, key):
    def run(ctx):
        m = get_pmap(target, ctx)
        m.remove(key(ctx))
        target.set(ctx, m)
    return run


def _matching_keys(name: str, keep: bool):
    def build(target, pattern):
        compiled = dynamic_regex(name, pattern)

        def run(ctx):
            rx = compiled(ctx)
            m = get_pmap(target, ctx)
            m.remove_if(lambda k, _v: (rx.search(k) is None) == keep)
            target.set(ctx, m)
        return run
    return build


T.function("delete_matching_keys", P("target", K.PMAP_GETSETTER), P("pattern", K.STRING_GETTER))(
    _matching_keys("delete_matching_keys", False))
T.function("keep_matching_keys", P("target", K.PMAP_GETSETTER), P("pattern", K.STRING_GETTER))(
    _matching_keys("keep_matching_keys", True))


@T.function("keep_keys", P("target", K.PMAP_GETSETTER), P("keys", K.STRING_GETTER, is_list=True))
def build_keep_keys(target, keys):
    literal: set[str] | None = set()
    for g in keys:
        ok, v = literal_of(g)
        if not ok:
            literal = None
            break
        literal.add(v)

    def run(ctx):
        m = get_pmap(target, ctx)
        wanted = literal if literal is not None else {g(ctx) for g in keys}
        m.remove_if(lambda k, _v: k not in wanted)
        target.set(ctx, m)
    return run


@T.function("limit", P("target", K.PMAP_GETSETTER), P("limit", K.INT), P("priority_keys", K.STRING, is_list=True))
def build_limit(target, limit, priority_keys):
    priority_keys = list(priority_keys or [])
    if limit < 0:
        raise OttlConfigError(f"invalid limit for limit function, {limit} cannot be negative")
    if limit < len(priority_keys):
        raise OttlConfigError(f"invalid limit for limit function, {limit} cannot be less than number of "
                              f"priority attributes {len(priority_keys)}")
    keep = set(priority_keys)

    def run(ctx):
        m = get_pmap(target, ctx)
        if len(m) <= limit:
            return None
        count = sum(1 for k in priority_keys if k in m)

        def drop(k, _v):
            nonlocal count
            if k in keep:
                return False
            if count < limit:
                count += 1
                return False
            return True
        m.remove_if(drop)
        target.set(ctx, m)
    return run


@T.function("merge_maps", P("target", K.PMAP_GETSETTER), P("source", K.PMAP_GETTER), P("strategy", K.STRING))
def build_merge_maps(target, source, strategy):
    if strategy not in ("insert", "update", "upsert"):
        raise OttlConfigError(f"invalid value for strategy, {strategy}, must be 'insert', 'update' or 'upsert'")

    def run(ctx):
        tm = get_pmap(target, ctx)
        src = source(ctx)
        items = [(k, _copy(v)) for k, v in (src.items() if isinstance(src, PMap) else new_pmap(src).items())]
        for k, v in items:
            if strategy == "insert":
                if tm.get(k) is None:
                    tm.put_empty(k).CopyFrom(v)
            elif strategy == "update":
                slot = tm.get(k)
                if slot is not None:
                    slot.CopyFrom(v)
            else:
                tm.put_empty(k).CopyFrom(v)
        target.set(ctx, tm)
    return run


def _copy(av: AnyValue) -> AnyValue:
    c = AnyValue()
    c.CopyFrom(av)
    return c


@T.function("truncate_all", P("target", K.PMAP_GETSETTER), P("limit", K.INT),
            P("utf8_safe", K.BOOL, optional=True), P("truncation_marker", K.STRING, optional=True))
def build_truncate_all(target, limit, utf8_safe=None, truncation_marker=None):
    if limit < 0:
        raise OttlConfigError(f"invalid limit for truncate_all function, {limit} cannot be negative")
    safe = True if utf8_safe is None else utf8_safe
    marker = truncation_marker or ""
    mb = utf8(marker)
    if len(mb) > limit:
        raise OttlConfigError(f"invalid truncation marker for truncate_all function, length of marker {len(mb)} "
                              f"cannot be greater than limit {limit}")

    def run(ctx):
        m = get_pmap(target, ctx)
        for _k, av in m.items():
            if av.WhichOneof("value") != "string_value":
                continue
            s = av.string_value
            if len(s) * 4 <= limit:  # cannot be over the limit in bytes
                continue
            b = utf8(s)
            if len(b) <= limit:
                continue
            at = limit - len(mb)
            if safe:
                while at > 0 and not rune_start(b[at]):
                    at -= 1
            av.string_value = from_utf8(b[:at]) + marker
        target.set(ctx, m)
    return run


@T.function("clear", P("target", K.GETSETTER))
def build_clear(target):
    def run(ctx):
        v = target.get(ctx)
        if v is None:
            zero = None
        elif isinstance(v, (PMap, dict)):
            zero = new_pmap()
        elif isinstance(v, (PSlice, list)):
            zero = new_pslice()
        elif isinstance(v, AnyValue):
            zero = AnyValue()
        else:
            zero = _zero_of(v)
        target.set(ctx, zero)
    return run


def _zero_of(v: Any) -> Any:
    """reflect.Zero of the value's Go type."""
    if isinstance(v, bool):
        return False
    if isinstance(v, int):
        return 0
    if isinstance(v, float):
        return 0.0
    if isinstance(v, str):
        return ""
    if isinstance(v, (bytes, bytearray)):
        return None  # a nil []byte
    if isinstance(v, GoTime):
        return GoTime(-62135596800 * 10**9)  # time.Time{}: year 1, not the epoch
    if isinstance(v, Duration):
        return Duration(0)
    return None


@T.function("stringify_all", P("target", K.PMAP_GETSETTER))
def build_stringify_all(target):
    from otelflow.pdata.govalue import value_as_string

    def run(ctx):
        m = get_pmap(target, ctx)
        for _k, av in m.items():
            if av.WhichOneof("value") != "string_value":
                av.string_value = value_as_string(av)
        target.set(ctx, m)
    return run


@T.function("append", P("target", K.GETSETTER), P("value", K.GETTER, optional=True),
            P("values", K.GETTER, optional=True, is_list=True))
def build_append(target, value=None, values=None):
    if value is None and values is None:
        raise OttlConfigError("at least one of the optional arguments ('value' or 'values') must be provided")

    def run(ctx):
        t = target.get(ctx)
        res: list = []
        if t is not None:
            if isinstance(t, PSlice):
                res.extend(t.as_raw())
            elif isinstance(t, AnyValue):
                kind = t.WhichOneof("value")
                if kind is None:
                    res.append("")
                elif kind == "array_value":
                    res.extend(PSlice(t.array_value.values).as_raw())
                elif kind in ("kvlist_value", "bytes_value"):
                    raise OttlError(f"unsupported type of target field: {go_quote(value_type_name(t))}")
                else:
                    res.append(getattr(t, kind))
            elif isinstance(t, (list, tuple)):
                res.extend(t)
            else:
                res.append(t)
        if value is not None:
            res.append(value(ctx))
        for g in values or ():
            res.append(g(ctx))
        target.set(ctx, _from_raw_slice(res))
    return run


def _from_raw_slice(items: list) -> PSlice:
    """pcommon.Slice.FromRaw: a value it does not know (a live map, a time) is an error."""
    bad = None
    out = new_pslice()
    for v in items:
        if isinstance(v, (PMap, PSlice, GoTime, Duration, AnyValue)):
            bad = bad or f"<Invalid value type {type_name(v)}>"
            out.values.add()
        else:
            out.append(v)
    if bad:
        raise OttlError(bad)
    return out


@T.function("delete_index", P("target", K.PSLICE_GETSETTER), P("start_index", K.INT_GETTER),
            P("end_index", K.INT_GETTER, optional=True))
def build_delete_index(target, start_index, end_index=None):
    def run(ctx):
        s = as_pslice(target.get(ctx))
        start = start_index(ctx)
        n = len(s)
        end = start + 1 if end_index is None else end_index(ctx)
        if start == 0 and end == n:
            target.set(ctx, new_pslice())
            return None
        if start < 0 or start >= n:
            raise OttlError(f"startIndex {start} out of bounds for slice of length {n}")
        if end < start:
            raise OttlError(f"endIndex {end} cannot be less than startIndex {start}")
        if end > n:
            raise OttlError(f"deletion range [{start}:{end}] out of bounds for slice of length {n}")
        if start == end:
            target.set(ctx, s)
            return None
        del s.values[start:end]
        target.set(ctx, s)
    return run


# ---------------------------------------------------------------------------------------------
# replace_*


def _valid_format(fmt: str) -> bool:
    """upstream: matches ^(.*?%s.*?)$ (no newline: Go's '.') and has no '%' followed by anything but 's'."""
    import re
    return re.fullmatch(r"[^\n]*?%s[^\n]*?", fmt) is not None and re.search(r"%[^s]", fmt) is None


def _sprintf_s(fmt: str, arg: str) -> str:
    """fmt.Sprintf(fmt, arg) for a format whose only verbs are %s (already validated)."""
    out = []
    used = False
    i = 0
    while i < len(fmt):
        c = fmt[i]
        if c == "%" and i + 1 < len(fmt) and fmt[i + 1] == "s":
            out.append("%!s(MISSING)" if used else arg)
            used = True
            i += 2
        elif c == "%":
            out.append("%!(NOVERB)")
            i += 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


def _apply_format(ctx, replacement_format, value: str) -> str:
    if replacement_format is None:
        return value
    fmt = replacement_format(ctx)
    if not _valid_format(fmt):
        raise OttlError("replacementFormat must be format string containing a single %s and no other format specifiers")
    return _sprintf_s(fmt, value)


def _replace_with_function(ctx, rx, fn, original: str, template: str, replacement_format) -> str:
    out = []
    last = 0
    for m in go_finditer(rx, original):
        expanded = expand_go(template, m)
        result = call_converter(fn, [expanded], ctx)
        if not isinstance(result, str):
            raise OttlError("the replacement value must be a string")
        result = _apply_format(ctx, replacement_format, result)
        out.append(original[last:m.start()])
        out.append(result)
        last = m.end()
    out.append(original[last:])
    return "".join(out)


@T.function("replace_pattern", P("target", K.GETSETTER), P("regex_pattern", K.STRING_GETTER),
            P("replacement", K.STRING_GETTER), P("function", K.FUNCTION, optional=True),
            P("replacement_format", K.STRING_GETTER, optional=True))
def build_replace_pattern(target, regex_pattern, replacement, function=None, replacement_format=None):
    compiled = dynamic_regex("replace_pattern", regex_pattern)

    def run(ctx):
        original = target.get(ctx)
        if original is None:
            return None
        repl = replacement(ctx)
        if isinstance(original, str):
            rx = compiled(ctx)
            if rx.search(original) is not None:
                if function is not None:
                    updated = _replace_with_function(ctx, rx, function, original, repl, replacement_format)
                else:
                    updated = replace_all(rx, original, repl)
                target.set(ctx, updated)
        return None
    return run


@T.function("replace_all_patterns", P("target", K.PMAP_GETSETTER), P("mode", K.STRING),
            P("regex_pattern", K.STRING_GETTER), P("replacement", K.STRING_GETTER),
            P("function", K.FUNCTION, optional=True), P("replacement_format", K.STRING_GETTER, optional=True))
def build_replace_all_patterns(target, mode, regex_pattern, replacement, function=None, replacement_format=None):
    compiled = dynamic_regex("replace_all_patterns", regex_pattern)
    if mode not in ("key", "value"):
        raise OttlConfigError(f"invalid mode {mode}, must be either 'key' or 'value'")

    def replace(ctx, rx, s, repl):
        if function is not None:
            return _replace_with_function(ctx, rx, function, s, repl, replacement_format)
        return replace_all(rx, s, repl)

    def run(ctx):
        m = get_pmap(target, ctx)
        repl = replacement(ctx)
        rx = compiled(ctx)
        if mode == "value":
            for _k, av in m.items():
                if av.WhichOneof("value") != "string_value" or rx.search(av.string_value) is None:
                    continue
                try:
                    av.string_value = replace(ctx, rx, av.string_value, repl)
                except OttlError:
                    continue  # upstream skips a value whose function call fails
        else:
            updated = new_pmap()
            for k, av in list(m.items()):
                new_key = k
                if rx.search(k) is not None:
                    try:
                        new_key = replace(ctx, rx, k, repl)
                    except OttlError:
                        continue  # upstream drops the entry when the function call fails
                updated.put_empty(new_key).CopyFrom(av)
            m.copy_from(updated)
        target.set(ctx, m)
    return run


def _glob_getter(name: str, pattern):
    ok, lit = literal_of(pattern)
    if ok:
        try:
            rx = compile_glob(lit)
        except GlobError as e:
            raise OttlConfigError(f"the regex pattern supplied to {name} '{go_quote(lit)}' is not a valid pattern: "
                                  f"{e}") from None
        return lambda ctx: rx

    def dynamic(ctx):
        p = pattern(ctx)
        try:
            return compile_glob(p)
        except GlobError as e:
            # upstream names replace_all_matches here for both functions
            raise OttlError(f"the regex pattern supplied to replace_all_matches '{go_quote(p)}' is not a valid "
                            f"pattern: {e}") from None
    return dynamic


def _match_replacement(ctx, replacement, function, replacement_format) -> str:
    if function is None:
        return replacement(ctx)
    result = call_converter(function, [replacement(ctx)], ctx)
    if not isinstance(result, str):
        raise OttlError("replacement value is not a string")
    return _apply_format(ctx, replacement_format, result)


@T.function("replace_match", P("target", K.GETSETTER), P("pattern", K.STRING_GETTER),
            P("replacement", K.STRING_GETTER), P("function", K.FUNCTION, optional=True),
            P("replacement_format", K.STRING_GETTER, optional=True))
def build_replace_match(target, pattern, replacement, function=None, replacement_format=None):
    glob = _glob_getter("replace_match", pattern)

    def run(ctx):
        rx = glob(ctx)
        v = target.get(ctx)
        repl = _match_replacement(ctx, replacement, function, replacement_format)
        if isinstance(v, str) and rx.fullmatch(v) is not None:
            target.set(ctx, repl)
        return None
    return run


@T.function("replace_all_matches", P("target", K.PMAP_GETSETTER), P("pattern", K.STRING_GETTER),
            P("replacement", K.STRING_GETTER), P("function", K.FUNCTION, optional=True),
            P("replacement_format", K.STRING_GETTER, optional=True))
def build_replace_all_matches(target, pattern, replacement, function=None, replacement_format=None):
    glob = _glob_getter("replace_all_matches", pattern)

    def run(ctx):
        rx = glob(ctx)
        m = get_pmap(target, ctx)
        repl = _match_replacement(ctx, replacement, function, replacement_format)
        for _k, av in m.items():
            if av.WhichOneof("value") == "string_value" and rx.fullmatch(av.string_value) is not None:
                av.string_value = repl
        target.set(ctx, m)
    return run


# ---------------------------------------------------------------------------------------------
# flatten


@T.function("flatten", P("target", K.PMAP_GETSETTER), P("prefix", K.STRING, optional=True),
            P("depth", K.INT, optional=True), P("resolve_conflicts", K.BOOL, optional=True))
def build_flatten(target, prefix=None, depth=None, resolve_conflicts=None):
    max_depth = (1 << 63) - 1
    if depth is not None:
        if depth < 1:
            raise OttlConfigError(f"invalid depth '{depth}' for flatten function, must be greater than 0")
        max_depth = depth
    pre = prefix or ""
    resolve = bool(resolve_conflicts)

    def run(ctx):
        m = get_pmap(target, ctx)
        f = _Flattener(max_depth, resolve)
        f.flatten_map(m.kvs, pre, 0)
        target.set(ctx, f.result)
    return run


class _Flattener:
    def __init__(self, max_depth: int, resolve: bool):
        self.result = new_pmap()
        self.max_depth = max_depth
        self.resolve = resolve
        self.seen: dict[str, int] = {}

    def put(self, key: str, av: AnyValue) -> None:
        if self.resolve:
            if self.result.get(key) is not None:
                new_key = f"{key}.{self.seen.get(key, 0)}"
                self.seen[key] = self.seen.get(key, 0) + 1
                self.result.put_empty(new_key).CopyFrom(av)
            else:
                self.seen[key] = 0
                self.result.put_empty(key).CopyFrom(av)
        else:
            self.result.put_empty(key).CopyFrom(av)

    def flatten_map(self, kvs, prefix: str, depth: int) -> None:
        if prefix:
            prefix += "."
        for kv in kvs:
            self.flatten_value(kv.key, kv.value, depth, prefix)

    def flatten_slice(self, values, prefix: str, depth: int) -> None:
        for i, av in enumerate(values):
            self.flatten_value(str(i), av, depth + 1, prefix)

    def flatten_value(self, k: str, av: AnyValue, depth: int, prefix: str) -> None:
        kind = av.WhichOneof("value")
        if kind == "kvlist_value" and depth < self.max_depth:
            self.flatten_map(av.kvlist_value.values, prefix + k, depth + 1)
        elif kind == "array_value" and depth < self.max_depth:
            for i, item in enumerate(av.array_value.values):
                ik = item.WhichOneof("value")
                if ik == "kvlist_value" and depth + 1 < self.max_depth:
                    self.flatten_map(item.kvlist_value.values, f"{prefix}{k}.{i}", depth + 2)
                elif ik == "array_value" and depth + 1 < self.max_depth:
                    self.flatten_slice(item.array_value.values, f"{prefix}{k}.{i}", depth + 2)
                elif self.resolve:
                    self.put(prefix + k, item)
                else:
                    self.result.put_empty(f"{prefix}{k}.{i}").CopyFrom(item)
        else:
            self.put(prefix + k, av)


TABLE = T.table()
