"""doctor: watches live traffic for common SDK mistakes and reports them per service.

See docs/extensions/doctor.md. Split by concept: ``config`` (settings), ``services`` (resource
attributes, oversized spans), ``cardinality`` (label sketches), ``structure`` (trace-shape checks),
``findings`` (what/why/fix), ``extension`` (the hot path, the interval task, workers, the report).
"""

from __future__ import annotations

from typing import Any

from otelflow.core.component import Factory, Kind, Settings
from otelflow.extensions.doctor.config import Config
from otelflow.extensions.doctor.extension import Doctor


def create(settings: Settings, config: Config, **_: Any) -> Doctor:
    return Doctor(settings, config)


factory = Factory(type="doctor", kind=Kind.EXTENSION, config=Config, create=create, stability="alpha")

__all__ = ["Config", "Doctor", "factory"]
