"""The ``probabilistic_sampler`` processor: keeps a share of spans or log records, by trace ID.

It behaves as upstream's probabilisticsamplerprocessor (contrib v0.161.0). Three modes:

* ``hash_seed`` (the default): FNV-1a over the 4 little-endian bytes of ``hash_seed`` followed by the
  trace ID (logs: or an attribute's bytes); an item is kept when the low 14 bits of the hash are
  below ``uint32(float32(percentage) * float32(16384/100))``. The hash is also turned into a 56-bit
  randomness value that is written into the item (``rv``) with the threshold (``th``).
* ``proportional``: consistent sampling (W3C/OTel): randomness from ``rv`` or the low 56 bits of the
  trace ID, threshold = the arriving probability times the configured one.
* ``equalizing``: the same randomness, threshold = the configured one unless the item already
  arrived with a lower probability.

Traces carry ``ot=rv:…;th:…`` in the span's ``tracestate``; logs carry ``sampling.randomness`` and
``sampling.threshold`` attributes. See docs/processors/probabilistic_sampler.md.

Modules: ``config`` (settings and shared names), ``carriers`` (where an item keeps rv/th),
``samplers`` (the modes and the decision), ``traces`` and ``logs`` (one request at a time),
``prune`` (removing what was not kept).
"""

from __future__ import annotations

import logging  # noqa: F401  (the tests build samplers with ps.logging.getLogger)
from collections import Counter

from google.protobuf.message import Message

from otelflow.core.component import Component, Factory, Kind, Settings, Signal
from otelflow.processors.probabilistic_sampler import prune  # noqa: F401  (prune._REBUILD_ABOVE, patched by tests)
from otelflow.processors.probabilistic_sampler.config import (
    EQUALIZING,
    HASH_SEED,
    LOGS_METRIC,
    PROPORTIONAL,
    TRACES_METRIC,
    Config,
)
from otelflow.processors.probabilistic_sampler.logs import _LogsSampler
from otelflow.processors.probabilistic_sampler.samplers import (
    _EqualizingSampler,
    _HashingSampler,
    _NeverSampler,
    _ProportionalSampler,
    hash_randomness,
    make_sampler,
)
from otelflow.processors.probabilistic_sampler.traces import _DEFER, _MUST, _NEVER, _TracesSampler, fnv1a32_many, span_priority

__all__ = [
    "EQUALIZING", "HASH_SEED", "LOGS_METRIC", "PROPORTIONAL", "TRACES_METRIC", "Config", "ProbabilisticSampler", "factory",
    "fnv1a32_many", "hash_randomness", "make_sampler", "span_priority", "_DEFER", "_MUST", "_NEVER", "_EqualizingSampler",
    "_HashingSampler", "_NeverSampler", "_ProportionalSampler", "_TracesSampler", "_LogsSampler",
]


# ---- the component ---------------------------------------------------------------------------------

class ProbabilisticSampler(Component):
    mutates_data = True  # removes items and rewrites tracestate / sampling.* attributes

    def __init__(self, settings: Settings, config: Config, next_consumer):
        self.next = next_consumer
        self.telemetry = settings.telemetry
        if settings.signal is Signal.LOGS:
            self.impl: _TracesSampler | _LogsSampler = _LogsSampler(config, settings.logger)
            self.metric = LOGS_METRIC
        else:
            self.impl = _TracesSampler(config, settings.logger)
            self.metric = TRACES_METRIC

    def sample(self, data: Message) -> bool:
        """Sample ``data`` in place; False when nothing is left to pass on."""
        counts: Counter = Counter()  # (sampled, tracestate, policy) -> items
        try:
            return self.impl.process(data, counts)
        finally:
            by_policy: Counter = Counter()
            for (sampled, _, policy), n in counts.items():
                by_policy[(policy, sampled)] += n
            for (policy, sampled), n in by_policy.items():
                self.telemetry.add(self.metric, n, policy=policy, sampled="true" if sampled else "false")

    async def consume(self, data: Message) -> None:
        if not self.sample(data):
            return  # as upstream's ErrSkipProcessingData: success, and the rest of the pipeline is skipped
        await self.next.consume(data)


factory = Factory(
    type="probabilistic_sampler",
    kind=Kind.PROCESSOR,
    config=Config,
    create=lambda settings, config, next: ProbabilisticSampler(settings, config, next),
    signals=frozenset({Signal.TRACES, Signal.LOGS}),
)
