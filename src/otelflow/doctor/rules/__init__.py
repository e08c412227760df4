"""The lint's rules: one small function per mistake, registered with what it says and why.

A rule function takes the :class:`~otelflow.doctor.context.LintContext` and yields :class:`Hit`s; the
rule's registration supplies the default severity, the why and the fix, which a hit may override
when one case is worse than the others (see ``docs/doctor.md`` for every rule).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable

from otelflow.doctor.context import LintContext
from otelflow.doctor.findings import Finding, Severity


@dataclass(frozen=True)
class Hit:
    path: str
    message: str
    severity: Severity | None = None
    why: str | None = None
    fix: str | None = None


@dataclass(frozen=True)
class Rule:
    id: str
    severity: Severity
    why: str
    fix: str
    check: Callable[[LintContext], Iterable[Hit]]

    def run(self, ctx: LintContext) -> list[Finding]:
        return [Finding(self.id, hit.severity or self.severity, hit.path, hit.message,
                        hit.why or self.why, hit.fix or self.fix) for hit in self.check(ctx)]


RULES: dict[str, Rule] = {}


def rule(id: str, severity: Severity, *, why: str, fix: str):
    """Register the decorated function as the check of rule ``id``."""

    def register(check: Callable[[LintContext], Iterable[Hit]]):
        if id in RULES:
            raise ValueError(f"doctor rule {id!r} registered twice")
        RULES[id] = Rule(id, severity, why, fix, check)
        return check

    return register


def all_rules() -> dict[str, Rule]:
    """Every rule, once the modules that define them are imported."""
    from otelflow.doctor.rules import cardinality, exporters, operations, pipelines, sampling, security  # noqa: F401

    return RULES
