"""The media type of a Content-Type header as Go's mime.ParseMediaType reads it.

Upstream's receiver answers 415 when that parse fails, so a header such as
``application/json; charset`` (a parameter without a value) is refused there; a plain
``split(";")`` would accept it.
"""

from __future__ import annotations

_TSPECIALS = frozenset('()<>@,;:\\"/[]?=')
_TOKEN = frozenset(chr(c) for c in range(0x21, 0x7F)) - _TSPECIALS
_SPACE = "\t\n\v\f\r \x85\xa0"  # unicode.IsSpace for the bytes a header can carry


def _token(text: str) -> tuple[str, str]:
    for i, ch in enumerate(text):
        if ch not in _TOKEN:
            return text[:i], text[i:]
    return text, ""


def _value(text: str) -> tuple[str, str]:
    if not text:
        return "", ""
    if text[0] != '"':
        return _token(text)
    out = []
    i = 1
    while i < len(text):
        ch = text[i]
        if ch == '"':
            return "".join(out), text[i + 1:]
        if ch == "\\" and i + 1 < len(text) and text[i + 1] in _TSPECIALS:
            out.append(text[i + 1])
            i += 2
            continue
        if ch in "\r\n":
            return "", text
        out.append(ch)
        i += 1
    return "", text  # no closing quote


def _param(text: str) -> tuple[str, str, str]:
    rest = text.lstrip(_SPACE)
    if not rest.startswith(";"):
        return "", "", text
    key, rest = _token(rest[1:].lstrip(_SPACE))
    if not key:
        return "", "", text
    rest = rest.lstrip(_SPACE)
    if not rest.startswith("="):
        return "", "", text
    rest = rest[1:].lstrip(_SPACE)
    value, after = _value(rest)
    if not value and after == rest:
        return "", "", text
    return key.lower(), value, after


# Clients send the same few Content-Type values; parsing one costs tens of µs per request here.
_SEEN: dict[str, str] = {}
_SEEN_MAX = 256


def media_type(header: str) -> str:
    """The lower-cased ``type/subtype``, or "" when Go's parser would return an error."""
    known = _SEEN.get(header)
    if known is None:
        known = _parse(header)
        if len(_SEEN) < _SEEN_MAX:  # a pure function's answers: bounded, shared safely
            _SEEN[header] = known
    return known


def _parse(header: str) -> str:
    base = header.split(";", 1)[0]
    mediatype = base.lower().strip(_SPACE)
    kind, rest = _token(mediatype)
    if not kind:
        return ""
    if rest:
        if not rest.startswith("/"):
            return ""
        sub, rest = _token(rest[1:])
        if not sub or rest:
            return ""
    params: dict[str | None, dict[str, str]] = {}
    text = header[len(base):]
    while text:
        text = text.lstrip(_SPACE)
        if not text:
            break
        key, value, rest = _param(text)
        if not key:
            if rest.strip(_SPACE) == ";":
                break  # a trailing semicolon is allowed
            return ""
        group = params.setdefault(key.split("*", 1)[0] if "*" in key else None, {})
        if group.get(key, value) != value:
            return ""  # the same parameter twice with different values
        group[key] = value
        text = rest
    return mediatype
