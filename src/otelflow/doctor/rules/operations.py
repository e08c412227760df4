"""Rules about running the collector: what an orchestrator needs from it, and its own log volume."""

from __future__ import annotations

from typing import Iterator

from otelflow.core.component import Kind
from otelflow.doctor.context import LintContext
from otelflow.doctor.findings import Severity
from otelflow.doctor.rules import Hit, rule


@rule("health-check-missing", Severity.INFO,
      why="without health_check an orchestrator (Kubernetes probes, a load balancer) cannot tell a stuck "
          "or starting collector from a healthy one and keeps sending it traffic",
      fix="add the health_check extension (endpoint ${env:MY_POD_IP}:13133) to extensions and service::extensions")
def health_check_missing(ctx: LintContext) -> Iterator[Hit]:
    if not ctx.production_looking:
        return
    if not any(ctx.in_use(Kind.EXTENSION, "health_check")):
        yield Hit("service::extensions", "a production-looking config (it listens or sends beyond this machine) has no health_check")


@rule("telemetry-debug-logs", Severity.INFO,
      why="at level debug the collector logs per request and per batch: in production that is log volume "
          "and CPU spent on every item, and payload details in the logs",
      fix="set service::telemetry::logs::level to info (raise it only while investigating)")
def telemetry_debug_logs(ctx: LintContext) -> Iterator[Hit]:
    logs = ctx.cfg.telemetry.get("logs") if isinstance(ctx.cfg.telemetry, dict) else None
    level = str((logs or {}).get("level", "")).lower() if isinstance(logs, dict) else ""
    if level == "debug" and ctx.production_looking:
        yield Hit("service::telemetry::logs::level", "the collector logs at debug level in a production-looking config")
