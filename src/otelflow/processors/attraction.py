"""The attribute action engine shared by the ``attributes`` and ``resource`` processors.

As upstream's ``internal/coreinternal/attraction`` (v0.161.0): a list of actions (insert, update,
upsert, delete, hash, extract, convert) checked and compiled once at config time, then applied in
order to one attribute list at a time. It works directly on the protobuf ``repeated KeyValue``
field and mirrors pcommon.Map's list semantics, so the output order of attributes is upstream's:

- a lookup finds the first entry with the key;
- a new key is appended at the end, an existing key is changed in place;
- removing one key moves the last entry into its slot (pcommon.Map.Remove), while removing by
  ``pattern`` keeps the order of what is left (pcommon.Map.RemoveIf).

Also here, because both the actions and the include/exclude matching need them: AnyValue helpers
with upstream's exact semantics (``value`` from YAML as pcommon's FromRaw, AsString, the SHA-256
digest of ``hash``, the conversions of ``convert``). Go regexes (``GoRegexp``) come from
``otelflow.pdata.goregexp``, shared with OTTL.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import math
import re
import struct
from typing import Any, Callable, Mapping, Sequence

from opentelemetry.proto.common.v1.common_pb2 import AnyValue
from pydantic import model_validator

from otelflow.config.model import Model
from otelflow.pdata.goregexp import GoRegexp, GoRegexpError  # noqa: F401  (the match properties' regexes)
from otelflow.pdata.govalue import underscores_ok, value_as_string

INSERT = "insert"
UPDATE = "update"
UPSERT = "upsert"
DELETE = "delete"
HASH = "hash"
EXTRACT = "extract"
CONVERT = "convert"

CONVERT_TARGETS = ("string", "int", "double")

INT64_MIN = -(1 << 63)
INT64_MAX = (1 << 63) - 1


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


# ---------------------------------------------------------------------------------------------
# AnyValue helpers


def go_quote(text: str) -> str:
    """Go's %q of a string (strconv.Quote)."""
    out = ['"']
    for ch in text:
        code = ord(ch)
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif ch in _GO_SHORT_ESCAPES:
            out.append(_GO_SHORT_ESCAPES[ch])
        elif code < 0x20 or code == 0x7F:
            out.append(f"\\x{code:02x}")
        elif not ch.isprintable() and ch != " ":
            out.append(f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


_GO_SHORT_ESCAPES = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\v": "\\v"}


def value_from_raw(raw: Any, target: AnyValue | None = None) -> AnyValue:
    """A config value (as YAML gives it) as an AnyValue, the way pcommon.Value.FromRaw builds it."""
    out = AnyValue() if target is None else target
    if raw is None:
        out.Clear()
    elif isinstance(raw, bool):
        out.bool_value = raw
    elif isinstance(raw, int):
        if raw > INT64_MAX or raw < INT64_MIN:
            # YAML integers beyond int64 reach Go as uint64 (wrapped by FromRaw) or float64.
            if 0 <= raw < (1 << 64):
                out.int_value = raw - (1 << 64)
            else:
                out.double_value = float(raw)
        else:
            out.int_value = raw
    elif isinstance(raw, float):
        out.double_value = raw
    elif isinstance(raw, str):
        out.string_value = raw
    elif isinstance(raw, (bytes, bytearray)):
        out.bytes_value = bytes(raw)
    elif isinstance(raw, dict):
        kvlist = out.kvlist_value
        kvlist.SetInParent()
        for key, item in raw.items():
            kv = kvlist.values.add()
            kv.key = str(key)
            value_from_raw(item, kv.value)
    elif isinstance(raw, (list, tuple)):
        array = out.array_value
        array.SetInParent()
        for item in raw:
            value_from_raw(item, array.values.add())
    elif isinstance(raw, (_dt.date, _dt.datetime)):
        # upstream's config decoding turns a YAML timestamp into a time.Time, which FromRaw refuses
        raise ValueError("<Invalid value type time.Time>")
    else:
        raise ValueError(f"<Invalid value type {type(raw).__name__}>")
    return out


_TYPE_NAMES = {
    None: "Empty",
    "string_value": "Str",
    "bool_value": "Bool",
    "int_value": "Int",
    "double_value": "Double",
    "kvlist_value": "Map",
    "array_value": "Slice",
    "bytes_value": "Bytes",
}


def type_name(value: AnyValue) -> str:
    """pcommon.ValueType.String() of a value."""
    return _TYPE_NAMES[value.WhichOneof("value")]


def as_string(value: AnyValue) -> str:
    """pcommon.Value.AsString(), a NaN/±Inf double written as NaN, Infinity or -Infinity."""
    return value_as_string(value, js_nonfinite=True)


def canonical(value: AnyValue) -> tuple:
    """A key such that equal keys mean equal values as upstream's strict attribute matching sees
    them (pdatautil.ValueHash): map keys sorted, each looked up as Map.Get does (first entry)."""
    kind = value.WhichOneof("value")
    if kind is None:
        return ("e",)
    if kind == "string_value":
        return ("s", value.string_value)
    if kind == "bool_value":
        return ("b", value.bool_value)
    if kind == "int_value":
        return ("i", value.int_value)
    if kind == "double_value":
        return ("d", struct.pack("<d", value.double_value))
    if kind == "bytes_value":
        return ("y", value.bytes_value)
    if kind == "kvlist_value":
        first: dict[str, AnyValue] = {}
        keys = []
        for kv in value.kvlist_value.values:
            keys.append(kv.key)
            first.setdefault(kv.key, kv.value)
        return ("m", tuple((k, canonical(first[k])) for k in sorted(keys)))
    return ("a", tuple(canonical(v) for v in value.array_value.values))


_TRUE_DIGEST = hashlib.sha256(b"\x01").hexdigest()
_FALSE_DIGEST = hashlib.sha256(b"\x00").hexdigest()
_PACK_INT = struct.Struct("<q").pack
_PACK_DOUBLE = struct.Struct("<d").pack


def hash_value(value: AnyValue) -> None:
    """Replace ``value`` by the lowercase hex SHA-256 of its bytes, as upstream's sha2Hasher:
    a string's UTF-8 bytes, a bool as one byte 1/0, an int as 8 bytes little-endian two's
    complement, a double as its 8 IEEE-754 bytes little-endian. Bytes, maps, slices and empty
    values become the empty string."""
    kind = value.WhichOneof("value")
    if kind == "string_value":
        digest = hashlib.sha256(value.string_value.encode()).hexdigest()
    elif kind == "int_value":
        digest = hashlib.sha256(_PACK_INT(value.int_value)).hexdigest()
    elif kind == "double_value":
        digest = hashlib.sha256(_PACK_DOUBLE(value.double_value)).hexdigest()
    elif kind == "bool_value":
        digest = _TRUE_DIGEST if value.bool_value else _FALSE_DIGEST
    else:
        digest = ""
    value.string_value = digest


_GO_INT = re.compile(r"[+-]?[0-9]+\Z")
_GO_DEC_FLOAT = re.compile(r"[+-]?(?:[0-9_]+\.?[0-9_]*|\.[0-9_]+)(?:[eE][+-]?[0-9_]+)?\Z")
_GO_HEX_FLOAT = re.compile(r"([+-]?)0[xX]((?:[0-9a-fA-F_]+\.?[0-9a-fA-F_]*|\.[0-9a-fA-F_]+))[pP]([+-]?[0-9_]+)\Z")
_GO_SPECIAL = re.compile(r"([+-]?)(inf|infinity)\Z|nan\Z", re.IGNORECASE)


def parse_go_int(text: str) -> int | None:
    """strconv.ParseInt(text, 10, 64), or None where it fails."""
    if not text.isascii() or not _GO_INT.match(text):
        return None
    n = int(text)
    return n if INT64_MIN <= n <= INT64_MAX else None


def parse_go_float(text: str) -> float | None:
    """strconv.ParseFloat(text, 64), or None where it fails (including out of range)."""
    if not text.isascii():
        return None
    special = _GO_SPECIAL.match(text)
    if special:
        if special.group(2):
            return -math.inf if special.group(1) == "-" else math.inf
        return math.nan
    if not underscores_ok(text):
        return None
    hexa = _GO_HEX_FLOAT.match(text)
    try:
        if hexa:
            sign, mantissa, exp = hexa.groups()
            if not any(c not in "._" for c in mantissa):
                return None
            x = float.fromhex(f"{sign}0x{mantissa.replace('_', '')}p{exp.replace('_', '')}")
        elif _GO_DEC_FLOAT.match(text) and any(c.isdigit() for c in text.split("e")[0].split("E")[0]):
            x = float(text.replace("_", ""))
        else:
            return None
    except (ValueError, OverflowError):
        return None
    return None if math.isinf(x) else x


def _float_to_int64(x: float) -> int:
    """Go's int64(x) on amd64: truncation; NaN and out-of-range give the minimum int64."""
    if math.isnan(x) or math.isinf(x):
        return INT64_MIN
    n = int(x)
    return n if INT64_MIN <= n <= INT64_MAX else INT64_MIN


def convert_value(value: AnyValue, target: str) -> bool:
    """Convert in place as upstream's convert action; False when left as it was for want of a
    conversion (upstream logs that at debug level only)."""
    kind = value.WhichOneof("value")
    if target == "string":
        if kind != "string_value":
            value.string_value = as_string(value)
        return True
    if target == "int":
        if kind == "int_value":
            return True
        if kind == "double_value":
            value.int_value = _float_to_int64(value.double_value)
        elif kind == "bool_value":
            value.int_value = 1 if value.bool_value else 0
        elif kind == "string_value":
            n = parse_go_int(value.string_value)
            if n is None:
                return False
            value.int_value = n
        else:
            return False
        return True
    if target == "double":
        if kind == "double_value":
            return True
        if kind == "int_value":
            value.double_value = float(value.int_value)
        elif kind == "bool_value":
            value.double_value = 1.0 if value.bool_value else 0.0
        elif kind == "string_value":
            x = parse_go_float(value.string_value)
            if x is None:
                return False
            value.double_value = x
        else:
            return False
        return True
    return False


# ---------------------------------------------------------------------------------------------
# Actions


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
