"""ParseCLF (log context), upstream internal/logparsingfuncs v0.161.0: an NCSA Common Log Format
or Combined Log Format line parsed into a map of ``clf.*`` keys. ParseCEF, ParseELF and ParseLEEF
are not ported yet (a config using them is refused with that reason)."""

from __future__ import annotations

import re

from otelflow.ottl.errors import OttlConfigError, OttlError
from otelflow.ottl.funcs._util import from_utf8, utf8
from otelflow.ottl.functions import FunctionTable, Kind as K, P
from otelflow.ottl.getters import parse_int64
from otelflow.ottl.values import new_pmap

LOG = FunctionTable()

_NS = r"[^\t\n\f\r ]+"  # RE2's \S+ (ASCII whitespace only)
_QUOTED = r'"((?:[^"\\]|\\.)*)"'
_CLF = re.compile(rf"^({_NS}) ({_NS}) ({_NS}) \[([^\]]+)\] {_QUOTED} ({_NS}) ({_NS})\Z")
_COMBINED = re.compile(rf"^({_NS}) ({_NS}) ({_NS}) \[([^\]]+)\] {_QUOTED} ({_NS}) ({_NS}) {_QUOTED} {_QUOTED}\Z")
# unicode.IsSpace, what strings.TrimSpace trims
_GO_SPACE = "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a" \
            "\u2028\u2029\u202f\u205f\u3000"
_SIMPLE = {ord("\\"): b"\\", ord('"'): b'"', ord("n"): b"\n", ord("t"): b"\t", ord("r"): b"\r", ord("b"): b"\b",
           ord("f"): b"\f", ord("v"): b"\v"}
_HEX = set(b"0123456789abcdefABCDEF")


def unescape(s: str) -> str:
    if "\\" not in s:
        return s
    src = utf8(s)
    out = bytearray()
    i = 0
    while i < len(src):
        c = src[i]
        if c != 0x5C or i + 1 == len(src):
            out.append(c)
            i += 1
            continue
        i += 1
        nxt = src[i]
        if nxt in _SIMPLE:
            out += _SIMPLE[nxt]
        elif nxt == ord("x"):
            if i + 2 < len(src) and src[i + 1] in _HEX and src[i + 2] in _HEX:
                out.append(int(src[i + 1:i + 3], 16))
                i += 3
                continue
            out += b"\\x"
        else:
            out += b"\\" + bytes([nxt])
        i += 1
    return from_utf8(bytes(out))


def parse_clf(message: str, fmt: str):
    pattern = _COMBINED if fmt == "combined" else _CLF
    m = pattern.match(message.strip(_GO_SPACE))
    if m is None:
        raise OttlError(f'invalid CLF message: does not match expected "{fmt}" format')
    out = {"clf.remote_host": m.group(1), "clf.rfc931": m.group(2), "clf.auth_user": m.group(3),
           "clf.timestamp": m.group(4)}
    request = unescape(m.group(5))
    out["clf.request"] = request
    parts = request.split(" ", 2)
    if len(parts) == 3:
        out["clf.method"], out["clf.request_uri"], out["clf.protocol"] = parts
    status = m.group(6)
    try:
        out["clf.status"] = parse_int64(status)
    except OttlError as e:
        raise OttlError(f'invalid status code "{status}": {e}') from None
    size = m.group(7)
    if size != "-":
        try:
            out["clf.bytes"] = parse_int64(size)
        except OttlError as e:
            raise OttlError(f'invalid bytes value "{size}": {e}') from None
    if fmt == "combined":
        out["clf.referer"] = unescape(m.group(8))
        out["clf.user_agent"] = unescape(m.group(9))
    return new_pmap(out)


@LOG.function("ParseCLF", P("target", K.STRING_GETTER), P("format", K.STRING, optional=True))
def build_parse_clf(target, format=None):
    fmt = "clf" if format is None else format
    if fmt not in ("clf", "combined"):
        raise OttlConfigError(f'invalid format "{fmt}": must be "clf" or "combined"')

    def run(ctx):
        source = target(ctx)
        if source == "":
            raise OttlError("cannot parse empty CLF message")
        return parse_clf(source, fmt)
    return run
