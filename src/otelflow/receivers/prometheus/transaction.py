"""One scrape's samples turned into OTLP, as upstream's transaction and metricFamily do it.

Samples are grouped per (job, instance) resource, per instrumentation scope and per metric family;
a family's type comes from the target's metadata (``# TYPE``), with histogram and summary series
(``_bucket``, ``_sum``, ``_count``, ``_created``) folded into one point per label set. Counters
become cumulative monotonic sums whose start time is only their ``_created`` sample (v0.161.0 has no
start-time adjuster), unknown types become gauges, ``target_info`` becomes resource attributes and
``otel_scope_*`` labels the scope. A Prometheus staleness marker becomes a point flagged
"no recorded value".
"""

from __future__ import annotations

import ipaddress
import math
import struct
from typing import Callable

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import KeyValue
from opentelemetry.proto.metrics.v1 import metrics_pb2 as pb

from otelflow.receivers.prometheus.textparse import Metadata

SCOPE_NAME = "github.com/open-telemetry/opentelemetry-collector-contrib/receiver/prometheusreceiver"
STALE_NAN = struct.unpack("<d", struct.pack("<Q", 0x7FF0000000000002))[0]
NO_RECORDED_VALUE = 1  # DataPointFlags.FLAG_NO_RECORDED_VALUE

_TRIMMABLE = ("_bucket", "_count", "_sum", "_total", "_info", "_created")
_NOT_USEFUL = frozenset({"__name__", "instance", "__scheme__", "__metrics_path__", "job"})
_NOT_USEFUL_HISTOGRAM = _NOT_USEFUL | {"le"}
_NOT_USEFUL_SUMMARY = _NOT_USEFUL | {"quantile"}
SCOPE_PREFIX = "otel_scope_"
_SCOPE_KEYS = {"otel_scope_name": 0, "otel_scope_version": 1, "otel_scope_schema_url": 2}

# The receiver's own metadata for the scrape loop's report series (upstream's internalMetricMetadata).
INTERNAL_METADATA = {
    "up": Metadata("gauge", "The scraping was successful", ""),
    "scrape_duration_seconds": Metadata("gauge", "Duration of the scrape", "seconds"),
    "scrape_samples_scraped": Metadata("gauge", "The number of samples the target exposed", ""),
    "scrape_series_added": Metadata("gauge", "The approximate number of new series in this scrape", ""),
    "scrape_samples_post_metric_relabeling": Metadata(
        "gauge", "The number of samples remaining after metric relabeling was applied", ""),
}

_WORD_TO_UCUM = {
    "days": "d", "hours": "h", "minutes": "min", "seconds": "s", "milliseconds": "ms", "microseconds": "us",
    "nanoseconds": "ns", "bytes": "By", "kibibytes": "KiBy", "mebibytes": "MiBy", "gibibytes": "GiBy",
    "tibibytes": "TiBy", "kilobytes": "KBy", "megabytes": "MBy", "gigabytes": "GBy", "terabytes": "TBy",
    "meters": "m", "volts": "V", "amperes": "A", "joules": "J", "watts": "W", "grams": "g", "celsius": "Cel",
    "hertz": "Hz", "ratio": "1", "percent": "%",
}
_PER_WORD_TO_UCUM = {"second": "s", "minute": "m", "hour": "h", "day": "d", "week": "w", "month": "mo", "year": "y"}

GAUGE, SUM, HISTOGRAM, SUMMARY, EMPTY = "gauge", "sum", "histogram", "summary", "empty"


def is_stale(value: float) -> bool:
    return value != value and struct.pack("<d", value) == struct.pack("<Q", 0x7FF0000000000002)


def unit_word_to_ucum(unit: str) -> str:
    main, sep, per = unit.partition("_per_")
    out = _WORD_TO_UCUM.get(main, main)
    if sep and per:
        out += "/" + _PER_WORD_TO_UCUM.get(per, per)
    return out


def trim_prom_suffixes(name: str, kind: str, unit: str) -> str:
    tokens = name.split("_")
    if len(tokens) == 1:
        return name
    if kind == SUM and tokens[-1] == "total":
        tokens = tokens[:-1]
    unit_tokens = unit.split("_")
    if len(tokens) > len(unit_tokens) and tokens[-len(unit_tokens):] == unit_tokens:
        tokens = tokens[: -len(unit_tokens)]
    return "_".join(tokens)


def normalize_metric_name(name: str) -> str:
    for suffix in _TRIMMABLE:
        if name.endswith(suffix) and name != suffix:
            return name[: -len(suffix)]
    return name


def _conv_type(prom_type: str) -> tuple[str, bool]:
    if prom_type == "counter":
        return SUM, True
    if prom_type in ("gauge", "unknown"):
        return GAUGE, False
    if prom_type == "histogram":
        return HISTOGRAM, True
    if prom_type == "summary":
        return SUMMARY, True
    if prom_type in ("info", "stateset"):
        return SUM, False
    return EMPTY, False  # gaugehistogram


def _not_useful(kind: str) -> frozenset[str]:
    if kind == HISTOGRAM:
        return _NOT_USEFUL_HISTOGRAM
    if kind == SUMMARY:
        return _NOT_USEFUL_SUMMARY
    return _NOT_USEFUL


class Group:
    """One point: a gauge/sum sample, or the buckets/quantiles, sum and count of one label set."""

    __slots__ = ("ts", "labels", "count", "has_count", "sum", "has_sum", "created", "value", "has_value",
                 "complex", "exemplars")

    def __init__(self, labels: dict[str, str], ts: int):
        self.ts = ts
        self.labels = labels
        self.count = 0.0
        self.has_count = False
        self.sum = 0.0
        self.has_sum = False
        self.created = 0.0
        self.value = 0.0
        self.has_value = False
        self.complex: list[tuple[float, float]] = []  # (boundary, value)
        self.exemplars: list = []


class Family:
    __slots__ = ("kind", "monotonic", "name", "meta", "family_name", "groups")

    def __init__(self, metric_name: str, metadata: Callable[[str], Metadata | None]):
        meta, family_name, name = _metadata_for(metric_name, metadata)
        self.kind, self.monotonic = _conv_type(meta.type)
        self.meta = meta
        self.family_name = family_name  # the metadata's MetricFamily
        self.name = name
        self.groups: dict[tuple, Group] = {}

    def includes(self, metric_name: str) -> bool:
        if self.kind == SUM:
            return normalize_metric_name(metric_name) == self.family_name
        if self.kind != GAUGE:
            return normalize_metric_name(metric_name) == self.name
        return metric_name == self.name

    def add(self, key: tuple, metric_name: str, labels: dict[str, str], ts: int, value: float) -> Group:
        group = self.groups.get(key)
        if group is None:
            group = self.groups[key] = Group(labels, ts)
        if group.ts != ts:
            raise ValueError(f"inconsistent timestamps on metric points for metric {metric_name}")
        kind = self.kind
        if kind in (HISTOGRAM, SUMMARY):
            if metric_name.endswith("_sum"):
                group.sum, group.has_sum = value, True
            elif metric_name.endswith("_count"):
                group.ts, group.count, group.has_count = ts, value, True
            elif metric_name == self.family_name + "_created":
                group.created = value
            else:
                bound_label = "le" if kind == HISTOGRAM else "quantile"
                text = labels.get(bound_label, "")
                if text == "":
                    raise ValueError(f"'{bound_label}' label on {kind} metric is missing or empty")
                group.complex.append((_go_parse_float(text), value))
        elif kind == SUM and metric_name == self.family_name + "_created":
            group.created = value
        else:
            group.value, group.has_value = value, True
        return group

    def to_metric(self, trim_suffixes: bool) -> pb.Metric | None:
        metric = pb.Metric()
        name = self.name
        if trim_suffixes:
            name = trim_prom_suffixes(name, self.kind, self.meta.unit)
        metric.name = name
        metric.description = self.meta.help
        metric.unit = unit_word_to_ucum(self.meta.unit)
        metric.metadata.append(KeyValue(key="prometheus.type"))
        metric.metadata[0].value.string_value = self.meta.type
        groups = self.groups.values()
        if self.kind == HISTOGRAM:
            metric.histogram.aggregation_temporality = pb.AGGREGATION_TEMPORALITY_CUMULATIVE
            points = metric.histogram.data_points
            for g in groups:
                _histogram_point(g, points)
        elif self.kind == SUMMARY:
            points = metric.summary.data_points
            for g in groups:
                _summary_point(g, points)
        elif self.kind == SUM:
            metric.sum.aggregation_temporality = pb.AGGREGATION_TEMPORALITY_CUMULATIVE
            metric.sum.is_monotonic = self.monotonic
            points = metric.sum.data_points
            for g in groups:
                _number_point(g, points, True)
        else:
            points = metric.gauge.data_points
            for g in groups:
                _number_point(g, points, False)
        return metric if len(points) else None


def _metadata_for(metric_name: str, metadata: Callable[[str], Metadata | None]) -> tuple[Metadata, str, str]:
    """upstream's metadataForMetric: (metadata, its family name, the metric's family name)."""
    internal = INTERNAL_METADATA.get(metric_name)
    if internal is not None:
        return internal, metric_name, metric_name
    meta = metadata(metric_name)
    if meta is not None:
        return meta, metric_name, metric_name
    normalized = normalize_metric_name(metric_name)
    meta = metadata(normalized)
    if meta is not None:
        if meta.type == "counter":
            if metric_name.endswith("_created"):
                return meta, normalized, normalized + "_total"
            return meta, normalized, metric_name
        return meta, normalized, normalized
    return Metadata("unknown", "", ""), metric_name, metric_name


def _go_parse_float(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise ValueError(f'strconv.ParseFloat: parsing "{text}": invalid syntax') from None


def _attributes(labels: dict[str, str], drop: frozenset[str], dest) -> None:
    for name in sorted(labels):
        if name in drop or name.startswith(SCOPE_PREFIX):
            continue
        value = labels[name]
        if value:
            kv = dest.add()
            kv.key = name
            kv.value.string_value = value


def _start_time(created: float) -> int:
    secs = int(created)
    return secs * 1_000_000_000 + int((created - secs) * 1e9)


def _number_point(g: Group, dest, is_sum: bool) -> None:
    if not g.has_value:
        return
    p = dest.add()
    if is_sum and g.created != 0:
        p.start_time_unix_nano = _start_time(g.created)
    p.time_unix_nano = g.ts * 1_000_000
    if is_stale(g.value):
        p.flags = NO_RECORDED_VALUE
    else:
        p.as_double = g.value
    _attributes(g.labels, _NOT_USEFUL, p.attributes)
    if g.exemplars:
        p.exemplars.extend(g.exemplars)


def _histogram_point(g: Group, dest) -> None:
    if not g.has_count:
        return
    stale = is_stale(g.sum) or is_stale(g.count)
    g.complex.sort(key=lambda bv: bv[0])
    buckets = g.complex
    n = len(buckets) + 1
    if n > 1 and buckets[n - 2][0] == math.inf:
        n -= 1
    bounds = [buckets[i][0] for i in range(n - 1)]
    counts = []
    for i in range(n - 1):
        c = 0.0 if stale else buckets[i][1] - (buckets[i - 1][1] if i else 0.0)
        counts.append(_to_uint64(c))
    last = 0.0 if stale else g.count - (buckets[n - 2][1] if n > 1 else 0.0)
    counts.append(_to_uint64(last))
    p = dest.add()
    if stale:
        p.flags = NO_RECORDED_VALUE
    else:
        p.count = _to_uint64(g.count)
        if g.has_sum:
            p.sum = g.sum
    p.explicit_bounds.extend(bounds)
    p.bucket_counts.extend(counts)
    if g.created != 0:
        p.start_time_unix_nano = _start_time(g.created)
    p.time_unix_nano = g.ts * 1_000_000
    _attributes(g.labels, _NOT_USEFUL_HISTOGRAM, p.attributes)
    if g.exemplars:
        p.exemplars.extend(g.exemplars)


def _summary_point(g: Group, dest) -> None:
    if not g.has_count:
        return
    g.complex.sort(key=lambda bv: bv[0])
    p = dest.add()
    stale = is_stale(g.sum) or is_stale(g.count)
    if stale:
        p.flags = NO_RECORDED_VALUE
    else:
        if g.has_sum:
            p.sum = g.sum
        p.count = _to_uint64(g.count)
    for bound, value in g.complex:
        q = p.quantile_values.add()
        if not stale:
            q.value = value
        q.quantile = bound
    p.time_unix_nano = g.ts * 1_000_000
    if g.created != 0:
        p.start_time_unix_nano = _start_time(g.created)
    _attributes(g.labels, _NOT_USEFUL_SUMMARY, p.attributes)


def _to_uint64(value: float) -> int:
    """Go's float64 -> uint64 conversion for the values a scrape can hold (NaN/negative wrap as on amd64)."""
    if value != value or math.isinf(value):
        return 0x8000000000000000
    if value < 0:
        return (int(value) + (1 << 64)) % (1 << 64)
    if value >= 2**64:
        return 0x8000000000000000
    return int(value)


def _exemplar(labels: dict[str, str], value: float, ts_ms: int) -> pb.Exemplar:
    e = pb.Exemplar(time_unix_nano=ts_ms * 1_000_000, as_double=value)
    for name, val in labels.items():
        low = name.lower()
        if low in ("trace_id", "span_id") and val == "":
            continue
        width = 16 if low == "trace_id" else 8 if low == "span_id" else 0
        if width and len(val) == width * 2:
            try:
                raw = bytes.fromhex(val)
            except ValueError:
                raw = b""
            if raw and any(raw):
                if width == 16:
                    e.trace_id = raw
                else:
                    e.span_id = raw
                continue
        kv = e.filtered_attributes.add()
        kv.key = name
        kv.value.string_value = val
    return e


class Transaction:
    """Collects one scrape's appends and builds the request on commit."""

    def __init__(self, target, metadata: Callable[[str], Metadata | None], external_labels: dict[str, str],
                 trim_suffixes: bool, version: str, ignore_scope_info: bool = True):
        self.target = target
        self.metadata = metadata
        self.external_labels = external_labels
        self.trim_suffixes = trim_suffixes
        self.version = version
        self.ignore_scope_info = ignore_scope_info
        self.families: dict[tuple[str, str], dict[tuple, dict[str, Family]]] = {}
        self.resources: dict[tuple[str, str], list[tuple[str, str]]] = {}
        self.scope_attrs: dict[tuple[str, str], dict[tuple, list[tuple[str, str]]]] = {}
        self.is_new = True

    def append(self, labels: dict[str, str], ts_ms: int, value: float,
               exemplars: list[tuple[dict[str, str], float, int]] | None = None,
               items: tuple | None = None, memo: dict | None = None) -> bool:
        """Add one sample; raises ValueError where upstream's appender fails the scrape.

        Returns whether the series got a reference, i.e. is tracked for staleness: ``target_info``,
        ``otel_scope_info`` and points that could not be added are not. ``items`` may carry the
        labels already sorted and ``memo`` a per-series dict the scrape cache keeps, where what is
        derived from the labels alone is remembered from one scrape to the next.
        """
        if self.external_labels:
            labels = {**labels, **self.external_labels}
            items = None
        if memo is None:
            memo = {}
        rkey = self._init(labels)
        name = labels.get("__name__", "")
        if not name:
            raise ValueError("metricName not found from labels")
        if name == "target_info":
            attrs = self.resources[rkey]
            for k in sorted(labels):
                if k not in ("job", "instance", "__name__"):
                    _put(attrs, k, labels[k])
            return False
        if name == "otel_scope_info" and not self.ignore_scope_info:
            self._scope_info(rkey, labels)
            return False
        if items is None:
            items = tuple(sorted(labels.items()))
        scoped = memo.get("scoped")
        if scoped is None:
            scoped = memo["scoped"] = any(k.startswith(SCOPE_PREFIX) for k, _ in items)
        if scoped:
            scope, attrs = _scope_of(labels)
            if attrs:
                self.scope_attrs.setdefault(rkey, {}).setdefault(scope, attrs)
        else:
            scope = _EMPTY_SCOPE
        family = self._family(rkey, scope, name)
        key = memo.get(family.kind)
        if key is None:
            drop = _not_useful(family.kind)
            key = memo[family.kind] = tuple(
                kv for kv in items if kv[0] not in drop and not kv[0].startswith(SCOPE_PREFIX))
        try:
            group = family.add(key, name, labels, ts_ms, value)
        except ValueError:
            return False  # upstream logs "failed to add datapoint" and keeps the scrape
        for ex_labels, ex_value, ex_ts in exemplars or ():
            group.exemplars.append(_exemplar(ex_labels, ex_value, ex_ts))
        return True

    def _init(self, labels: dict[str, str]) -> tuple[str, str]:
        job, instance = labels.get("job", ""), labels.get("instance", "")
        if not job:
            job = self.target.labels.get("job", "")
        if not instance:
            instance = self.target.labels.get("instance", "")
        if not job or not instance:
            raise ValueError("job or instance cannot be found from labels")
        key = (job, instance)
        if key not in self.resources:
            self.resources[key] = _resource(job, instance, self.target.discovered.get("__scheme__", ""))
        self.is_new = False
        return key

    def _family(self, rkey: tuple[str, str], scope: tuple, name: str) -> Family:
        families = self.families.setdefault(rkey, {}).setdefault(scope, {})
        family = families.get(name)
        if family is not None:
            return family
        fn = name
        if self.metadata(name) is None:
            fn = normalize_metric_name(name)
            if name.endswith("_created"):
                meta = self.metadata(fn)
                if meta is not None and meta.type == "counter":
                    fn += "_total"
        family = families.get(fn)
        if family is None or not family.includes(name):
            family = Family(name, self.metadata)
            families[family.name] = family
        return family

    def _scope_info(self, rkey: tuple[str, str], labels: dict[str, str]) -> None:
        scope = ["", "", ""]
        attrs = []
        for k in sorted(labels):
            if k in ("job", "instance", "__name__"):
                continue
            if k in _SCOPE_KEYS:
                scope[_SCOPE_KEYS[k]] = labels[k]
            else:
                attrs.append((k, labels[k]))
        self.scope_attrs.setdefault(rkey, {})[(*scope, tuple(attrs))] = attrs

    def request(self) -> ExportMetricsServiceRequest | None:
        """The OTLP request for everything appended, or None when it holds no point."""
        if self.is_new or not self.families:
            return None
        req = ExportMetricsServiceRequest()
        for rkey, scopes in self.families.items():
            rm = pb.ResourceMetrics()
            for k, v in self.resources[rkey]:
                kv = rm.resource.attributes.add()
                kv.key = k
                kv.value.string_value = v
            for scope, families in scopes.items():
                sm = rm.scope_metrics.add()
                if scope == _EMPTY_SCOPE:
                    sm.scope.name = SCOPE_NAME
                    sm.scope.version = self.version
                else:
                    sm.scope.name, sm.scope.version = scope[0], scope[1]
                    if scope[2]:
                        sm.schema_url = scope[2]
                    for k, v in self.scope_attrs.get(rkey, {}).get(scope, ()):
                        kv = sm.scope.attributes.add()
                        kv.key = k
                        kv.value.string_value = v
                for family in families.values():
                    metric = family.to_metric(self.trim_suffixes)
                    if metric is not None:
                        sm.metrics.append(metric)
            if any(len(sm.metrics) for sm in rm.scope_metrics):
                req.resource_metrics.append(rm)
        return req if len(req.resource_metrics) else None


_EMPTY_SCOPE = ("", "", "", ())


def _scope_of(labels: dict[str, str]) -> tuple[tuple, list[tuple[str, str]]]:
    scope = ["", "", ""]
    attrs = []
    for k in sorted(labels):
        if k in _SCOPE_KEYS:
            scope[_SCOPE_KEYS[k]] = labels[k]
        elif k.startswith(SCOPE_PREFIX):
            attrs.append((k[len(SCOPE_PREFIX):], labels[k]))
    return (*scope, tuple(attrs)), attrs


def _put(attrs: list[tuple[str, str]], key: str, value: str) -> None:
    for i, (k, _) in enumerate(attrs):
        if k == key:
            attrs[i] = (key, value)
            return
    attrs.append((key, value))


def _resource(job: str, instance: str, scheme: str) -> list[tuple[str, str]]:
    """upstream's CreateResource: service.name, server.address (when it names a host), service.instance.id,
    server.port and url.scheme, in that order."""
    host, port = split_host_port(instance)
    attrs = [("service.name", job)]
    if _discernible(host):
        attrs.append(("server.address", host))
    attrs += [("service.instance.id", instance), ("server.port", port), ("url.scheme", scheme)]
    return attrs


def split_host_port(text: str) -> tuple[str, str]:
    """net.SplitHostPort, falling back to (text, "") when it is not host:port."""
    if text.startswith("["):
        end = text.find("]")
        if end > 0 and text[end + 1: end + 2] == ":" and ":" not in text[end + 2:]:
            return text[1:end], text[end + 2:]
        return text, ""
    if text.count(":") == 1:
        host, _, port = text.partition(":")
        return host, port
    return text, ""


def _discernible(host: str) -> bool:
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return host != "localhost"
    return not (ip.is_loopback or ip.is_unspecified)
