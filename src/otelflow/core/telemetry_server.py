"""Serves the collector's own metrics (``service::telemetry::metrics``) as Prometheus text on /metrics.

Only reads :class:`Telemetry` when scraped, so the data path is untouched. Counters keep the names
the reference collector shows on :8888 (no ``_total`` suffix, no scope labels).
"""

from __future__ import annotations

import logging
import math
import os
import time
from dataclasses import dataclass
from typing import Any, Awaitable, Callable

from aiohttp import web

from otelflow.core.adminhttp import serve
from otelflow.core.netaddr import split_host_port
from otelflow.core.telemetry import Telemetry

log = logging.getLogger("otelflow.telemetry")

DEFAULT_HOST = "localhost"
DEFAULT_PORT = 8888
LEVELS = ("none", "basic", "normal", "detailed")

_HELP = {
    "otelcol_receiver_accepted_spans": "Number of spans successfully pushed into the pipeline.",
    "otelcol_receiver_refused_spans": "Number of spans that could not be pushed into the pipeline.",
    "otelcol_receiver_failed_spans": "Number of spans that failed to be processed by the receiver.",
    "otelcol_exporter_sent_spans": "Number of spans successfully sent to destination.",
    "otelcol_exporter_send_failed_spans": "Number of spans that the exporter failed to send.",
    "otelcol_exporter_queue_size": "Current size of the retry queue (in batches).",
    "otelcol_exporter_queue_capacity": "Fixed capacity of the retry queue (in batches).",
}


@dataclass
class MetricsSettings:
    level: str = "normal"
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT

    @property
    def enabled(self) -> bool:
        return self.level != "none"


def parse_settings(telemetry: dict[str, Any] | None) -> MetricsSettings:
    """Reads ``service::telemetry::metrics``; raises ValueError on a malformed section."""
    metrics = (telemetry or {}).get("metrics") or {}
    if not isinstance(metrics, dict):
        raise ValueError("service::telemetry::metrics: expected a map")
    level = str(metrics.get("level", "normal")).lower()
    if level not in LEVELS:
        raise ValueError(f'service::telemetry::metrics::level: unknown level "{level}", expected one of {", ".join(LEVELS)}')
    out = MetricsSettings(level=level)
    readers = metrics.get("readers")
    address = metrics.get("address")
    if readers:
        for reader in readers:
            prom = (((reader or {}).get("pull") or {}).get("exporter") or {}).get("prometheus")
            if prom is not None:
                out.host = str(prom.get("host", DEFAULT_HOST))
                out.port = int(prom.get("port", DEFAULT_PORT))
                break
        else:
            # periodic/push readers are not served here; nothing to pull
            out.level = "none"
            log.warning("service::telemetry::metrics: only pull/prometheus readers are supported; serving nothing")
    elif address:
        host, port = split_host_port(str(address))
        out.host, out.port = host or "0.0.0.0", port
    return out


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _number(v: float) -> str:
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    return repr(int(v)) if float(v).is_integer() and abs(v) < 1e15 else repr(float(v))


def _series(name: str, labels: tuple[tuple[str, str], ...], value: float) -> str:
    if labels:
        inner = ",".join(f'{k}="{_escape(str(v))}"' for k, v in labels)
        return f"{name}{{{inner}}} {_number(value)}"
    return f"{name} {_number(value)}"


def _rss_bytes() -> float:
    try:
        with open("/proc/self/statm", "rb") as f:
            return float(int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE"))
    except (OSError, ValueError, IndexError):
        import resource

        return float(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)


def process_figures() -> dict[str, float]:
    cpu = os.times()
    return {"cpu": cpu.user + cpu.system, "rss": _rss_bytes()}


def render(telemetry: Telemetry, started: float | None = None, peers: list[dict] = ()) -> str:
    """Prometheus text exposition of every counter and gauge, plus process metrics; with ``peers``
    (the other workers' snapshots) every figure is the sum over the workers."""
    if peers:
        telemetry = telemetry.merged(list(peers))
    families: dict[str, tuple[str, list[str]]] = {}

    def add(name: str, kind: str, labels: tuple[tuple[str, str], ...], value: float) -> None:
        fam = families.setdefault(name, (kind, []))
        fam[1].append(_series(name, labels, value))

    # snapshot first: scrapes may interleave with the data path adding new series
    for (name, labels), value in list(telemetry.counters.items()):
        add(name, "counter", labels, value)
    for (name, labels), value in list(telemetry.gauges.items()):
        add(name, "gauge", labels, value)
    if started is not None:
        figures = [process_figures(), *(p.get("process", {}) for p in peers)]
        add("otelcol_process_uptime", "counter", (), time.monotonic() - started)
        add("otelcol_process_cpu_seconds", "counter", (), sum(f.get("cpu", 0.0) for f in figures))
        add("otelcol_process_memory_rss", "gauge", (), sum(f.get("rss", 0.0) for f in figures))
    lines: list[str] = []
    for name in sorted(families):
        kind, series = families[name]
        help_text = _HELP.get(name)
        if help_text:
            lines.append(f"# HELP {name} {help_text}")
        lines.append(f"# TYPE {name} {kind}")
        lines.extend(sorted(series))
    return "\n".join(lines) + "\n"


class TelemetryServer:
    """aiohttp listener for /metrics; a failed bind is logged, not fatal (see docs/telemetry.md)."""

    def __init__(self, telemetry: Telemetry, settings: MetricsSettings):
        self.telemetry = telemetry
        self.settings = settings
        self.started = time.monotonic()
        self._runner: web.AppRunner | None = None
        self.port: int | None = None
        self.peers: Callable[[], Awaitable[list[dict]]] | None = None  # the other workers' snapshots

    async def _metrics(self, request: web.Request) -> web.Response:
        peers = await self.peers() if self.peers is not None else []
        body = render(self.telemetry, self.started, peers)
        return web.Response(body=body.encode(), headers={"Content-Type": "text/plain; version=0.0.4; charset=utf-8"})

    async def start(self) -> None:
        if not self.settings.enabled:
            return
        app = web.Application()
        app.router.add_get("/metrics", self._metrics)
        host = self.settings.host
        endpoint = f"[{host}]:{self.settings.port}" if ":" in host else f"{host}:{self.settings.port}"
        try:
            self._runner, addresses = await serve(app, endpoint)
        except OSError as exc:
            log.warning("self-telemetry: cannot serve metrics on %s:%s (%s); continuing without it",
                        host, self.settings.port, exc)
            return
        self.port = addresses[0][1]
        log.info("self-telemetry metrics on http://%s:%s/metrics", host, self.port)

    async def shutdown(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
