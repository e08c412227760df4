"""The ``spanmetrics`` connector (alias ``span_metrics``): request counts and duration histograms
from spans, as upstream's connector/spanmetricsconnector (v0.161.0) computes them.

Every span of a resource that has ``service.name`` adds to two series keyed by service name, span
name, span kind, status code, ``collector.instance.id`` and the configured dimensions:
``<namespace>.calls`` (a monotonic sum, no unit) and ``<namespace>.duration`` (an explicit-bucket
histogram with upstream's default buckets, or an exponential one; unit ``ms`` unless ``s``). Spans
whose tracestate carries an OTel sampling threshold (``ot=th:…``) count as their adjusted count.
Optionally ``<namespace>.events`` counts span events.

Series are grouped by resource (all its attributes, or only ``resource_metrics_key_attributes``) in
an LRU of ``resource_metrics_cache_size`` resources. Every ``metrics_flush_interval`` the connector
sends one metrics request with every series: cumulative (a new calls series is first reported as 0,
as upstream does so that Prometheus sees its first increase) or delta (state cleared after each
flush, each point starting where the series' previous one ended).

Modules: ``config`` (keys, defaults, validation), ``sampling`` (adjusted counts from tracestate),
``dimensions`` (series keys and attributes), ``series`` (per-series state and the resource LRU),
``emit`` (the metrics request), ``connector`` (the component: aggregation, flush, reset).
"""

from __future__ import annotations

from otelflow.connectors.spanmetrics.config import Config
from otelflow.connectors.spanmetrics.connector import PROCESS_INSTANCE_ID, SpanMetrics
from otelflow.connectors.spanmetrics.sampling import adjusted_count
from otelflow.core.component import Factory, Kind, Settings, Signal
from otelflow.core.consumer import Consumer

__all__ = ["Config", "PROCESS_INSTANCE_ID", "SpanMetrics", "adjusted_count", "factory"]


def _create(settings: Settings, config: Config, source: Signal, target: Signal, next: Consumer) -> SpanMetrics:
    return SpanMetrics(settings, config, next)


factory = Factory(
    type="spanmetrics",
    kind=Kind.CONNECTOR,
    config=Config,
    create=_create,
    pairs=frozenset({(Signal.TRACES, Signal.METRICS)}),
    stability="alpha",
    state_key="resource",
)
