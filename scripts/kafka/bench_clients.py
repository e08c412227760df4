"""Produce throughput of aiokafka vs confluent-kafka against a local broker (issue 16's choice).

Usage: python scripts/kafka/bench_clients.py [seconds]   (starts its own broker via tests/kafka_broker)
Both clients: 1 KiB values, acks=all, idempotent producer, no compression, one topic of 3
partitions; each run then reads the topic back and checks every acknowledged message is there once.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from confluent_kafka import Consumer, Producer, TopicPartition  # noqa: E402

from tests.kafka_broker import KafkaBroker, install  # noqa: E402

PAYLOAD = os.urandom(1024)


def count_topic(bootstrap: str, topic: str, partitions: int) -> int:
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "bench-count"})
    total = 0
    for p in range(partitions):
        lo, hi = c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
        total += hi - lo
    c.close()
    return total


def bench_confluent(bootstrap: str, topic: str, seconds: float) -> tuple[int, float]:
    acked = 0

    def on_delivery(err, _msg):
        nonlocal acked
        if err is None:
            acked += 1

    p = Producer({
        "bootstrap.servers": bootstrap, "acks": "all", "enable.idempotence": True,
        "linger.ms": 5, "queue.buffering.max.messages": 200000,
    })
    start = time.monotonic()
    n = 0
    while time.monotonic() - start < seconds:
        for _ in range(1000):
            try:
                p.produce(topic, PAYLOAD, key=str(n).encode(), on_delivery=on_delivery)
                n += 1
            except BufferError:
                p.poll(0.01)
        p.poll(0)
    p.flush(60)
    return acked, time.monotonic() - start


async def bench_aiokafka(bootstrap: str, topic: str, seconds: float) -> tuple[int, float]:
    from aiokafka import AIOKafkaProducer

    p = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True,
                         linger_ms=5, max_batch_size=65536)
    await p.start()
    start = time.monotonic()
    n = 0
    pending: list[asyncio.Future] = []
    while time.monotonic() - start < seconds:
        for _ in range(1000):
            pending.append(await p.send(topic, PAYLOAD, key=str(n).encode()))
            n += 1
        if len(pending) > 20000:
            await asyncio.gather(*pending)
            pending.clear()
    await asyncio.gather(*pending)
    elapsed = time.monotonic() - start
    await p.stop()
    return n, elapsed


def main() -> None:
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 10.0
    workdir = Path(tempfile.mkdtemp(prefix="otelflow-kafka-bench-"))
    broker = KafkaBroker(workdir, install())
    broker.format()
    broker.start()
    try:
        for name in ("confluent-kafka", "aiokafka"):
            topic = f"bench-{name}"
            broker.create_topic(topic, 3)
            if name == "aiokafka":
                acked, elapsed = asyncio.run(bench_aiokafka(broker.bootstrap, topic, seconds))
            else:
                acked, elapsed = bench_confluent(broker.bootstrap, topic, seconds)
            stored = count_topic(broker.bootstrap, topic, 3)
            print(f"{name}: {acked} acked in {elapsed:.1f}s = {acked / elapsed:,.0f} msg/s "
                  f"({acked / elapsed / 1024:.1f} MiB/s); on broker {stored} (match={stored == acked})")
    finally:
        broker.stop()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
