"""Prometheus relabelling (``relabel_configs``, ``metric_relabel_configs``) with its exact semantics.

Regexes are fully anchored as Prometheus anchors them (``^(?s:re)$``); replacements use Go's
``Regexp.Expand`` template rules (``$1``, ``${1}``, ``$name``, ``$$``), which differ from Python's.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

from pydantic import BaseModel, ConfigDict, field_validator, model_validator

from otelflow.receivers.prometheus.promtypes import valid_label_name

ACTIONS = ("replace", "keep", "drop", "keepequal", "dropequal", "hashmod", "labelmap", "labeldrop",
           "labelkeep", "lowercase", "uppercase")
DEFAULT_REGEX = "(.*)"
_TARGET_WITH_VARS_LEGACY = re.compile(r"^(?:(?:[a-zA-Z_]|\$(?:\{\w+\}|\w+))+\w*)+$")


def compile_regex(text: str) -> re.Pattern:
    """Go's RE2 syntax as Python sees it: ``\\z`` is Python's ``\\Z``, classes are ASCII as in RE2,
    anchoring is by fullmatch."""
    try:
        return re.compile("(?s:" + text.replace(r"\z", r"\Z") + ")", re.ASCII)
    except re.error as exc:
        raise ValueError(f"error parsing regexp: {exc}") from None


def expand(template: str, match: re.Match) -> str:
    """Go's ``Regexp.Expand``: ``$n``/``${n}``/``$name``/``${name}``; an unknown group is empty;
    a ``$`` that starts no valid reference is kept as it is."""
    out: list[str] = []
    i, n = 0, len(template)
    while i < n:
        j = template.find("$", i)
        if j < 0:
            out.append(template[i:])
            break
        out.append(template[i:j])
        i = j + 1
        if i < n and template[i] == "$":
            out.append("$")
            i += 1
            continue
        name, end = _reference(template, i)
        if name is None:
            out.append("$")
            continue
        i = end
        out.append(_group(match, name))
    return "".join(out)


def _reference(template: str, i: int) -> tuple[str | None, int]:
    brace = i < len(template) and template[i] == "{"
    start = i + 1 if brace else i
    end = start
    while end < len(template) and (template[end].isalnum() or template[end] == "_") and template[end].isascii():
        end += 1
    if end == start:
        return None, i
    if brace:
        if end >= len(template) or template[end] != "}":
            return None, i
        return template[start:end], end + 1
    return template[start:end], end


def _group(match: re.Match, name: str) -> str:
    try:
        value = match.group(int(name)) if name.isdigit() else match.group(name)
    except IndexError:  # no such group
        return ""
    return value or ""


class RelabelConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    source_labels: list[str] | None = None
    separator: str = ";"
    regex: str = DEFAULT_REGEX
    modulus: int = 0
    target_label: str = ""
    replacement: str = "$1"
    action: str = "replace"

    @field_validator("action", mode="before")
    @classmethod
    def _action(cls, value: Any) -> str:
        act = str(value).lower()
        if act not in ACTIONS:
            raise ValueError(f'unknown relabel action "{value}"')
        return act

    @field_validator("regex", mode="before")
    @classmethod
    def _regex(cls, value: Any) -> str:
        text = "" if value is None else str(value)
        compile_regex(text)
        return text

    @field_validator("separator", "replacement", "target_label", mode="before")
    @classmethod
    def _text(cls, value: Any) -> str:
        return "" if value is None else str(value)

    @model_validator(mode="after")
    def _validate(self) -> "RelabelConfig":
        a, tl = self.action, self.target_label
        if a == "hashmod" and self.modulus == 0:
            raise ValueError("relabel configuration for hashmod requires non-zero modulus")
        if a in ("replace", "hashmod", "lowercase", "uppercase", "keepequal", "dropequal") and tl == "":
            raise ValueError(f"relabel configuration for {a} action requires 'target_label' value")
        if a in ("lowercase", "uppercase", "keepequal", "dropequal") and self.replacement != "$1":
            raise ValueError(f"'replacement' can not be set for {a} action")
        if a in ("dropequal", "keepequal") and (
            self.regex != DEFAULT_REGEX or self.modulus != 0 or self.separator != ";" or self.replacement != "$1"
        ):
            raise ValueError(f"{a} action requires only 'source_labels' and `target_label`, and no other fields")
        if a in ("labeldrop", "labelkeep") and (
            self.source_labels is not None or tl != "" or self.modulus != 0 or self.separator != ";"
            or self.replacement != "$1"
        ):
            raise ValueError(f"{a} action requires only 'regex', and no other fields")
        return self

    def compiled(self) -> "Rule":
        return Rule(self)


class Rule:
    """A validated relabel config, ready to apply."""

    __slots__ = ("action", "sources", "separator", "regex", "is_default_regex", "modulus", "target",
                 "replacement", "target_has_var", "replacement_has_var")

    def __init__(self, cfg: RelabelConfig):
        self.action = cfg.action
        self.sources = cfg.source_labels or []
        self.separator = cfg.separator
        self.regex = compile_regex(cfg.regex)
        self.is_default_regex = cfg.regex == DEFAULT_REGEX
        self.modulus = cfg.modulus
        self.target = cfg.target_label
        self.replacement = cfg.replacement
        self.target_has_var = "$" in self.target
        self.replacement_has_var = "$" in self.replacement


def process(labels: dict[str, str], rules: list[Rule]) -> dict[str, str] | None:
    """Apply ``rules`` in order to ``labels`` (changed in place); None when a rule drops them."""
    for rule in rules:
        if not _apply(rule, labels):
            return None
    return labels


def _apply(rule: Rule, lb: dict[str, str]) -> bool:
    val = rule.separator.join(lb.get(name, "") for name in rule.sources)
    action = rule.action
    if action == "drop":
        return rule.regex.fullmatch(val) is None
    if action == "keep":
        return rule.regex.fullmatch(val) is not None
    if action == "dropequal":
        return lb.get(rule.target, "") != val
    if action == "keepequal":
        return lb.get(rule.target, "") == val
    if action == "replace":
        if val == "" and rule.is_default_regex and not rule.target_has_var and not rule.replacement_has_var:
            _set(lb, rule.target, rule.replacement)
            return True
        match = rule.regex.fullmatch(val)
        if match is None:
            return True
        target = expand(rule.target, match)
        if not valid_label_name(target):
            return True
        _set(lb, target, expand(rule.replacement, match))
    elif action == "lowercase":
        _set(lb, rule.target, val.lower())
    elif action == "uppercase":
        _set(lb, rule.target, val.upper())
    elif action == "hashmod":
        digest = hashlib.md5(val.encode()).digest()
        _set(lb, rule.target, str(int.from_bytes(digest[8:], "big") % rule.modulus))
    elif action == "labelmap":
        for name, value in sorted(lb.items()):
            match = rule.regex.fullmatch(name)
            if match is not None:
                _set(lb, expand(rule.replacement, match), value)
    elif action == "labeldrop":
        for name in [n for n in lb if rule.regex.fullmatch(n)]:
            del lb[name]
    elif action == "labelkeep":
        for name in [n for n in lb if not rule.regex.fullmatch(n)]:
            del lb[name]
    return True


def _set(lb: dict[str, str], name: str, value: str) -> None:
    """labels.Builder.Set: an empty value deletes the label."""
    if value == "":
        lb.pop(name, None)
    else:
        lb[name] = value
