"""Run every rule over a config; a config that does not validate yields its problems as errors."""

from __future__ import annotations

import logging
from typing import Iterable

from otelflow.config import ConfigError
from otelflow.config.collector import CollectorConfig
from otelflow.config.errors import ConfigIssue
from otelflow.core.registry import Registry
from otelflow.doctor.context import LintContext
from otelflow.doctor.findings import Finding, Severity, ordered
from otelflow.doctor.rules import all_rules

log = logging.getLogger(__name__)

INVALID = "invalid-config"
RULE_FAILED = "doctor-rule-failed"


def lint(cfg: CollectorConfig, registry: Registry) -> list[Finding]:
    """Findings of every rule, errors first. A rule that breaks on an odd config is reported, not fatal."""
    ctx = LintContext(cfg, registry)
    findings: list[Finding] = []
    for rule in all_rules().values():
        try:
            findings.extend(rule.run(ctx))
        except Exception as exc:  # a bug in one rule must not hide what the others found
            log.debug("doctor rule %s failed", rule.id, exc_info=True)
            findings.append(Finding(RULE_FAILED, Severity.WARNING, "", f"rule {rule.id} could not check this config: {exc!r}",
                                    "that rule's mistake may be present and unreported", "report this as an otelflow bug"))
    return ordered(findings)


def invalid(issues: Iterable[ConfigIssue]) -> list[Finding]:
    """Validation problems as error findings."""
    return ordered(Finding(INVALID, Severity.ERROR, issue.path, issue.message,
                           "otelflow (and otelcol) refuse to start with a config that does not validate",
                           "correct what the message names; otelflow validate lists the same problems")
                   for issue in issues)


def lint_tree(tree: dict, registry: Registry, parse) -> list[Finding]:
    """Validate ``tree`` with ``parse`` (the CLI's, so doctor and validate agree) and lint it."""
    try:
        cfg = parse(tree, registry)
    except ConfigError as err:
        return invalid(err.issues)
    return lint(cfg, registry)
