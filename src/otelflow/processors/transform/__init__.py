"""The ``transform`` processor: OTTL statements that change traces, metrics and logs, as upstream's
transformprocessor (contrib v0.161.0). ``config`` holds the keys and the basic/advanced styles,
``groups`` compiles statement groups (context inference included), ``processor`` runs them, and
``metric_*``/``functions`` hold the functions only this processor offers."""

from __future__ import annotations

from otelflow.core.component import Factory, Kind, STABLE_SIGNALS

from .config import Config
from .processor import TransformProcessor

factory = Factory(
    type="transform",
    kind=Kind.PROCESSOR,
    config=Config,
    create=lambda settings, config, next: TransformProcessor(settings, config, next),
    signals=STABLE_SIGNALS,
    stability="beta",
)

__all__ = ["factory", "Config", "TransformProcessor"]
