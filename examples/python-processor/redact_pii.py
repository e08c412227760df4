"""Mask personal data in span attributes, span event attributes, log attributes and log bodies.

A ``python`` processor plugin (docs/processors/python.md). Like the redaction processor's
``blocked_values``, every match of any pattern in a string value is replaced by ``****``, and each
changed span or log record gets a summary: ``redaction.masked.keys`` (the masked keys, sorted,
comma-separated) and ``redaction.masked.count``; a masked log body sets ``redaction.body.masked``.

config:
  blocked_values: [regex, ...]   # required
  ignored_keys: [key, ...]       # never looked at (e.g. http.route)
  summary: true                  # add the redaction.* attributes (default true)
"""

from __future__ import annotations

import re
from typing import Any

from otelflow.processors.python.api import Attributes, LogsBatch, TracesBatch

MASK = "****"


class Redactor:
    def __init__(self, config: dict[str, Any]):
        patterns = config.get("blocked_values") or []
        if not patterns:
            raise ValueError('config "blocked_values" needs at least one regular expression')
        self.patterns = [re.compile(p) for p in patterns]
        # one search over all patterns first: most values match none, and that is then one call
        self.any = re.compile("|".join(f"(?:{p})" for p in patterns))
        self.ignored = frozenset(config.get("ignored_keys") or ())
        self.summary = bool(config.get("summary", True))

    def mask(self, text: str) -> str:
        for pattern in self.patterns:
            text = pattern.sub(MASK, text)
        return text

    def redact(self, attributes: Attributes) -> list[str]:
        """Mask the string values of ``attributes``; the keys that were masked."""
        masked = []
        for key, value in attributes.items():
            if isinstance(value, str) and key not in self.ignored and self.any.search(value):
                attributes[key] = self.mask(value)
                masked.append(key)
        return masked

    def summarise(self, attributes: Attributes, masked: list[str]) -> None:
        if self.summary and masked:
            attributes["redaction.masked.keys"] = ",".join(sorted(masked))
            attributes["redaction.masked.count"] = len(masked)

    def process_traces(self, batch: TracesBatch) -> None:
        for span in batch.spans():
            attributes = span.attributes
            masked = self.redact(attributes)
            for event in span.events:
                masked += [f"event.{k}" for k in self.redact(event.attributes)]
            self.summarise(attributes, masked)

    def process_logs(self, batch: LogsBatch) -> None:
        for record in batch.log_records():
            attributes = record.attributes
            masked = self.redact(attributes)
            body = record.body
            if isinstance(body, str) and self.any.search(body):
                record.body = self.mask(body)
                if self.summary:
                    attributes["redaction.body.masked"] = True
            self.summarise(attributes, masked)
