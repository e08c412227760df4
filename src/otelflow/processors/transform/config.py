"""The ``transform`` config: upstream transformprocessor v0.161.0's keys, defaults and errors.

``trace_statements`` / ``metric_statements`` / ``log_statements`` take either plain statement
strings (the basic style: all of them become ONE group whose context is inferred) or groups
(``context``, ``conditions``, ``statements``, ``error_mode``, ``shared_cache``). Plain strings
after groups are allowed and form a last group; a group after plain strings is the "multiple
configuration styles" error, as upstream's Unmarshal. Every statement and condition is compiled
when the config is validated, so a bad one is a config error naming it.

``error_mode`` defaults to ``ignore`` (upstream v0.161.0; the ``defaultErrorModeIgnore`` gate is
stable). ``flatten_data`` needs upstream's alpha ``transform.flatten.logs`` feature gate, which
otelflow does not have, so ``flatten_data: true`` is refused with upstream's message.
``profile_statements`` is accepted and ignored: otelflow has no profiles signal.
"""

from __future__ import annotations

import logging
from typing import Any

from pydantic import ConfigDict, field_validator, model_validator

from otelflow.config.model import Model
from otelflow.ottl.errors import OttlConfigError

ERROR_MODES = ("ignore", "propagate", "silent")
CONTEXT_IDS = ("resource", "scope", "span", "spanevent", "metric", "datapoint", "exemplar", "log", "profile")
_STATEMENT_KEYS = ("trace_statements", "metric_statements", "log_statements", "profile_statements")
_SIGNALS = {"trace_statements": "traces", "metric_statements": "metrics", "log_statements": "logs"}

_NOP = logging.getLogger("otelflow.processor.transform.validate")
_NOP.addHandler(logging.NullHandler())
_NOP.propagate = False


def parse_error_mode(value: Any, allow_empty: bool = False) -> str:
    text = str(value).lower()
    if text == "" and allow_empty:
        return ""
    if text not in ERROR_MODES:
        raise ValueError(f"unknown error mode {text}")
    return text


def _go_t(value: Any) -> str:
    """Go's %t of a value that is not a bool (what upstream prints for a non-list)."""
    if value is None:
        return "%!t(<nil>)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f"%!t(string={value})"
    if isinstance(value, int):
        return f"%!t(int={value})"
    if isinstance(value, float):
        return f"%!t(float64={value:g})"
    if isinstance(value, dict):
        inner = " ".join(f"{k}:{v}" for k, v in sorted(value.items(), key=lambda kv: str(kv[0])))
        return f"%!t(map[string]interface {{}}=map[{inner}])"
    return f"%!t({value})"


class _Strict(Model):
    model_config = ConfigDict(extra="forbid", strict=True, coerce_numbers_to_str=False)

    @model_validator(mode="before")
    @classmethod
    def _nulls_unset(cls, data: Any) -> Any:
        return {k: v for k, v in data.items() if v is not None} if isinstance(data, dict) else data


class ContextStatements(_Strict):
    context: str = ""
    conditions: list[str] = []
    statements: list[str] = []
    error_mode: str = ""
    shared_cache: bool = False

    @field_validator("context")
    @classmethod
    def _context(cls, v: str) -> str:
        text = v.lower()
        if text and text not in CONTEXT_IDS:
            raise ValueError(f"unknown context {text}")
        return text

    @field_validator("error_mode")
    @classmethod
    def _error_mode(cls, v: str) -> str:
        return parse_error_mode(v, allow_empty=True)


class Config(_Strict):
    error_mode: str = "ignore"
    trace_statements: list[ContextStatements] = []
    metric_statements: list[ContextStatements] = []
    log_statements: list[ContextStatements] = []
    profile_statements: list[ContextStatements] = []
    flatten_data: bool = False

    @model_validator(mode="before")
    @classmethod
    def _styles(cls, data: Any) -> Any:
        """Upstream's Config.Unmarshal: plain strings become one group appended last."""
        if not isinstance(data, dict):
            return data
        data = dict(data)
        for field in _STATEMENT_KEYS:
            if field not in data:
                continue
            raw = data[field]
            if not isinstance(raw, list):
                raise ValueError(f"invalid {field} type, expected: array, got: {_go_t(raw)}")
            if not raw:
                del data[field]
                continue
            groups, basic = [], []
            for item in raw:
                if item is None:
                    raise ValueError(f"invalid {field} item: empty statement list items are not supported")
                if isinstance(item, str):
                    basic.append(item)
                else:
                    if basic:
                        raise ValueError("configuring multiple configuration styles is not supported, please use "
                                         "only Basic configuration or only Advanced configuration")
                    groups.append(item)
            if basic:
                groups.append({"statements": basic})
            data[field] = groups
        return data

    @field_validator("error_mode")
    @classmethod
    def _error_mode(cls, v: str) -> str:
        return parse_error_mode(v)

    @model_validator(mode="after")
    def _compile(self) -> "Config":
        """Config.Validate: every group of every signal compiled; all errors reported together."""
        from .groups import compile_groups

        errors = []
        for field, signal in _SIGNALS.items():
            groups = getattr(self, field)
            if not groups:
                continue
            try:
                compile_groups(signal, groups, self.error_mode, _NOP)
            except OttlConfigError as e:
                errors.append(str(e))
        if self.flatten_data:
            errors.append("'flatten_data' requires the 'transform.flatten.logs' feature gate to be enabled")
        if errors:
            raise ValueError("; ".join(errors))
        return self
