"""Turns what the watchers gathered into findings: severity, service, key, what, why and fix.

A finding has the shape of the config lint's (``otelflow.doctor.findings``: rule, severity,
message, why, fix), with ``service`` and ``key`` (an attribute, label or peer service) in place of
the YAML path, plus how often it was seen and an example.
"""

from __future__ import annotations

import time
from typing import Any

from otelflow.extensions.doctor.cardinality import Cardinality
from otelflow.extensions.doctor.services import Services
from otelflow.extensions.doctor.structure import Structure

ERROR, WARNING = "error", "warning"
_RANK = {ERROR: 0, WARNING: 1, "info": 2}
_TOP_KEYS = 10


def _iso(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def finding(rule: str, severity: str, service: str, key: str, message: str, why: str, fix: str,
            count: int, last_seen: float, details: dict | None = None) -> dict:
    return {"rule": rule, "severity": severity, "service": service, "key": key, "message": message, "why": why,
            "fix": fix, "count": count, "last_seen": _iso(last_seen), "details": details or {}}


def service_findings(services: Services, limit: int, since: float) -> list[dict]:
    out = []
    for s in services.by_name.values():
        if s.last_seen < since:
            continue
        for attr in s.missing_now():
            count, last = s.missing[attr]
            if attr == "service.name":
                out.append(finding(
                    "missing_resource_attribute", ERROR, s.name, attr,
                    f"telemetry arrives without service.name (as \"{s.name}\")",
                    "every backend groups traces, metrics and logs by service.name; without it they all land under "
                    "unknown_service and cannot be told apart",
                    "set OTEL_SERVICE_NAME (or service.name in the SDK's Resource)", count, last))
            else:
                env = "OTEL_RESOURCE_ATTRIBUTES=deployment.environment.name=production" if attr.startswith("deployment") \
                    else "OTEL_RESOURCE_ATTRIBUTES=service.version=1.4.2"
                out.append(finding(
                    "missing_resource_attribute", WARNING, s.name, attr,
                    f"service {s.name} sends resources without {attr}"
                    + (" (nor deployment.environment.name)" if attr.startswith("deployment") else ""),
                    "without it a regression cannot be tied to a release, nor staging told from production",
                    f"set it on the SDK's Resource, e.g. {env}", count, last))
        if s.big_spans and s.big_last >= since:
            top = sorted(s.big_keys.items(), key=lambda kv: (-kv[1], kv[0]))[:_TOP_KEYS]
            keys = [k for k, _ in top]
            dropped = f"; the SDK dropped {s.big_dropped} attributes" if s.big_dropped else ""
            out.append(finding(
                "span_attributes", WARNING, s.name, ", ".join(keys[:3]),
                f"{s.big_spans} span(s) of {s.name} carry more than {limit} attributes (up to {s.big_max}, "
                f"e.g. span \"{s.big_example}\"){dropped}",
                "oversized spans cost memory and bandwidth at every hop, and SDKs silently drop attributes past "
                "their limit (128 by default), so the ones that matter may be the ones lost",
                "record bulky data as span events or logs, or keep fewer attributes; raise "
                "OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT only deliberately",
                s.big_spans, s.big_last, {"max_attributes": s.big_max, "dropped": s.big_dropped, "top_keys": keys,
                                          "example_span": s.big_example}))
    return out


def cardinality_findings(card: Cardinality, threshold: int, since: float) -> list[dict]:
    out = []
    for (service, metric, label), estimate, growth in card.bombs(threshold):
        last = card.labels[(service, metric, label)].last_seen
        if last < since:
            continue
        trend = f", growing by about {growth:.0f} per minute" if growth and growth > 0 else ""
        out.append(finding(
            "metric_cardinality", ERROR, service, label,
            f"metric {metric} of {service}: label {label} has about {estimate} distinct values{trend}",
            "each distinct label value is a new time series: memory in the SDK and the collector, and cost in "
            "the backend, grow without bound (IDs, URLs with parameters and timestamps are the usual cause)",
            f"drop {label} from {metric} (an SDK View, or the attributes/transform processor), or replace it with a "
            "bounded value (a route template, a status class)",
            card.labels[(service, metric, label)].points, last, {"metric": metric, "distinct_values": estimate,
                             "growth_per_minute": None if growth is None else round(growth, 1)}))
    return out


_STRUCTURE_TEXT: dict[str, tuple[str, str, str]] = {  # rule -> severity, why, fix
    "lost_parent": (
        WARNING,
        "the process ended (or its exporter gave up) before its last batch was sent: traces lose their root "
        "and whatever was still buffered",
        "call TracerProvider.shutdown() (or force_flush()) before the process exits, e.g. in atexit or the "
        "framework's shutdown hook; check the exporter's errors and queue drops"),
    "orphan_parent": (
        WARNING,
        "the caller propagates a trace context but its own spans never reach the collector, so every such "
        "trace is missing its top",
        "make the caller export its spans (instrument it, point it here), or drop an incoming traceparent that "
        "comes from outside at the edge"),
    "clock_skew": (
        WARNING,
        "the hosts' clocks disagree: waterfalls show children before their parents and cross-service latencies "
        "are wrong",
        "sync the hosts' clocks (NTP/chrony)"),
    "propagation_break": (
        ERROR,
        "no trace context reached this service from its caller, so every call starts a new trace and the "
        "end-to-end trace is cut in two",
        "inject the context in the caller (instrument its HTTP/gRPC client) and extract it here (instrument the "
        "server, or call propagate.extract on the incoming headers); both must use the same propagator (W3C "
        "tracecontext)"),
    "simple_span_processor": (
        WARNING,
        "SimpleSpanProcessor exports synchronously on every span end: a network round trip on the "
        "application's request path and one collector request per span",
        "use BatchSpanProcessor (the SDK's default in most auto-instrumentation setups)"),
}


def structure_findings(st: Structure, min_count: int, since: float) -> list[dict]:
    out = []
    for (rule, service, key), e in st.found.items():
        if e["last_seen"] < since or e["count"] < min_count:
            continue
        total = st.totals.get((rule, service))
        weight = st.weights.get((rule, service))
        share = e["count"] / weight if weight else None
        if rule == "simple_span_processor" and (share is None or share < 0.8):
            continue
        if rule == "propagation_break" and (share is None or share < 0.5):
            continue
        severity, why, fix = _STRUCTURE_TEXT[rule]
        message = _message(rule, service, key, e, total)
        details: dict[str, Any] = {"example": e["example"]}
        if total:
            details["of"] = total
        if rule == "clock_skew":
            details["max_skew_ms"] = round(e["max"], 3)
        out.append(finding(rule, severity, service, key, message, why, fix, e["count"], e["last_seen"], details))
    return out


def _message(rule: str, service: str, key: str, e: dict, total: int | None) -> str:
    n = e["count"]
    if rule == "lost_parent":
        return f"{n} span(s) of {service} (e.g. \"{key}\") have a parent in {service} that never arrived"
    if rule == "orphan_parent":
        return f"{n} span(s) of {service} (e.g. \"{key}\") have a remote parent that never arrived"
    if rule == "clock_skew":
        return f"{n} span(s) of {service} are out of their parent in {key} by up to {e['max']:.1f} ms"
    if rule == "propagation_break":
        return (f"{n} of {total} root server spans of {service} ran inside a client span of {key} that has no child "
                f"(e.g. \"{e['example'].get('caller_span', '')}\" -> \"{e['example'].get('span', '')}\")")
    return f"{n} of {total} spans of {service} in multi-span traces arrived alone in their request"


def ordered(findings: list[dict]) -> list[dict]:
    return sorted(findings, key=lambda f: (_RANK.get(f["severity"], 3), f["service"], f["rule"], f["key"]))
