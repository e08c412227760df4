"""Known traffic from the real OpenTelemetry SDK: three services sharing traces, with errors (some only
on internal spans), slow traces, /healthz probes, 5xx answers, VIP users and debug calls. IDs are
seeded, so the traces a policy keeps are the same every run."""

from __future__ import annotations

import random
import time

MS = 1_000_000
SERVICES = ("frontend", "checkout", "payments")
KINDS = {  # kind -> how many traces by default
    "ordinary": 1200, "healthz": 900, "error": 200, "slow": 150, "healthz_error": 80,
    "unavailable": 120, "vip": 150, "debug": 100,
}


def _ids(seed: int):
    from opentelemetry.sdk.trace.id_generator import RandomIdGenerator

    class SeededIds(RandomIdGenerator):
        rng = random.Random(seed)

        def generate_trace_id(self) -> int:
            return self.rng.getrandbits(128) or 1

        def generate_span_id(self) -> int:
            return self.rng.getrandbits(64) or 1

    return SeededIds()


def providers(endpoint: str, seed: int = 7) -> dict:
    """One TracerProvider per service, each exporting OTLP/HTTP to ``endpoint`` (http://host:port)."""
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    ids = _ids(seed)  # shared: one sequence of IDs over all services
    out = {}
    for name in SERVICES:
        provider = TracerProvider(resource=Resource.create({"service.name": name, "service.version": "1.0"}), id_generator=ids)
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=f"{endpoint}/v1/traces"),
                                                       max_queue_size=100_000, schedule_delay_millis=100, max_export_batch_size=1000))
        out[name] = provider
    return out


def emit(provs: dict, counts: dict[str, int] | None = None, rng_seed: int = 3) -> dict[str, list[bytes]]:
    """Send the traces; returns trace IDs per kind. Durations come from explicit times (nothing sleeps)."""
    from opentelemetry import trace
    from opentelemetry.trace import SpanKind, Status, StatusCode

    counts = counts or KINDS
    front = provs["frontend"].get_tracer("shop.http", "1.0")
    checkout = provs["checkout"].get_tracer("shop.checkout", "1.0")
    payments = provs["payments"].get_tracer("shop.payments", "1.0")
    order = [k for k, n in counts.items() for _ in range(n)]
    random.Random(rng_seed).shuffle(order)
    out: dict[str, list[bytes]] = {k: [] for k in counts}
    t = time.time_ns() - 60_000 * MS
    for i, kind in enumerate(order):
        start = t + i * MS
        target = {"healthz": "/healthz", "healthz_error": "/healthz", "debug": "/internal/debug"}.get(kind, "/api/items")
        attrs = {"http.method": "GET", "http.target": target, "http.route": target, "http.status_code": 200}
        if kind == "vip":
            attrs["user.vip"] = True
        root = front.start_span(f"GET {target}", kind=SpanKind.SERVER, start_time=start, attributes=attrs)
        ctx = trace.set_span_in_context(root)
        if kind == "healthz_error":
            ping = front.start_span("ping db", context=ctx, start_time=start + MS)
            ping.set_status(Status(StatusCode.ERROR, "db down"))
            ping.end(end_time=start + 2 * MS)
        if not kind.startswith("healthz"):
            code = 503 if kind == "unavailable" else 200
            srv = checkout.start_span("POST /checkout", kind=SpanKind.SERVER, context=ctx, start_time=start + MS,
                                      attributes={"http.route": "/checkout", "http.status_code": code})
            sctx = trace.set_span_in_context(srv)
            db = checkout.start_span("SELECT cart", context=sctx, start_time=start + 2 * MS, attributes={"db.system": "postgresql"})
            db.end(end_time=start + 3 * MS)
            charge = payments.start_span("charge card", context=sctx, start_time=start + 3 * MS, attributes={"amount": 42})
            if kind in ("error", "debug"):
                charge.set_status(Status(StatusCode.ERROR, "card declined"))
            charge.end(end_time=start + 4 * MS)
            srv.end(end_time=start + 5 * MS)
        root.end(end_time=start + (700 if kind == "slow" else 6) * MS)
        out[kind].append(root.get_span_context().trace_id.to_bytes(16, "big"))
    return out


def flush(provs: dict) -> None:
    for p in provs.values():
        p.force_flush(60_000)
    for p in provs.values():
        p.shutdown()
