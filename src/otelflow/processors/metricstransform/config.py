"""The metricstransform processor's settings, checked with upstream's (v0.161.0) rules and words."""

from __future__ import annotations

import re

from pydantic import Field, model_validator

from otelflow.config.model import Model

MATCH_TYPES = ("strict", "regexp")
ACTIONS = ("insert", "update", "combine", "group")
OPERATION_ACTIONS = ("add_label", "update_label", "delete_label_value", "toggle_scalar_data_type",
                     "experimental_scale_value", "aggregate_labels", "aggregate_label_values")
AGGREGATION_TYPES = ("sum", "mean", "min", "max", "median", "count")
SUBMATCH_CASES = ("lower", "upper")


def _go_list(values: tuple[str, ...]) -> str:
    """Go's %q of a []string: ["a" "b"]."""
    return "[" + " ".join(f'"{v}"' for v in values) + "]"


class ValueAction(Model):
    value: str = ""
    new_value: str = ""


class Operation(Model):
    action: str = ""
    label: str = ""
    new_label: str = ""
    label_set: list[str] = []
    aggregation_type: str = ""
    aggregated_values: list[str] = []
    new_value: str = ""
    value_actions: list[ValueAction] = []
    experimental_scale: float = 0.0
    label_value: str = ""


class Transform(Model):
    include: str = ""
    match_type: str = ""
    experimental_match_labels: dict[str, str] = {}
    action: str = ""
    new_name: str = ""
    group_resource_labels: dict[str, str] | None = None
    aggregation_type: str = ""
    submatch_case: str = ""
    operations: list[Operation] = []


class Config(Model):
    transforms: list[Transform] = Field(default_factory=list)

    @model_validator(mode="after")
    def _check(self) -> "Config":
        for t in self.transforms:
            _check_transform(t)
        return self


def _check_transform(t: Transform) -> None:
    if not t.include:
        raise ValueError('missing required field "include"')
    if t.match_type and t.match_type not in MATCH_TYPES:
        raise ValueError(f'"match_type" must be in {_go_list(MATCH_TYPES)}')
    if t.match_type == "regexp":
        try:
            re.compile(t.include)
        except re.error as exc:
            raise ValueError(f'"include", error parsing regexp: {exc}') from None
    if t.action not in ACTIONS:
        raise ValueError(f'"action" must be in {_go_list(ACTIONS)}')
    for action in ("insert", "combine"):
        if t.action == action and not t.new_name:
            raise ValueError(f'missing required field "new_name" while "action" is {action}')
    if t.action == "combine" and not t.aggregation_type:
        raise ValueError('missing required field "aggregation_type" while "action" is combine')
    if t.action == "group" and t.group_resource_labels is None:
        raise ValueError('missing required field "group_resource_labels" while "action" is group')
    if t.aggregation_type and t.aggregation_type not in AGGREGATION_TYPES:
        raise ValueError(f'"aggregation_type" must be in {_go_list(AGGREGATION_TYPES)}')
    if t.submatch_case and t.submatch_case not in SUBMATCH_CASES:
        raise ValueError(f'"submatch_case" must be in {_go_list(SUBMATCH_CASES)}')
    for i, op in enumerate(t.operations, 1):
        if op.action not in OPERATION_ACTIONS:
            raise ValueError(f'operation {i}: "action" must be in {_go_list(OPERATION_ACTIONS)}')
        if op.action == "update_label" and not op.label:
            raise ValueError(f'operation {i}: missing required field "label" while "action" is update_label')
        if op.action == "add_label" and not op.new_label:
            raise ValueError(f'operation {i}: missing required field "new_label" while "action" is add_label')
        if op.action == "add_label" and not op.new_value:
            raise ValueError(f'operation {i}: missing required field "new_value" while "action" is add_label')
        if op.action == "experimental_scale_value" and op.experimental_scale == 0:
            raise ValueError(f'operation {i}: missing required field "experimental_scale" while "action" is experimental_scale_value')
        if op.aggregation_type and op.aggregation_type not in AGGREGATION_TYPES:
            raise ValueError(f'operation {i}: "aggregation_type" must be in {_go_list(AGGREGATION_TYPES)}')
