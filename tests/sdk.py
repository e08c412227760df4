"""Telemetry from the real OpenTelemetry Python SDK, sent with its real OTLP exporters.

Each exporter is wrapped in a tee that keeps the OTLP request the SDK encoded, so a test can compare
what the SDK sent with what came out of otelflow, message for message.
"""

from __future__ import annotations

import logging

from opentelemetry import trace
from opentelemetry._logs import SeverityNumber
from opentelemetry.exporter.otlp.proto.common._log_encoder import encode_logs
from opentelemetry.exporter.otlp.proto.common.metrics_encoder import encode_metrics
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor, LogRecordExporter
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import MetricExporter, PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from opentelemetry.trace import Link, Status, StatusCode

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest


def _exporters(protocol: str, endpoint: str):
    if protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter
        from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        kw = {"endpoint": endpoint, "insecure": True}
        return OTLPSpanExporter(**kw), OTLPMetricExporter(**kw), OTLPLogExporter(**kw)
    from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    return (
        OTLPSpanExporter(endpoint=f"{endpoint}/v1/traces"),
        OTLPMetricExporter(endpoint=f"{endpoint}/v1/metrics"),
        OTLPLogExporter(endpoint=f"{endpoint}/v1/logs"),
    )


class _TeeSpans(SpanExporter):
    def __init__(self, inner):
        self.inner, self.sent = inner, []

    def export(self, spans):
        self.sent.append(encode_spans(spans))
        return self.inner.export(spans)

    def shutdown(self):
        self.inner.shutdown()

    def force_flush(self, timeout_millis=30000):
        return True


class _TeeLogs(LogRecordExporter):
    def __init__(self, inner):
        self.inner, self.sent = inner, []

    def export(self, batch):
        self.sent.append(encode_logs(batch))
        return self.inner.export(batch)

    def shutdown(self):
        self.inner.shutdown()

    def force_flush(self, timeout_millis=30000):
        return True


class _TeeMetrics(MetricExporter):
    def __init__(self, inner):
        super().__init__(preferred_temporality=inner._preferred_temporality, preferred_aggregation=inner._preferred_aggregation)
        self.inner, self.sent = inner, []

    def export(self, metrics_data, timeout_millis=10000, **kwargs):
        self.sent.append(encode_metrics(metrics_data))
        return self.inner.export(metrics_data, timeout_millis=timeout_millis)

    def shutdown(self, timeout_millis=30000, **kwargs):
        self.inner.shutdown()

    def force_flush(self, timeout_millis=10000):
        return True


class SDKApp:
    """A small instrumented app: nested spans, events, links, an error, logs in a span, metrics."""

    def __init__(self, protocol: str, endpoint: str, service_name: str = "checkout", extra_resource: dict | None = None):
        resource = Resource.create({"service.name": service_name, "service.version": "1.2.3", **(extra_resource or {})})
        spans, metrics, logs = _exporters(protocol, endpoint)
        self.spans, self.metrics, self.logs = _TeeSpans(spans), _TeeMetrics(metrics), _TeeLogs(logs)
        self.tracer_provider = TracerProvider(resource=resource)
        self.tracer_provider.add_span_processor(BatchSpanProcessor(self.spans))
        self.reader = PeriodicExportingMetricReader(self.metrics, export_interval_millis=3_600_000)
        self.meter_provider = MeterProvider(resource=resource, metric_readers=[self.reader])
        self.logger_provider = LoggerProvider(resource=resource)
        self.logger_provider.add_log_record_processor(BatchLogRecordProcessor(self.logs))
        self.handler = LoggingHandler(level=logging.DEBUG, logger_provider=self.logger_provider)
        self.log = logging.getLogger(f"sdkapp.{id(self)}")
        self.log.propagate = False
        self.log.setLevel(logging.DEBUG)
        self.log.addHandler(self.handler)

    def emit(self, requests: int = 3) -> None:
        tracer = self.tracer_provider.get_tracer("shop.checkout", "0.9")
        meter = self.meter_provider.get_meter("shop.metrics", "0.9")
        orders = meter.create_counter("orders_total", unit="1", description="Orders created")
        latency = meter.create_histogram("checkout.duration", unit="ms")
        queue = meter.create_up_down_counter("queue.depth")
        other = None
        for i in range(requests):
            with tracer.start_as_current_span(
                "POST /checkout", kind=trace.SpanKind.SERVER,
                attributes={"http.route": "/checkout", "http.status_code": 200, "ratio": 0.5, "ok": True,
                            "tags": ["a", "b"], "counts": [1, 2]},
                links=[Link(other.get_span_context(), {"why": "retry"})] if other else None,
            ) as root:
                root.add_event("cart.loaded", {"items": i})
                with tracer.start_as_current_span("charge_card", attributes={"order.id": i}) as child:
                    if i % 2:
                        child.set_status(Status(StatusCode.ERROR, "card declined"))
                        self.log.error("payment failed for order %d", i)
                    else:
                        self.log.info("charged order %d", i)
                other = root
            orders.add(1, {"region": "ap-south-1", "tier": "pro"})
            latency.record(12.5 * (i + 1), {"route": "/checkout"})
            queue.add(1 - 2 * (i % 2))
        self.log.warning("done", extra={"batch.size": requests})

    def flush(self) -> None:
        self.tracer_provider.force_flush()
        self.logger_provider.force_flush()
        self.reader.collect()
        self.meter_provider.force_flush()

    def shutdown(self) -> None:
        self.flush()
        self.tracer_provider.shutdown()
        self.logger_provider.shutdown()
        self.meter_provider.shutdown()

    def sent(self) -> dict:
        return {"traces": merged(self.spans.sent), "metrics": merged(self.metrics.sent), "logs": merged(self.logs.sent)}


def merged(messages: list):
    """One request holding every resource of several, in a stable order (batching may differ)."""
    if not messages:
        return None
    out = type(messages[0])()
    field = out.DESCRIPTOR.fields[0].name
    items = [r for m in messages for r in getattr(m, field)]
    items.sort(key=lambda r: r.SerializeToString(deterministic=True))
    getattr(out, field).extend(items)
    return out


def flatten(message) -> list[bytes]:
    """Every leaf record (span, data point's metric, log record) with its resource and scope, serialized,
    sorted: equal lists mean equal content whatever the grouping."""
    out = []
    field = message.DESCRIPTOR.fields[0].name
    for res in getattr(message, field):
        scope_field = res.DESCRIPTOR.fields_by_number[2].name
        for scope in getattr(res, scope_field):
            leaf_field = scope.DESCRIPTOR.fields_by_number[2].name
            for leaf in getattr(scope, leaf_field):
                out.append(b"|".join(x.SerializeToString(deterministic=True) for x in (res.resource, scope.scope, leaf)) + res.schema_url.encode() + scope.schema_url.encode())
    return sorted(out)


REQUEST_OF = {"traces": ExportTraceServiceRequest, "metrics": ExportMetricsServiceRequest, "logs": ExportLogsServiceRequest}
