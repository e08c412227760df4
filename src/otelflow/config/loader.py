"""Turn config sources into one plain tree, as upstream's confmap does.

Sources are files (``path`` or ``file:path``), ``env:NAME`` and ``yaml:key::sub: value``; later
sources merge over earlier ones (maps merge key by key, anything else is replaced). ``--set``
overrides are applied last. ``${env:NAME}``, ``${NAME}`` and ``${env:NAME:-default}`` are expanded in
every string; ``$$`` stands for a literal ``$``.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Mapping, Sequence

import yaml

from otelflow.config.errors import PATH_SEP, ConfigError, ConfigIssue

_REF = re.compile(r"\$\$|\$\{([^}]*)\}")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def load(
    sources: Sequence[str],
    overrides: Sequence[str] = (),
    environ: Mapping[str, str] | None = None,
    base: dict | None = None,
) -> dict:
    """Merge ``base`` and every source, apply ``--set`` overrides and expand references."""
    environ = os.environ if environ is None else environ
    tree: dict = base or {}
    for source in sources:
        tree = merge(tree, _read_source(source, environ))
    for override in overrides:
        tree = merge(tree, parse_set(override))
    return expand(tree, environ)


def merge(base: Any, over: Any) -> Any:
    if isinstance(base, dict) and isinstance(over, dict):
        out = dict(base)
        for key, value in over.items():
            out[key] = merge(base.get(key), value) if key in base else value
        return out
    return over


def parse_set(override: str) -> dict:
    """``a::b::c=value`` becomes ``{a: {b: {c: value}}}``; the value is read as YAML."""
    key, sep, raw = override.partition("=")
    if not sep or not key.strip():
        raise ConfigError([ConfigIssue("--set", f'"{override}": expected KEY=VALUE with keys separated by "{PATH_SEP}"')])
    value = parse_yaml(raw, f"--set {key}") if raw.strip() else None
    for part in reversed(key.strip().split(PATH_SEP)):
        value = {part: value}
    return value


def expand(node: Any, environ: Mapping[str, str], path: str = "") -> Any:
    if isinstance(node, dict):
        return {k: expand(v, environ, f"{path}{PATH_SEP}{k}" if path else str(k)) for k, v in node.items()}
    if isinstance(node, list):
        return [expand(v, environ, f"{path}{PATH_SEP}{i}") for i, v in enumerate(node)]
    if isinstance(node, str) and "$" in node:
        return _expand_string(node, environ, path)
    return node


def _expand_string(text: str, environ: Mapping[str, str], path: str) -> Any:
    whole = _REF.fullmatch(text)
    if whole and whole.group(1) is not None:
        value = _resolve(whole.group(1), environ, path)
        # A value that is nothing but one reference takes the type its YAML spells (8 is an int).
        parsed = parse_yaml(value, path) if value else value
        return parsed if isinstance(parsed, (int, float, bool, list, dict)) else value

    def substitute(m: re.Match) -> str:
        return "$" if m.group(0) == "$$" else _resolve(m.group(1), environ, path)

    return _REF.sub(substitute, text)


def _resolve(ref: str, environ: Mapping[str, str], path: str) -> str:
    scheme, colon, rest = ref.partition(":")
    if not colon:
        scheme, rest = "env", ref
    if scheme != "env":
        raise ConfigError([ConfigIssue(path, f'unsupported reference scheme "{scheme}" in "${{{ref}}}"; use ${{env:NAME}}')])
    name, has_default, default = rest.partition(":-")
    if not _ENV_NAME.match(name):
        raise ConfigError([ConfigIssue(path, f'"{name}" is not a valid environment variable name in "${{{ref}}}"')])
    if name in environ:
        return environ[name]
    return default if has_default else ""


def _read_source(source: str, environ: Mapping[str, str]) -> dict:
    scheme, colon, rest = source.partition(":")
    if colon and scheme == "env":
        text, where = environ.get(rest, ""), source
    elif colon and scheme == "yaml":
        head, colon_space, value = rest.partition(": ")
        if colon_space and PATH_SEP in head and "\n" not in head:  # yaml:a::b::c: value
            return parse_set(f"{head}={value}")
        return _as_map(parse_yaml(rest, "yaml:"), "yaml:")
    else:
        path = Path(rest if colon and scheme == "file" else source)
        try:
            text = path.read_text()
        except OSError as exc:
            raise ConfigError([ConfigIssue("", f"cannot read config file {path}: {exc.strerror}")]) from None
        where = str(path)
    return _as_map(parse_yaml(text, where), where)


def parse_yaml(text: str, where: str) -> Any:
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError([ConfigIssue(where, f"invalid YAML: {exc}")]) from None


def _as_map(value: Any, where: str) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ConfigError([ConfigIssue(where, f"expected a map at the top level, got {type(value).__name__}")])
    return value
