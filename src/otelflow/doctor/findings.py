"""What the doctor reports: one finding per mistake, with where it is, why it matters and the fix."""

from __future__ import annotations

import enum
import json
from dataclasses import asdict, dataclass
from typing import Iterable


class Severity(str, enum.Enum):
    """``error``: the config loses, corrupts or loops data, or cannot start; ``warning``: a risk to
    reliability, security or cost that may still be deliberate; ``info``: a recommendation."""

    ERROR = "error"
    WARNING = "warning"
    INFO = "info"

    @property
    def rank(self) -> int:
        return _RANK[self]


_RANK = {Severity.ERROR: 0, Severity.WARNING: 1, Severity.INFO: 2}


@dataclass(frozen=True)
class Finding:
    rule: str
    severity: Severity
    path: str  # YAML path with "::" between keys, as validate's errors spell it
    message: str  # what is wrong, here
    why: str  # what goes wrong because of it
    fix: str  # what to change
    location: str | None = None  # "file:line" where the path (or its closest ancestor) is written

    def as_dict(self) -> dict:
        return {**asdict(self), "severity": self.severity.value}


def ordered(findings: Iterable[Finding]) -> list[Finding]:
    """Errors first, then warnings, then info; within one severity by path, then rule."""
    return sorted(set(findings), key=lambda f: (f.severity.rank, f.path, f.rule, f.message))


def has_errors(findings: Iterable[Finding]) -> bool:
    return any(f.severity is Severity.ERROR for f in findings)


def render_json(findings: list[Finding]) -> str:
    return json.dumps([f.as_dict() for f in findings], indent=2)


def render_text(findings: list[Finding]) -> str:
    """One block per finding, then a one-line summary."""
    blocks = [
        f"{f.severity.value.upper()} [{f.rule}] {f.path}" + (f"  ({f.location})" if f.location else "") + "\n"
        f"  what: {f.message}\n"
        f"  why:  {f.why}\n"
        f"  fix:  {f.fix}"
        for f in findings
    ]
    counts = {s: sum(f.severity is s for f in findings) for s in Severity}
    if findings:
        summary = ", ".join(f"{n} {s.value}{'s' if n != 1 and s is not Severity.INFO else ''}" for s, n in counts.items())
        blocks.append(f"{len(findings)} finding{'s' if len(findings) != 1 else ''}: {summary}")
    else:
        blocks.append("no findings")
    return "\n\n".join(blocks) + "\n"
