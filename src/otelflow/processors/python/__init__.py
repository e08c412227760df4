"""The ``python`` processor: a class written in plain Python, called per request for traces,
metrics and logs (otelflow only; upstream has no equivalent).

``config`` holds the keys (``module`` or ``file``, ``class``, ``config``, ``error_mode``),
``loader`` finds and (re)imports the plugin, ``api`` is what plugins import (the one public path:
``otelflow.processors.python.api``): the batches over ``views`` of the messages, with ``batch``
(drops, rollback) and ``values`` (OTLP values as Python ones) beneath; ``processor`` runs the
plugin. See docs/processors/python.md.
"""

from __future__ import annotations

from otelflow.core.component import Factory, Kind, STABLE_SIGNALS

from .config import Config
from .processor import PythonProcessor

factory = Factory(
    type="python",
    kind=Kind.PROCESSOR,
    config=Config,
    create=lambda settings, config, next: PythonProcessor(settings, config, next),
    signals=STABLE_SIGNALS,
    stability="development",
)

__all__ = ["factory", "Config", "PythonProcessor"]
