"""The action configuration (``actions`` of the attributes processor, ``attributes`` of the resource
processor), checked and compiled once at config time as upstream's NewAttrProc does, with its
error messages."""

from __future__ import annotations

from typing import Any, Sequence

from opentelemetry.proto.common.v1.common_pb2 import AnyValue
from pydantic import model_validator

from otelflow.config.model import Model
from otelflow.pdata.goregexp import GoRegexp, GoRegexpError
from otelflow.processors.attraction.values import go_quote, value_from_raw


INSERT = "insert"
UPDATE = "update"
UPSERT = "upsert"
DELETE = "delete"
HASH = "hash"
EXTRACT = "extract"
CONVERT = "convert"

CONVERT_TARGETS = ("string", "int", "double")


class DropNulls(Model):
    """A YAML ``key:`` with nothing after it means the key's zero value, as with mapstructure."""

    @model_validator(mode="before")
    @classmethod
    def _drop_nulls(cls, data: Any) -> Any:
        if isinstance(data, dict):
            return {k: v for k, v in data.items() if v is not None}
        return data


class ActionConfig(DropNulls):
    """One entry of ``actions`` (attributes processor) or ``attributes`` (resource processor)."""

    key: str = ""
    value: Any = None
    default_value: Any = None
    pattern: str = ""
    from_attribute: str = ""
    from_context: str = ""
    converted_type: str = ""
    action: str = ""


class Action:
    __slots__ = ("kind", "key", "value", "default", "from_attribute", "from_context", "regex", "names", "converted_type")

    def __init__(self, kind: str, key: str):
        self.kind = kind
        self.key = key
        self.value: AnyValue | None = None
        self.default: AnyValue | None = None
        self.from_attribute = ""
        self.from_context = ""
        self.regex: GoRegexp | None = None
        self.names: list[str] = []
        self.converted_type = ""


def compile_actions(configs: Sequence[ActionConfig]) -> list[Action]:
    """Check the actions as upstream's NewAttrProc does (same messages) and build them."""
    actions = []
    for i, cfg in enumerate(configs):
        kind = cfg.action.lower()
        where = f"error with key {go_quote(cfg.key)} ({i}-th action)"
        if kind in (DELETE, HASH):
            if not cfg.key and not cfg.pattern:
                raise ValueError(f'error creating AttrProc due to missing required field (at least one of "key" and "pattern" have to be used) at the {i}-th action')
        elif not cfg.key:
            raise ValueError(f'error creating AttrProc due to missing required field "key" at the {i}-th action')
        action = Action(kind, cfg.key)
        sources = (cfg.value is not None) + bool(cfg.from_attribute) + bool(cfg.from_context)
        if kind in (INSERT, UPDATE, UPSERT):
            if sources == 0 and cfg.default_value is None:
                raise ValueError(f'{where}: error creating AttrProc. Either field "value", "from_attribute", "from_context", or "default_value" must be specified')
            if sources > 1:
                raise ValueError(f"{where}: error creating AttrProc due to multiple value sources being set")
            if cfg.pattern:
                raise ValueError(f'{where}: error creating AttrProc. Action "{kind}" does not use the "pattern" field. This must not be specified')
            if cfg.converted_type:
                raise ValueError(f'{where}: error creating AttrProc. Action "{kind}" does not use the "converted_type" field. This must not be specified')
            if cfg.value is not None:
                action.value = value_from_raw(cfg.value)
            else:
                action.from_attribute = cfg.from_attribute
                action.from_context = cfg.from_context
            if cfg.default_value is not None:
                try:
                    action.default = value_from_raw(cfg.default_value)
                except ValueError as exc:
                    raise ValueError(f"{where}: error creating AttrProc due to invalid default value: {exc}") from None
        elif kind in (HASH, DELETE):
            if cfg.value is not None or cfg.from_attribute:
                raise ValueError(f'{where}: error creating AttrProc. Action "{kind}" does not use "value" or "from_attribute" field. These must not be specified')
            if cfg.pattern:
                action.regex = _compile_action_pattern(cfg.pattern, where)
            if cfg.converted_type:
                raise ValueError(f'{where}: error creating AttrProc. Action "{kind}" does not use the "converted_type" field. This must not be specified')
        elif kind == EXTRACT:
            if sources > 0:
                raise ValueError(f'{where}: error creating AttrProc. Action "{kind}" does not use a value source field. These must not be specified')
            if not cfg.pattern:
                raise ValueError(f'{where}: error creating AttrProc due to missing required field "pattern" for action "{kind}"')
            if cfg.converted_type:
                raise ValueError(f'{where}: error creating AttrProc. Action "{kind}" does not use the "converted_type" field. This must not be specified')
            regex = _compile_action_pattern(cfg.pattern, where)
            if len(regex.names) <= 1:
                raise ValueError(f'{where}: error creating AttrProc. Field "pattern" contains no named matcher groups')
            if any(name == "" for name in regex.names[1:]):
                raise ValueError(f'{where}: error creating AttrProc. Field "pattern" contains at least one unnamed matcher group')
            action.regex = regex
            action.names = regex.names
        elif kind == CONVERT:
            if sources > 0 or cfg.pattern:
                raise ValueError(f'{where}: error creating AttrProc. Action "{kind}" does not use value sources or "pattern" field. These must not be specified')
            if cfg.converted_type == "":
                raise ValueError(f'{where}: error creating AttrProc due to missing required field "converted_type" for action "{kind}"')
            if cfg.converted_type not in CONVERT_TARGETS:
                raise ValueError(f'{where}: error creating AttrProc due to invalid value "{cfg.converted_type}" in field "converted_type" for action "{kind}"')
            action.converted_type = cfg.converted_type
        else:
            raise ValueError(f"{where}: error creating AttrProc due to unsupported action {go_quote(kind)}")
        actions.append(action)
    return actions


def _compile_action_pattern(pattern: str, where: str) -> GoRegexp:
    try:
        return GoRegexp(pattern)
    except GoRegexpError:
        raise ValueError(f'{where}: error creating AttrProc. Field "pattern" has invalid pattern: "{pattern}"') from None
