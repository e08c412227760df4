"""String converters. Go strings are bytes: lengths and offsets are counted in UTF-8 bytes."""

from __future__ import annotations

from ..errors import OttlConfigError, OttlError
from ..functions import FunctionTable, Kind as K, P
from ..values import PSlice
from ._gofmt import go_sprintf
from ._regex import dynamic_regex
from ._util import (as_pslice, from_utf8, go_lower, go_trim_space, go_upper, rune_start, string_like, unwrap,
                    utf8, values_equal)

T = FunctionTable()


def _concat_items(vals, ctx):
    """Concat's SliceGetter: a list of getters, or one getter giving a slice."""
    if callable(vals):
        v = unwrap(vals(ctx))
        if isinstance(v, PSlice):
            v = v.as_raw()
        if not isinstance(v, (list, tuple)):
            raise OttlError(f"expected a slice but got {type(v).__name__}")
        return [string_like(x) for x in v]
    return [g(ctx) for g in vals]


@T.function("Concat", P("vals", K.STRING_LIKE_GETTER, is_list=True, runtime_slice=True),
            P("delimiter", K.STRING_GETTER))
def build_concat(vals, delimiter):
    def run(ctx):
        d = delimiter(ctx)
        return d.join("<nil>" if v is None else v for v in _concat_items(vals, ctx))
    return run


def to_snake(s: str) -> str:
    """iancoleman/strcase ToSnake (byte-wise, ASCII rules)."""
    b = utf8(go_trim_space(s))
    out = bytearray()
    n = len(b)
    for i, v in enumerate(b):
        cap = 65 <= v <= 90
        low = 97 <= v <= 122
        if cap:
            v += 32
        if i + 1 < n:
            nx = b[i + 1]
            num = 48 <= v <= 57
            ncap = 65 <= nx <= 90
            nlow = 97 <= nx <= 122
            nnum = 48 <= nx <= 57
            if (cap and (nlow or nnum)) or (low and (ncap or nnum)) or (num and (ncap or nlow)):
                if cap and nlow and i > 0 and 65 <= b[i - 1] <= 90:
                    out.append(95)
                out.append(v)
                if low or num or nnum:
                    out.append(95)
                continue
        out.append(95 if v in (32, 95, 45, 46) else v)
    return from_utf8(bytes(out))


def to_camel(s: str) -> str:
    """iancoleman/strcase ToCamel (byte-wise: bytes of non-ASCII runes are dropped)."""
    b = utf8(go_trim_space(s))
    if not b:
        return ""
    out = bytearray()
    cap_next = True
    prev_cap = False
    for i, v in enumerate(b):
        cap = 65 <= v <= 90
        low = 97 <= v <= 122
        if cap_next:
            if low:
                v -= 32
        elif i == 0:
            if cap:
                v += 32
        elif prev_cap and cap:
            v += 32
        prev_cap = cap
        if cap or low:
            out.append(v)
            cap_next = False
        elif 48 <= v <= 57:
            out.append(v)
            cap_next = True
        else:
            cap_next = v in (95, 32, 45, 46)
    return out.decode("ascii")


@T.function("ConvertCase", P("target", K.STRING_GETTER), P("to_case", K.STRING))
def build_convert_case(target, to_case):
    conv = {"lower": go_lower, "upper": go_upper, "snake": to_snake, "camel": to_camel}.get(to_case)
    if conv is None:
        raise OttlConfigError(f"invalid case: {to_case}, allowed cases are: lower, upper, snake, camel")

    def run(ctx):
        v = target(ctx)
        return v if v == "" else conv(v)
    return run


def _unary(name, fn):
    @T.function(name, P("target", K.STRING_GETTER))
    def build(target):
        def run(ctx):
            v = target(ctx)
            return v if v == "" else fn(v)
        return run
    return build


_unary("ToLowerCase", go_lower)
_unary("ToUpperCase", go_upper)
_unary("ToSnakeCase", to_snake)
_unary("ToCamelCase", to_camel)


@T.function("Split", P("target", K.STRING_GETTER), P("delimiter", K.STRING_GETTER))
def build_split(target, delimiter):
    def run(ctx):
        v = target(ctx)
        d = delimiter(ctx)
        if d == "":  # strings.Split with an empty separator: one element per rune
            return list(v)
        return v.split(d)
    return run


@T.function("Substring", P("target", K.STRING_GETTER), P("start", K.INT_GETTER), P("length", K.INT_GETTER),
            P("utf8_safe", K.BOOL, optional=True))
def build_substring(target, start, length, utf8_safe=None):
    safe = bool(utf8_safe)

    def run(ctx):
        st = start(ctx)
        if st < 0:
            raise OttlError(f"invalid start for substring function, {st} cannot be negative")
        ln = length(ctx)
        if ln <= 0:
            raise OttlError(f"invalid length for substring function, {ln} cannot be negative or zero")
        v = target(ctx)
        b = v.encode("utf-8") if not v.isascii() else None
        size = len(b) if b is not None else len(v)
        if st > size or ln > size - st:
            raise OttlError(f"invalid range for substring function, start({st})+length({ln}) cannot be greater "
                            f"than the length of target string({size})")
        if b is None:
            return v[st:st + ln]
        bs, be = st, st + ln
        if safe:
            while bs < size and not rune_start(b[bs]):
                bs += 1
            while bs < be < size and not rune_start(b[be]):
                be -= 1
            be = max(be, bs)
        return from_utf8(b[bs:be])
    return run


@T.function("Format", P("format", K.STRING), P("vals", K.GETTER, is_list=True))
def build_format(format, vals):
    def run(ctx):
        return go_sprintf(format, [g(ctx) for g in vals])
    return run


def _go_trim(s: str, cutset: str) -> str:
    """strings.Trim: strip any rune of the cutset from both ends."""
    if cutset == "" or s == "":
        return s
    return s.strip(cutset)


@T.function("Trim", P("target", K.STRING_GETTER), P("replacement", K.STRING, optional=True))
def build_trim(target, replacement=None):
    cutset = " " if replacement is None else replacement
    return lambda ctx: _go_trim(target(ctx), cutset)


@T.function("TrimPrefix", P("target", K.STRING_GETTER), P("prefix", K.STRING_GETTER))
def build_trim_prefix(target, prefix):
    def run(ctx):
        v, p = target(ctx), prefix(ctx)
        return v[len(p):] if p and v.startswith(p) else v
    return run


@T.function("TrimSuffix", P("target", K.STRING_GETTER), P("suffix", K.STRING_GETTER))
def build_trim_suffix(target, suffix):
    def run(ctx):
        v, s = target(ctx), suffix(ctx)
        return v[:-len(s)] if s and v.endswith(s) else v
    return run


@T.function("HasPrefix", P("target", K.STRING_GETTER), P("prefix", K.STRING_GETTER))
def build_has_prefix(target, prefix):
    return lambda ctx: target(ctx).startswith(prefix(ctx))


@T.function("HasSuffix", P("target", K.STRING_GETTER), P("suffix", K.STRING_GETTER))
def build_has_suffix(target, suffix):
    return lambda ctx: target(ctx).endswith(suffix(ctx))


@T.function("Index", P("target", K.GETTER), P("value", K.GETTER))
def build_index(target, value):
    def run(ctx):
        t = unwrap(target(ctx))
        v = unwrap(value(ctx))
        if isinstance(t, str):
            if not isinstance(v, str):
                raise OttlError("invalid value type for Index function, value must be a string")
            pos = t.find(v)
            return pos if pos <= 0 or t.isascii() else len(t[:pos].encode("utf-8"))
        s = as_pslice(t)
        for i, item in enumerate(s.values):
            if values_equal(item, v):
                return i
        return -1
    return run


@T.function("IsMatch", P("target", K.STRING_LIKE_GETTER), P("pattern", K.STRING_GETTER))
def build_is_match(target, pattern):
    compiled = dynamic_regex("IsMatch", pattern)

    def run(ctx):
        rx = compiled(ctx)
        v = target(ctx)
        return False if v is None else rx.search(v) is not None
    return run


TABLE = T.table()
