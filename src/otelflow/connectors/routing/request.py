"""The ``request`` context's tiny condition grammar: ``request["<name>"] == "<value>"`` (or ``!=``),
matched against the request's gRPC metadata or HTTP headers (upstream's request.go), as the
receiver left them in ``otelflow.core.client.request_metadata``: gRPC metadata always, HTTP headers
with the receiver's ``include_metadata: true``. Where a component between the receiver and the
connector hands data to another task (``batch``), the metadata is gone and such routes match
nothing, as upstream's context is lost there.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

_FIELD = re.compile(r'request\[".*"\]')
_VALUE = re.compile(r'".*"')
_COMPARATOR = re.compile(r"==|!=")


@dataclass(frozen=True)
class RequestCondition:
    attribute: str
    compare: Callable[[str], bool]

    def match(self, metadata: Mapping[str, Sequence[str]] | None) -> bool:
        """gRPC metadata (lower-cased keys) first, then HTTP headers (case-insensitive)."""
        if not metadata:
            return False
        wanted = self.attribute.lower()
        for key, values in metadata.items():
            if key.lower() == wanted and any(self.compare(v) for v in values):
                return True
        return False


def parse_request_condition(condition: str) -> RequestCondition:
    if condition == "":
        raise ValueError("condition is empty")
    comparators = _COMPARATOR.findall(condition)[:2]
    if not comparators:
        raise ValueError("condition does not contain a valid comparator")
    if len(comparators) > 1:
        raise ValueError("condition contains multiple comparators")
    parts = condition.split(comparators[0])
    if len(parts) < 2:
        raise ValueError("condition does not contain a valid comparator")
    if len(parts) > 2:
        raise ValueError("condition contains multiple comparators")
    left, right = parts[0].strip(), parts[1].strip()
    if not _FIELD.search(left):
        raise ValueError("condition must have format 'request[\"<name>\"] <comparator> <value>'")
    if not _VALUE.search(right):
        raise ValueError("condition must have format 'request[\"<name>\"] <comparator> \"<value>\"'")
    value = right.removeprefix('"').removesuffix('"')
    attribute = left.removeprefix('request["').removesuffix('"]')
    if comparators[0] == "!=":
        return RequestCondition(attribute, lambda v: v != value)
    return RequestCondition(attribute, lambda v: v == value)
