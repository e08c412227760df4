"""fmt.Sprintf for the values OTTL passes around (Format's verbs, with Go's error forms).

Covered: %v %s %d %f %F %e %E %g %G %x %X %o %b %c %q %t %T %%, flags ``+ - # 0 space``, width
and precision (not ``*``). A live map or slice is shown as ``%v`` shows a Go map or slice of its
raw value: upstream prints pcommon's internal struct there, which no one can rely on.
"""

from __future__ import annotations

import math
import re
from typing import Any

from otelflow.pdata.govalue import format_float_g

from ..values import Duration, GoTime, PMap, PSlice, to_raw, type_name
from ._util import go_quote, unwrap

_SPEC = re.compile(r"%([-+# 0]*)(\d+)?(?:\.(\d*))?(.)?", re.S)


def _bad(verb: str, v: Any) -> str:
    if v is None:
        return f"%!{verb}(<nil>)"
    return f"%!{verb}({type_name(v)}={_v(v)})"


def _v(v: Any) -> str:
    """%v."""
    v = unwrap(v)
    if v is None:
        return "<nil>"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return format_float_g(v)
    if isinstance(v, str):
        return v
    if isinstance(v, (bytes, bytearray)):
        return "[" + " ".join(str(b) for b in v) + "]"
    if isinstance(v, (PMap, PSlice)):
        v = to_raw(v)
    if isinstance(v, dict):
        return "map[" + " ".join(f"{k}:{_v(v[k])}" for k in sorted(v)) + "]"
    if isinstance(v, (list, tuple)):
        return "[" + " ".join(_v(x) for x in v) + "]"
    if isinstance(v, Duration):
        from .timefuncs import duration_string
        return duration_string(v.ns)
    if isinstance(v, GoTime):
        from .timefuncs import time_string
        return time_string(v)
    return str(v)


def _pad(s: str, flags: str, width: int | None, zero_ok: bool) -> str:
    if width is None or len(s) >= width:
        return s
    if "-" in flags:
        return s + " " * (width - len(s))
    if "0" in flags and zero_ok:
        sign = s[0] if s[:1] in "+- " and len(s) > 1 and zero_ok == "num" else ""
        body = s[len(sign):]
        return sign + "0" * (width - len(s)) + body
    return " " * (width - len(s)) + s


def _int(v: int, verb: str, flags: str, prec: int | None) -> str:
    neg = v < 0
    a = -v if neg else v
    if verb == "d":
        digits = str(a)
    elif verb in "xX":
        digits = format(a, "x" if verb == "x" else "X")
    elif verb == "o":
        digits = format(a, "o")
    else:  # b
        digits = format(a, "b")
    if prec is not None:
        digits = "" if prec == 0 and a == 0 else digits.rjust(prec, "0")
    if "#" in flags:
        digits = {"x": "0x", "X": "0X", "o": "0", "b": "0b"}.get(verb, "") + digits
    sign = "-" if neg else ("+" if "+" in flags else (" " if " " in flags else ""))
    return sign + digits


def _float(v: float, verb: str, flags: str, prec: int | None) -> str:
    if math.isnan(v) or math.isinf(v):
        s = "NaN" if math.isnan(v) else ("+Inf" if v > 0 else "-Inf")
        if s == "+Inf" and "+" not in flags:
            s = "Inf" if " " not in flags else " Inf"
        return ("+" + s if "+" in flags and s == "NaN" else s)
    lv = verb.lower()
    if lv == "g" and prec is None:
        s = format_float_g(v)
        s = s.upper() if verb == "G" else s
    else:
        p = 6 if prec is None else prec
        s = ("%." + str(p) + ("f" if lv == "f" else verb)) % v
    if "+" in flags and not s.startswith("-"):
        s = "+" + s
    elif " " in flags and not s.startswith("-"):
        s = " " + s
    return s


def _one(verb: str, flags: str, width: int | None, prec: int | None, v: Any) -> str:
    v = unwrap(v)
    if verb == "T":
        return _pad(type_name(v), flags, width, False)
    if verb == "v":
        if isinstance(v, float) or (isinstance(v, int) and not isinstance(v, bool)):
            return _one("g" if isinstance(v, float) else "d", flags, width, prec, v)
        s = _v(v)
        return _pad(s, flags, width, False)
    if isinstance(v, bool):
        if verb == "t":
            return _pad("true" if v else "false", flags, width, False)
        return _bad(verb, v)
    if isinstance(v, int):
        if verb in "dxXob":
            return _pad(_int(v, verb, flags, prec), flags, width, "num" if prec is None else False)
        if verb == "c":
            return _pad(chr(v) if 0 <= v <= 0x10FFFF else "\ufffd", flags, width, False)
        if verb == "q":
            return _pad("'" + (chr(v) if 0 <= v <= 0x10FFFF else "\ufffd") + "'", flags, width, False)
        if verb in "eEfFgG":
            return _bad(verb, v)
        return _bad(verb, v)
    if isinstance(v, float):
        if verb in "eEfFgG":
            return _pad(_float(v, verb, flags, prec), flags, width,
                        "num" if not (math.isnan(v) or math.isinf(v)) else False)
        return _bad(verb, v)
    if isinstance(v, (str, bytes, bytearray)):
        s = v if isinstance(v, str) else bytes(v).decode("utf-8", "replace")
        if verb == "s":
            if prec is not None:
                s = s[:prec]
            return _pad(s, flags, width, True)
        if verb == "q":
            return _pad(go_quote(s[:prec] if prec is not None else s), flags, width, True)
        if verb in "xX":
            raw = v.encode("utf-8") if isinstance(v, str) else bytes(v)
            if prec is not None:
                raw = raw[:prec]
            h = raw.hex()
            return _pad(h.upper() if verb == "X" else h, flags, width, True)
        if isinstance(v, (bytes, bytearray)) and verb in "dob":
            return "[" + " ".join(_int(b, verb, flags, prec) for b in v) + "]"
        return _bad(verb, v)
    if isinstance(v, (Duration,)):
        if verb == "s":
            return _pad(_v(v), flags, width, True)
        if verb in "dxXob":
            return _pad(_int(v.ns, verb, flags, prec), flags, width, "num")
        return _bad(verb, v)
    if isinstance(v, GoTime) and verb == "s":
        return _pad(_v(v), flags, width, True)
    if v is None:
        return _bad(verb, v)
    if isinstance(v, (PMap, PSlice, dict, list, tuple)):
        raw = to_raw(v)
        if isinstance(raw, dict):
            return "map[" + " ".join(f"{_one(verb, flags, None, prec, k)}:{_one(verb, flags, None, prec, raw[k])}"
                                     for k in sorted(raw)) + "]"
        return "[" + " ".join(_one(verb, flags, None, prec, x) for x in raw) + "]"
    return _bad(verb, v)


def go_sprintf(fmt: str, args: list[Any]) -> str:
    out: list[str] = []
    i = 0
    n = len(fmt)
    argi = 0
    while i < n:
        j = fmt.find("%", i)
        if j < 0:
            out.append(fmt[i:])
            break
        out.append(fmt[i:j])
        m = _SPEC.match(fmt, j)
        flags, width, prec, verb = m.group(1), m.group(2), m.group(3), m.group(4)
        i = m.end()
        if verb is None:
            out.append("%!(NOVERB)")
            break
        if verb == "%":
            out.append("%")
            continue
        w = int(width) if width else None
        p = (int(prec) if prec else 0) if prec is not None else None
        if argi >= len(args):
            out.append(f"%!{verb}(MISSING)")
            continue
        out.append(_one(verb, flags, w, p, args[argi]))
        argi += 1
    if argi < len(args):
        extra = ", ".join("<nil>" if a is None else f"{type_name(unwrap(a))}={_v(a)}" for a in args[argi:])
        out.append(f"%!(EXTRA {extra})")
    return "".join(out)
