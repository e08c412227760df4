"""Typed config models with upstream's defaults, and pydantic errors turned into YAML-path messages."""

from __future__ import annotations

import re
import types
import typing
import unicodedata
from typing import Annotated, Any, TypeVar, Union, get_args, get_origin

import pydantic
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, PlainValidator, Strict, WrapValidator, model_validator

from otelflow.config.errors import ConfigError, ConfigIssue, did_you_mean, join_path


class Model(BaseModel):
    """Base for every component config: unknown keys are errors, as in upstream's strict decoding.

    Two of upstream's confmap decode hooks apply to every model: a string given where a list of
    strings is expected is split on commas (``"a,b"`` -> ``["a", "b"]``, ``""`` -> ``[]``), and a key
    present with no value (``cors:``) for a settings block keeps that block's defaults.
    """

    model_config = ConfigDict(extra="forbid", coerce_numbers_to_str=True, frozen=False)

    @model_validator(mode="before")
    @classmethod
    def _upstream_decode_hooks(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        hooks = _decode_hooks(cls)
        out = dict(data)
        for key, value in data.items():
            kind = hooks.get(key)
            if kind == "list" and isinstance(value, str):
                out[key] = value.split(",") if value else []
            elif kind == "struct" and value is None:
                del out[key]
            elif kind == "bool" and value is not None and not isinstance(value, bool):
                raise ValueError(f"'{key}' expected type 'bool', got unconvertible type '{_go_type(value)}'")
            elif kind == "int" and isinstance(value, (str, bool)):
                raise ValueError(f"'{key}' expected type 'int', got unconvertible type '{_go_type(value)}'")
        return out



class OptionalBlocks(Model):
    """A set of optional blocks (protocols, resolvers) where a key written with no value (``grpc:``)
    turns that block on with its defaults, as upstream's configoptional does."""

    @model_validator(mode="before")
    @classmethod
    def _present_means_enabled(cls, data: Any) -> Any:
        if isinstance(data, dict):
            return {k: ({} if v is None else v) for k, v in data.items()}
        return data


_HOOKS: dict[type, dict[str, str]] = {}
_OWN_CHECKS = (AfterValidator, BeforeValidator, PlainValidator, WrapValidator, Strict)


def _go_type(value: Any) -> str:
    return {str: "string", bool: "bool", int: "int", float: "float64"}.get(type(value), type(value).__name__)


def _decode_hooks(model: type[BaseModel]) -> dict[str, str]:
    """Per field name (and alias): "list" for a list of strings, "struct" for a non-optional model or
    map, "bool"/"int" for scalars that take no string (or bool) in place of their type."""
    found = _HOOKS.get(model)
    if found is None:
        found = {}
        # a field with validators of its own checks its type itself (with its own Go type name)
        own = {f for d in model.__pydantic_decorators__.field_validators.values() for f in d.info.fields}
        for name, info in model.model_fields.items():
            kind = _hook_kind(info.annotation)
            if kind in ("bool", "int") and (name in own or model.model_config.get("strict")
                                            or any(isinstance(m, _OWN_CHECKS) for m in info.metadata)):
                continue
            if kind:
                found[name] = kind
                if info.alias:
                    found[info.alias] = kind
        _HOOKS[model] = found
    return found


def _hook_kind(tp: Any) -> str | None:
    while get_origin(tp) is Annotated:
        tp = get_args(tp)[0]
    optional = False
    if get_origin(tp) in (Union, types.UnionType):
        args = [a for a in get_args(tp) if a is not type(None)]
        optional = len(args) < len(get_args(tp))
        if len(args) != 1:
            return None
        tp = args[0]
    if get_origin(tp) in (list, typing.List) and get_args(tp) and get_args(tp)[0] is str:
        return "list"
    # confmap decodes without weak typing: "true" is no bool and "10" no int
    if tp is bool:
        return "bool"
    if tp is int:
        return "int"
    if not optional and (get_origin(tp) is dict or (isinstance(tp, type) and issubclass(tp, BaseModel))):
        return "struct"
    return None


_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_UNIT_SECONDS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(value: Any) -> float:
    """A Go duration ("1m30s", "500ms", or an integer count of nanoseconds) in seconds."""
    if isinstance(value, bool):
        raise ValueError("expected a duration such as 5s or 200ms")
    if isinstance(value, (int, float)):
        return value / 1e9
    if not isinstance(value, str):
        raise ValueError("expected a duration such as 5s or 200ms")
    text = value.strip()
    sign = -1.0 if text.startswith("-") else 1.0
    body = text.lstrip("+-")
    if body == "0":
        return 0.0
    pos, total = 0, 0.0
    for match in _DURATION_PART.finditer(body):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
        pos = match.end()
    if pos != len(body) or not body:
        raise ValueError(f'"{value}" is not a duration; expected a number with a unit (ns, us, ms, s, m, h), such as 5s')
    return sign * total


Duration = Annotated[float, BeforeValidator(parse_duration)]

_UINT32_MAX = 2**32 - 1


def _uint32(value: int) -> int:
    if value < 0 or value > _UINT32_MAX:
        raise ValueError(f"cannot parse value as 'uint32': {value} overflows uint")
    return value


#: An int that must fit Go's uint32, with the message upstream's config decoding gives.
UInt32 = Annotated[int, AfterValidator(_uint32)]

_ID_TYPE = re.compile(r"^[a-zA-Z][0-9a-zA-Z_]{0,62}$")


def component_id_text(value: Any) -> str:
    """A component ID ("type" or "type/name") checked as upstream's component.ID decoding checks it;
    returns it with the spaces around each part trimmed, as upstream keeps it."""
    text = str(value)
    type_, sep, name = text.partition("/")
    type_ = type_.strip()
    if not type_:
        raise ValueError(f'in "{text}" id: the part before / should not be empty' if sep else "id must not be empty")
    if sep:
        name = name.strip()
        if not name:
            raise ValueError(f'in "{text}" id: the part after / should not be empty')
        if len(name) > 1024:
            raise ValueError(f'in "{name}" id: name "{name}" is longer than 1024 characters ({len(name)} characters)')
        if any(unicodedata.category(c)[0] in "ZCS" for c in name):
            raise ValueError(f'in "{name}" id: invalid character(s) in name "{name}"')
    if not _ID_TYPE.match(type_):
        raise ValueError(f'in "{text}" id: invalid character(s) in type "{type_}"')
    return f"{type_}/{name}" if sep else type_


#: A reference to another component by ID (an authenticator, a storage, an encoding extension).
ComponentIDText = Annotated[str, BeforeValidator(component_id_text)]

M = TypeVar("M", bound=BaseModel)


def validate(model: type[M], data: Any, path: str) -> M:
    """Build ``model`` from a plain tree, or raise ConfigError naming each bad key by its YAML path."""
    try:
        return model.model_validate({} if data is None else data)
    except pydantic.ValidationError as exc:
        raise ConfigError(_issues(model, exc, path)) from None


def _issues(model: type[BaseModel], exc: pydantic.ValidationError, path: str) -> list[ConfigIssue]:
    issues = []
    for err in exc.errors(include_url=False):
        kind = err["type"]
        raw = list(err["loc"])
        # pydantic puts union tags ("function-after[...]") into the path; an unknown key's own name
        # (the last part) is the user's text and stays, even when it looks like one ("[")
        last = raw[-1:] if kind == "extra_forbidden" else []
        loc = [p for p in raw[:len(raw) - len(last)] if not _is_union_tag(p)] + last
        where = join_path(path, *loc)
        if kind == "extra_forbidden":
            message = "unknown key" + did_you_mean(str(loc[-1]), _keys_at(model, loc[:-1]))
        elif kind == "missing":
            message = "required key is missing"
        elif kind == "value_error":
            message = str(err["ctx"]["error"]) if "ctx" in err else err["msg"]
        else:
            got = err.get("input")
            shown = f" (got {got!r})" if not isinstance(got, (dict, list)) else ""
            message = f"{_lower_first(err['msg'])}{shown}"
        issues.append(ConfigIssue(where, message))
    return issues


def _is_union_tag(part: Any) -> bool:
    return isinstance(part, str) and ("[" in part or part in {"function-after", "function-before"})


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:]


def _keys_at(model: Any, loc: list) -> list[str]:
    """The valid keys of the model found by following ``loc`` down the annotations."""
    current: Any = model
    for part in loc:
        current = _unwrap(current)
        if isinstance(part, int):
            continue
        if isinstance(current, type) and issubclass(current, BaseModel):
            field = current.model_fields.get(part) or next(
                (f for f in current.model_fields.values() if f.alias == part), None
            )
            if field is None:
                return []
            current = field.annotation
        elif get_origin(current) is dict:
            current = get_args(current)[1]
        else:
            return []
    current = _unwrap(current)
    if isinstance(current, type) and issubclass(current, BaseModel):
        return [f.alias or name for name, f in current.model_fields.items()]
    return []


def _unwrap(tp: Any) -> Any:
    """Strip Optional/Annotated/list wrappers down to the model type."""
    while True:
        origin = get_origin(tp)
        if origin is Annotated:
            tp = get_args(tp)[0]
        elif origin in (Union, types.UnionType):
            models = [a for a in get_args(tp) if a is not type(None)]
            tp = models[0] if models else tp
            if len(models) <= 1:
                continue
            return tp
        elif origin in (list, typing.List):
            tp = get_args(tp)[0]
        else:
            return tp
