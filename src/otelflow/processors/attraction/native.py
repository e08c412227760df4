"""The action loop in C (otelflow.native._attrs) for a whole export request.

Walking ``repeated KeyValue`` through the protobuf Python API costs a wrapper object and a string
per entry and action. The C loop works on the request's encoded bytes instead: it runs the same
actions on every item's attribute list and answers the rewritten request, parsed into a new message
that the processor hands on. Serialising and parsing cost less than the Python walk they save
(figures in bench/README.md, "Attribute actions").

The same loop serves the resource processor (``target="resource"``): the actions then run on each
Resource's attributes, an absent Resource counting as an empty one (kept only if they add to it).

It runs insert, update, upsert (a constant ``value``, ``from_attribute`` or ``default_value``),
delete and hash by ``key``. An action list with anything else (``pattern``, extract, convert,
``from_context``) stays on the Python path (AttrProc), which is the reference; so does a request
whose bytes the C loop does not understand, and everything when the extension is not built or
``OTELFLOW_NATIVE_ATTRS=0`` is set (to compare the two, or to rule the C loop out).
"""

from __future__ import annotations

import os
from typing import Sequence

from google.protobuf.message import Message

from otelflow.core.component import Signal
from otelflow.processors.attraction.actions import DELETE, HASH, INSERT, UPDATE, UPSERT, Action

try:
    from otelflow.native import _attrs
except ImportError:  # built by setup.py when a compiler is there
    _attrs = None
if os.environ.get("OTELFLOW_NATIVE_ATTRS") == "0":
    _attrs = None

if _attrs is not None:
    _KINDS = {INSERT: _attrs.INSERT, UPDATE: _attrs.UPDATE, UPSERT: _attrs.UPSERT, DELETE: _attrs.DELETE,
              HASH: _attrs.HASH}
    _ROOTS = {Signal.TRACES: _attrs.TRACES, Signal.LOGS: _attrs.LOGS, Signal.METRICS: _attrs.METRICS}


class NativeActions:
    """A compiled action list for the C loop, for one signal's export requests."""

    __slots__ = ("program", "root")

    def __init__(self, program, root: int):
        self.program = program
        self.root = root

    def apply(self, data: Message, encoded: bytes | None = None) -> Message | None:
        """The request with the actions applied to every item: ``data`` itself when nothing changed,
        else a new message (parsed from the C loop's output, so that ``data``'s arena is not left
        holding both versions); None when the C loop could not, ``data`` untouched. ``encoded``:
        ``data``'s bytes when the caller has them (the client's, as received)."""
        done = self.apply_encoded(data, encoded)
        return None if done is None else done[0]

    def rewrite(self, encoded: bytes) -> bytes | None:
        """The request's bytes with the actions applied (``encoded`` itself when nothing changed);
        None when the C loop does not understand them."""
        try:
            out = _attrs.apply(self.program, self.root, encoded)
        except ValueError:
            return None
        return encoded if out is None else out

    def apply_encoded(self, data: Message, encoded: bytes | None = None) -> tuple[Message, bytes] | None:
        """``apply``, with the bytes the returned message was parsed from (or, unchanged, is)."""
        if encoded is None:
            encoded = data.SerializeToString()
        try:
            out = _attrs.apply(self.program, self.root, encoded)
        except ValueError:
            return None
        return (data, encoded) if out is None else (type(data).FromString(out), out)


def native_actions(actions: Sequence[Action], signal: Signal, target: str = "items") -> NativeActions | None:
    """The C loop for these actions, or None when it cannot run all of them. ``target``: "items"
    (the signal's spans, log records or data points) or "resource" (every Resource's attributes)."""
    if _attrs is None or not actions:
        return None
    compiled = []
    for action in actions:
        kind = _KINDS.get(action.kind)
        if kind is None or action.regex is not None or action.from_context:
            return None
        try:
            compiled.append((
                kind,
                action.key.encode(),
                None if action.value is None else action.value.SerializeToString(),
                action.from_attribute.encode() if action.from_attribute else None,
                None if action.default is None else action.default.SerializeToString(),
            ))
        except UnicodeEncodeError:  # a key no protobuf string can hold: the Python path says so
            return None
    root = _attrs.RESOURCES if target == "resource" else _ROOTS[signal]
    return NativeActions(_attrs.compile(compiled), root)
