"""The ``metrics_transform`` processor (``metricstransform``): renames, copies, combines and
regroups metrics and edits their labels, as upstream's metricstransformprocessor v0.161.0.

Transforms run in order on every scope of every resource:

* ``update`` changes matching metrics in place (dropping one whose points all went away);
* ``insert`` appends a changed copy of each matching metric (of its matching points only);
* ``combine`` moves the matching metrics (all of the same type, unit, attribute keys and
  temporality, none a summary; otherwise a warning and nothing happens) into one new metric, the
  regexp's capture groups becoming attributes (``submatch_case`` lower/upper), points that become
  equal merged with ``aggregation_type``;
* ``group`` moves the matching metrics into a new resource (the original's attributes plus
  ``group_resource_labels``) appended after all others, one per scope and group transform.

See docs/processors/metricstransform.md for what differs from upstream (the order of merged points).
"""

from __future__ import annotations

from opentelemetry.proto.metrics.v1.metrics_pb2 import Metric, ResourceMetrics

from otelflow import __version__
from otelflow.core.component import Component, Factory, Kind, Settings, Signal
from otelflow.processors.metricstransform.aggregate import group_points, merge_points
from otelflow.processors.metricstransform.config import Config, Transform
from otelflow.processors.metricstransform.filters import Filter
from otelflow.processors.metricstransform.operations import Op, TransformError, transform_metric
from otelflow.processors.metricstransform.pdata import attrs_key, copy_details, points, put_str

__all__ = ["Config", "MetricsTransformProcessor", "factory"]


class _Transform:
    def __init__(self, cfg: Transform, version: str):
        self.action = cfg.action
        self.new_name = cfg.new_name
        self.filter = Filter(cfg.include, cfg.match_type or "strict", cfg.experimental_match_labels)
        self.group_labels = sorted((cfg.group_resource_labels or {}).items())
        self.aggregation = cfg.aggregation_type
        self.submatch_case = cfg.submatch_case
        self.ops = [Op(op, version) for op in cfg.operations]


class MetricsTransformProcessor(Component):
    mutates_data = True

    def __init__(self, settings: Settings, config: Config, next_):
        self.log = settings.logger
        self.next = next_
        self.transforms = [_Transform(t, __version__) for t in config.transforms]

    async def consume(self, data) -> None:
        self.process(data)
        await self.next.consume(data)

    def _apply(self, metric: Metric, t: _Transform) -> bool:
        try:
            return transform_metric(metric, t.action, t.new_name, t.filter, t.ops)
        except TransformError as exc:
            self.log.warning("%s", exc)
            return True

    def process(self, data) -> None:
        grouped: list[ResourceMetrics] = []
        kept_resources = []
        for rm in data.resource_metrics:
            kept_scopes = []
            for sm in rm.scope_metrics:
                for t in self.transforms:
                    getattr(self, "_" + t.action)(rm, sm, t, grouped)
                if len(sm.metrics):
                    kept_scopes.append(sm)
            if len(kept_scopes) != len(rm.scope_metrics):
                _keep(rm.scope_metrics, kept_scopes)
            if len(rm.scope_metrics):
                kept_resources.append(rm)
        if len(kept_resources) != len(data.resource_metrics):
            _keep(data.resource_metrics, kept_resources)
        data.resource_metrics.extend(grouped)

    # one method per action ------------------------------------------------------------------------

    def _update(self, rm, sm, t: _Transform, grouped) -> None:
        metrics = sm.metrics
        keep = []
        for metric in metrics:
            if t.filter.match_metric(metric) and not self._apply(metric, t):
                continue
            keep.append(metric)
        if len(keep) != len(metrics):
            _keep(metrics, keep)

    def _insert(self, rm, sm, t: _Transform, grouped) -> None:
        metrics = sm.metrics
        for i in range(len(metrics)):
            metric = metrics[i]
            new = t.filter.extract(metric)
            if new is None:
                continue
            if new is metric:
                new = Metric()
                new.CopyFrom(metric)
            if self._apply(new, t):
                metrics.add().CopyFrom(new)

    def _combine(self, rm, sm, t: _Transform, grouped) -> None:
        matched = [m for m in sm.metrics if t.filter.match_metric(m)]
        if not matched:
            return
        problem = _why_not_combined(matched)
        if problem:
            self.log.warning("%s", problem)
            return
        extracted = _extract_and_remove(sm.metrics, t.filter)
        combined = Metric()
        copy_details(extracted[0], combined)
        combined.name = t.new_name
        names = t.filter.group_names()
        for metric in extracted:
            subs = t.filter.submatches(metric.name)
            for dp in points(metric) or ():
                for name, sub in zip(names, subs):
                    if sub:
                        sub = sub.lower() if t.submatch_case == "lower" else sub.upper() if t.submatch_case == "upper" else sub
                        put_str(dp.attributes, name, sub)
        groups: dict[str, list] = {}
        for metric in extracted:
            group_points(metric, groups)
        merge_points(combined, t.aggregation, groups)
        if self._apply(combined, t):
            sm.metrics.add().CopyFrom(combined)

    def _group(self, rm, sm, t: _Transform, grouped) -> None:
        out = ResourceMetrics()
        out.resource.CopyFrom(rm.resource)
        for k, v in t.group_labels:
            put_str(out.resource.attributes, k, v)
        scope = out.scope_metrics.add()
        scope.scope.CopyFrom(sm.scope)
        for metric in _extract_and_remove(sm.metrics, t.filter):
            scope.metrics.add().CopyFrom(metric)
        grouped.append(out)


def _keep(repeated, items: list) -> None:
    """Replace a repeated message field's content with ``items`` (some of its own elements)."""
    copies = []
    for item in items:
        c = type(item)()
        c.CopyFrom(item)
        copies.append(c)
    del repeated[:]
    repeated.extend(copies)


def _extract_and_remove(metrics, f: Filter) -> list[Metric]:
    """Take every metric the filter extracts out of ``metrics`` (a partly matching one leaves whole)."""
    taken, keep = [], []
    for metric in metrics:
        got = f.extract(metric)
        if got is None:
            keep.append(metric)
            continue
        c = Metric()
        c.CopyFrom(got)
        taken.append(c)
    if taken:
        _keep(metrics, keep)
    return taken


_TYPE_NAMES = {"gauge": "Gauge", "sum": "Sum", "histogram": "Histogram", "exponential_histogram": "ExponentialHistogram",
               "summary": "Summary", None: "Empty"}
_TEMPORALITY = {0: "Unspecified", 1: "Delta", 2: "Cumulative"}


def _keys(metric: Metric) -> set[str]:
    return {kv.key for dp in points(metric) or () for kv in dp.attributes}


def _go_set(keys: set[str]) -> str:
    return "map[" + " ".join(f"{k}:{{}}" for k in sorted(keys)) + "]"


def _why_not_combined(metrics: list[Metric]) -> str | None:
    """Upstream's reason (its words) why these metrics cannot be combined, or None."""
    for m in metrics:
        if m.WhichOneof("data") == "summary":
            return f"summary metrics cannot be combined: {m.name}"
    first = metrics[0]
    ft = first.WhichOneof("data")
    for m in metrics[1:]:
        mt = m.WhichOneof("data")
        if ft != mt:
            return (f"metrics cannot be combined as they are of different types: {first.name} ({_TYPE_NAMES[ft]}) "
                    f"and {m.name} ({_TYPE_NAMES[mt]})")
        if first.unit != m.unit:
            return f"metrics cannot be combined as they have different units: {first.name} ({first.unit}) and {m.name} ({m.unit})"
        fk, mk = _keys(first), _keys(m)
        if fk != mk:
            return (f"metrics cannot be combined as they have different attributes: {first.name} ({_go_set(fk)}) "
                    f"and {m.name} ({_go_set(mk)})")
        if ft in ("sum", "histogram", "exponential_histogram"):
            a, b = getattr(first, ft).aggregation_temporality, getattr(m, ft).aggregation_temporality
            if a != b:
                return (f"metrics cannot be combined as they have different aggregation temporalities: "
                        f"{first.name} ({_TEMPORALITY.get(a, a)}) and {m.name} ({_TEMPORALITY.get(b, b)})")
        if ft == "sum" and first.sum.is_monotonic != m.sum.is_monotonic:
            return (f"metrics cannot be combined as they have different monotonicity: {first.name} "
                    f"({str(first.sum.is_monotonic).lower()}) and {m.name} ({str(m.sum.is_monotonic).lower()})")
    return None


factory = Factory(
    type="metrics_transform",
    kind=Kind.PROCESSOR,
    config=Config,
    create=lambda settings, config, next: MetricsTransformProcessor(settings, config, next),
    signals=frozenset({Signal.METRICS}),
    stability="beta",
)
