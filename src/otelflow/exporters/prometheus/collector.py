"""Accumulated OTLP series → Prometheus metric families (upstream's collector.go and the checks the
Go client's registry makes while gathering).

``PrometheusCollector`` is a ``prometheus_client`` custom collector: ``collect()`` yields
``prometheus_client`` ``Metric`` families, sorted as the Go registry sorts them (families by name,
series by their label values). A series the Go client would refuse (a label name starting with
``__``, duplicate label names, ``le`` on a histogram, an exponential histogram whose buckets do not
add up to its count, a type clash with an earlier family of the same name …) is left out and logged,
as upstream logs and skips it.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from typing import Any, Callable, Iterable

from prometheus_client.metrics_core import Metric
from prometheus_client.samples import Exemplar, Sample, Timestamp

from otelflow.exporters.prometheus.accumulator import Entry, ResourceInfo
from otelflow.pdata import prometheus_names as names

log = logging.getLogger(__name__)

SERVICE_KEYS = ("service.name", "service.namespace", "service.instance.id")
RESERVED_SCOPE_KEYS = ("name", "version", "schema_url")
TARGET_INFO = "target_info"


class Dropped(Exception):
    """A series that cannot be exposed; the message says why."""


def _ts(ns: int) -> Timestamp:
    return Timestamp(ns // 1_000_000_000, ns % 1_000_000_000)


def _ts_ms(ns: int) -> Timestamp:
    ms = ns // 1_000_000
    return Timestamp(ms // 1000, (ms % 1000) * 1_000_000)


def _exemplars(point: Any) -> list[Exemplar]:
    out = []
    for e in point.exemplars:
        labels = {}
        if any(e.trace_id):
            labels["trace_id"] = e.trace_id.hex()
        if any(e.span_id):
            labels["span_id"] = e.span_id.hex()
        value = float(e.as_int) if e.WhichOneof("value") == "as_int" else e.as_double
        out.append(Exemplar(labels, value, _ts(e.time_unix_nano)))
    return out


def _number(point: Any) -> float:
    return float(point.as_int) if point.WhichOneof("value") == "as_int" else point.as_double


class PrometheusCollector:
    """Builds families from accumulator snapshots; keeps the name → (help, type) memory that
    upstream keeps between scrapes (the first description and type seen for a name win)."""

    def __init__(
        self,
        snapshot: Callable[[], list[Entry]],
        namespace: str = "",
        const_labels: dict[str, str] | None = None,
        send_timestamps: bool = False,
        without_scope_info: bool = False,
        with_suffixes: bool = True,
        utf8: bool = False,
        expiration: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.snapshot = snapshot
        self.raw_namespace = namespace
        self.const_labels = dict(const_labels or {})
        self.send_timestamps = send_timestamps
        self.without_scope_info = without_scope_info
        self.with_suffixes = with_suffixes
        self.utf8 = utf8
        self.expiration = expiration
        self.clock = clock
        self.namespace = ""
        if namespace:
            try:
                self.namespace = names.label_name(namespace, utf8=utf8)
            except ValueError as exc:
                log.error("failed to build namespace, ignoring: %s", exc)
        self._families: dict[str, list] = {}  # name -> [help, type, last seen]
        self._lock = threading.Lock()

    # -----------------------------------------------------------------------------------------

    def collect(self, entries: list[Entry] | None = None) -> Iterable[Metric]:
        """Every family, sorted; ``entries`` defaults to a fresh snapshot of the accumulator.

        A counter family is named as ``prometheus_client`` names them, without the ``_total`` that
        its samples carry."""
        if entries is None:
            entries = self.snapshot()
        with self._lock:
            return self._collect(entries)

    def _collect(self, entries: list[Entry]) -> list[Metric]:
        families: dict[str, Metric] = {}
        series: dict[str, list[tuple[list[tuple[str, str]], list]]] = {}
        seen: set[tuple] = set()

        def add(name: str, family: Metric, labels: list[tuple[str, str]], samples: list) -> None:
            key = (name, tuple(labels))
            if key in seen:
                log.error("collected metric %s %s was collected before with the same name and label values", name, dict(labels))
                return
            seen.add(key)
            if name not in families:
                families[name] = family
                series[name] = []
            series[name].append((labels, samples))

        for family, labels, samples in self._target_info(entries):
            add(family.name, family, labels, samples)
        for entry in entries:
            try:
                name, family, labels, samples = self._convert(entry)
            except Dropped as exc:
                log.error("failed to convert metric %s: %s", entry.name, exc)
                continue
            existing = families.get(name)
            if existing is not None and existing.type != family.type:
                log.error("collected metric %s is not a %s", name, existing.type)
                continue
            add(name, existing or family, labels, samples)
        self._cleanup_families()

        out = []
        for name in sorted(families):  # by the exposed name, as the Go registry sorts
            family = families[name]
            for labels, samples in sorted(series[name], key=_series_order):
                family.samples.extend(samples)
            out.append(family)
        return out

    # -----------------------------------------------------------------------------------------

    def _family(self, name: str, description: str, typ: str) -> Metric:
        """upstream's validateMetrics: the first help and type seen for a name stick."""
        now = self.clock()
        known = self._families.get(name)
        if known is None:
            known = self._families[name] = [description, typ, now]
        elif known[1] != typ:
            raise Dropped(
                f"instrument type conflict, using existing type definition. instrument: {name}, existing: {known[1]}, dropped: {typ}"
            )
        else:
            known[2] = now
            if known[0] != description:
                log.info("Instrument description conflict, using existing: %s", name)
        # prometheus_client names a counter family without its samples' "_total"
        family_name = name[: -len("_total")] if typ == "counter" and name.endswith("_total") else name
        return Metric(family_name, known[0], typ)

    def _cleanup_families(self) -> None:
        cutoff = self.clock() - self.expiration
        for name in [n for n, (_, _, seen) in self._families.items() if seen < cutoff]:
            del self._families[name]

    def _labels(self, entry: Entry, reserved: str | None) -> list[tuple[str, str]]:
        out: list[tuple[str, str]] = []
        errors = []
        for key, value in entry.attrs:
            try:
                out.append((names.label_name(key, utf8=self.utf8), value))
            except ValueError as exc:
                errors.append(str(exc))
        if not self.without_scope_info:
            for key, value in entry.scope.attrs:
                if key in RESERVED_SCOPE_KEYS:
                    continue
                try:
                    out.append((names.label_name("otel_scope_" + key, utf8=self.utf8), value))
                except ValueError as exc:
                    errors.append(str(exc))
            out += [
                ("otel_scope_name", entry.scope.name),
                ("otel_scope_version", entry.scope.version),
                ("otel_scope_schema_url", entry.scope.schema_url),
            ]
        if entry.resource.job is not None:
            out.append(("job", entry.resource.job))
        if entry.resource.instance is not None:
            out.append(("instance", entry.resource.instance))
        if errors:
            raise Dropped("; ".join(errors))
        out += self.const_labels.items()
        seen = set()
        for key, _ in out:
            if key.startswith("__"):
                raise Dropped(f'"{key}" is not a valid label name')
            if key in seen:
                raise Dropped(f'duplicate label name "{key}"')
            if key == reserved:
                raise Dropped(f'"{key}" is reserved for this metric type')
            seen.add(key)
        return sorted(out)

    def _name(self, entry: Entry) -> str:
        kind = {
            "gauge": names.GAUGE,
            "sum": names.MONOTONIC_COUNTER if entry.monotonic else names.NON_MONOTONIC_COUNTER,
            "histogram": names.HISTOGRAM,
            "exponential_histogram": names.EXPONENTIAL_HISTOGRAM,
            "summary": names.SUMMARY,
        }[entry.kind]
        try:
            return names.metric_name(entry.name, entry.unit, kind, self.raw_namespace, self.with_suffixes, self.utf8)
        except ValueError as exc:
            raise Dropped(str(exc)) from None

    def _stamp(self, point: Any) -> Timestamp | None:
        return _ts_ms(point.time_unix_nano) if self.send_timestamps else None

    def _convert(self, entry: Entry) -> tuple[str, Metric, list[tuple[str, str]], list]:
        name = self._name(entry)
        point = entry.point
        ts = self._stamp(point)
        if entry.kind == "gauge":
            family = self._family(name, entry.description, "unknown" if entry.untyped else "gauge")
            labels = self._labels(entry, None)
            return name, family, labels, [_sample(name, labels, _number(point), ts)]
        if entry.kind == "sum":
            typ = "counter" if entry.monotonic else "gauge"
            family = self._family(name, entry.description, typ)
            labels = self._labels(entry, None)
            exemplar = None
            if entry.monotonic:
                exemplars = _exemplars(point)
                exemplar = exemplars[-1] if exemplars else None
            return name, family, labels, [_sample(name, labels, _number(point), ts, exemplar)]
        if entry.kind == "summary":
            family = self._family(name, entry.description, "summary")
            labels = self._labels(entry, "quantile")
            quantiles: dict[float, float] = {}
            for q in point.quantile_values:
                quantiles[q.quantile] = q.value
            samples = [_sample(name, labels + [("quantile", str(q))], v, ts) for q, v in sorted(quantiles.items())]
            samples.append(_sample(name + "_sum", labels, point.sum, ts))
            samples.append(_sample(name + "_count", labels, int(point.count), ts))
            return name, family, labels, samples
        if entry.kind == "histogram":
            family = self._family(name, entry.description, "histogram")
            labels = self._labels(entry, "le")
            return name, family, labels, self._histogram(name, labels, point, ts)
        family = self._family(name, entry.description, "histogram")
        labels = self._labels(entry, "le")
        return name, family, labels, self._exponential(name, labels, point, ts)

    def _histogram(self, name: str, labels: list, point: Any, ts: Timestamp | None) -> list:
        bounds = list(point.explicit_bounds)
        counts = list(point.bucket_counts)
        first_index: dict[float, int] = {}
        for i, b in enumerate(bounds):
            first_index.setdefault(b, i)
        cumulative = 0
        buckets: list[list] = []  # [bound, cumulative count, exemplar]
        for bound in sorted(first_index):
            i = first_index[bound]
            cumulative += counts[i] if i < len(counts) else 0
            buckets.append([bound, cumulative, None])
        for ex in _exemplars(point):
            # each exemplar lands on the first bucket whose bound is >= its value (last one wins)
            for b in buckets:
                if b[0] >= ex.value:
                    b[2] = ex
                    break
            else:
                buckets.append([math.inf, int(point.count), ex])
        if not buckets or not math.isinf(buckets[-1][0]):
            buckets.append([math.inf, int(point.count), None])
        samples = [
            _sample(name + "_bucket", labels + [("le", _bound(b))], c, ts, ex) for b, c, ex in buckets
        ]
        samples.append(_sample(name + "_sum", labels, point.sum, ts))
        samples.append(_sample(name + "_count", labels, int(point.count), ts))
        return samples

    def _exponential(self, name: str, labels: list, point: Any, ts: Timestamp | None) -> list:
        scale = point.scale
        if scale == -53:
            raise Dropped("unexpected ExponentialHistogram with schema -53; CBNH is supported via classic histogram")
        if scale < -4:
            raise Dropped(f"cannot convert exponential to native histogram: scale must be >= -4, was {scale}")
        populations = point.zero_count + sum(point.positive.bucket_counts) + sum(point.negative.bucket_counts)
        total = point.sum if point.HasField("sum") else 0.0
        if (math.isnan(total) and populations > point.count) or (not math.isnan(total) and populations != point.count):
            raise Dropped("the sum of all bucket populations exceeds the count of observations")
        # As the Go client writes a native histogram in the text formats: count and sum only.
        return [
            _sample(name + "_bucket", labels + [("le", "+Inf")], int(point.count), ts),
            _sample(name + "_sum", labels, total, ts),
            _sample(name + "_count", labels, int(point.count), ts),
        ]

    # -----------------------------------------------------------------------------------------

    def _target_info(self, entries: list[Entry]) -> list[tuple[Metric, list, list]]:
        resources: dict[tuple[str, str], ResourceInfo] = {}
        for entry in entries:
            r = entry.resource
            if r.job and r.instance and (r.job, r.instance) not in resources:
                resources[(r.job, r.instance)] = r
        out = []
        name = f"{self.namespace}_{TARGET_INFO}" if self.namespace else TARGET_INFO
        for r in resources.values():
            labels: dict[str, str] = {}
            try:
                for key, value in r.attrs:
                    if key in SERVICE_KEYS:
                        continue
                    label = names.label_name(key, utf8=self.utf8)
                    labels[label] = f"{labels[label]};{value}" if label in labels else value
            except ValueError as exc:
                log.error("failed to convert metric %s: %s", TARGET_INFO, exc)
                return []
            labels["job"] = r.job
            labels["instance"] = r.instance
            pairs = sorted(labels.items())
            if any(k.startswith("__") for k, _ in pairs):
                log.error("failed to convert metric %s: reserved label name", TARGET_INFO)
                continue
            out.append((Metric(name, "Target metadata", "gauge"), pairs, [_sample(name, pairs, 1.0, None)]))
        return out


def _bound(b: float) -> str:
    return "+Inf" if b == math.inf else repr(b)


def _sample(name: str, labels: list[tuple[str, str]], value: float, ts: Timestamp | None, exemplar: Exemplar | None = None) -> Sample:
    return Sample(name, dict(labels), value, ts, exemplar)


def _series_order(item: tuple[list[tuple[str, str]], list]) -> tuple:
    """The Go registry's metricSorter: fewer labels first, then label values in label-name order."""
    labels, samples = item
    ts = samples[0].timestamp if samples else None
    tsv = (ts.sec, ts.nsec) if ts is not None else (0, 0)
    return (len(labels), [v for _, v in labels], tsv)
