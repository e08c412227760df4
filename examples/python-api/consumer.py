"""queue-consumer: reads order jobs from a Redis stream and continues each job's trace.

Run it with `opentelemetry-instrument python consumer.py` (the distro sets up the providers from
OTEL_* variables). The producer (python-api) injected the W3C context into the message's fields;
here it is extracted and the work runs in a CONSUMER span whose parent is the producer's span:
`start_as_current_span("consume", context=extract(fields), kind=CONSUMER)`.

SIGTERM stops the loop after the current read; the providers are then flushed and shut down.
"""

from __future__ import annotations

import logging
import os
import signal
import time

import redis
from opentelemetry import _logs, metrics, trace
from opentelemetry.propagate import extract
from opentelemetry.trace import SpanKind

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
STREAM = os.environ.get("ORDERS_STREAM", "orders")
GROUP = os.environ.get("ORDERS_GROUP", "fulfilment")
NAME = os.environ.get("CONSUMER_NAME", "worker-1")  # one per process: bounded

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
logger = logging.getLogger("queue_consumer")
tracer = trace.get_tracer("queue-consumer", "0.1.0")
running = True


def stop(signum, frame) -> None:
    global running
    running = False


def handle(message_id: str, fields: dict[str, str]) -> None:
    with tracer.start_as_current_span(
        "consume",
        context=extract(fields),
        kind=SpanKind.CONSUMER,
        attributes={
            "messaging.system": "redis",
            "messaging.destination.name": STREAM,
            "messaging.operation.type": "process",
            "messaging.consumer.group.name": GROUP,
            "messaging.message.id": message_id,
            "shop.sku": fields.get("sku", "unknown"),
        },
    ):
        logger.info("fulfilling order for %s x%s", fields.get("sku"), fields.get("quantity"))
        time.sleep(0.01)  # the work


def main() -> None:
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    client = redis.Redis.from_url(REDIS_URL, decode_responses=True)
    try:
        client.xgroup_create(STREAM, GROUP, id="0", mkstream=True)
    except redis.ResponseError as e:
        if "BUSYGROUP" not in str(e):
            raise
    logger.info("queue-consumer reading stream %s as %s/%s", STREAM, GROUP, NAME)
    try:
        while running:
            batches = client.xreadgroup(GROUP, NAME, {STREAM: ">"}, count=10, block=500)
            for _stream, messages in batches or []:
                for message_id, fields in messages:
                    handle(message_id, fields)
                    client.xack(STREAM, GROUP, message_id)
    finally:
        logger.info("queue-consumer stopping, flushing telemetry")
        client.close()
        for provider in (trace.get_tracer_provider(), metrics.get_meter_provider(), _logs.get_logger_provider()):
            shutdown = getattr(provider, "shutdown", None)
            if shutdown is not None:
                shutdown()


if __name__ == "__main__":
    main()
