"""Call standard functions directly: constant getters, and a path over a plain holder."""

from __future__ import annotations

from typing import Any

from otelflow.ottl.funcs import STANDARD
from otelflow.ottl.funcs._util import const
from otelflow.ottl.values import PMap, get_value, new_pmap, set_value, to_raw
from opentelemetry.proto.common.v1.common_pb2 import AnyValue


def dyn(value: Any):
    """A getter the compiler would not mark literal."""
    return lambda ctx: value


class Slot:
    """A GetSetter over one AnyValue (like attributes["x"])."""

    text = "slot"

    def __init__(self, value: Any = None):
        self.av = AnyValue()
        if value is not None:
            set_value(self.av, value)

    def get(self, ctx):
        return get_value(self.av) if self.av.WhichOneof("value") else None

    def set(self, ctx, value):
        set_value(self.av, value)

    @property
    def raw(self):
        return to_raw(self.av) if self.av.WhichOneof("value") else None


def call(name: str, *args):
    """Build ``name`` with the given compiled arguments and run it once."""
    return STANDARD[name].build(*args)(None)


def lit(v):
    return const(v)


__all__ = ["STANDARD", "Slot", "call", "lit", "dyn", "new_pmap", "PMap"]
