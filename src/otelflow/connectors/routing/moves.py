"""Moving or copying the items a route matched into the route's request, as the routing
connector's ptraceutil / pmetricutil / plogutil helpers do.

"Move" takes the items out of the incoming request, and (as pdata's RemoveIf chains there do) also
drops scopes and resources left empty, even ones that were empty before. "Copy" leaves the
incoming request untouched. In both, a matched item lands under a copy of its resource and scope
(attributes and schema URLs), made once per resource and scope that has a match; a data point
lands under a copy of its metric's name, description, unit and type (temporality, monotonicity),
without the metric's metadata, as upstream does.
"""

from __future__ import annotations

from typing import Callable

# request type -> (resources field, scopes field, items field)
LAYOUT = {
    "ExportTraceServiceRequest": ("resource_spans", "scope_spans", "spans"),
    "ExportMetricsServiceRequest": ("resource_metrics", "scope_metrics", "metrics"),
    "ExportLogsServiceRequest": ("resource_logs", "scope_logs", "log_records"),
}


def fields_of(request) -> tuple[str, str, str]:
    return LAYOUT[type(request).__name__]


def _delete(field, indexes: list[int]) -> None:
    for i in reversed(indexes):
        del field[i]


def resources_if(src, dst, match: Callable, move: bool) -> None:
    res_field, _, _ = fields_of(src)
    resources = getattr(src, res_field)
    out = getattr(dst, res_field)
    taken = []
    for i, rs in enumerate(resources):
        if match(rs):
            out.add().CopyFrom(rs)
            taken.append(i)
    if move:
        _delete(resources, taken)


class _Lazy:
    """The resource and scope copies in ``dst``, made at the first match under them."""

    __slots__ = ("out", "rs", "ss", "scope_field", "rs_copy", "ss_copy")

    def __init__(self, out, rs, scope_field):
        self.out, self.rs, self.scope_field = out, rs, scope_field
        self.rs_copy = None
        self.ss_copy = None

    def scope(self, ss):
        if self.rs_copy is None:
            self.rs_copy = self.out.add()
            self.rs_copy.resource.CopyFrom(self.rs.resource)
            self.rs_copy.schema_url = self.rs.schema_url
        if self.ss_copy is None:
            self.ss_copy = getattr(self.rs_copy, self.scope_field).add()
            self.ss_copy.scope.CopyFrom(ss.scope)
            self.ss_copy.schema_url = ss.schema_url
        return self.ss_copy


def items_if(src, dst, match: Callable, move: bool) -> None:
    """Spans, metrics or log records: ``match(rs, ss, item)``."""
    res_field, scope_field, item_field = fields_of(src)
    resources = getattr(src, res_field)
    out = getattr(dst, res_field)
    empty_resources = []
    for i, rs in enumerate(resources):
        lazy = _Lazy(out, rs, scope_field)
        scopes = getattr(rs, scope_field)
        empty_scopes = []
        for j, ss in enumerate(scopes):
            lazy.ss_copy = None
            items = getattr(ss, item_field)
            taken = []
            for k, item in enumerate(items):
                if match(rs, ss, item):
                    getattr(lazy.scope(ss), item_field).add().CopyFrom(item)
                    taken.append(k)
            if move:
                _delete(items, taken)
                if len(items) == 0:
                    empty_scopes.append(j)
        if move:
            _delete(scopes, empty_scopes)
            if len(scopes) == 0:
                empty_resources.append(i)
    if move:
        _delete(resources, empty_resources)




def _metric_shell(metric, metrics_out):
    shell = metrics_out.add()
    shell.name = metric.name
    shell.description = metric.description
    shell.unit = metric.unit
    kind = metric.WhichOneof("data")
    data = getattr(shell, kind)
    data.SetInParent()
    if kind in ("sum", "histogram", "exponential_histogram"):
        data.aggregation_temporality = getattr(metric, kind).aggregation_temporality
    if kind == "sum":
        data.is_monotonic = metric.sum.is_monotonic
    return shell


def datapoints_if(src, dst, match: Callable, move: bool) -> None:
    """Data points: ``match(rm, sm, metric, dp)``; a metric of no known type is left alone."""
    out = dst.resource_metrics
    empty_resources = []
    for i, rm in enumerate(src.resource_metrics):
        lazy = _Lazy(out, rm, "scope_metrics")
        empty_scopes = []
        for j, sm in enumerate(rm.scope_metrics):
            lazy.ss_copy = None
            empty_metrics = []
            for k, metric in enumerate(sm.metrics):
                kind = metric.WhichOneof("data")
                if kind is None:
                    continue
                points = getattr(metric, kind).data_points
                shell = None
                taken = []
                for n, dp in enumerate(points):
                    if match(rm, sm, metric, dp):
                        if shell is None:
                            shell = _metric_shell(metric, lazy.scope(sm).metrics)
                        getattr(shell, kind).data_points.add().CopyFrom(dp)
                        taken.append(n)
                if move:
                    _delete(points, taken)
                    if len(points) == 0:
                        empty_metrics.append(k)
            if move:
                _delete(sm.metrics, empty_metrics)
                if len(sm.metrics) == 0:
                    empty_scopes.append(j)
        if move:
            _delete(rm.scope_metrics, empty_scopes)
            if len(rm.scope_metrics) == 0:
                empty_resources.append(i)
    if move:
        _delete(src.resource_metrics, empty_resources)
