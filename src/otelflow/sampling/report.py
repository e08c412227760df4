"""A replay's decisions summed into the what-if report: kept traces, spans and bytes overall, per
policy (the one tail_sampling's telemetry credits with each decision, and each policy's own vote),
per route rule, per service and per endpoint; error and slow traces kept and dropped; and the cost
change as a share of today's volume. ``as_text`` prints it for a terminal."""

from __future__ import annotations

from typing import Any

from otelflow.processors.tail_sampling import policies as p
from otelflow.sampling.replay import Replay

DEFAULT_SLOW_MS = 1000  # when no latency policy says what slow is
TOP_ENDPOINTS = 20


def _tally() -> dict[str, int]:
    return {"traces": 0, "spans": 0, "bytes": 0}


def _pct(part: float, whole: float) -> float:
    return round(100.0 * part / whole, 3) if whole else 0.0


def build(rep: Replay, policy_types: dict[str, str], start_us: int | None = None, end_us: int | None = None) -> dict[str, Any]:
    slow_ms = min(rep.needs.latency_ms) if rep.needs.latency_ms else DEFAULT_SLOW_MS
    slow_ns = slow_ms * 1_000_000
    total, kept = _tally(), _tally()
    decisions = {"sampled": 0, "not_sampled": 0, "dropped": 0}
    decided = {name: _tally() for name in policy_types}
    routes: dict[str, dict] = {}
    services: dict[str, dict] = {}
    endpoints: dict[str, dict] = {}
    errors = {"traces": 0, "kept": 0, "dropped": 0}
    slow = {"threshold_ms": slow_ms, "traces": 0, "kept": 0, "dropped": 0}
    for d in rep.decided:
        n, b = d.span_count, d.size
        total["traces"] += 1
        total["spans"] += n
        total["bytes"] += b
        decisions["sampled" if d.kept else "dropped" if d.decision == p.DROPPED else "not_sampled"] += 1
        if d.kept:
            kept["traces"] += 1
            kept["spans"] += n
            kept["bytes"] += b
            if d.policy:
                t = decided.setdefault(d.policy, _tally())
                t["traces"] += 1
                t["spans"] += n
                t["bytes"] += b
        if d.route:
            r = routes.setdefault(d.route, {"matched": _tally(), "kept": _tally()})
            for t in (r["matched"], r["kept"]) if d.kept else (r["matched"],):
                t["traces"] += 1
                t["spans"] += n
                t["bytes"] += b
        for service, spans, size, errs in d.services:
            s = services.get(service)
            if s is None:
                s = services[service] = {"name": service, "total": _tally(), "kept": _tally(), "error_spans": 0, "error_spans_kept": 0}
            s["total"]["traces"] += 1
            s["total"]["spans"] += spans
            s["total"]["bytes"] += size
            s["error_spans"] += errs
            if d.kept:
                s["kept"]["traces"] += 1
                s["kept"]["spans"] += spans
                s["kept"]["bytes"] += size
                s["error_spans_kept"] += errs
        ep = endpoints.get(d.endpoint or "(no root span)")
        if ep is None:
            ep = endpoints[d.endpoint or "(no root span)"] = {"name": d.endpoint or "(no root span)", "traces": 0, "kept": 0, "spans": 0, "kept_spans": 0}
        ep["traces"] += 1
        ep["spans"] += n
        if d.kept:
            ep["kept"] += 1
            ep["kept_spans"] += n
        if d.errors:
            errors["traces"] += 1
            errors["kept" if d.kept else "dropped"] += 1
        if d.duration_ns > slow_ns:
            slow["traces"] += 1
            slow["kept" if d.kept else "dropped"] += 1
    for t in (kept,):
        for k in ("traces", "spans", "bytes"):
            t[f"{k}_pct"] = _pct(t[k], total[k])
    return {
        "processor": rep.processor,
        "range": {"start_us": start_us, "end_us": end_us},
        "seconds": round(rep.seconds, 3),
        "total": total,
        "kept": kept,
        "decisions": decisions,
        "too_large": rep.too_large,
        "policies": [{"name": name, "type": policy_types.get(name, ""), "decided": decided.get(name, _tally()),
                      "matched": rep.matched[name].__dict__ if name in rep.matched else _tally()}
                     for name in policy_types],
        "routes": [{"name": name, **r} for name, r in routes.items()],
        "services": sorted(services.values(), key=lambda s: -s["total"]["spans"]),
        "endpoints": sorted(endpoints.values(), key=lambda e: -e["spans"])[:TOP_ENDPOINTS],
        "errors": errors,
        "slow": slow,
        "cost": {"spans_pct": kept["spans_pct"], "bytes_pct": kept["bytes_pct"],
                 "summary": f"{kept['bytes_pct']:.1f}% of today's volume ({kept['spans_pct']:.1f}% of spans)"},
        "approximate": rep.needs.approximate,
    }


# -- text -------------------------------------------------------------------------------------------


def _n(v: int) -> str:
    return f"{v:,}"


def _bytes(v: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if v < 1024 or unit == "GiB":
            return f"{v:.0f} {unit}" if unit == "B" else f"{v:.1f} {unit}"
        v /= 1024
    return str(v)


def _table(headers: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    fmt = lambda cells: "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))  # noqa: E731
    return ["  " + fmt(headers)] + ["  " + fmt(r) for r in rows]


def as_text(r: dict) -> str:
    t, k = r["total"], r["kept"]
    out = [f"What-if for {r['processor']}: {_n(t['traces'])} stored traces, {_n(t['spans'])} spans, "
           f"~{_bytes(t['bytes'])} (decided in {r['seconds']:.1f}s)"]
    if not t["traces"]:
        out.append("  no traces in the store for this range")
        return "\n".join(out)
    out.append(f"  kept: {_n(k['traces'])} traces ({k['traces_pct']:.2f}%), {_n(k['spans'])} spans ({k['spans_pct']:.2f}%), "
               f"~{_bytes(k['bytes'])} ({k['bytes_pct']:.2f}%)")
    out.append(f"  cost: {r['cost']['summary']}")
    d = r["decisions"]
    out.append(f"  decisions: {_n(d['sampled'])} sampled, {_n(d['not_sampled'])} not sampled, {_n(d['dropped'])} dropped"
               + (f", {_n(r['too_large'])} over maximum_trace_size_bytes" if r["too_large"] else ""))
    e, s = r["errors"], r["slow"]
    out.append(f"  error traces: {_n(e['kept'])} kept, {_n(e['dropped'])} dropped (of {_n(e['traces'])})")
    out.append(f"  slow traces (> {s['threshold_ms']} ms): {_n(s['kept'])} kept, {_n(s['dropped'])} dropped (of {_n(s['traces'])})")
    out += ["", "Per policy (decided: the policy tail_sampling's telemetry credits; own vote: what it samples by itself)"]
    out += _table(["policy", "type", "decided traces", "spans", "bytes", "own vote traces"],
                  [[x["name"], x["type"], _n(x["decided"]["traces"]), _n(x["decided"]["spans"]), _bytes(x["decided"]["bytes"]),
                    _n(x["matched"]["traces"])] for x in r["policies"]])
    if r["routes"]:
        out += ["", "Per route rule (traces it selects, and those kept)"]
        out += _table(["route", "matched traces", "kept traces", "kept spans", "kept %"],
                      [[x["name"], _n(x["matched"]["traces"]), _n(x["kept"]["traces"]), _n(x["kept"]["spans"]),
                        f"{_pct(x['kept']['traces'], x['matched']['traces']):.2f}"] for x in r["routes"]])
    out += ["", "Per service"]
    out += _table(["service", "spans", "kept spans", "kept %", "bytes kept", "error spans kept"],
                  [[x["name"], _n(x["total"]["spans"]), _n(x["kept"]["spans"]), f"{_pct(x['kept']['spans'], x['total']['spans']):.2f}",
                    _bytes(x["kept"]["bytes"]), f"{_n(x['error_spans_kept'])}/{_n(x['error_spans'])}"] for x in r["services"]])
    out += ["", f"Per endpoint (root span's http.route, url.path, http.target or name; top {TOP_ENDPOINTS} by spans)"]
    out += _table(["endpoint", "traces", "kept traces", "kept %"],
                  [[x["name"], _n(x["traces"]), _n(x["kept"]), f"{_pct(x['kept'], x['traces']):.2f}"] for x in r["endpoints"]])
    if r["approximate"]:
        out += ["", "Approximate:"] + [f"  {name}: {why}" for name, why in r["approximate"].items()]
    return "\n".join(out)


def what_if(cur, processors: list, start_us: int | None = None, end_us: int | None = None) -> list[dict]:
    """One report per tail_sampling config (policyfile.Processor), over the traces in the range."""
    from otelflow.sampling.replay import replay

    reports = []
    for proc in processors:
        types = {pol.name: pol.type for pol in proc.config.policies}
        rep = replay(cur, proc.name, proc.config, None if start_us is None else start_us * 1000,
                     None if end_us is None else end_us * 1000)
        reports.append(build(rep, types, start_us, end_us))
    return reports
