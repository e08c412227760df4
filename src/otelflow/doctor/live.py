"""``otelflow doctor --url``: what a running otelflow's doctor extension saw, in the terminal.

Asks ``GET /api/v1/doctor`` of the web UI and prints the findings grouped by service, errors first.
Exit codes as for the config lint: 0 without error-level findings, 1 with some, 2 when the URL does
not answer or the otelflow there has no doctor extension.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from urllib.parse import urlsplit

TIMEOUT = 10.0


def _endpoint(url: str) -> str:
    url = url.strip()
    if "://" not in url:
        url = "http://" + url
    parts = urlsplit(url)
    base = f"{parts.scheme}://{parts.netloc}{parts.path.rstrip('/')}"
    return base if base.endswith("/api/v1/doctor") else base + "/api/v1/doctor"


def fetch(url: str) -> tuple[dict | None, str]:
    """The report, or None and why there is none."""
    endpoint = _endpoint(url)
    try:
        token = os.environ.get("OTELFLOW_UI_TOKEN")  # a UI bound beyond loopback asks for it
        request = urllib.request.Request(endpoint, headers={"Authorization": f"Bearer {token}"} if token else {})
        with urllib.request.urlopen(request, timeout=TIMEOUT) as resp:
            return json.load(resp), ""
    except urllib.error.HTTPError as exc:
        if exc.code == 401:
            return None, (f"{endpoint} answered 401: that web UI asks for its token (it is bound beyond loopback); "
                          f"set OTELFLOW_UI_TOKEN to the token of the login URL it printed at start")
        if exc.code == 404:
            return None, (f"{endpoint} answered 404: that otelflow has no doctor extension (add `doctor:` under "
                          f"extensions and service::extensions) or is older than the live doctor")
        return None, f"{endpoint} answered HTTP {exc.code}"
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        return None, (f"{endpoint} does not answer ({reason}): is otelflow running, with web_ui on that address? "
                      f"(the all-in-one serves http://127.0.0.1:4380)")
    except ValueError as exc:
        return None, f"{endpoint} did not answer with JSON ({exc}): is that otelflow's web UI?"


def render_text(report: dict) -> str:
    findings = report.get("findings", [])
    services = report.get("services", [])
    workers = report.get("workers", {})
    lines = [f"otelflow doctor: {len(services)} service(s) seen, {len(findings)} finding(s)"
             + (f" (workers {workers.get('reporting')}/{workers.get('count')})" if workers.get("count", 1) > 1 else "")]
    by_service: dict[str, list[dict]] = {}
    for f in findings:
        by_service.setdefault(f.get("service", ""), []).append(f)
    rank = {"error": 0, "warning": 1, "info": 2}
    order = sorted(by_service, key=lambda s: (min(rank.get(f["severity"], 3) for f in by_service[s]), s))
    for service in order:
        lines.append("")
        lines.append(f"service {service}")
        for f in by_service[service]:
            key = f" key={f['key']}" if f.get("key") else ""
            seen = f"seen {f.get('count', 0)}x, last {f.get('last_seen', '?')}"
            lines.append(f"  {f['severity'].upper()} [{f['rule']}]{key} ({seen})")
            lines.append(f"    what: {f['message']}")
            lines.append(f"    why:  {f['why']}")
            lines.append(f"    fix:  {f['fix']}")
    healthy = sorted({s["name"] for s in services} - set(by_service))
    if healthy:
        lines.append("")
        lines.append("no finding for: " + ", ".join(healthy))
    counts = {sev: sum(f["severity"] == sev for f in findings) for sev in ("error", "warning", "info")}
    lines.append("")
    lines.append(f"{counts['error']} error(s), {counts['warning']} warning(s), {counts['info']} info")
    return "\n".join(lines) + "\n"


def report(url: str, fmt: str = "text") -> tuple[str, int]:
    """(text to print, exit code) for ``otelflow doctor --url URL [--format text|json]``."""
    data, problem = fetch(url)
    if data is None:
        return f"Error: {problem}\n", 2
    code = 1 if any(f.get("severity") == "error" for f in data.get("findings", [])) else 0
    if fmt == "json":
        return json.dumps(data, indent=2) + "\n", code
    return render_text(data), code
