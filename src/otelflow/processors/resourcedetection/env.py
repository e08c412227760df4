"""The ``env`` detector: resource attributes from OTEL_RESOURCE_ATTRIBUTES (or the older
OTEL_RESOURCE), ``key=value`` pairs separated by commas with percent-encoded values, parsed with
upstream's pattern and error messages."""

from __future__ import annotations

import os
import re

from otelflow.processors.resourcedetection.base import DetectError

ENV_VAR = "OTEL_RESOURCE_ATTRIBUTES"
DEPRECATED_ENV_VAR = "OTEL_RESOURCE"

_WS = r"[\t\n\f\r ]"  # Go's \s
_LABEL = re.compile(rf"{_WS}*([\x00-\x7f]{{1,256}}?){_WS}*={_WS}*([\x00-\x7f]{{0,256}}?){_WS}*(?:,|\Z)")
_HEX = "0123456789abcdefABCDEF"


def query_unescape(text: str) -> str:
    """Go's url.QueryUnescape: ``+`` is a space, ``%XX`` a byte; a bad escape is an error."""
    out = bytearray()
    i = 0
    raw = text.encode()
    while i < len(raw):
        c = raw[i]
        if c == 0x25:  # %
            chunk = raw[i:i + 3].decode(errors="replace")
            if len(chunk) < 3 or chunk[1] not in _HEX or chunk[2] not in _HEX:
                bad = raw[i:i + 3].decode(errors="replace")
                raise ValueError(f'invalid URL escape "{bad}"')
            out.append(int(chunk[1:], 16))
            i += 3
            continue
        out.append(0x20 if c == 0x2B else c)
        i += 1
    return out.decode(errors="replace")


def parse(text: str) -> dict[str, str]:
    matches = list(_LABEL.finditer(text))
    if not matches:
        raise DetectError(f"invalid resource format: {_go_quote(text)}")
    attrs: dict[str, str] = {}
    prev = 0
    for m in matches:
        if m.start() != prev:
            raise DetectError(f"invalid resource format, invalid text: {_go_quote(text[prev:m.start()])}")
        try:
            attrs[m.group(1)] = query_unescape(m.group(2))
        except ValueError as exc:
            raise DetectError(f"invalid resource format in attribute: {_go_quote(m.group(0))}, err: {exc}") from None
        prev = m.end()
    if matches[-1].end() != len(text):
        raise DetectError(f"invalid resource format, invalid text: {_go_quote(text[matches[-1].end():])}")
    return attrs


def _go_quote(s: str) -> str:
    """Go's %q for the ASCII text this parser sees."""
    escaped = s.replace("\\", "\\\\").replace('"', '\\"')
    return '"' + escaped.replace("\n", "\\n").replace("\t", "\\t").replace("\r", "\\r") + '"'


class EnvDetector:
    def __init__(self, *_args, **_kw) -> None:
        pass

    async def detect(self) -> tuple[dict, str]:
        labels = os.environ.get(ENV_VAR, "").strip()
        if not labels:
            labels = os.environ.get(DEPRECATED_ENV_VAR, "").strip()
            if not labels:
                return {}, ""
        return parse(labels), ""
