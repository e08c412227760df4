"""W3C tracestate as go.opentelemetry.io/otel/trace handles it (ParseTraceState, Get, Insert)."""

from __future__ import annotations

_MAX_MEMBERS = 32


def _value_char(c: str) -> bool:
    return "\x20" <= c <= "\x7e" and c != "," and c != "="


def _value_last(c: str) -> bool:
    return "\x21" <= c <= "\x7e" and c != "," and c != "="


def check_value(v: str) -> bool:
    n = len(v)
    if n == 0 or n > 256:
        return False
    for c in v[:-1]:
        if not _value_char(c):
            return False
    return _value_last(v[-1])


def _alnum(c: str) -> bool:
    return "a" <= c <= "z" or "0" <= c <= "9"


def _key_remain(k: str) -> bool:
    for c in k:
        if ord(c) > 127:
            return False
        if _alnum(c) or c in "_-*/":
            continue
        return False
    return True


def _key_part(k: str, n: int) -> bool:
    if not k:
        return False
    return len(k[1:].encode()) <= n and "a" <= k[0] <= "z" and _key_remain(k[1:])


def _key_tenant(k: str, n: int) -> bool:
    if not k:
        return False
    return _alnum(k[0]) and len(k[1:].encode()) <= n and _key_remain(k[1:])


def check_key(k: str) -> bool:
    tenant, sep, system = k.partition("@")
    if not sep:
        return _key_part(k, 255)
    return _key_tenant(tenant, 240) and _key_part(system, 13)


def parse(ts: str) -> list[tuple[str, str]] | None:
    """The members, or None when ``ts`` is not a valid tracestate."""
    if ts == "":
        return []
    members: list[tuple[str, str]] = []
    seen: set[str] = set()
    for m in ts.split(","):
        if m == "":
            continue
        key, sep, val = m.partition("=")
        if not sep:
            return None
        key = key.lstrip(" \t")
        val = val.rstrip(" \t")
        if not check_key(key) or not check_value(val):
            return None
        if key in seen:
            return None
        seen.add(key)
        members.append((key, val))
        if len(members) > _MAX_MEMBERS:
            return None
    return members


def get(members: list[tuple[str, str]], key: str) -> str:
    for k, v in members:
        if k == key:
            return v
    return ""


def insert(members: list[tuple[str, str]], key: str, value: str) -> list[tuple[str, str]] | None:
    """The members with (key, value) first and any older entry for key removed; None when the key
    or value is invalid. At the member limit the last member is dropped."""
    if not check_key(key) or not check_value(value):
        return None
    rest = [m for m in members if m[0] != key]
    out = [(key, value)] + rest
    if len(rest) == len(members) and len(members) >= _MAX_MEMBERS:
        out = out[:len(members)]
    return out


def to_string(members: list[tuple[str, str]]) -> str:
    return ",".join(f"{k}={v}" for k, v in members)
