"""set_semconv_span_name (span context), upstream internal/traces v0.161.0: the span's name derived
from its HTTP, RPC, database or messaging attributes as semantic conventions 1.37-1.43 name spans,
the old name optionally kept in an attribute."""

from __future__ import annotations

import re

from otelflow.ottl.contexts.keys import value_as_string
from otelflow.ottl.errors import OttlConfigError
from otelflow.ottl.functions import FunctionTable, Kind as K, P

SPAN = FunctionTable()

_MIN, _MAX = (1, 37, 0), (1, 43, 0)
# Masterminds/semver's loose form: optional "v", minor and patch optional, pre-release and metadata
_SEMVER = re.compile(r"^v?([0-9]+)(\.[0-9]+)?(\.[0-9]+)?(-([0-9A-Za-z\-]+(\.[0-9A-Za-z\-]+)*))?"
                     r"(\+([0-9A-Za-z\-]+(\.[0-9A-Za-z\-]+)*))?$")

SERVER, CLIENT, PRODUCER, CONSUMER = 2, 3, 4, 5


def _version(text: str) -> tuple:
    m = _SEMVER.match(text)
    if m is None:
        raise OttlConfigError(f'failed to parse semconv version "{text}": Invalid Semantic Version')
    nums = tuple(int(g[1:]) if g else 0 for g in (m.group(2), m.group(3)))
    # a pre-release sorts before its release
    return (int(m.group(1)),) + nums + (0 if m.group(5) else 1,)


@SPAN.function("set_semconv_span_name", P("semconv_version", K.STRING),
               P("original_span_name_attribute", K.STRING, optional=True))
def build_set_semconv_span_name(semconv_version, original_span_name_attribute=None):
    v = _version(semconv_version)
    if v < _MIN + (1,) or v > _MAX + (1,):
        raise OttlConfigError(f'unsupported semconv version "{semconv_version}": must be between 1.37.0 and 1.43.0')
    if original_span_name_attribute is not None and original_span_name_attribute == "":
        raise OttlConfigError("originalSpanNameAttribute cannot be an empty string")

    def run(ctx):
        span = ctx.span
        original = span.name
        name = derive_name(span)
        span.name = name
        if original != name and original_span_name_attribute is not None:
            _put_str(span.attributes, original_span_name_attribute, original)
        return None
    return run


def _put_str(attrs, key: str, value: str) -> None:
    for kv in attrs:
        if kv.key == key:
            kv.value.Clear()
            kv.value.string_value = value
            return
    attrs.add(key=key).value.string_value = value


class _Attrs:
    """Map.Get over a span's attributes: the first entry with the key."""

    def __init__(self, kvs):
        self.first = {}
        for kv in kvs:
            self.first.setdefault(kv.key, kv.value)

    def get(self, key: str, alias: str = ""):
        v = self.first.get(key)
        if v is None and alias:
            v = self.first.get(alias)
        return v

    def text(self, key: str, alias: str = "") -> str | None:
        v = self.get(key, alias)
        return None if v is None else value_as_string(v)

    def flag(self, key: str) -> bool:
        v = self.first.get(key)
        return v is not None and v.WhichOneof("value") == "bool_value" and v.bool_value


def derive_name(span) -> str:
    a = _Attrs(span.attributes)
    kind = span.kind
    if kind == SERVER:
        order = (lambda: _http(a, "http.route"), lambda: _rpc(a), lambda: _messaging(a))
    elif kind == CLIENT:
        order = (lambda: _http(a, "url.template"), lambda: _rpc(a), lambda: _db(a), lambda: _messaging(a))
    elif kind in (CONSUMER, PRODUCER):
        order = (lambda: _messaging(a),)
    else:
        order = ()
    for candidate in order:
        name = candidate()
        if name:
            return name
    return span.name


def _http(a: _Attrs, subject: str) -> str:
    method = a.text("http.request.method", "http.method")
    if method is None:
        return ""
    target = a.text(subject)
    return method if target is None else f"{method} {target}"


def _rpc(a: _Attrs) -> str:
    system = a.text("rpc.system.name", "rpc.system")
    if system is None:
        return ""
    method = a.text("rpc.method", "rpc.grpc.method")
    service = a.text("rpc.service", "rpc.grpc.service")
    if method is not None and service is not None:
        return f"{service}/{method}"
    if method is not None:
        return method
    if service is not None:
        return f"{service}/*"
    return system


def _address(a: _Attrs) -> str:
    address = a.text("server.address")
    if address is None:
        return ""
    port = a.text("server.port")
    return address if port is None else f"{address}:{port}"


def _db(a: _Attrs) -> str:
    system = a.text("db.system.name", "db.system")
    if system is None:
        return ""
    summary = a.text("db.query.summary")
    if summary is not None:
        return summary
    operation = a.text("db.operation.name", "db.operation") or ""
    target = _db_target(a)
    if operation and target:
        return f"{operation} {target}"
    return operation or target or system


def _db_target(a: _Attrs) -> str:
    namespace = a.text("db.namespace", "db.name") or ""
    for key in ("db.collection.name", "db.stored_procedure.name"):
        v = a.text(key)
        if v is not None:
            return f"{namespace}.{v}" if namespace else v
    return namespace or _address(a)


def _messaging(a: _Attrs) -> str:
    system = a.text("messaging.system")
    if system is None:
        return ""
    operation = a.text("messaging.operation.name", "messaging.operation")
    destination = _destination(a)
    if operation is not None and destination:
        return f"{operation} {destination}"
    if destination:
        return destination
    if operation is not None:
        return operation
    return system


def _destination(a: _Attrs) -> str:
    if a.flag("messaging.destination.temporary"):
        return "(temporary)"
    if a.flag("messaging.destination.anonymous"):
        return "(anonymous)"
    template = a.text("messaging.destination.template")
    if template is not None:
        return template
    name = a.text("messaging.destination.name", "messaging.destination")
    if name is not None:
        return name
    return _address(a)
