"""The stanza log entry: the mutable record operators pass along before it becomes an OTLP LogRecord."""

from __future__ import annotations

import copy as _copy
from typing import Any

#: Stanza's severity scale (0 = default/unset, 1..24 = TRACE..FATAL4) equals OTLP's SeverityNumber.
SEVERITY_NAMES = [
    "DEFAULT",
    *(f"{name}{suffix}" for name in ("TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL") for suffix in ("", "2", "3", "4")),
]
SEVERITY_BY_NAME = {name: i for i, name in enumerate(SEVERITY_NAMES)}


class Entry:
    """One log entry; fields mirror upstream's entry.Entry (timestamps as int nanoseconds, 0 = unset)."""

    __slots__ = (
        "body",
        "attributes",
        "resource",
        "timestamp",
        "observed_timestamp",
        "severity",
        "severity_text",
        "trace_id",
        "span_id",
        "trace_flags",
        "scope_name",
    )

    def __init__(
        self,
        body: Any = None,
        attributes: dict[str, Any] | None = None,
        resource: dict[str, Any] | None = None,
        timestamp: int = 0,
        observed_timestamp: int = 0,
        severity: int = 0,
        severity_text: str = "",
        trace_id: bytes = b"",
        span_id: bytes = b"",
        trace_flags: bytes = b"",
        scope_name: str = "",
    ) -> None:
        self.body = body
        # None means "no map yet"; field setters create it on first write, as upstream's nil maps.
        self.attributes = attributes
        self.resource = resource
        self.timestamp = timestamp
        self.observed_timestamp = observed_timestamp
        self.severity = severity
        self.severity_text = severity_text
        self.trace_id = trace_id
        self.span_id = span_id
        self.trace_flags = trace_flags
        self.scope_name = scope_name

    def copy(self) -> Entry:
        """A deep copy: a router or a multi-output writer hands each branch its own entry."""
        new = Entry.__new__(Entry)
        new.body = _deep(self.body)
        new.attributes = _deep(self.attributes)
        new.resource = _deep(self.resource)
        new.timestamp = self.timestamp
        new.observed_timestamp = self.observed_timestamp
        new.severity = self.severity
        new.severity_text = self.severity_text
        new.trace_id = self.trace_id
        new.span_id = self.span_id
        new.trace_flags = self.trace_flags
        new.scope_name = self.scope_name
        return new

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Entry):
            return NotImplemented
        return all(getattr(self, s) == getattr(other, s) for s in Entry.__slots__)

    def __repr__(self) -> str:
        fields = ", ".join(f"{s}={getattr(self, s)!r}" for s in Entry.__slots__ if getattr(self, s) not in (None, 0, "", b""))
        return f"Entry({fields})"


def _deep(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _deep(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_deep(v) for v in value]
    if isinstance(value, (str, bytes, int, float, bool)) or value is None:
        return value
    return _copy.deepcopy(value)
