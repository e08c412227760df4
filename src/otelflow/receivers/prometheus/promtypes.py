"""Prometheus' own value syntaxes: its durations ("1m30s", "1d"), byte sizes ("10MiB") and label names.

They differ from the collector's Go durations (no fractions, but days, weeks and years), so the
scrape config parses them with these rather than with ``otelflow.config.model.Duration``.
"""

from __future__ import annotations

import re

_DURATION = re.compile(r"^(?:(\d+)y)?(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?(?:(\d+)ms)?$")
_UNITS_MS = (365 * 86400_000, 7 * 86400_000, 86400_000, 3600_000, 60_000, 1000, 1)
_NAMES = ("y", "w", "d", "h", "m", "s", "ms")


def parse_duration_ms(value: object) -> int:
    """model.ParseDuration: a Prometheus duration in milliseconds."""
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise ValueError(f'not a valid duration string: "{value}"')
    text = str(value)
    if text == "0":
        return 0
    match = _DURATION.match(text)
    if not text or match is None or not any(match.groups()):
        raise ValueError(f'not a valid duration string: "{text}"')
    return sum(int(g) * unit for g, unit in zip(match.groups(), _UNITS_MS) if g)


def format_duration_ms(ms: int) -> str:
    """model.Duration.String(): the largest units first ("90d", not "12w6d": years and weeks only
    when they divide exactly), "0s" for zero."""
    if ms == 0:
        return "0s"
    out = []
    for unit, name in zip(_UNITS_MS, _NAMES):
        if name in ("y", "w") and ms % unit:
            continue
        if ms >= unit:
            count, ms = divmod(ms, unit)
            out.append(f"{count}{name}")
    return "".join(out)


_BYTES = re.compile(r"^(\d+)([KMGTPE]i?B|B)?$")
_BYTE_POWERS = {"B": 0, "K": 1, "M": 2, "G": 3, "T": 4, "P": 5, "E": 6}


def parse_base2_bytes(value: object) -> int:
    """units.ParseBase2Bytes: "512", "10MB" and "10MiB" (both 1024-based), 0 means no limit."""
    if isinstance(value, bool):
        raise ValueError(f"units: invalid size {value!r}")
    if isinstance(value, int):
        return value
    match = _BYTES.match(str(value).strip())
    if not match:
        raise ValueError(f'units: unknown unit in "{value}"')
    number, unit = match.groups()
    return int(number) * 1024 ** _BYTE_POWERS[(unit or "B")[0]]


_LEGACY_LABEL = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")


def valid_label_name(name: str, utf8: bool = True) -> bool:
    if utf8:
        return bool(name)
    return bool(_LEGACY_LABEL.match(name))
