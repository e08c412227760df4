"""Encoding names as upstream's textutils.LookupEncoding accepts them, mapped to Python codecs."""

from __future__ import annotations

import codecs

#: upstream's overrides; everything else is an IANA name, which Python's codec registry mostly knows.
_OVERRIDES = {
    "utf-16": "utf-16-le",
    "utf16": "utf-16-le",
    "utf-8": "utf-8",
    "utf8": "utf-8",
    "utf-8-raw": "utf-8",
    "utf8-raw": "utf-8",
    "ascii": "utf-8",
    "us-ascii": "utf-8",
    "": "utf-8",
}
NOP = "nop"


def lookup_encoding(name: str) -> str:
    """The Python codec for an upstream encoding name, or ``"nop"``; ValueError with upstream's text."""
    key = name.lower()
    if key == NOP:
        return NOP
    if key in _OVERRIDES:
        return _OVERRIDES[key]
    try:
        return codecs.lookup(name).name
    except LookupError:
        raise ValueError(f"unsupported encoding '{name}'") from None
