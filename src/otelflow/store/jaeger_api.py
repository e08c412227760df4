"""Jaeger's HTTP query API (the one Grafana's Jaeger data source and Jaeger's own UI call), served
from the embedded store under ``/jaeger/api/``.

Parameters, defaults, the response envelope and error texts are those of Jaeger v2's query service
(cmd/query/app http_handler.go and query_parser.go), so a client cannot tell the difference; the
JSON model comes from translators/jaeger/ui_model. Queries and encoding run on the store's reader
threads.
"""

from __future__ import annotations

import json
import re
import time
import urllib.parse
from typing import Any, Callable

from aiohttp import web
from multidict import MultiMapping

from otelflow.store import jaeger_query
from otelflow.store.database import StoreError
from otelflow.translators.jaeger.ui_model import jaeger_id

PREFIX = "/jaeger/api"
DEFAULT_LIMIT = 100
MAX_LIMIT = 100_000  # as Jaeger all-in-one's max_traces: a deeper search is refused the same way
TRACE_LOOKBACK_NS = 48 * 3600 * 10**9
DEPENDENCY_LOOKBACK_MS = 24 * 3600 * 1000
_INT64 = (-(1 << 63), (1 << 63) - 1)
_INT32 = (-(1 << 31), (1 << 31) - 1)


class ApiError(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


# -- Go's parsers, with their error texts -----------------------------------------------------------------


def _quote(s: str) -> str:
    """strconv.Quote, close enough: Go keeps printable non-ASCII as it is."""
    return json.dumps(s, ensure_ascii=False)


def _parse_int(s: str, bits: int = 64) -> int:
    lo, hi = _INT64 if bits == 64 else _INT32
    if not re.fullmatch(r"[+-]?[0-9]+", s):
        raise ValueError(f"strconv.ParseInt: parsing {_quote(s)}: invalid syntax")
    value = int(s)
    if not lo <= value <= hi:
        raise ValueError(f"strconv.ParseInt: parsing {_quote(s)}: value out of range")
    return value


def _parse_bool(s: str) -> bool:
    if s in ("1", "t", "T", "TRUE", "true", "True"):
        return True
    if s in ("0", "f", "F", "FALSE", "false", "False"):
        return False
    raise ValueError(f"strconv.ParseBool: parsing {_quote(s)}: invalid syntax")


_UNITS = {"ns": 1, "us": 1_000, "µs": 1_000, "μs": 1_000, "ms": 1_000_000, "s": 10**9, "m": 60 * 10**9,
          "h": 3600 * 10**9}
_DURATION_PART = re.compile(r"([0-9]*(?:\.[0-9]*)?)([^0-9.]*)")


def parse_duration(s: str) -> int:
    """time.ParseDuration in nanoseconds ("1.5s", "300ms", "2h45m", "-1us")."""
    text, orig = s, s
    sign = 1
    if text[:1] in "+-" and text:
        sign, text = (-1 if text[0] == "-" else 1), text[1:]
    if text == "0":
        return 0
    if not text:
        raise ValueError(f"time: invalid duration {_quote(orig)}")
    total = 0
    while text:
        m = _DURATION_PART.match(text)
        number, unit = m.group(1), m.group(2)
        if number in ("", "."):
            raise ValueError(f"time: invalid duration {_quote(orig)}")
        if not unit:
            raise ValueError(f"time: missing unit in duration {_quote(orig)}")
        if unit not in _UNITS:
            raise ValueError(f"time: unknown unit {_quote(unit)} in duration {_quote(orig)}")
        whole, _, frac = number.partition(".")
        total += int(whole or 0) * _UNITS[unit] + (int(frac) * _UNITS[unit] // 10 ** len(frac) if frac else 0)
        text = text[m.end():]
    if total > _INT64[1] + (sign < 0):
        raise ValueError(f"time: invalid duration {_quote(orig)}")
    return sign * total


def parse_trace_id(s: str) -> str:
    """model.TraceIDFromString, as the store's 32 hex digits."""
    if len(s) > 32:
        raise ValueError(f"TraceID cannot be longer than 32 hex characters: {s}")
    for part in ((s[:-16], s[-16:]) if len(s) > 16 else (s,)):
        if not re.fullmatch(r"[0-9a-fA-F]+", part):
            raise ValueError(f"strconv.ParseUint: parsing {_quote(part)}: invalid syntax")
    return s.lower().rjust(32, "0")


# -- request parsing ----------------------------------------------------------------------------------------


def _first(q: MultiMapping, name: str) -> str:
    return q.get(name, "")


def _param(err: Exception, name: str) -> ApiError:
    return ApiError(400, f"unable to parse param '{name}': {err}")


def _time_ns(q: MultiMapping, name: str, unit_ns: int, default_ns: int) -> int:
    value = _first(q, name)
    if not value:
        return default_ns
    try:
        return _parse_int(value) * unit_ns
    except ValueError as exc:
        raise _param(exc, name) from None


def _tags(q: MultiMapping) -> dict[str, str]:
    out: dict[str, str] = {}
    for tag in q.getall("tag", []):
        key, sep, value = tag.partition(":")
        if not sep:
            raise ApiError(400, f"malformed 'tag' parameter, expecting key:value, received: {tag}")
        out[key] = value
    for text in q.getall("tags", []):
        try:
            parsed = json.loads(text)
        except ValueError as exc:
            raise ApiError(400, f"malformed 'tags' parameter, cannot unmarshal JSON: {_json_error(text, exc)}") from None
        if parsed is None:
            continue
        if not isinstance(parsed, dict) or not all(isinstance(v, str) or v is None for v in parsed.values()):
            if isinstance(parsed, dict):
                bad = next(v for v in parsed.values() if not (isinstance(v, str) or v is None))
                detail = f"json: cannot unmarshal {_go_type(bad)} into Go value of type string"
            else:
                detail = f"json: cannot unmarshal {_go_type(parsed)} into Go value of type map[string]string"
            raise ApiError(400, f"malformed 'tags' parameter, cannot unmarshal JSON: {detail}")
        out.update({k: v or "" for k, v in parsed.items()})
    return out


def _go_type(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def _json_error(text: str, exc: ValueError) -> str:
    """encoding/json's two most common syntax messages (close, not every case)."""
    pos = getattr(exc, "pos", 0)
    if pos >= len(text.rstrip()):
        return "unexpected end of JSON input"
    return f"invalid character '{text[pos]}' looking for beginning of value"


def search_params(q: MultiMapping, now_ns: int) -> dict:
    """parseTraceQueryParams: the same checks in the same order, so the first error is the same."""
    service, operation = _first(q, "service"), _first(q, "operation")
    start_ns = _time_ns(q, "start", 1000, now_ns - TRACE_LOOKBACK_NS)
    end_ns = _time_ns(q, "end", 1000, now_ns)
    tags = _tags(q)
    limit = DEFAULT_LIMIT
    if _first(q, "limit"):
        try:
            limit = _parse_int(_first(q, "limit"), 32)
        except ValueError as exc:
            raise ApiError(400, str(exc)) from None
    durations = []
    for name in ("minDuration", "maxDuration"):
        value = _first(q, name)
        try:
            durations.append(parse_duration(value) if value else 0)
        except ValueError as exc:
            raise _param(exc, name) from None
    trace_ids = []
    for value in q.getall("traceID", []):
        try:
            trace_ids.append(parse_trace_id(value))
        except ValueError as exc:
            raise ApiError(400, f"cannot parse traceID param: {exc}") from None
    if _first(q, "raw"):
        try:
            _parse_bool(_first(q, "raw"))
        except ValueError as exc:
            raise _param(exc, "raw") from None
    if not trace_ids and not service:
        raise ApiError(400, "parameter 'service' is required")
    if durations[0] and durations[1] and durations[1] < durations[0]:
        raise ApiError(400, "'maxDuration' should be greater than 'minDuration'")
    return {"service": service, "operation": operation, "tags": tags, "start_ns": start_ns, "end_ns": end_ns,
            "min_duration_ns": durations[0], "max_duration_ns": durations[1], "limit": limit, "trace_ids": trace_ids}


# -- responses ----------------------------------------------------------------------------------------------


def envelope(data: Any, total: int = 0, errors: list | None = None) -> dict:
    return {"data": data, "total": total, "limit": 0, "offset": 0, "errors": errors}


def _body(value: Any, pretty: bool) -> bytes:
    if pretty:
        return json.dumps(value, indent=4, ensure_ascii=False).encode()
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def error_response(status: int, message: str) -> web.Response:
    """http.Error with the envelope, as Jaeger writes it (text/plain, a trailing newline)."""
    body = json.dumps(envelope(None, errors=[{"code": status, "msg": message}]), separators=(",", ":"),
                      ensure_ascii=False)
    return web.Response(status=status, text=body + "\n", content_type="text/plain", charset="utf-8",
                        headers={"X-Content-Type-Options": "nosniff"})


class JaegerAPI:
    """The handlers; ``store`` returns the open Store (the web_ui extension finds it at start)."""

    def __init__(self, store: Callable[[], Any], logger: Any):
        self._store = store
        self._log = logger

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get(PREFIX + "/services", self.services)
        app.router.add_get(PREFIX + "/services/{service:.+}/operations", self.operations_legacy)  # names may hold "/"
        app.router.add_get(PREFIX + "/operations", self.operations)
        app.router.add_get(PREFIX + "/traces", self.search)
        app.router.add_get(PREFIX + "/traces/{trace_id}", self.trace)
        app.router.add_get(PREFIX + "/dependencies", self.dependencies)
        app.router.add_route("*", PREFIX + "/{tail:.*}", self.unknown)

    async def _answer(self, request: web.Request, fn: Callable[[Any], Any], settle: bool = False) -> web.Response:
        """Run ``fn(cursor)`` -> response dict on a reader thread and encode it there too; with
        ``settle`` the store's rollups first catch up with every committed span."""
        pretty = _first(request.query, "prettyPrint") not in ("", "false")

        def run(cur: Any) -> bytes:
            return _body(fn(cur), pretty)

        try:
            if settle:
                await self._store().settle()
            body = await self._store().read(run)
        except ApiError as exc:
            return error_response(exc.status, str(exc))
        except StoreError as exc:
            return error_response(503, str(exc))
        except Exception as exc:  # a bug or a database error: say so, keep serving
            self._log.exception("jaeger query failed")
            return error_response(500, f"query failed: {exc}")
        return web.Response(body=body, content_type="application/json")

    async def services(self, request: web.Request) -> web.Response:
        def run(cur: Any) -> dict:
            names = jaeger_query.services(cur)
            return envelope(names or None, len(names))
        return await self._answer(request, run)

    async def operations_legacy(self, request: web.Request) -> web.Response:
        # Jaeger routes on the encoded path and QueryUnescapes the name: "+" is a space, %2B a plus
        raw = request.rel_url.raw_path
        service = urllib.parse.unquote_plus(raw[raw.index("/services/") + 10:raw.rindex("/operations")])

        def run(cur: Any) -> dict:
            names = sorted({name for name, _ in jaeger_query.operations(cur, service)})
            return envelope(names or None, len(names))
        return await self._answer(request, run)

    async def operations(self, request: web.Request) -> web.Response:
        service = _first(request.query, "service")
        if not service:
            return error_response(400, "parameter 'service' is required")
        kind = _first(request.query, "spanKind")

        def run(cur: Any) -> dict:
            found = jaeger_query.operations(cur, service, kind)
            return envelope([{"name": name, "spanKind": k} for name, k in found], len(found))
        return await self._answer(request, run)

    async def search(self, request: web.Request) -> web.Response:
        try:
            p = search_params(request.query, time.time_ns())
        except ApiError as exc:
            return error_response(exc.status, str(exc))
        trace_ids = p.pop("trace_ids")
        if not trace_ids and not 0 < p["limit"] <= MAX_LIMIT:
            return error_response(500, "search depth must be greater than 0 and less than max traces")

        def run(cur: Any) -> dict:
            if trace_ids:
                found = jaeger_query.traces(cur, trace_ids)
                have = {t["traceID"] for t in found}
                missing = [{"msg": "trace not found", "traceID": jaeger_id(t, 32)} for t in trace_ids
                           if jaeger_id(t, 32) not in have]
                return envelope(found, errors=missing or None)
            return envelope(jaeger_query.traces(cur, jaeger_query.find_trace_ids(cur, **p)))
        return await self._answer(request, run)

    async def trace(self, request: web.Request) -> web.Response:
        q = request.query
        try:
            trace_id = parse_trace_id(request.match_info["trace_id"])
        except ValueError as exc:
            return error_response(400, str(exc))
        for name in ("start", "end"):
            if _first(q, name):
                try:
                    _parse_int(_first(q, name))
                except ValueError as exc:
                    return error_response(400, str(_param(exc, name)))
        if _first(q, "raw"):
            try:
                _parse_bool(_first(q, "raw"))
            except ValueError as exc:
                return error_response(400, str(_param(exc, "raw")))

        def run(cur: Any) -> dict:
            found = jaeger_query.traces(cur, [trace_id])
            if not found:
                raise ApiError(404, "trace not found")
            return envelope(found)
        return await self._answer(request, run)

    async def dependencies(self, request: web.Request) -> web.Response:
        q = request.query
        try:
            end_ms = _time_ns(q, "endTs", 1, time.time_ns() // 1_000_000)
            lookback = _first(q, "lookback")
            try:
                lookback_ms = _parse_int(lookback) if lookback else DEPENDENCY_LOOKBACK_MS
            except ValueError as exc:
                raise _param(exc, "lookback") from None
        except ApiError as exc:
            return error_response(exc.status, str(exc))
        if lookback_ms < 0:
            return error_response(500, "end time must be greater than start time")
        service = _first(q, "service")

        def run(cur: Any) -> dict:
            links = jaeger_query.dependencies(cur, start_ns=(end_ms - lookback_ms) * 1_000_000,
                                              end_ns=end_ms * 1_000_000)
            if service:
                links = [link for link in links if service in (link["parent"], link["child"])]
            return envelope(links)
        return await self._answer(request, run, settle=True)

    async def unknown(self, request: web.Request) -> web.Response:
        # Jaeger's router answers an unknown path with its UI's index or a plain 404
        return web.Response(status=404, text="404 page not found\n", content_type="text/plain")
