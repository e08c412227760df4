"""Metric labels whose distinct values grow without bound (cardinality bombs).

Each (service, metric, label) gets a 1 KiB HyperLogLog of the label's values, and a short history
of its estimate so the report can say how fast it grows. Of a metric with many data points in one
request a random sample is read, so repeated exports of the same cumulative series still show new
values over time while each request costs at most ``max_points_per_metric``.
At most ``max_metric_labels`` labels are tracked; labels seen later are counted as untracked.
"""

from __future__ import annotations

import random
from typing import Any

from otelflow.extensions.doctor.hll import HyperLogLog

Key = tuple[str, str, str]  # service, metric, label
_HISTORY = 16


class Label:
    __slots__ = ("hll", "history", "last_seen", "points")

    def __init__(self, hll: HyperLogLog | None = None):
        self.hll = hll or HyperLogLog()
        self.points = 0  # data points looked at that carry this label
        self.history: list[tuple[float, int]] = []  # (time, estimate), one per interval
        self.last_seen = 0.0


class Cardinality:
    def __init__(self, max_labels: int, max_points: int):
        self.max_labels = max_labels
        self.max_points = max_points
        self.labels: dict[Key, Label] = {}
        self.untracked = 0

    def observe_metrics(self, service: str, metrics: Any, now: float) -> int:
        """Feeds one scope's metrics; returns how many data points they hold."""
        points_total = 0
        for metric in metrics:
            which = metric.WhichOneof("data")
            if which is None:
                continue
            points = getattr(metric, which).data_points
            n = len(points)
            points_total += n
            if n == 0:
                continue
            if n > self.max_points:
                chosen = (points[i] for i in sorted(random.sample(range(n), self.max_points)))
            else:
                chosen = iter(points)
            values: dict[str, list[bytes]] = {}  # label -> its values in these points
            for point in chosen:
                for kv in point.attributes:
                    got = values.get(kv.key)
                    if got is None:
                        got = values[kv.key] = []
                    got.append(kv.value.SerializeToString())
            for key, got in values.items():
                label = self._label((service, metric.name, key), now)
                if label is not None:
                    label.points += len(got)
                    label.hll.add_many(set(got))  # a repeated value is hashed once
        return points_total

    def _label(self, key: Key, now: float) -> Label | None:
        label = self.labels.get(key)
        if label is None:
            if len(self.labels) >= self.max_labels:
                self.untracked += 1
                return None
            label = self.labels[key] = Label()
        label.last_seen = now
        return label

    def tick(self, now: float) -> None:
        """Once per interval: remember each label's estimate, to tell growth from a steady count."""
        for label in self.labels.values():
            label.history.append((now, label.hll.estimate()))
            del label.history[:-_HISTORY]

    def forget(self, before: float) -> None:
        for key in [k for k, v in self.labels.items() if v.last_seen < before]:
            del self.labels[key]

    def dump(self) -> dict:
        return {"labels": [[*k, v.hll.dump(), v.last_seen, list(v.history), v.points] for k, v in self.labels.items()],
                "untracked": self.untracked}

    def merge(self, d: dict) -> None:
        """Adds another worker's labels: registers take the max, histories the larger estimate."""
        self.untracked += int(d.get("untracked", 0))
        for service, metric, name, regs, last_seen, history, points in d.get("labels", []):
            key = (str(service), str(metric), str(name))
            theirs = HyperLogLog.load(regs)
            mine = self.labels.get(key)
            if mine is None:
                mine = self.labels[key] = Label(theirs)
                mine.history = [(float(t), int(e)) for t, e in history]
            else:
                mine.hll.merge(theirs)
                if history and (not mine.history or history[-1][1] > mine.history[-1][1]):
                    mine.history = [(float(t), int(e)) for t, e in history]
            mine.last_seen = max(mine.last_seen, float(last_seen))
            mine.points += int(points)

    def bombs(self, threshold: int) -> list[tuple[Key, int, float | None]]:
        """Labels over the threshold: (key, estimate, growth in values per minute or None)."""
        out = []
        for key, label in self.labels.items():
            estimate = label.hll.estimate()
            if estimate <= threshold:
                continue
            growth = None
            hist = label.history
            if len(hist) >= 2 and hist[-1][0] > hist[0][0]:
                growth = (hist[-1][1] - hist[0][1]) * 60.0 / (hist[-1][0] - hist[0][0])
            out.append((key, estimate, growth))
        return out
