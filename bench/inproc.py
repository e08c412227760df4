"""In-process processor benchmarks' shared parts (micro_attributes.py, micro_ottl.py,
python_processor_bench.py): a processor built from the registry as a config would build it, a sink
that discards, and CPU time per item of ``consume`` with no event loop in the measurement."""

from __future__ import annotations

import time
from typing import Any


class NullSink:
    """The next consumer: takes every request and does nothing (so only the processor is timed)."""

    mutates_data = False

    async def consume(self, data: Any) -> None:
        return None


def processor(name: str, raw: dict, signal: str = "traces", next: Any = None) -> Any:
    """The processor ``name`` (``type[/name]``) configured by ``raw``, built as the collector builds
    it; imported late so that callers can put src/ on sys.path first."""
    from otelflow.core.component import ComponentID, Kind, Settings, Signal
    from otelflow.core.registry import default_registry
    from otelflow.core.telemetry import Telemetry

    factory = default_registry.get(Kind.PROCESSOR, name.split("/")[0])
    config = factory.config.model_validate(raw)
    settings = Settings(ComponentID.parse(name), Kind.PROCESSOR, Telemetry(), signal=Signal(signal))
    return factory.create(settings=settings, config=config, next=next if next is not None else NullSink())


def run_once(proc: Any, data: Any) -> None:
    """Runs consume to completion without an event loop (the sink never waits)."""
    try:
        proc.consume(data).send(None)
    except StopIteration:
        return
    raise RuntimeError("the processor waited")


def cpu_us_per_item(proc: Any, body: bytes, message: Any, items: int, requests: int) -> float:
    """CPU microseconds per item (span, record) over ``requests`` runs, each request parsed just
    before (warm in cache, as a receiver hands it on) and the parse not counted."""
    took = 0.0
    for _ in range(requests):
        r = message.FromString(body)
        started = time.process_time()
        run_once(proc, r)
        took += time.process_time() - started
    return took / (items * requests) * 1e6
