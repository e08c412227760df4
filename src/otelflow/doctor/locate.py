"""Where in the user's files a finding's YAML path is written: ``file:line``, for editors and CI logs.

Later ``--config`` files win, as in the merge; a path that is not written (a default the rule judged)
points at its deepest written ancestor, e.g. the component's own key.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Sequence

import yaml

from otelflow.config.errors import PATH_SEP
from otelflow.doctor.findings import Finding


def locate(findings: list[Finding], sources: Sequence[str], overrides: Sequence[str] = ()) -> list[Finding]:
    """The findings with ``location`` set where the path (or its closest ancestor) is written."""
    files = [(name, _compose(path)) for name, path in _files(sources)]
    sets = [o.partition("=")[0].strip() for o in overrides]
    return [dataclasses.replace(f, location=_where(f.path, files, sets)) for f in findings]


def _files(sources: Sequence[str]) -> list[tuple[str, Path]]:
    out = []
    for source in sources:
        scheme, colon, rest = source.partition(":")
        if colon and scheme in ("env", "yaml"):
            continue
        out.append((source, Path(rest if colon and scheme == "file" else source)))
    return out


def _compose(path: Path) -> yaml.Node | None:
    try:
        return yaml.compose(path.read_text())
    except (OSError, yaml.YAMLError):
        return None


def _where(path: str, files: list[tuple[str, yaml.Node | None]], sets: list[str]) -> str | None:
    if not path:
        return None
    for key in reversed(sets):
        if path == key or path.startswith(key + PATH_SEP):
            return f"--set {key}"
    parts = path.split(PATH_SEP)
    best: tuple[int, str] | None = None
    for name, root in files:  # later files win ties, as they win the merge
        depth, line = _deepest(root, parts)
        if depth and (best is None or depth >= best[0]):
            best = (depth, f"{name}:{line}")
    return best[1] if best else None


def _deepest(node: yaml.Node | None, parts: list[str]) -> tuple[int, int]:
    """How many leading parts are written, and the 1-based line of the last one."""
    depth, line = 0, 0
    for part in parts:
        child = None
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if isinstance(key, yaml.ScalarNode) and str(key.value).strip() == part:
                    child, mark = value, key.start_mark
                    break
        elif isinstance(node, yaml.SequenceNode) and part.isdigit() and int(part) < len(node.value):
            child = node.value[int(part)]
            mark = child.start_mark
        if child is None:
            break
        depth, line, node = depth + 1, mark.line + 1, child
    return depth, line
