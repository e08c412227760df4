"""The doctor extension: watches every request receivers hand on and reports common SDK mistakes.

``observe`` runs on the event loop for every request, so it only counts and copies a few scalars
per span (see ``services``, ``cardinality``, ``structure``). The trace checks and the report run
in a thread once per ``interval``.

With several workers each worker sees only the connections it accepted, and a trace's spans may be
split across workers. Every worker but 0 writes a summary (its service table, its label sketches and
its recent sampled spans) to ``doctor-<index>.json`` in the workers' directory once per interval;
worker 0, where web_ui runs, reads them, runs the trace checks over all workers' spans together
and merges the rest into the report. A worker that stops writing keeps contributing its last
summary; one silent for more than four windows is left out of the trace checks so they go on.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from pathlib import Path
from typing import Any

from otelflow.core.component import Component, Host, Settings, Signal
from otelflow.core.workers.context import SINGLE, WorkerContext
from otelflow.extensions.doctor.cardinality import Cardinality
from otelflow.extensions.doctor.config import Config
from otelflow.extensions.doctor.findings import (_iso, cardinality_findings, ordered, service_findings,
                                                 structure_findings)
from otelflow.extensions.doctor.services import Services, resource_facts
from otelflow.extensions.doctor.structure import Structure, Tracked, dump_spans, load_spans


class Doctor(Component):
    def __init__(self, settings: Settings, config: Config, worker: WorkerContext | None = None):
        self.settings = settings
        self.config = config
        self.worker = worker or WorkerContext.from_env() or SINGLE
        now = time.time()
        self.started = now
        self._last_tick = now
        self.services = Services(config.max_services, config.max_keys_per_service)
        self.cardinality = Cardinality(config.max_metric_labels, config.max_points_per_metric)
        # nothing arrived before the start: an unfilled buffer covers the whole window before each span
        self.tracked = Tracked(config.max_tracked_spans, config.trace_sampling, now - config.window)
        self.structure = Structure(config.window, int(config.clock_skew_threshold * 1e9), now)
        self._lock = threading.Lock()  # the structure: analysed in a thread, read by the report
        self._peers: dict[int, dict] = {}  # worker index -> its latest summary (worker 0)
        self._task: asyncio.Task | None = None
        self._failed = False

    # -- the hot path ----------------------------------------------------------------------------

    def observe(self, signal: Signal, data: Any) -> None:
        now = time.time()
        if signal is Signal.TRACES:
            self._traces(data, now)
        elif signal is Signal.METRICS:
            for rm in data.resource_metrics:
                name, missing = resource_facts(rm.resource)
                svc = self.services.get(name)
                if svc is None:
                    continue
                svc.saw_resource(missing, now)
                svc.requests += 1
                for sm in rm.scope_metrics:
                    svc.items["points"] += self.cardinality.observe_metrics(name, sm.metrics, now)
        elif signal is Signal.LOGS:
            for rl in data.resource_logs:
                name, missing = resource_facts(rl.resource)
                svc = self.services.get(name)
                if svc is not None:
                    svc.saw_resource(missing, now)
                    svc.requests += 1
                    svc.items["logs"] += sum(len(sl.log_records) for sl in rl.scope_logs)

    def _traces(self, data: Any, now: float) -> None:
        """One pass over the spans: sampled-out traces cost a trace ID read, sampled spans a size
        check and one tuple in the buffer (``structure.Tracked``)."""
        limit = self.config.max_span_attributes
        key_cap = self.config.max_keys_per_service
        threshold = self.tracked.threshold
        append = self.tracked.spans.append
        for rs in data.resource_spans:
            name, missing = resource_facts(rs.resource)
            svc = self.services.get(name)
            scopes = rs.scope_spans
            batch = sum(len(ss.spans) for ss in scopes)
            self.tracked.seen += batch
            if svc is not None:
                svc.saw_resource(missing, now)
                svc.requests += 1
                svc.items["spans"] += batch
            for ss in scopes:
                for span in ss.spans:
                    tid = span.trace_id
                    if threshold is not None and (not tid or tid[-1] >= threshold):
                        continue
                    if svc is not None and len(span.attributes) + span.dropped_attributes_count > limit:
                        svc.big_span(span, now, key_cap)
                    append((now, name, tid, span.span_id, span.parent_span_id, span.kind, span.start_time_unix_nano,
                            span.end_time_unix_nano, span.name, batch))

    # -- every interval ----------------------------------------------------------------------------

    async def start(self, host: Host) -> None:
        self._task = asyncio.get_running_loop().create_task(self._loop())

    async def shutdown(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, Exception):
                pass
            self._task = None

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.config.interval)
            try:
                await self.tick()
            except asyncio.CancelledError:
                raise
            except Exception:
                if not self._failed:  # logged once: the next interval tries again
                    self._failed = True
                    self.settings.logger.exception("doctor: the periodic check failed")

    async def tick(self) -> None:
        now = time.time()
        forget = now - self.config.forget_after
        self.cardinality.tick(now)
        self.cardinality.forget(forget)
        self.services.forget(forget)
        self.tracked.adapt(now, now - self._last_tick, 3 * self.config.window)
        self._last_tick = now
        spans, covered, history = self.tracked.snapshot(), self.tracked.covered_from(), list(self.tracked.history)
        if not self.worker.owner:
            since = now - 3 * self.config.window - self.config.interval  # older spans can no longer matter
            summary = {"time": now, "services": self.services.dump(), "cardinality": self.cardinality.dump(),
                       "covered_from": max(covered, since), "sampling": history}
            await asyncio.to_thread(self._write_summary, summary, spans, since)
            return
        await asyncio.to_thread(self._analyze, spans, covered, history, now)

    def _summary_path(self, index: int) -> Path:
        assert self.worker.directory is not None
        return self.worker.directory / f"doctor-{index}.json"

    def _write_summary(self, summary: dict, spans: list, since: float) -> None:
        summary["spans"] = dump_spans(spans, since)
        path = self._summary_path(self.worker.index)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(summary, separators=(",", ":")))
        tmp.replace(path)

    def _read_peers(self) -> None:
        for index in range(1, self.worker.count):
            try:
                self._peers[index] = json.loads(self._summary_path(index).read_text())
            except (OSError, ValueError):
                continue

    def _analyze(self, spans: list, covered: float, history: list, now: float) -> None:
        buffers = [(spans, covered, now, history)]
        if not self.worker.single:
            self._read_peers()
            if len(self._peers) < self.worker.count - 1 and now - self.started < 4 * self.config.window:
                return  # a worker has not written yet: wait for it rather than misjudge its traces
            for peer in self._peers.values():
                try:
                    t = float(peer.get("time", 0))
                    if now - t <= 4 * self.config.window:
                        sampling = [(float(a), int(b)) for a, b in peer.get("sampling", [])]
                        buffers.append((load_spans(peer.get("spans", [])), float(peer.get("covered_from", t)), t, sampling))
                except (TypeError, ValueError, AttributeError):
                    continue  # a damaged summary: judged without it
        with self._lock:
            self.structure.analyze(buffers, now)
            self.structure.forget(now - self.config.forget_after)

    # -- the report --------------------------------------------------------------------------------

    async def report(self) -> dict:
        """Findings of every worker (called in worker 0, by web_ui's /api/v1/doctor)."""
        own = (self.services.dump(), self.cardinality.dump())
        return await asyncio.to_thread(self._report, own, time.time())

    def _report(self, own: tuple[dict, dict], now: float) -> dict:
        cfg = self.config
        services = Services(cfg.max_services, cfg.max_keys_per_service)
        card = Cardinality(cfg.max_metric_labels, cfg.max_points_per_metric)
        services.merge(own[0])
        card.merge(own[1])
        if not self.worker.single:
            self._read_peers()
        for index, peer in list(self._peers.items()):
            try:
                services.merge(peer.get("services", {}))
                card.merge(peer.get("cardinality", {}))
            except (TypeError, ValueError, KeyError, AttributeError):  # a damaged summary: leave it out
                self.settings.logger.warning("doctor: worker %d's summary is unreadable; left out", index)
        since = now - cfg.forget_after
        with self._lock:
            found = structure_findings(self.structure, cfg.min_occurrences, since)
            st = self.structure
            stats = {"decided_spans": st.decided, "undecided_spans": st.undecided, "unsampled_spans": st.unsampled,
                     "checked_until": _iso(st.decided_until)}
        found += service_findings(services, cfg.max_span_attributes, since)
        found += cardinality_findings(card, cfg.max_label_values, since)
        stats.update(tracked_spans=len(self.tracked.spans), services_over_cap=services.overflow,
                     untracked_labels=card.untracked, trace_sampling_now=round(self.tracked.current / 256, 4))
        return {
            "generated_at": _iso(now),
            "workers": {"count": self.worker.count, "reporting": 1 + len(self._peers)},
            "settings": {"max_span_attributes": cfg.max_span_attributes, "max_label_values": cfg.max_label_values,
                         "window_s": cfg.window, "trace_sampling": cfg.trace_sampling},
            "services": sorted(({"name": s.name, **s.items, "requests": s.requests, "last_seen": _iso(s.last_seen)}
                                for s in services.by_name.values() if s.last_seen >= since), key=lambda s: s["name"]),
            "findings": ordered(found),
            "stats": stats,
        }
