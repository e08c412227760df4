"""The collector's own counters, named as upstream names them (otelcol_receiver_accepted_spans …).

Kept in plain dicts so the data path pays one dict update per request; exposition lives elsewhere.
"""

from __future__ import annotations

from collections import defaultdict

from otelflow.core.component import Signal

ITEM_NAMES = {Signal.TRACES: "spans", Signal.METRICS: "metric_points", Signal.LOGS: "log_records",
              Signal.PROFILES: "profile_samples"}


class Telemetry:
    def __init__(self) -> None:
        self.counters: dict[tuple[str, tuple[tuple[str, str], ...]], float] = defaultdict(float)
        self.gauges: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}

    def add(self, name: str, value: float, **labels: str) -> None:
        self.counters[(name, tuple(sorted(labels.items())))] += value

    def set(self, name: str, value: float, **labels: str) -> None:
        self.gauges[(name, tuple(sorted(labels.items())))] = value

    @staticmethod
    def series(name: str, **labels: str) -> tuple:
        """The key of one series, for a caller on the data path to build once and pass to
        ``add_to``/``set_to`` (sorting the labels per request shows in a small request's CPU)."""
        return (name, tuple(sorted(labels.items())))

    def add_to(self, series: tuple, value: float) -> None:
        self.counters[series] += value

    def set_to(self, series: tuple, value: float) -> None:
        self.gauges[series] = value

    def value(self, name: str, **labels: str) -> float:
        """Sum of a counter (or gauge) over every series whose labels include ``labels``."""
        want = set(labels.items())
        total = 0.0
        for store in (self.counters, self.gauges):
            for (n, series), v in store.items():
                if n == name and want <= set(series):
                    total += v
        return total

    def snapshot(self) -> dict:
        """Every series as plain lists, for another worker to add up (core/workers)."""
        return {"counters": [[n, list(map(list, labels)), v] for (n, labels), v in list(self.counters.items())],
                "gauges": [[n, list(map(list, labels)), v] for (n, labels), v in list(self.gauges.items())]}

    def merged(self, snapshots: list[dict]) -> "Telemetry":
        """This worker's series plus those of ``snapshots``: the collector's totals."""
        total = Telemetry()
        total.counters.update(self.counters)
        total.gauges.update(self.gauges)
        for snap in snapshots:
            for n, labels, v in snap.get("counters", ()):
                total.counters[(n, tuple(tuple(kv) for kv in labels))] += v
            for n, labels, v in snap.get("gauges", ()):
                key = (n, tuple(tuple(kv) for kv in labels))
                total.gauges[key] = total.gauges.get(key, 0.0) + v
        return total
