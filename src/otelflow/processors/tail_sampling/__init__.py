"""The ``tail_sampling`` processor (upstream: contrib ``tailsamplingprocessor`` v0.161.0).

* :mod:`.config` — the config models, upstream's keys, defaults and errors, and the otelflow route rule;
* :mod:`.gosem` — Go behaviour the decisions depend on (pdata values, durations, FNV, W3C tracestate,
  the token bucket);
* :mod:`.policies`, :mod:`.combinators` — the evaluators; :mod:`.build` — configs to evaluators;
* :mod:`.store` — spans buffered as serialized fragments, the decision batcher, the decision caches;
* :mod:`.processor` — intake, the tick, decisions and forwarding.

Docs: ``docs/processors/tail_sampling.md``.
"""

from __future__ import annotations

from otelflow.core.component import Factory, Kind, Signal
from otelflow.processors.tail_sampling.config import Config
from otelflow.processors.tail_sampling.processor import TailSamplingProcessor

factory = Factory(
    type="tail_sampling",
    kind=Kind.PROCESSOR,
    config=Config,
    create=lambda settings, config, next: TailSamplingProcessor(settings, config, next),
    signals=frozenset({Signal.TRACES}),
    stability="beta",
    state_key="trace_id",
)

__all__ = ["Config", "TailSamplingProcessor", "factory"]
