"""Config errors carry the YAML path so a user can find the line to fix."""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Iterable

PATH_SEP = "::"


@dataclass(frozen=True)
class ConfigIssue:
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class ConfigError(Exception):
    """One or more problems in the configuration; all are reported at once."""

    def __init__(self, issues: Iterable[ConfigIssue]):
        self.issues = list(issues)
        super().__init__("\n".join(str(i) for i in self.issues))


def join_path(*parts: object) -> str:
    return PATH_SEP.join(str(p) for p in parts if p != "")


def did_you_mean(word: str, candidates: Iterable[str]) -> str:
    """The suffix for an unknown name: the closest valid one, or the valid ones listed."""
    candidates = sorted(set(candidates))
    close = difflib.get_close_matches(word, candidates, n=1, cutoff=0.6)
    if close:
        return f', did you mean "{close[0]}"?'
    if candidates and len(candidates) <= 12:
        return f" (valid: {', '.join(candidates)})"
    return ""
