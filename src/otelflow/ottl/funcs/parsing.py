"""Parsing converters: JSON, key/value pairs, regex captures, URLs, user agents, integers, UUIDs."""

from __future__ import annotations

import json
import os
import re
import time as _time
import uuid as _uuid
from urllib.parse import unquote

from ..errors import OttlError
from ..functions import FunctionTable, Kind as K, P
from ._regex import dynamic_regex, subexp_names
from ._util import INT64_MAX, INT64_MIN, go_quote, go_trim_space

T = FunctionTable()


def _no_constants(name: str):
    raise ValueError(f"invalid character '{name[0]}' looking for beginning of value")


@T.function("ParseJSON", P("target", K.STRING_GETTER))
def build_parse_json(target):
    decoder = json.JSONDecoder(parse_int=float, parse_constant=_no_constants)

    def run(ctx):
        s = target(ctx)
        try:
            v = decoder.decode(s)
        except (ValueError, RecursionError) as e:
            # goccy/go-json's own texts differ; the failure is what matters
            raise OttlError(f"could not parse JSON: {e}") from None
        if isinstance(v, (dict, list)):
            return v
        kind = {str: "string", float: "float64", bool: "bool", type(None): "<nil>"}[type(v)]
        raise OttlError(f"could not convert parsed value of type {kind} to JSON object")
    return run


def split_string(source: str, delimiter: str) -> list[str]:
    """parseutils.SplitString: split outside quotes, dropping quote characters and empty items."""
    out: list[str] = []
    cur: list[str] = []
    quote = ""
    escaped = False
    i = 0
    n, dl = len(source), len(delimiter)
    while i < n:
        if not quote and source.startswith(delimiter, i):
            if cur:
                out.append("".join(cur))
                cur = []
            i += dl
            continue
        c = source[i]
        if not escaped:
            if not quote and c in "\"'":
                quote = c
                i += 1
                continue
            if c == quote:
                quote = ""
                i += 1
                continue
            escaped = c == "\\"
        else:
            escaped = False
        cur.append(c)
        i += 1
    if quote:
        raise OttlError("never reached the end of a quoted value")
    if cur:
        out.append("".join(cur))
    return out


@T.function("ParseKeyValue", P("target", K.STRING_GETTER), P("delimiter", K.STRING, optional=True),
            P("pair_delimiter", K.STRING, optional=True))
def build_parse_key_value(target, delimiter=None, pair_delimiter=None):
    from ..errors import OttlConfigError
    if delimiter is not None and delimiter == "":
        raise OttlConfigError("delimiter cannot be set to an empty string")
    if pair_delimiter is not None and pair_delimiter == "":
        raise OttlConfigError("pair delimiter cannot be set to an empty string")
    d = "=" if delimiter is None else delimiter
    pd = " " if pair_delimiter is None else pair_delimiter
    if d == pd:
        raise OttlConfigError(f"pair delimiter {go_quote(pd)} cannot be equal to delimiter {go_quote(d)}")

    def run(ctx):
        source = target(ctx)
        if source == "":
            raise OttlError("cannot parse from empty target")
        try:
            pairs = split_string(source, pd)
        except OttlError as e:
            raise OttlError(f"splitting source {go_quote(source)} into pairs failed: {e}") from None
        parsed: dict = {}
        errs = []
        for p in pairs:
            kv = p.split(d, 1)
            if len(kv) != 2:
                errs.append(f"cannot split {go_quote(p)} into 2 items, got 1 item(s)")
                continue
            parsed[go_trim_space(kv[0])] = go_trim_space(kv[1])
        if errs:
            raise OttlError("failed to split pairs into key-values: " + "; ".join(errs))
        return parsed
    return run


@T.function("ExtractPatterns", P("target", K.STRING_GETTER), P("pattern", K.STRING_GETTER))
def build_extract_patterns(target, pattern):
    compiled = dynamic_regex("ExtractPatterns", pattern)

    def run(ctx):
        rx = compiled(ctx)
        names = subexp_names(rx)
        if not any(names):
            raise OttlError("at least 1 named capture group must be supplied in the given regex")
        m = rx.search(target(ctx))
        if m is None:
            return {}
        return {name: (m.group(i) or "") for i, name in enumerate(names) if i and name}
    return run


@T.function("ParseInt", P("target", K.STRING_GETTER), P("base", K.INT_GETTER))
def build_parse_int(target, base):
    def run(ctx):
        s = target(ctx)
        if s == "":
            raise OttlError("invalid target value for ParseInt function, target cannot be empty")
        b = base(ctx)
        if b < 0:
            raise OttlError(f"invalid base value: {b} for ParseInt function, base cannot be negative")
        return parse_int(s, b)
    return run


def parse_int(s: str, base: int) -> int:
    """strconv.ParseInt(s, base, 64) with its error texts."""
    from otelflow.pdata.govalue import underscores_ok
    q = go_quote(s)
    if base != 0 and not 2 <= base <= 36:
        raise OttlError(f"strconv.ParseInt: parsing {q}: invalid base {base}")
    body = s[1:] if s[:1] in "+-" else s
    neg = s[:1] == "-"
    b = base
    digits = body
    if base == 0:
        b = 10
        low = body[:2].lower()
        if low == "0x":
            b, digits = 16, body[2:]
        elif low == "0b":
            b, digits = 2, body[2:]
        elif low == "0o":
            b, digits = 8, body[2:]
        elif body[:1] == "0" and len(body) > 1:
            b, digits = 8, body[1:]
        if "_" in digits and not underscores_ok(s):
            raise OttlError(f"strconv.ParseInt: parsing {q}: invalid syntax")
        digits = digits.replace("_", "")
    if not digits or not all(c.isascii() and c.isalnum() and int(c, 36) < b for c in digits):
        raise OttlError(f"strconv.ParseInt: parsing {q}: invalid syntax")
    v = int(digits, b)
    v = -v if neg else v
    if v > INT64_MAX or v < INT64_MIN:
        raise OttlError(f"strconv.ParseInt: parsing {q}: value out of range")
    return v


# ---------------------------------------------------------------------------------------------
# URL

_URL_RE = re.compile(r"^(?:([A-Za-z][A-Za-z0-9+.\-]*):)?(?://([^/?#]*))?([^?#]*)(?:\?([^#]*))?(?:#(.*))?$", re.S)


def _unescape(s: str, what: str) -> str:
    for m in re.finditer(r"%(.{0,2})", s):
        if not re.fullmatch(r"[0-9A-Fa-f]{2}", m.group(1)):
            raise OttlError(f"invalid URL escape {go_quote(m.group(0))}")
    return unquote(s, errors="replace")


def parse_url(value: str) -> dict:
    """parseutils.ParseURI(value, true): url.* attributes of net/url's parse."""
    if value.startswith("?"):
        return _query_map(value[1:], {})
    m = _URL_RE.match(value)
    scheme, authority, path, query, fragment = m.groups()
    if scheme is None and ":" in path.split("/", 1)[0]:
        raise OttlError(f"parse {go_quote(value)}: first path segment in URL cannot contain colon")
    out: dict = {"url.original": value, "url.scheme": (scheme or "").lower()}
    host = ""
    port = ""
    userinfo = None
    if authority is not None:
        if "@" in authority:
            userinfo, _, hostport = authority.rpartition("@")
        else:
            hostport = authority
        if hostport.startswith("["):
            end = hostport.find("]")
            host = hostport[1:end]
            rest = hostport[end + 1:]
            port = rest[1:] if rest.startswith(":") else ""
        else:
            host, _, port = hostport.partition(":")
            if ":" in port:
                raise OttlError(f"parse {go_quote(value)}: invalid port {go_quote(':' + port)} after host")
        if port and not port.isdigit():
            raise OttlError(f"parse {go_quote(value)}: invalid port {go_quote(':' + port)} after host")
        host = _unescape(host, "host")
    out["url.domain"] = host
    out["url.path"] = _unescape(path, "path")
    if port:
        out["url.port"] = int(port)
    if fragment:
        out["url.fragment"] = _unescape(fragment, "fragment")
    if userinfo is not None:
        user, colon, pwd = userinfo.partition(":")
        out["url.user_info"] = userinfo
        if unquote(user):
            out["url.username"] = unquote(user)
        if colon:
            out["url.password"] = unquote(pwd)
    if query:
        out["url.query"] = query
    p = out["url.path"]
    dot = p.rfind(".")
    if dot != -1 and dot < len(p) - 1:
        out["url.extension"] = p[dot + 1:]
    return out


def _query_map(raw: str, m: dict) -> dict:
    params: dict[str, list] = {}
    for part in raw.split("&"):
        if not part:
            continue
        if ";" in part:
            raise OttlError("invalid semicolon separator in query")
        k, _, v = part.partition("=")
        params.setdefault(unquote(k.replace("+", " ")), []).append(unquote(v.replace("+", " ")))
    if params:
        m["query"] = params
    return m


@T.function("URL", P("uri", K.STRING_GETTER))
def build_url(uri):
    def run(ctx):
        s = uri(ctx)
        if s == "":
            raise OttlError("url cannot be empty")
        return parse_url(s)
    return run


# ---------------------------------------------------------------------------------------------
# UserAgent


def _version(*parts) -> str:
    out = parts[0] or ""
    for p in parts[1:]:
        if p:
            out += "." + p
    return out


@T.function("UserAgent", P("user_agent", K.STRING_GETTER))
def build_user_agent(user_agent):
    from ua_parser import parse_os, parse_user_agent  # ua-parser with its bundled regexes.yaml

    def run(ctx):
        s = user_agent(ctx)
        ua = parse_user_agent(s)
        os_ = parse_os(s)
        result = {
            "user_agent.name": ua.family if ua else "Other",
            "user_agent.original": s,
            "user_agent.version": _version(ua.major, ua.minor, ua.patch) if ua else "",
        }
        if os_ is not None and os_.family:
            result["os.name"] = os_.family
        elif os_ is None:
            result["os.name"] = "Other"
        if os_ is not None:
            v = _version(os_.major, os_.minor, os_.patch, os_.patch_minor)
            if v:
                result["os.version"] = v
        return result
    return run


# ---------------------------------------------------------------------------------------------
# UUIDs


@T.function("UUID")
def build_uuid():
    return lambda ctx: str(_uuid.uuid4())


def uuid7() -> str:
    ms = _time.time_ns() // 1_000_000
    rnd = int.from_bytes(os.urandom(10), "big")
    value = (ms & ((1 << 48) - 1)) << 80 | 0x7 << 76 | (rnd >> 68 & 0xFFF) << 64 | 0b10 << 62 | (rnd & ((1 << 62) - 1))
    return str(_uuid.UUID(int=value))


@T.function("UUIDv7")
def build_uuidv7():
    return lambda ctx: uuid7()


TABLE = T.table()
