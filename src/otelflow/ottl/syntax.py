"""OTTL's syntax tree: what the grammar produces and the compiler consumes (plain dataclasses)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Union


@dataclass
class KeyNode:
    string: str | None = None
    int: int | None = None
    expr: "Value | None" = None  # a math expression, path or converter evaluated per item


@dataclass
class FieldNode:
    name: str
    keys: list[KeyNode] = field(default_factory=list)


@dataclass
class PathNode:
    context: str
    fields: list[FieldNode]
    pos: int
    text: str


@dataclass
class CallNode:
    name: str
    args: list["ArgNode"]
    keys: list[KeyNode]
    pos: int

    @property
    def is_editor(self) -> bool:
        return self.name[:1].islower()


@dataclass
class ArgNode:
    name: str | None
    value: "Value | None"
    function_name: str | None = None  # a bare converter name (FunctionGetter argument)


@dataclass
class Literal:
    value: Any  # str, int, float, bool, bytes or None (nil)
    kind: str   # "string", "int", "float", "bool", "bytes", "nil"


@dataclass
class EnumNode:
    name: str
    pos: int


@dataclass
class ListNode:
    items: list["Value"]


@dataclass
class MapNode:
    items: list[tuple[str, "Value"]]


@dataclass
class MathNode:
    op: str  # + - * /
    left: "Value"
    right: "Value"


@dataclass
class NegNode:
    operand: "Value"


@dataclass
class LambdaNode:
    params: list[str]
    pos: int
    body_value: "Value | None" = None     # ``(k, v) => Concat([k, v], "=")``
    body_expr: "BoolExpr | None" = None   # ``(k, v) => v != nil and k != "x"``


Value = Union[Literal, EnumNode, PathNode, CallNode, ListNode, MapNode, MathNode, NegNode, LambdaNode]


@dataclass
class Comparison:
    left: Value
    op: str
    right: Value


@dataclass
class BoolConst:
    value: bool


@dataclass
class BoolCall:
    call: CallNode


@dataclass
class Not:
    operand: "BoolExpr"


@dataclass
class And:
    operands: list["BoolExpr"]


@dataclass
class Or:
    operands: list["BoolExpr"]


BoolExpr = Union[Comparison, BoolConst, BoolCall, Not, And, Or]


@dataclass
class StatementNode:
    editor: CallNode
    where: BoolExpr | None


