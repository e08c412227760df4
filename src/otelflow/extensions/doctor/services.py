"""Per-service facts gathered on the hot path: resource attributes and oversized spans.

Everything here is cumulative and mergeable (counts add, times take the latest), so the summaries of
several workers combine into one view. Memory is bounded by ``max_services`` and
``max_keys_per_service``; services beyond the cap are only counted.
"""

from __future__ import annotations

from typing import Any

SERVICE_NAME = "service.name"
REQUIRED = ("service.name", "service.version", "deployment.environment")
_ENVIRONMENT = ("deployment.environment", "deployment.environment.name")
UNKNOWN = "unknown_service"


def resource_facts(resource: Any) -> tuple[str, tuple[str, ...] | None]:
    """The resource's service name and which of the required attributes it lacks (None: not judged).

    Only a resource an OpenTelemetry SDK made (it carries ``telemetry.sdk.name``) is held to them:
    what collector receivers scrape (hosts, Prometheus targets) gets its attributes later, from
    processors the doctor runs before."""
    name = version = env = ""
    sdk = False
    for kv in resource.attributes:
        key = kv.key
        if key == "service.name":
            name = kv.value.string_value
        elif key == "service.version":
            version = kv.value.string_value or "set"
        elif key in _ENVIRONMENT:
            env = kv.value.string_value or "set"
        elif key == "telemetry.sdk.name":
            sdk = True
    if not sdk:
        return name or UNKNOWN, None
    missing = []
    if not name or name.startswith(UNKNOWN):
        missing.append("service.name")
        name = name or UNKNOWN
    if not version:
        missing.append("service.version")
    if not env:
        missing.append("deployment.environment")
    return name, tuple(missing)


class ServiceStats:
    """What one service sent: counts, resource attributes it lacks, spans over the attribute limit."""

    __slots__ = ("name", "items", "requests", "resources", "missing", "present", "big_spans", "big_max",
                 "big_dropped", "big_keys", "big_example", "big_last", "last_seen")

    def __init__(self, name: str):
        self.name = name
        self.items = {"spans": 0, "points": 0, "logs": 0}
        self.requests = 0
        self.resources = 0
        self.missing: dict[str, list] = {}  # attribute -> [resources without it, last time missing]
        self.present: dict[str, float] = {}  # attribute -> last time present
        self.big_spans = 0
        self.big_max = 0
        self.big_dropped = 0
        self.big_keys: dict[str, int] = {}
        self.big_example = ""
        self.big_last = 0.0
        self.last_seen = 0.0

    def saw_resource(self, missing: tuple[str, ...] | None, now: float) -> None:
        self.resources += 1
        self.last_seen = now
        if missing is None:
            return
        for attr in REQUIRED:
            if attr in missing:
                entry = self.missing.get(attr)
                if entry is None:
                    self.missing[attr] = [1, now]
                else:
                    entry[0] += 1
                    entry[1] = now
            else:
                self.present[attr] = now

    def big_span(self, span: Any, now: float, key_cap: int) -> None:
        kept = len(span.attributes)
        total = kept + span.dropped_attributes_count
        self.big_spans += 1
        self.big_dropped += span.dropped_attributes_count
        self.big_last = now
        if total > self.big_max:
            self.big_max = total
            self.big_example = span.name
        keys = self.big_keys
        for kv in span.attributes:
            k = kv.key
            if k in keys:
                keys[k] += 1
            elif len(keys) < key_cap:
                keys[k] = 1

    def missing_now(self) -> list[str]:
        """Attributes the latest resources lacked (a service fixed since then is not reported)."""
        return [a for a, (_, t) in self.missing.items() if t >= self.present.get(a, 0.0)]

    def dump(self) -> dict:
        """A copy (the hot path keeps changing this object while a thread encodes the copy)."""
        return {"name": self.name, "items": dict(self.items), "requests": self.requests, "resources": self.resources,
                "missing": {k: list(v) for k, v in self.missing.items()}, "present": dict(self.present),
                "big_spans": self.big_spans, "big_max": self.big_max, "big_dropped": self.big_dropped,
                "big_keys": dict(self.big_keys),
                "big_example": self.big_example, "big_last": self.big_last, "last_seen": self.last_seen}

    def merge(self, d: dict, key_cap: int) -> None:
        """Adds another worker's summary of the same service."""
        for k, v in d.get("items", {}).items():
            self.items[k] = self.items.get(k, 0) + int(v)
        self.requests += int(d.get("requests", 0))
        self.resources += int(d.get("resources", 0))
        for attr, (count, t) in d.get("missing", {}).items():
            mine = self.missing.setdefault(attr, [0, 0.0])
            mine[0] += int(count)
            mine[1] = max(mine[1], float(t))
        for attr, t in d.get("present", {}).items():
            self.present[attr] = max(self.present.get(attr, 0.0), float(t))
        self.big_spans += int(d.get("big_spans", 0))
        self.big_dropped += int(d.get("big_dropped", 0))
        if int(d.get("big_max", 0)) > self.big_max:
            self.big_max = int(d["big_max"])
            self.big_example = str(d.get("big_example", ""))
        for k, n in d.get("big_keys", {}).items():
            if k in self.big_keys or len(self.big_keys) < key_cap:
                self.big_keys[k] = self.big_keys.get(k, 0) + int(n)
        self.big_last = max(self.big_last, float(d.get("big_last", 0.0)))
        self.last_seen = max(self.last_seen, float(d.get("last_seen", 0.0)))

    @classmethod
    def load(cls, d: dict, key_cap: int) -> "ServiceStats":
        s = cls(str(d.get("name", UNKNOWN)))
        s.merge(d, key_cap)
        return s


class Services:
    """The bounded table of services, by ``service.name``."""

    def __init__(self, max_services: int, key_cap: int):
        self.max_services = max_services
        self.key_cap = key_cap
        self.by_name: dict[str, ServiceStats] = {}
        self.overflow = 0  # resources of services beyond the cap

    def get(self, name: str) -> ServiceStats | None:
        stats = self.by_name.get(name)
        if stats is None:
            if len(self.by_name) >= self.max_services:
                self.overflow += 1
                return None
            stats = self.by_name[name] = ServiceStats(name)
        return stats

    def forget(self, before: float) -> None:
        for name in [n for n, s in self.by_name.items() if s.last_seen < before]:
            del self.by_name[name]

    def dump(self) -> dict:
        return {"services": [s.dump() for s in self.by_name.values()], "overflow": self.overflow}

    def merge(self, d: dict) -> None:
        self.overflow += int(d.get("overflow", 0))
        for sd in d.get("services", []):
            name = str(sd.get("name", UNKNOWN))
            mine = self.by_name.get(name)
            if mine is None:
                self.by_name[name] = ServiceStats.load(sd, self.key_cap)
            else:
                mine.merge(sd, self.key_cap)
