"""Operator type -> (config model, builder). Operator packages register themselves on import."""

from __future__ import annotations

import importlib
from typing import Callable

from otelflow.config.model import Model
from otelflow.stanza.operator import Operator

Builder = Callable[[Model], Operator]

_OPERATORS: dict[str, tuple[type[Model], Builder]] = {}
_PACKAGES = ("otelflow.stanza.operators.parser", "otelflow.stanza.operators.transformer")
_loaded = False


def register(type_name: str, config_model: type[Model], builder: Builder) -> None:
    """Make ``type_name`` usable in `operators:`; ``builder(cfg)`` may raise operator.BuildError."""
    _OPERATORS[type_name] = (config_model, builder)


def _load() -> None:
    global _loaded
    if _loaded:
        return
    _loaded = True
    for name in _PACKAGES:
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as exc:
            # A package still being written is optional; a broken import inside one is not.
            if exc.name is None or not name.startswith(exc.name):
                raise


def lookup(type_name: str) -> tuple[type[Model], Builder] | None:
    _load()
    return _OPERATORS.get(type_name)


def known_types() -> list[str]:
    _load()
    return sorted(_OPERATORS)
