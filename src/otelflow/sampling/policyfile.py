"""The policies file of a what-if: either a ``tail_sampling`` processor's settings (``policies: [...]``,
``decision_wait``...) or a whole collector config, whose ``tail_sampling`` processors are each
replayed (one report each). A file holding neither says what it holds instead."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from otelflow.config.errors import ConfigError, ConfigIssue
from otelflow.config.loader import expand, parse_yaml
from otelflow.config.model import validate
from otelflow.processors.tail_sampling.config import Config

TYPE = "tail_sampling"


@dataclass
class Processor:
    """One ``tail_sampling`` config to replay and the name it goes by in the report."""

    name: str
    config: Config


def _is_tail_sampling(name: str) -> bool:
    return name == TYPE or name.startswith(TYPE + "/")


def from_tree(tree: Any, where: str = "policies") -> list[Processor]:
    """The tail_sampling configs in a parsed YAML tree (raises ConfigError with YAML paths)."""
    if tree is None:
        tree = {}
    if not isinstance(tree, dict):
        raise ConfigError([ConfigIssue(where, f"expected a map at the top level, got {type(tree).__name__}")])
    tree = expand(tree, os.environ)
    if "policies" in tree or "decision_wait" in tree:
        return [Processor(TYPE, validate(Config, tree, ""))]
    processors = tree.get("processors")
    if not isinstance(processors, dict):
        raise ConfigError([ConfigIssue(where, "neither tail_sampling settings (a policies: list) nor a collector "
                                              "config with a processors: map")])
    found = [name for name in processors if isinstance(name, str) and _is_tail_sampling(name)]
    if not found:
        others = ", ".join(str(n) for n in processors) or "none"
        raise ConfigError([ConfigIssue(f"{where}::processors", f"no tail_sampling processor in this config "
                                                                f"(processors: {others})")])
    return [Processor(name, validate(Config, processors[name], f"processors::{name}")) for name in found]


def from_text(text: str, where: str = "policies") -> list[Processor]:
    return from_tree(parse_yaml(text, where), where)


def load(path: str) -> list[Processor]:
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError as exc:
        raise ConfigError([ConfigIssue("", f"cannot read policies file {path}: {exc.strerror}")]) from None
    return from_text(text, path)


def pick(processors: list[Processor], name: str | None) -> list[Processor]:
    if name is None:
        return processors
    chosen = [p for p in processors if p.name == name]
    if not chosen:
        raise ConfigError([ConfigIssue("", f"no processor {name!r} in the policies file "
                                           f"(it has: {', '.join(p.name for p in processors)})")])
    return chosen
