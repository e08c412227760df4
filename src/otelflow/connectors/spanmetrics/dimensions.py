"""What identifies a series: the fixed dimensions (service, span name, kind, status, collector
instance, optional scope and sampling method) less ``exclude_dimensions``, plus the configured
dimensions (by name with a default, or by glob). The key string and the attribute list are built
from the same rules, so they live together here."""

from __future__ import annotations

from typing import Any

from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

from otelflow.connectors.spanmetrics.config import (
    COLLECTOR_INSTANCE,
    SERVICE_NAME,
    SPAN_KIND,
    SPAN_NAME,
    STATUS_CODE,
    Dimension,
)
from otelflow.connectors.spanmetrics.glob import compile_glob
from otelflow.pdata.otlptext import value_as_string

SCOPE_NAME_KEY = "span.instrumentation.scope.name"
SCOPE_VERSION_KEY = "span.instrumentation.scope.version"
SAMPLING_METHOD_KEY = "sampling.method"
SEP = "\x00"

SPAN_KINDS = {
    0: "SPAN_KIND_UNSPECIFIED", 1: "SPAN_KIND_INTERNAL", 2: "SPAN_KIND_SERVER", 3: "SPAN_KIND_CLIENT",
    4: "SPAN_KIND_PRODUCER", 5: "SPAN_KIND_CONSUMER",
}
STATUS_CODES = {0: "STATUS_CODE_UNSET", 1: "STATUS_CODE_OK", 2: "STATUS_CODE_ERROR"}


def _kv(key: str, value: AnyValue) -> KeyValue:
    kv = KeyValue(key=key)
    kv.value.CopyFrom(value)
    return kv


def _str(value: str) -> AnyValue:
    return AnyValue(string_value=value)


def first_wins(kvs: Any) -> dict[str, AnyValue]:
    """Attributes by key, the first of duplicate keys winning (as pcommon.Map.Get finds it)."""
    out: dict[str, AnyValue] = {}
    for kv in kvs:
        out.setdefault(kv.key, kv.value)
    return out


class Dimensions:
    """One list of configured dimensions: named ones (span attribute, else resource/event attribute,
    else the default) then glob-matched ones in key order."""

    def __init__(self, dims: list[Dimension]):
        self.named = [(d.name, _str(d.default) if d.default is not None else None) for d in dims if d.name]
        self.globs = [compile_glob(d.glob) for d in dims if d.glob]

    def matches(self, span_attrs: dict[str, AnyValue], other_attrs: dict[str, AnyValue]) -> list[tuple[str, AnyValue]]:
        out = []
        for name, default in self.named:
            value = span_attrs.get(name)
            if value is None:
                value = other_attrs.get(name, default)
            if value is not None:
                out.append((name, value))
        if self.globs:
            for name in sorted(span_attrs):
                if any(g.match(name) for g in self.globs):
                    out.append((name, span_attrs[name]))
            for name in sorted(other_attrs):
                if name in span_attrs:
                    continue
                if any(g.match(name) for g in self.globs):
                    out.append((name, other_attrs[name]))
        return out


class Identity:
    """Builds a series' key and attributes from a span; ``optional`` is the metric's own dimensions
    (calls, histogram or events), added after the common ones."""

    def __init__(self, dimensions: Dimensions, exclude: set[str], include_scopes: set[str], instance_id: str):
        self.dimensions = dimensions
        self.exclude = exclude
        self.include_scopes = include_scopes
        self.instance_id = instance_id

    def key(self, service: str, span: Any, status: str, optional: Dimensions, span_attrs: dict, other: dict, sampling: str | None) -> str:
        parts = []
        if SERVICE_NAME not in self.exclude:
            parts.append(service)
        if SPAN_NAME not in self.exclude:
            parts.append(span.name)
        if SPAN_KIND not in self.exclude:
            parts.append(SPAN_KINDS.get(span.kind, ""))
        if STATUS_CODE not in self.exclude:
            parts.append(status)
        key = SEP.join(parts) if SERVICE_NAME not in self.exclude else SEP + SEP.join(parts)
        for name, value in self.dimensions.matches(span_attrs, other) + optional.matches(span_attrs, other):
            key += SEP + name + ":" + value_as_string(value)
        if sampling is not None:
            key += SEP + sampling
        return key

    def attributes(self, service: str, span: Any, status: str, optional: Dimensions, span_attrs: dict, other: dict,
                   scope: Any, sampling: str | None) -> list[KeyValue]:
        attrs: dict[str, AnyValue] = {}
        if SERVICE_NAME not in self.exclude:
            attrs[SERVICE_NAME] = _str(service)
        if SPAN_NAME not in self.exclude:
            attrs[SPAN_NAME] = _str(span.name)
        if SPAN_KIND not in self.exclude:
            attrs[SPAN_KIND] = _str(SPAN_KINDS.get(span.kind, ""))
        if STATUS_CODE not in self.exclude:
            attrs[STATUS_CODE] = _str(status)
        if COLLECTOR_INSTANCE not in self.exclude:
            attrs[COLLECTOR_INSTANCE] = _str(self.instance_id)
        if scope.name and scope.name in self.include_scopes:
            attrs[SCOPE_NAME_KEY] = _str(scope.name)
            if scope.version:
                attrs[SCOPE_VERSION_KEY] = _str(scope.version)
        if sampling is not None:
            attrs[SAMPLING_METHOD_KEY] = _str(sampling)
        for name, value in self.dimensions.matches(span_attrs, other) + optional.matches(span_attrs, other):
            attrs[name] = value
        return [_kv(k, v) for k, v in attrs.items()]
