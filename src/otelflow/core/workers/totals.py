"""The collector's counters as one series that never goes back, while workers restart.

Worker 0 sums the workers' counters for :8888. A worker that restarts counts from zero again, and a
sum that drops looks to Prometheus like a counter reset (``rate()`` would count all the rest again).
So worker 0 remembers each worker's last counters; when a worker shows up under a new incarnation,
what the old one had counted is carried into a base that is added from then on. The state lives in
the workers' directory, so a restarted worker 0 carries its own previous counts too.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

Series = list  # [name, labels, value]


def _add(into: dict[str, Series], series: list[Series]) -> None:
    for name, labels, value in series:
        key = json.dumps([name, labels])
        if key in into:
            into[key][2] += value
        else:
            into[key] = [name, labels, value]


class Totals:
    def __init__(self, path: Path):
        self.path = path
        try:
            state = json.loads(path.read_text())
        except (OSError, ValueError):
            state = {}
        self.last: dict[str, dict[str, Any]] = state.get("last", {})  # worker -> its last snapshot
        self.base: dict[str, list[Series]] = state.get("base", {})  # worker -> counts of gone incarnations

    def combine(self, snapshots: dict[int, dict[str, Any] | None], own: int) -> list[dict[str, Any]]:
        """What to add to this worker's live telemetry: every other worker's counters (their last
        known ones when they do not answer) and every worker's carried base."""
        out = []
        for index, snap in snapshots.items():
            key = str(index)
            last = self.last.get(key)
            if snap is not None and last is not None and last.get("incarnation") != snap.get("incarnation"):
                self.base[key] = list(self._merged(self.base.get(key, []), last.get("counters", [])).values())
            if snap is not None:
                self.last[key] = {"incarnation": snap.get("incarnation"), "counters": snap.get("counters", [])}
            counters: dict[str, Series] = {}
            _add(counters, self.base.get(key, []))
            if index != own:
                current = snap if snap is not None else last
                _add(counters, (current or {}).get("counters", []))
            extra = {"counters": list(counters.values())}
            if snap is not None and index != own:
                extra["gauges"] = snap.get("gauges", [])
                extra["process"] = snap.get("process", {})
            out.append(extra)
        return out

    @staticmethod
    def _merged(a: list[Series], b: list[Series]) -> dict[str, Series]:
        out: dict[str, Series] = {}
        _add(out, [list(s) for s in a])
        _add(out, [list(s) for s in b])
        return out

    def save(self) -> None:
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"last": self.last, "base": self.base}))
        tmp.replace(self.path)
