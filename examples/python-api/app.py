"""python-api: the entry point of the otelflow example fleet.

Run it zero-code with `opentelemetry-instrument` (see run.sh / docs/fleet.md): the distro builds
the tracer, meter and logger providers from OTEL_* variables, instruments FastAPI (server spans)
and httpx (client spans that inject `traceparent` into the call to go-svc), and bridges the
standard `logging` module to OpenTelemetry logs, so every record carries trace_id and span_id.

This module only adds what instrumentation cannot know:
- one custom span, `place-order`, with bounded business attributes (a SKU from a fixed catalogue,
  a quantity bucket; never a user id, an e-mail or a free-text field),
- one counter, `orders_total`, whose labels are bounded (sku from the catalogue, status),
- a PRODUCER span around the Redis-streams publish, with the W3C context injected by hand into
  the message's fields (`opentelemetry.propagate.inject`), since Redis streams carry no headers,
- a flush of all three providers when uvicorn shuts down (SIGTERM), before the process exits.
"""

from __future__ import annotations

import logging
import os
from contextlib import asynccontextmanager

import httpx
import redis.asyncio as aioredis
from fastapi import FastAPI, HTTPException
from opentelemetry import _logs, metrics, trace
from opentelemetry.propagate import inject
from opentelemetry.trace import SpanKind, Status, StatusCode
from pydantic import BaseModel, Field

GO_SVC_URL = os.environ.get("GO_SVC_URL", "http://127.0.0.1:8081")
REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
STREAM = os.environ.get("ORDERS_STREAM", "orders")
CATALOGUE = ("widget", "gadget", "gizmo")

logger = logging.getLogger("python_api")
logger.setLevel(logging.INFO)
tracer = trace.get_tracer("python-api", "0.1.0")
meter = metrics.get_meter("python-api", "0.1.0")
orders_total = meter.create_counter("orders_total", unit="{order}", description="Orders placed, by SKU and outcome")


def flush_telemetry() -> None:
    """Push what the batch processors still hold; the SDK's atexit shutdown follows."""
    for provider in (trace.get_tracer_provider(), metrics.get_meter_provider(), _logs.get_logger_provider()):
        force_flush = getattr(provider, "force_flush", None)
        if force_flush is not None:
            force_flush(5000)


@asynccontextmanager
async def lifespan(app: FastAPI):
    app.state.http = httpx.AsyncClient(timeout=5.0)
    app.state.redis = aioredis.from_url(REDIS_URL)
    logger.info("python-api started")
    try:
        yield
    finally:
        logger.info("python-api shutting down, flushing telemetry")
        await app.state.http.aclose()
        await app.state.redis.aclose()
        flush_telemetry()


app = FastAPI(title="python-api", lifespan=lifespan)


class Order(BaseModel):
    sku: str
    quantity: int = Field(default=1, ge=1, le=100)


def quantity_bucket(quantity: int) -> str:
    return "1" if quantity == 1 else "2-9" if quantity < 10 else "10+"


@app.get("/healthz")
async def healthz() -> dict:
    return {"status": "ok"}


@app.post("/orders")
async def place_order(order: Order) -> dict:
    sku = order.sku if order.sku in CATALOGUE else "unknown"
    with tracer.start_as_current_span(
        "place-order", attributes={"shop.sku": sku, "shop.quantity_bucket": quantity_bucket(order.quantity)}
    ) as span:
        logger.info("placing order for %s", sku)
        response = await app.state.http.get(f"{GO_SVC_URL}/stock/{sku}")
        if response.status_code != 200:
            span.set_status(Status(StatusCode.ERROR, "stock check failed"))
            orders_total.add(1, {"shop.sku": sku, "status": "rejected"})
            logger.warning("stock check failed with HTTP %d", response.status_code)
            raise HTTPException(status_code=502, detail="stock check failed")
        stock = response.json()

        with tracer.start_as_current_span(
            f"{STREAM} publish",
            kind=SpanKind.PRODUCER,
            attributes={
                "messaging.system": "redis",
                "messaging.destination.name": STREAM,
                "messaging.operation.type": "send",
            },
        ) as publish:
            fields = {"sku": sku, "quantity": str(order.quantity)}
            inject(fields)  # adds traceparent (and tracestate/baggage when present) as stream fields
            message_id = await app.state.redis.xadd(STREAM, fields)
            message_id = message_id.decode() if isinstance(message_id, bytes) else str(message_id)
            publish.set_attribute("messaging.message.id", message_id)

        orders_total.add(1, {"shop.sku": sku, "status": "accepted"})
        logger.info("order accepted, job %s queued", message_id)
        return {"status": "accepted", "sku": sku, "job": message_id, "price_cents": stock.get("price_cents")}
