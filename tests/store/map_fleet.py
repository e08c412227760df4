"""A small fleet emulated with the real OpenTelemetry SDK: one TracerProvider per service (its own
resource and OTLP/HTTP exporter), calls made with the caller's span as the callee's parent, as
context propagation does between processes:

    python-api --GET /pay--> go-svc --GET /ledger--> rust-svc
                              go-svc --publish orders--> order-worker (consumer, child of the producer)
                              go-svc ~~link~~> batch-worker (consumer in a new trace, linking the producer)

``errors`` of the rust-svc calls fail (status ERROR).
"""

from __future__ import annotations

from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import Link, SpanKind, Status, StatusCode

SERVICES = ("python-api", "go-svc", "rust-svc", "order-worker", "batch-worker")


class Fleet:
    def __init__(self, endpoint: str):
        self.providers = {}
        for name in SERVICES:
            provider = TracerProvider(resource=Resource.create({"service.name": name}))
            provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=f"{endpoint}/v1/traces")))
            self.providers[name] = provider
        self.tracers = {name: p.get_tracer("fleet", "1.0") for name, p in self.providers.items()}

    def request(self, fail: bool = False) -> str:
        """One request through the fleet; returns its trace ID (hex)."""
        api, go, rust = self.tracers["python-api"], self.tracers["go-svc"], self.tracers["rust-svc"]
        with api.start_as_current_span("GET /checkout", kind=SpanKind.SERVER) as root:
            with api.start_as_current_span("GET go-svc/pay", kind=SpanKind.CLIENT) as call:
                ctx = trace.set_span_in_context(call)
                with go.start_as_current_span("GET /pay", context=ctx, kind=SpanKind.SERVER):
                    with go.start_as_current_span("GET rust-svc/ledger", kind=SpanKind.CLIENT) as call2:
                        ctx2 = trace.set_span_in_context(call2)
                        with rust.start_as_current_span("GET /ledger", context=ctx2, kind=SpanKind.SERVER) as served:
                            if fail:
                                served.set_status(Status(StatusCode.ERROR, "ledger locked"))
                    with go.start_as_current_span("orders publish", kind=SpanKind.PRODUCER) as produced:
                        pctx = trace.set_span_in_context(produced)
                        producer = produced.get_span_context()
            with self.tracers["order-worker"].start_as_current_span("orders process", context=pctx, kind=SpanKind.CONSUMER):
                pass
        # a batch consumer starts its own trace and links the message's producer span
        with self.tracers["batch-worker"].start_as_current_span(
                "orders batch", context=trace.set_span_in_context(trace.INVALID_SPAN), kind=SpanKind.CONSUMER,
                links=[Link(producer)]):
            pass
        return format(root.get_span_context().trace_id, "032x")

    def flush(self) -> None:
        for provider in self.providers.values():
            provider.force_flush()

    def shutdown(self) -> None:
        for provider in self.providers.values():
            provider.shutdown()
