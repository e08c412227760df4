"""The ``http_check`` scraper: one request per endpoint per tick, all endpoints at once, with aiohttp.

A failed request is data, not a scrape error (as upstream): ``httpcheck.error`` carries Go's error
text (``Get "URL": dial tcp …: connect: connection refused``, ``Get "URL": context deadline exceeded
(Client.Timeout exceeded while awaiting headers)``) and every ``httpcheck.status`` class is 0.
Each target's failure is logged once, until it answers again. Timings come from aiohttp's trace
hooks; aiohttp does not time the TLS handshake apart from the TCP connect, so that one stays 0.
"""

from __future__ import annotations

import asyncio
import errno
import json
import re
import time
from typing import Any

import aiohttp

from otelflow.core.component import Host
from otelflow.core.tls import client_ssl_context
from otelflow.receivers.httpcheck.config import Config, Target, Validation
from otelflow.receivers.httpcheck.metadata import METADATA
from otelflow.receivers.scraperhelper import ScraperReceiver, new_builder

CLASSES = ("1xx", "2xx", "3xx", "4xx", "5xx")
TIMINGS = (("httpcheck.dns.lookup.duration", "dns"), ("httpcheck.client.connection.duration", "connect"),
           ("httpcheck.tls.handshake.duration", "tls"), ("httpcheck.client.request.duration", "request"),
           ("httpcheck.response.duration", "response"))


def _mark(key: str):
    async def hook(session, ctx, params) -> None:
        ctx.trace_request_ctx[key] = time.monotonic_ns()
    return hook


def _trace_config() -> aiohttp.TraceConfig:
    tc = aiohttp.TraceConfig()
    tc.on_dns_resolvehost_start.append(_mark("dns_start"))
    tc.on_dns_resolvehost_end.append(_mark("dns_end"))
    tc.on_connection_create_start.append(_mark("connect_start"))
    tc.on_connection_create_end.append(_mark("connect_end"))
    tc.on_request_headers_sent.append(_mark("wrote"))
    tc.on_request_chunk_sent.append(_mark("wrote"))
    tc.on_request_end.append(_mark("first_byte"))
    return tc


def _span(marks: dict[str, int], start: str, end: str) -> int:
    return marks[end] - marks[start] if start in marks and end in marks else 0


def go_error(method: str, url: str, exc: BaseException) -> str:
    """The text Go's http.Client gives for the same failure (``url.Error``: Op "URL": cause)."""
    op = method[:1] + method[1:].lower()
    if isinstance(exc, asyncio.TimeoutError):
        cause = "context deadline exceeded (Client.Timeout exceeded while awaiting headers)"
    elif isinstance(exc, aiohttp.ClientConnectorError):
        os_error = exc.os_error
        reason = {errno.ECONNREFUSED: "connection refused", errno.EHOSTUNREACH: "no route to host",
                  errno.ENETUNREACH: "network is unreachable"}.get(getattr(os_error, "errno", None) or 0)
        if reason is None and isinstance(os_error, ConnectionRefusedError):
            reason = "connection refused"
        host = f"[{exc.host}]" if ":" in exc.host else exc.host
        cause = f"dial tcp {host}:{exc.port}: connect: {reason}" if reason else f"dial tcp {host}:{exc.port}: {os_error}"
    elif isinstance(exc, aiohttp.ServerDisconnectedError):
        cause = "EOF"
    else:
        cause = str(exc) or type(exc).__name__
    return f'{op} "{url}": {cause}'


def _json_path(body: bytes, path: str) -> tuple[bool, str]:
    """A dotted gjson path (``a.b.0.c``): whether it exists and gjson's String() of the value."""
    try:
        value: Any = json.loads(body)
    except ValueError:
        return False, ""
    for part in path.split("."):
        if isinstance(value, dict) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return False, ""
    if isinstance(value, bool):
        return True, "true" if value else "false"
    if isinstance(value, str):
        return True, value
    if value is None:
        return True, ""
    return True, json.dumps(value, separators=(",", ":"))


def validate(body: bytes, validations: list[Validation]) -> tuple[dict[str, int], dict[str, int]]:
    passed: dict[str, int] = {}
    failed: dict[str, int] = {}

    def count(kind: str, ok: bool) -> None:
        into = passed if ok else failed
        into[kind] = into.get(kind, 0) + 1

    text = body.decode("utf-8", "replace")
    for v in validations:
        if v.contains:
            count("contains", v.contains in text)
        if v.not_contains:
            count("not_contains", v.not_contains not in text)
        if v.json_path:
            found, value = _json_path(body, v.json_path)
            if not found:
                count("json_path", False)
                continue
            count("json_path", not v.equals or value == v.equals)
        if v.max_size is not None:
            count("size", len(body) <= v.max_size)
        if v.min_size is not None:
            count("size", len(body) >= v.min_size)
        if v.regex:
            try:
                count("regex", re.search(v.regex.encode(), body) is not None)
            except re.error:
                count("regex", False)
    return passed, failed


def _content_type(body: str) -> str:
    stripped = body.strip()
    if stripped.startswith(("{", "[")):
        return "application/json"
    return "application/x-www-form-urlencoded" if "=" in body else "text/plain"


class HttpCheckReceiver(ScraperReceiver):
    scraper_name = "httpcheck"

    def __init__(self, settings, config: Config, consumers):
        super().__init__(settings, config, consumers)
        self.mb = new_builder("httpcheck", config, METADATA, settings)
        self.checks: list[tuple[str, Target, Any]] = []  # (endpoint, target, ssl context or None)
        self.session: aiohttp.ClientSession | None = None
        self.target_errors = 0  # failed requests, all targets
        self._failing: dict[int, str] = {}  # index -> last logged error

    async def start_scraper(self, host: Host) -> None:
        for target in self.config.targets:
            ctx = None
            if any(e.startswith("https:") for e in target.all_endpoints()):
                ctx = await asyncio.to_thread(client_ssl_context, target.tls)
            for endpoint in target.all_endpoints():
                self.checks.append((endpoint, target, ctx))
        self.session = aiohttp.ClientSession(trace_configs=[_trace_config()], auto_decompress=True,
                                             skip_auto_headers=("User-Agent",))

    async def close_scraper(self) -> None:
        if self.session is not None:
            await self.session.close()

    async def scrape(self):
        await asyncio.gather(*(self._check(i, *c) for i, c in enumerate(self.checks)))
        return self.mb.emit()

    async def _check(self, index: int, endpoint: str, target: Target, ctx) -> None:
        assert self.session is not None
        method = target.method or "GET"
        headers = dict(target.headers)
        if target.body and target.auto_content_type and not any(k.lower() == "content-type" for k in headers):
            headers["Content-Type"] = _content_type(target.body)
        marks: dict[str, int] = {}
        now = time.time_ns()
        start = time.monotonic_ns()
        marks["start"] = start
        body = b""
        status = 0
        error: BaseException | None = None
        try:
            async with self.session.request(
                    method, endpoint, headers=headers, data=target.body.encode() if target.body else None,
                    ssl=ctx if ctx is not None else True, allow_redirects=True, trace_request_ctx=marks,
                    timeout=aiohttp.ClientTimeout(total=target.timeout or 30.0)) as resp:
                marks["headers"] = time.monotonic_ns()
                status = resp.status
                try:
                    body = await resp.read()
                except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
                    self.log.error("failed to read response body: %s", exc)
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError, ValueError) as exc:
            error = exc
        elapsed_ms = (time.monotonic_ns() - start) // 1_000_000
        self._record(now, endpoint, method, target, status, body, elapsed_ms, marks, error, index)

    def _record(self, now: int, endpoint: str, method: str, target: Target, status: int, body: bytes,
                elapsed_ms: int, marks: dict[str, int], error: BaseException | None, index: int) -> None:
        mb, url = self.mb, {"http.url": endpoint}
        mb.record("httpcheck.duration", now, elapsed_ms, **url)
        if body:
            mb.record("httpcheck.response.size", now, len(body), **url)
            if target.validations:
                passed, failed = validate(body, target.validations)
                for kind, n in passed.items():
                    mb.record("httpcheck.validation.passed", now, n, **url, **{"validation.type": kind})
                for kind, n in failed.items():
                    mb.record("httpcheck.validation.failed", now, n, **url, **{"validation.type": kind})
        spans = {"dns": _span(marks, "dns_start", "dns_end"), "connect": _span(marks, "connect_start", "connect_end"),
                 "tls": 0, "request": _span(marks, "start", "wrote"), "response": _span(marks, "first_byte", "headers")}
        for name, key in TIMINGS:
            extra = {"network.transport": "tcp"} if key == "connect" else {}
            mb.record(name, now, max(spans[key], 0), **url, **extra)
        if error is not None:
            message = go_error(method, endpoint, error)
            mb.record("httpcheck.error", now, 1, **url, **{"error.message": message})
            self.target_errors += 1
            if self._failing.get(index) != message:
                self.log.warning("http check of %s failed: %s", endpoint, message)
                self._failing[index] = message
        elif self._failing.pop(index, None) is not None:
            self.log.info("http check of %s answers again (status %d)", endpoint, status)
        for cls in CLASSES:
            if status // 100 == int(cls[0]):
                mb.record("httpcheck.status", now, 1, **url, **{"http.status_code": status, "http.method": method,
                                                                  "http.status_class": cls})
            else:  # upstream drops the status code from the zero points
                mb.record("httpcheck.status", now, 0, **url, **{"http.method": method, "http.status_class": cls})
