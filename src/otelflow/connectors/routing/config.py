"""The routing connector's config and its validation, as upstream's routingconnector (v0.148.0)."""

from __future__ import annotations

from typing import Any

from pydantic import field_validator, model_validator

from otelflow.config.model import Model
from otelflow.connectors.routing.request import parse_request_condition
from otelflow.ottl.collection import parse_error_mode

ERR_NO_CONDITION_OR_STATEMENT = "invalid route: no condition or statement provided"
ERR_CONDITION_AND_STATEMENT = "invalid route: both condition and statement provided"
ERR_NO_PIPELINES = "invalid route: no pipelines defined"
ERR_NO_TABLE_ITEMS = "invalid routing table: the routing table is empty"
ERR_UNEXPECTED_ACTION = "invalid routing action: if provided should be one of move/copy"

_SIGNALS = ("traces", "metrics", "logs", "profiles")


def _pipeline_id(text: Any) -> str:
    """pipeline.ID's UnmarshalText: ``signal[/name]`` with a known signal."""
    text = str(text).strip()
    signal, sep, name = text.partition("/")
    if signal not in _SIGNALS:
        raise ValueError(f"unknown signal {text!r}" if not signal else f'unknown signal "{signal}"')
    if sep and not name:
        raise ValueError("name part must be specified after / in a pipeline ID")
    return text


class RoutingTableItem(Model):
    context: str = ""
    statement: str = ""
    condition: str = ""
    action: str = ""
    pipelines: list[str] = []

    @model_validator(mode="before")
    @classmethod
    def _nulls(cls, data: Any) -> Any:
        if isinstance(data, dict):
            return {k: v for k, v in data.items() if v is not None}
        return data

    @field_validator("action")
    @classmethod
    def _action(cls, value: str) -> str:
        if value not in ("", "copy", "move"):
            raise ValueError(f"invalid Action string: {value}")
        return value

    @field_validator("pipelines", mode="before")
    @classmethod
    def _pipelines(cls, value: Any) -> Any:
        if isinstance(value, list):
            return [_pipeline_id(v) for v in value]
        return value


class Config(Model):
    error_mode: str = "propagate"
    default_pipelines: list[str] = []
    table: list[RoutingTableItem] = []

    @model_validator(mode="before")
    @classmethod
    def _nulls(cls, data: Any) -> Any:
        if isinstance(data, dict):
            return {k: v for k, v in data.items() if v is not None}
        return data

    @field_validator("error_mode")
    @classmethod
    def _mode(cls, value: str) -> str:
        return parse_error_mode(value)

    @field_validator("default_pipelines", mode="before")
    @classmethod
    def _defaults(cls, value: Any) -> Any:
        if isinstance(value, list):
            return [_pipeline_id(v) for v in value]
        return value

    @model_validator(mode="after")
    def _validate(self) -> "Config":
        if not self.table:
            raise ValueError(ERR_NO_TABLE_ITEMS)
        for item in self.table:
            if item.statement == "" and item.condition == "":
                raise ValueError(ERR_NO_CONDITION_OR_STATEMENT)
            if item.statement != "" and item.condition != "":
                raise ValueError(ERR_CONDITION_AND_STATEMENT)
            if not item.pipelines:
                raise ValueError(ERR_NO_PIPELINES)
            if item.action not in ("", "copy", "move"):
                raise ValueError(ERR_UNEXPECTED_ACTION)
            if item.context in ("", "resource", "span", "metric", "datapoint", "log"):
                continue
            if item.context == "request":
                if item.statement != "" or item.condition == "":
                    raise ValueError("\"request\" context requires a 'condition'")
                parse_request_condition(item.condition)
                continue
            raise ValueError("invalid context: " + item.context)
        return self
