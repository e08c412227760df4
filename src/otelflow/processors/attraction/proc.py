"""The action loop on one ``repeated KeyValue``, with pcommon.Map's list semantics (see the package
docstring), and the lookup of ``from_context`` values."""

from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence

from opentelemetry.proto.common.v1.common_pb2 import AnyValue

from otelflow.processors.attraction.actions import (
    CONVERT, DELETE, EXTRACT, HASH, INSERT, UPDATE, UPSERT, Action, ActionConfig, compile_actions,
)
from otelflow.processors.attraction.convert import convert_value
from otelflow.processors.attraction.values import hash_value, value_from_raw


class ClientInfo:
    """What a receiver knows about the caller, for ``from_context``: request metadata (headers),
    the authenticator's attributes and the peer address. Receivers do not hand it to processors
    yet, so ``from_context`` finds nothing and falls back to ``default_value``."""

    __slots__ = ("metadata", "auth", "address")

    def __init__(self, metadata: Mapping[str, Sequence[str]] | None = None, auth: Mapping[str, Any] | None = None,
                 address: str = ""):
        self.metadata = {k.lower(): list(v) for k, v in (metadata or {}).items()}
        self.auth = auth
        self.address = address


def context_value(info: ClientInfo | None, key: str) -> AnyValue | None:
    """Upstream's lookup for ``from_context``: ``client.address``, ``metadata.<name>``,
    ``auth.<name>``, else metadata by the whole key; several values are joined with ``;``."""
    if info is None:
        return None
    if key == "client.address":
        values = [info.address]
    elif key.startswith("metadata."):
        values = info.metadata.get(key[len("metadata."):].lower(), [])
    elif key.startswith("auth."):
        if info.auth is None:
            return None
        attr = info.auth.get(key[len("auth."):])
        if isinstance(attr, str):
            return value_from_raw(attr)
        if not (isinstance(attr, list) and all(isinstance(a, str) for a in attr)):
            return None
        values = attr
    else:
        values = info.metadata.get(key.lower(), [])
    if not values:
        return None
    return value_from_raw(";".join(values))


def _find(attrs, key: str):
    for kv in attrs:
        if kv.key == key:
            return kv
    return None


def _remove(attrs, key: str) -> None:
    """pcommon.Map.Remove: the first entry with the key goes, the last entry takes its slot."""
    for i, kv in enumerate(attrs):
        if kv.key == key:
            last = len(attrs) - 1
            if i != last:
                kv.CopyFrom(attrs[last])
            del attrs[last]
            return


def _remove_matching(attrs, search: Callable) -> None:
    """pcommon.Map.RemoveIf on the key: the others keep their order."""
    doomed = [i for i, kv in enumerate(attrs) if search(kv.key) is not None]
    for i in reversed(doomed):
        del attrs[i]


def _put(attrs, key: str, value: AnyValue) -> None:
    kv = _find(attrs, key)
    if kv is None:
        kv = attrs.add()
        kv.key = key
    kv.value.CopyFrom(value)


class AttrProc:
    """A compiled action list; ``process`` applies it to one ``repeated KeyValue``."""

    __slots__ = ("actions", "logger")

    def __init__(self, configs: Sequence[ActionConfig], logger=None):
        self.actions = compile_actions(configs)
        self.logger = logger

    def _source(self, action: Action, attrs, info: ClientInfo | None) -> AnyValue | None:
        if action.value is not None:
            return action.value
        if action.from_context:
            found = context_value(info, action.from_context)
            if found is not None:
                return found
        if action.from_attribute:
            kv = _find(attrs, action.from_attribute)
            if kv is not None:
                return kv.value
        return action.default

    def process(self, attrs, info: ClientInfo | None = None) -> None:
        for action in self.actions:
            kind = action.kind
            if kind == DELETE:
                if action.key:
                    _remove(attrs, action.key)
                if action.regex is not None:
                    _remove_matching(attrs, action.regex.search)
            elif kind == HASH:
                if action.key:
                    kv = _find(attrs, action.key)
                    if kv is not None:
                        hash_value(kv.value)
                if action.regex is not None:
                    search = action.regex.search
                    for kv in attrs:
                        if search(kv.key) is not None:
                            hash_value(kv.value)
            elif kind == INSERT:
                src = self._source(action, attrs, info)
                if src is None or _find(attrs, action.key) is not None:
                    continue
                kv = attrs.add()
                kv.key = action.key
                kv.value.CopyFrom(src)
            elif kind == UPDATE:
                src = self._source(action, attrs, info)
                if src is None:
                    continue
                kv = _find(attrs, action.key)
                if kv is not None and kv.value is not src:
                    kv.value.CopyFrom(src)
            elif kind == UPSERT:
                src = self._source(action, attrs, info)
                if src is None:
                    continue
                kv = _find(attrs, action.key)
                if kv is None:
                    kv = attrs.add()
                    kv.key = action.key
                    kv.value.CopyFrom(src)
                elif kv.value is not src:
                    kv.value.CopyFrom(src)
            elif kind == EXTRACT:
                kv = _find(attrs, action.key)
                if kv is None or kv.value.WhichOneof("value") != "string_value":
                    continue
                match = action.regex.search(kv.value.string_value)
                if match is None:
                    continue
                names = action.names
                for group in range(1, len(names)):
                    text = match.group(group)
                    name = names[group]
                    target = _find(attrs, name)
                    if target is None:
                        target = attrs.add()
                        target.key = name
                    target.value.string_value = "" if text is None else text
            elif kind == CONVERT:
                kv = _find(attrs, action.key)
                if kv is not None:
                    convert_value(kv.value, action.converted_type)
