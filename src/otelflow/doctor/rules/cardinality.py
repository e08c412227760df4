"""Rules about metric cardinality: attributes whose values never repeat made into metric dimensions."""

from __future__ import annotations

import re
from typing import Iterator

from otelflow.core.component import Kind, Signal
from otelflow.doctor.context import LintContext
from otelflow.doctor.findings import Severity
from otelflow.doctor.rules import Hit, rule

#: Attribute keys with a new value per request, user, query or process (semantic conventions, old and new).
UNBOUNDED_KEYS = frozenset({
    "user.id", "user_id", "userid", "enduser.id", "user.email", "user.name", "email",
    "session.id", "session_id", "trace_id", "traceid", "trace.id", "span_id", "spanid", "span.id",
    "request.id", "request_id", "http.request_id", "messaging.message.id", "correlation_id",
    "http.url", "url.full", "http.target", "url.query", "url.path", "http.user_agent", "user_agent.original",
    "db.statement", "db.query.text", "exception.message", "exception.stacktrace",
    "client.address", "client.port", "net.peer.ip", "net.peer.port", "net.sock.peer.addr", "net.sock.peer.port",
    "network.peer.address", "network.peer.port", "source.address", "http.client_ip", "process.pid",
})
# "<something>.id", "<something>_id", "…uuid" for the usual per-entity names
_ENTITY_ID = re.compile(
    r"(^|[._])(user|session|request|trace|span|order|customer|account|transaction|correlation|message|"
    r"device|cart|payment|invoice|job|task|event)[._]?(id|uuid|key)$|uuid$", re.IGNORECASE)


def unbounded(key: str) -> bool:
    """Whether an attribute key is known to take a new value per request, user, statement or URL."""
    return key.lower() in UNBOUNDED_KEYS or bool(_ENTITY_ID.search(key))


@rule("spanmetrics-unbounded-dimension", Severity.ERROR,
      why="every distinct value of a dimension is a new time series in the connector's memory and in the "
          "metrics backend: IDs, URLs and statements grow without bound (the cardinality bomb that takes "
          "metrics backends down)",
      fix="remove the dimension (keep such values on spans), or use a bounded one (http.route instead of "
          "url.full); aggregation_cardinality_limit caps the damage")
def spanmetrics_unbounded_dimension(ctx: LintContext) -> Iterator[Hit]:
    for cid, model in ctx.of_type(Kind.CONNECTOR, "spanmetrics"):
        capped = model.aggregation_cardinality_limit > 0
        lists = [(("dimensions",), model.dimensions), (("calls_dimensions",), model.calls_dimensions),
                 (("histogram", "dimensions"), model.histogram.dimensions)]
        if model.events.enabled:
            lists.append((("events", "dimensions"), model.events.dimensions))
        for rel, dims in lists:
            for i, dim in enumerate(dims):
                if unbounded(dim.name):
                    message = f'dimension "{dim.name}" takes a new value per request or user'
                    if capped:
                        yield Hit(ctx.path(Kind.CONNECTOR, cid, *rel, i, "name"),
                                  message + f" (capped by aggregation_cardinality_limit {model.aggregation_cardinality_limit})",
                                  Severity.WARNING)
                    else:
                        yield Hit(ctx.path(Kind.CONNECTOR, cid, *rel, i, "name"), message)


@rule("spanmetrics-exemplars-off", Severity.INFO,
      why="without exemplars a latency or error spike on a span-metrics dashboard cannot be followed to an "
          "example trace",
      fix="set exemplars: {enabled: true} on the spanmetrics connector (and enable exemplar storage in the backend)")
def spanmetrics_exemplars_off(ctx: LintContext) -> Iterator[Hit]:
    for cid, model in ctx.in_use(Kind.CONNECTOR, "spanmetrics"):
        if not model.exemplars.enabled:
            yield Hit(ctx.path(Kind.CONNECTOR, cid, "exemplars"), f"{cid} has exemplars disabled (the default)")


@rule("metric-unbounded-attribute", Severity.WARNING,
      why="an attribute set on metrics becomes a label: a key with a new value per request or user "
          "multiplies every series it touches (user_id as a metric label is the classic memory bomb)",
      fix="set such attributes on spans and logs only (a separate processor for the traces/logs pipelines)")
def metric_unbounded_attribute(ctx: LintContext) -> Iterator[Hit]:
    for pid, pipe in ctx.pipelines.items():
        if pid.signal is not Signal.METRICS:
            continue
        for cid in pipe.processors:
            type_ = ctx.type_of(Kind.PROCESSOR, cid)
            if type_ not in ("attributes", "resource"):
                continue
            model = ctx.cfg.config_of(Kind.PROCESSOR, cid)
            field = "actions" if type_ == "attributes" else "attributes"
            for i, action in enumerate(getattr(model, field)):
                if action.action in ("insert", "upsert", "update") and unbounded(action.key):
                    yield Hit(ctx.path(Kind.PROCESSOR, cid, field, i, "key"),
                              f'{cid} sets "{action.key}" on metrics in pipeline {pid}')


@rule("resource-to-telemetry", Severity.WARNING,
      why="resource_to_telemetry_conversion copies every resource attribute onto every series as a label; "
          "per-process ones (service.instance.id, host.name, process.pid, k8s.pod.uid) start new series on "
          "each restart or rollout",
      fix="turn it off and join target_info in queries, or drop per-process resource attributes before this exporter")
def resource_to_telemetry(ctx: LintContext) -> Iterator[Hit]:
    for cid, model in ctx.in_use(Kind.EXPORTER, "prometheus", "prometheus_remote_write"):
        conversion = getattr(model, "resource_to_telemetry_conversion", None)
        if conversion is not None and conversion.enabled:
            yield Hit(ctx.path(Kind.EXPORTER, cid, "resource_to_telemetry_conversion", "enabled"),
                      f"{cid} turns every resource attribute into a metric label")
