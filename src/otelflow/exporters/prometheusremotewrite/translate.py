"""OTLP metrics → Remote-Write 1.0 time series, as upstream's pkg/translator/prometheusremotewrite
(v0.161.0, with prometheus/otlptranslator v1.0.0 naming from :mod:`otelflow.pdata.prometheus_names`).

- Names: the metric namer with unit and type suffixes (``add_metric_suffixes`` or the translation
  strategy), prefixed with ``namespace``.
- Gauges and non-monotonic sums → one sample per point; monotonic sums likewise (``_total``), with
  exemplars. Sums and histograms that are not cumulative are refused (an error, as upstream).
- Histograms → ``_sum`` (when set), ``_count`` and cumulative ``_bucket{le}`` series, ``+Inf`` last,
  exemplars on the first bucket that holds them; exponential histograms → native histograms (scale
  above 8 merged down to 8, below -4 refused); summaries → ``_sum``, ``_count`` and ``{quantile}``.
- Labels: the point's attributes (empty values left out, sorted, sanitised, colliding names joined
  with ``;``), ``job`` (``service.namespace/service.name``) and ``instance``
  (``service.instance.id``), external labels the attributes do not already set, then the scope's
  ``otel_scope_*`` labels unless ``disable_scope_info``; every series' labels sorted by name.
- ``target_info`` per resource with non-identifying attributes, stamped with the resource's latest
  point time; points flagged "no recorded value" become Prometheus stale markers; times in ms.

Points that fail are skipped and their errors returned beside the series that did convert, as
upstream exports what it could. Series with equal labels are merged, in first-seen order.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any, Iterable

from opentelemetry.proto.metrics.v1 import metrics_pb2

from otelflow.exporters.prometheus.config import ResourceAttributeFilter
from otelflow.exporters.prometheusremotewrite import prompb
from otelflow.exporters.prometheusremotewrite.prompb import STALE_NAN, STALE_NAN_BITS
from otelflow.pdata import prometheus_names as names
from otelflow.pdata.govalue import format_float_f, value_as_string

CUMULATIVE = metrics_pb2.AGGREGATION_TEMPORALITY_CUMULATIVE
NO_RECORDED_VALUE = 1
IDENTIFYING = ("service.namespace", "service.name", "service.instance.id")
MAX_EXEMPLAR_RUNES = 128
DEFAULT_ZERO_THRESHOLD = 1e-128
_NOT_METRIC_CHAR = re.compile(r"[^a-zA-Z0-9:]")
_UNDERSCORES = re.compile(r"_+")

_KINDS = {
    "gauge": names.GAUGE,
    "histogram": names.HISTOGRAM,
    "exponential_histogram": names.EXPONENTIAL_HISTOGRAM,
    "summary": names.SUMMARY,
}


@dataclass
class Settings:
    namespace: str = ""
    external_labels: dict[str, str] = field(default_factory=dict)
    disable_target_info: bool = False
    disable_scope_info: bool = False
    with_suffixes: bool = True
    utf8: bool = False
    send_metadata: bool = False
    resource_labels: ResourceAttributeFilter | None = None


def _kind(metric: Any, which: str) -> str:
    if which == "sum":
        return names.MONOTONIC_COUNTER if metric.sum.is_monotonic else names.NON_MONOTONIC_COUNTER
    return _KINDS.get(which, names.UNKNOWN)


def _ms(ns: int) -> int:
    return ns // 1_000_000


def _number(point: Any) -> float:
    return float(point.as_int) if point.WhichOneof("value") == "as_int" else point.as_double


def _points(metric: Any, which: str | None) -> Any:
    return getattr(metric, which).data_points if which else ()


def _valid_temporality(metric: Any, which: str | None) -> bool:
    if which in ("gauge", "summary"):
        return True
    if which in ("sum", "histogram", "exponential_histogram"):
        return getattr(metric, which).aggregation_temporality == CUMULATIVE
    return False


class Converter:
    """One push's worth of series: ``convert`` each request, then read ``series`` and ``errors``."""

    def __init__(self, settings: Settings):
        self.s = settings
        self.series: dict[tuple, prompb.TimeSeries] = {}
        self.errors: list[str] = []

    # -- labels ------------------------------------------------------------------------------------

    def _label(self, key: str) -> str:
        return names.label_name(key, utf8=self.s.utf8)

    def _attributes(self, resource: dict[str, Any], attrs: Iterable[tuple[str, Any]], scope: Any,
                    ignore: tuple[str, ...] = (), extras: tuple[str, ...] = ()) -> dict[str, str]:
        pairs = []
        for key, value in attrs:
            if key in ignore:
                continue
            text = value_as_string(value)
            if text:
                pairs.append((key, text))
        pairs.sort(key=lambda kv: kv[0])
        out: dict[str, str] = {}
        for key, text in pairs:
            name = self._label(key)
            existing = out.get(name)
            if existing is None:
                out[name] = text
            elif existing != text:
                out[name] = existing + ";" + text
        service = resource.get("service.name")
        if service is not None:
            job = value_as_string(service)
            if job:
                namespace = resource.get("service.namespace")
                out["job"] = f"{value_as_string(namespace)}/{job}" if namespace is not None else job
        instance = resource.get("service.instance.id")
        if instance is not None and (text := value_as_string(instance)):
            out["instance"] = text
        for key, value in self.s.external_labels.items():
            out.setdefault(key, value)
        if not self.s.disable_scope_info and scope is not None:
            for key, value in (("otel_scope_name", scope.name), ("otel_scope_version", scope.version)):
                if value:
                    try:
                        out[self._label(key)] = value
                    except ValueError:
                        pass
            for kv in scope.attributes:
                if kv.key in ("name", "version", "schema_url"):
                    continue
                try:
                    out[self._label("otel_scope_" + kv.key)] = value_as_string(kv.value)
                except ValueError:
                    pass
        for i in range(0, len(extras) - 1, 2):
            name = extras[i]
            if not (len(name) > 4 and name.startswith("__") and name.endswith("__")):
                name = self._label(name)
            out[name] = extras[i + 1]
        return out

    def _series(self, labels: list[tuple[str, str]]) -> prompb.TimeSeries:
        labels.sort(key=lambda kv: kv[0])
        key = tuple(labels)
        ts = self.series.get(key)
        if ts is None:
            ts = self.series[key] = prompb.TimeSeries(labels=labels)
        return ts

    def _add(self, labels: list[tuple[str, str]], value: float, stamp: int) -> prompb.TimeSeries:
        ts = self._series(labels)
        ts.samples.append(prompb.Sample(value, stamp))
        return ts

    # -- metrics -----------------------------------------------------------------------------------

    def convert(self, request: Any) -> None:
        for rm in request.resource_metrics:
            resource = _resource_map(rm.resource.attributes)
            extra = self._extra_attributes(rm.resource.attributes)
            latest = 0
            for sm in rm.scope_metrics:
                for metric in sm.metrics:
                    which = metric.WhichOneof("data")
                    for p in _points(metric, which):
                        latest = max(latest, p.time_unix_nano)
                    try:
                        self._metric(metric, which, resource, extra, sm.scope)
                    except ValueError as exc:
                        self.errors.append(str(exc))
            try:
                self._target_info(rm.resource.attributes, resource, latest)
            except ValueError as exc:
                self.errors.append(str(exc))

    def _extra_attributes(self, attrs: Any) -> dict[str, Any]:
        """Resource attributes copied onto every point (resource_to_telemetry_conversion / resource_constant_labels)."""
        f = self.s.resource_labels
        if f is None or not f.active:
            return {}
        return {kv.key: kv.value for kv in attrs if f.wants(kv.key)}

    def _metric(self, metric: Any, which: str | None, resource: dict, extra: dict, scope: Any) -> None:
        if not _valid_temporality(metric, which):
            raise ValueError(f'invalid temporality and type combination for metric "{metric.name}"')
        name = names.metric_name(metric.name, metric.unit, _kind(metric, which), self.s.namespace,
                                 self.s.with_suffixes, self.s.utf8)
        points = _points(metric, which)
        if not points:
            raise ValueError(f"empty data points. {metric.name} is dropped")
        for p in points:
            attrs = _merge(p.attributes, extra)
            try:
                if which == "gauge" or (which == "sum" and not metric.sum.is_monotonic):
                    self._number(p, attrs, resource, scope, name, exemplars=False)
                elif which == "sum":
                    self._number(p, attrs, resource, scope, name, exemplars=True)
                elif which == "histogram":
                    self._histogram(p, attrs, resource, scope, name)
                elif which == "exponential_histogram":
                    self._exponential(p, attrs, resource, scope, name)
                else:
                    self._summary(p, attrs, resource, scope, name)
            except ValueError as exc:
                self.errors.append(str(exc))

    def _number(self, p: Any, attrs, resource, scope, name: str, exemplars: bool) -> None:
        labels = self._attributes(resource, attrs, scope, extras=("__name__", name))
        value = STALE_NAN if p.flags & NO_RECORDED_VALUE else _number(p)
        ts = self._add(list(labels.items()), value, _ms(p.time_unix_nano))
        if exemplars:
            ts.exemplars += _exemplars(p)

    def _histogram(self, p: Any, attrs, resource, scope, name: str) -> None:
        base = list(self._attributes(resource, attrs, scope).items())
        stamp = _ms(p.time_unix_nano)
        stale = bool(p.flags & NO_RECORDED_VALUE)
        if p.HasField("sum"):
            self._add(base + [("__name__", name + "_sum")], STALE_NAN if stale else p.sum, stamp)
        self._add(base + [("__name__", name + "_count")], STALE_NAN if stale else float(p.count), stamp)
        cumulative = 0
        buckets: list[tuple[float, prompb.TimeSeries]] = []
        counts = p.bucket_counts
        for i, bound in enumerate(p.explicit_bounds[: len(counts)]):
            cumulative += counts[i]
            labels = base + [("le", format_float_f(bound)), ("__name__", name + "_bucket")]
            buckets.append((bound, self._add(labels, STALE_NAN if stale else float(cumulative), stamp)))
        inf = self._add(base + [("le", "+Inf"), ("__name__", name + "_bucket")], STALE_NAN if stale else float(p.count), stamp)
        buckets.append((math.inf, inf))
        found = _exemplars(p)
        if found:
            buckets.sort(key=lambda b: b[0])  # Go's sort.Sort: not stable, but equal bounds hold one series
            for e in found:
                for bound, ts in buckets:
                    if ts.samples and e.value <= bound:
                        ts.exemplars.append(e)
                        break

    def _summary(self, p: Any, attrs, resource, scope, name: str) -> None:
        base = list(self._attributes(resource, attrs, scope).items())
        stamp = _ms(p.time_unix_nano)
        stale = bool(p.flags & NO_RECORDED_VALUE)
        self._add(base + [("__name__", name + "_sum")], STALE_NAN if stale else p.sum, stamp)
        self._add(base + [("__name__", name + "_count")], STALE_NAN if stale else float(p.count), stamp)
        for q in p.quantile_values:
            labels = base + [("quantile", format_float_f(q.quantile)), ("__name__", name)]
            self._add(labels, STALE_NAN if stale else q.value, stamp)

    def _exponential(self, p: Any, attrs, resource, scope, name: str) -> None:
        labels = self._attributes(resource, attrs, scope, extras=("__name__", name))
        ts = self._series(list(labels.items()))
        ts.histograms.append(native_histogram(p))
        ts.exemplars += _exemplars(p)

    def _target_info(self, attrs: Any, resource: dict, latest: int) -> None:
        if self.s.disable_target_info or latest == 0:
            return
        if not any(kv.key not in IDENTIFYING for kv in attrs):
            return
        name = f"{self.s.namespace}_target_info" if self.s.namespace else "target_info"
        pairs = [(kv.key, kv.value) for kv in _dedupe(attrs)]
        labels = self._attributes(resource, pairs, None, ignore=IDENTIFYING, extras=("__name__", name))
        if "job" not in labels and "instance" not in labels:
            return
        self._add(list(labels.items()), 1.0, _ms(latest))

    # -- results -----------------------------------------------------------------------------------

    def time_series(self) -> list[prompb.TimeSeries]:
        return list(self.series.values())


def _dedupe(kvs: Any) -> list:
    seen: dict[str, Any] = {}
    for kv in kvs:
        seen.setdefault(kv.key, kv)
    return list(seen.values())


def _resource_map(kvs: Any) -> dict[str, Any]:
    """Resource attributes by key; the first of repeated keys wins, as pcommon's Get."""
    out: dict[str, Any] = {}
    for kv in kvs:
        out.setdefault(kv.key, kv.value)
    return out


def _merge(kvs: Any, extra: dict[str, Any]) -> list[tuple[str, Any]]:
    """A point's attributes with the copied resource attributes put over them (resourcetotelemetry)."""
    pairs = [(kv.key, kv.value) for kv in _dedupe(kvs)]
    if not extra:
        return pairs
    return [(k, v) for k, v in pairs if k not in extra] + list(extra.items())


def _exemplars(p: Any) -> list[prompb.Exemplar]:
    out = []
    for e in p.exemplars:
        value = float(e.as_int) if e.WhichOneof("value") == "as_int" else e.as_double
        labels: list[tuple[str, str]] = []
        runes = 0
        if any(e.trace_id):
            val = e.trace_id.hex()
            runes += len("trace_id") + len(val)
            labels.append(("trace_id", val))
        if any(e.span_id):
            val = e.span_id.hex()
            runes += len("span_id") + len(val)
            labels.append(("span_id", val))
        extra = []
        for kv in e.filtered_attributes:
            text = value_as_string(kv.value)
            runes += len(kv.key) + len(text)
            extra.append((kv.key, text))
        if runes <= MAX_EXEMPLAR_RUNES:
            labels += extra
        out.append(prompb.Exemplar(labels, value, _ms(e.time_unix_nano)))
    return out


def native_histogram(p: Any) -> prompb.Histogram:
    """An exponential histogram point as a Prometheus native histogram (integer counts)."""
    scale = p.scale
    if scale < -4:
        raise ValueError(f"cannot convert exponential to native histogram. Scale must be >= -4, was {scale}")
    scale_down = 0
    if scale > 8:
        scale_down, scale = scale - 8, 8
    pos_spans, pos_deltas = _buckets_layout(p.positive, scale_down)
    neg_spans, neg_deltas = _buckets_layout(p.negative, scale_down)
    h = prompb.Histogram(
        schema=scale,
        zero_count_int=p.zero_count,
        zero_threshold=p.zero_threshold if p.zero_threshold != 0 else DEFAULT_ZERO_THRESHOLD,
        positive_spans=pos_spans, positive_deltas=pos_deltas,
        negative_spans=neg_spans, negative_deltas=neg_deltas,
        timestamp=_ms(p.time_unix_nano),
    )
    if p.flags & NO_RECORDED_VALUE:
        h.sum = STALE_NAN
        h.count_int = STALE_NAN_BITS
    else:
        if p.HasField("sum"):
            h.sum = p.sum
        h.count_int = p.count
    return h


def _int32(n: int) -> int:
    n &= 0xFFFFFFFF
    return n - (1 << 32) if n >= 1 << 31 else n


def _buckets_layout(buckets: Any, scale_down: int) -> tuple[list[tuple[int, int]], list[int]]:
    """OTel's dense buckets as Prometheus spans and deltas (OTel's index 0 is Prometheus' 1),
    merging 2**scale_down buckets into one; gaps over two buckets start a new span."""
    counts = list(buckets.bucket_counts)
    if not counts:
        return [], []
    offset = buckets.offset
    spans: list[list[int]] = []
    deltas: list[int] = []
    prev = 0

    def append_delta(count: int) -> None:
        nonlocal prev
        spans[-1][1] += 1
        deltas.append(count - prev)
        prev = count

    index = _int32((offset >> scale_down) + 1)
    spans.append([index, 0])
    count = 0
    for i, c in enumerate(counts):
        nxt = _int32(((i + offset) >> scale_down) + 1)
        if index == nxt:
            count += c
            continue
        if count == 0:
            count = c
            continue
        gap = nxt - index - 1
        if gap > 2:
            spans.append([gap, 0])
        else:
            for _ in range(gap):
                append_delta(0)
        append_delta(count)
        count = c
        index = nxt
    gap = _int32(((len(counts) + offset - 1) >> scale_down) + 1) - index
    if gap > 2:
        spans.append([gap, 0])
    else:
        for _ in range(gap):
            append_delta(0)
    append_delta(count)
    return [(o, n) for o, n in spans], deltas


def to_metadata(request: Any, settings: Settings) -> tuple[list[prompb.MetricMetadata], list[str]]:
    """One metadata entry per metric (``send_metadata``), as upstream's OtelMetricsToMetadata."""
    out, errors = [], []
    for rm in request.resource_metrics:
        for sm in rm.scope_metrics:
            for metric in sm.metrics:
                which = metric.WhichOneof("data")
                try:
                    name = names.metric_name(metric.name, metric.unit, _kind(metric, which), settings.namespace,
                                             settings.with_suffixes, settings.utf8)
                except ValueError as exc:
                    errors.append(str(exc))
                    continue
                out.append(prompb.MetricMetadata(_metadata_type(metric, which), name, metric.description,
                                                 unit_name(metric.unit, settings.utf8)))
    return out, errors


def _metadata_type(metric: Any, which: str | None) -> int:
    declared = next((value_as_string(kv.value) for kv in metric.metadata if kv.key == "prometheus.type"), None)
    if which == "gauge":
        return prompb.UNKNOWN if declared == "unknown" else prompb.GAUGE
    if which == "sum":
        if metric.sum.is_monotonic:
            return prompb.COUNTER
        if declared == "info":
            return prompb.INFO
        if declared == "stateset":
            return prompb.STATESET
        return prompb.GAUGE
    if which in ("histogram", "exponential_histogram"):
        return prompb.HISTOGRAM
    if which == "summary":
        return prompb.SUMMARY
    return prompb.UNKNOWN


def unit_name(unit: str, utf8: bool) -> str:
    """otlptranslator's UnitNamer: the unit's words joined by ``_`` (``By/s`` → ``bytes_per_second``)."""
    main, per = names.unit_suffixes(unit)
    if not utf8:
        main, per = _clean_unit(main), _clean_unit(per)
    u = main + "_" + per if main and per else main or per
    if u.startswith("_"):
        u = u[1:]
    if u.endswith("_"):
        u = u[:-1]
    return u


def _clean_unit(word: str) -> str:
    return _UNDERSCORES.sub("_", _NOT_METRIC_CHAR.sub("_", word)).removeprefix("_")
