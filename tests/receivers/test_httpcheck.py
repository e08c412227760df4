"""The ``http_check`` receiver against a real aiohttp server on 127.0.0.1 (200, 404, 500, a POST with
validations, a target that never answers, a refused port), compared with otelcol-ref's output.

otelcol-ref's httpcheck module is v0.148.0 (bench/README.md); the one difference the comparison
normalises is the unit of the five optional timing metrics (ms there, ns from v0.153.0, as otelflow).
That build (a v0.148.0 module on the v0.161.0 core) also reads only the ``confighttp`` keys of a
target: ``endpoints``, ``method``, ``body`` and ``validations`` are lost (a target with only
``endpoints`` is rejected as having neither, a POST target sends GET). So the golden's targets use
``endpoint`` alone, and POST, bodies, ``endpoints`` and validations are checked against otelflow
with the values upstream's code gives.
Set ``OTELFLOW_RECORD_GOLDENS=1`` to record the golden again from otelcol-ref.
"""

from __future__ import annotations

import asyncio
import json
import os
import threading
import time
from pathlib import Path

import pytest
from aiohttp import web

from otelflow.config.errors import ConfigError
from otelflow.config.model import validate
from otelflow.receivers.httpcheck import Config
from otelflow.receivers.httpcheck.receiver import validate as run_validations
from tests.backends import free_port
from tests.receivers.scrape_rig import metric_names, ref_has, run_otelcol_ref, run_otelflow, shape

GOLDEN = Path(__file__).parent / "testdata" / "httpcheck" / "golden.json"
RECORD = os.environ.get("OTELFLOW_RECORD_GOLDENS") == "1"
TIMINGS = ("httpcheck.dns.lookup.duration", "httpcheck.client.connection.duration", "httpcheck.tls.handshake.duration",
           "httpcheck.client.request.duration", "httpcheck.response.duration")
OPTIONAL = (*TIMINGS, "httpcheck.response.size", "httpcheck.validation.passed", "httpcheck.validation.failed")
VALUE_KEYS = ("http.url", "http.method", "http.status_code", "http.status_class", "error.message", "validation.type",
              "network.transport")
# Go's client adds this to a timeout's text, or not, depending on which of its timers fires first;
# otelcol-ref writes either, so the comparison drops it (otelflow always writes it)
CLIENT_TIMEOUT = " (Client.Timeout exceeded while awaiting headers)"
STABLE = ("httpcheck.status", "httpcheck.error", "httpcheck.response.size", "httpcheck.validation.passed",
          "httpcheck.validation.failed")


class Target:
    """An aiohttp server in its own thread: the system the checks talk to."""

    def __init__(self) -> None:
        self.port = free_port()
        self.loop = asyncio.new_event_loop()
        self.started = threading.Event()
        self.hung = 0
        self.thread = threading.Thread(target=self._serve, daemon=True)

    async def _hang(self, request):
        self.hung += 1
        await asyncio.sleep(3600)

    async def _echo(self, request):
        body = await request.read()
        return web.json_response({"method": request.method, "length": len(body), "ok": True,
                                  "type": request.headers.get("Content-Type", "")})

    def _serve(self) -> None:
        app = web.Application()
        app.router.add_get("/ok", lambda r: web.Response(text="hello, checker"))
        app.router.add_get("/missing", lambda r: web.Response(status=404, text="no such page"))
        app.router.add_get("/fail", lambda r: web.Response(status=500, text="broken"))
        app.router.add_get("/hang", self._hang)
        app.router.add_post("/echo", self._echo)
        runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=0.1)
        self.loop.run_until_complete(runner.setup())
        self.loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", self.port).start())
        self.started.set()
        self.loop.run_forever()

    def __enter__(self) -> "Target":
        self.thread.start()
        self.started.wait(10)
        return self

    def __exit__(self, *exc) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"


def _receiver(target: Target, refused: int, interval: str = "1h") -> dict:
    """What the golden records: keys otelcol-ref's build reads (see the module docstring)."""
    return {"httpcheck": {
        "collection_interval": interval, "initial_delay": "0s",
        "metrics": {name: {"enabled": True} for name in OPTIONAL},
        "targets": [
            {"endpoint": target.url("/ok")},
            {"endpoint": target.url("/missing")},
            {"endpoint": target.url("/fail")},
            {"endpoint": target.url("/hang"), "timeout": "1s"},
            {"endpoint": f"http://127.0.0.1:{refused}/"},
        ]}}


def _post_receiver(target: Target) -> dict:
    return {"http_check": {
        "collection_interval": "1h", "initial_delay": "0s",
        "metrics": {name: {"enabled": True} for name in OPTIONAL},
        "targets": [
            {"endpoints": [target.url("/echo"), target.url("/echo?second")], "method": "POST", "body": '{"q": 1}',
             "auto_content_type": True, "headers": {"X-Check": "yes"},
             "validations": [{"contains": '"ok": true'}, {"json_path": "ok", "equals": "true"},
                             {"max_size": 10}, {"min_size": 5}, {"regex": "POST"}, {"not_contains": "error"}]},
        ]}}


def _one_scrape(requests) -> bool:
    return any("httpcheck.status" in metric_names(r) for r in requests)


def _normalised(requests, target: Target, refused: int) -> dict:
    got = shape([next(r for r in requests if "httpcheck.status" in metric_names(r))], VALUE_KEYS, stable=STABLE)
    text = json.dumps(got, sort_keys=True).replace(f"127.0.0.1:{target.port}", "TARGET").replace(CLIENT_TIMEOUT, "")
    out = json.loads(text.replace(f"127.0.0.1:{refused}", "REFUSED"))
    for entry in out.values():
        entry["points"].sort()
    return out


def _as_v0161(golden: dict) -> dict:
    """v0.148.0's units for the timing metrics -> v0.161.0's."""
    for name in TIMINGS:
        if name in golden and golden[name]["unit"] == "ms":
            golden[name]["unit"] = "ns"
    return golden


def test_output_matches_otelcol_ref(tmp_path: Path):
    refused = free_port()
    with Target() as target:
        started = time.monotonic()
        requests, log = run_otelflow(_receiver(target, refused), tmp_path, _one_scrape)
        took = time.monotonic() - started
        got = _normalised(requests, target, refused)
        if RECORD or not GOLDEN.exists():
            if not ref_has("httpcheck"):
                pytest.skip("no golden and otelcol-ref has no httpcheck receiver")
            ref, _ = run_otelcol_ref(_receiver(target, refused), tmp_path, _one_scrape)
            GOLDEN.write_text(json.dumps(_normalised(ref, target, refused), indent=1, sort_keys=True) + "\n")
    assert got == _as_v0161(json.loads(GOLDEN.read_text()))
    assert took < 15, "the hanging target was not bounded by its 1s timeout"


def test_post_with_body_endpoints_and_validations(tmp_path: Path):
    with Target() as target:
        requests, _ = run_otelflow(_post_receiver(target), tmp_path, _one_scrape)
    points = {}
    for r in requests:
        for rm in r.resource_metrics:
            for sm in rm.scope_metrics:
                assert sm.scope.name == "github.com/open-telemetry/opentelemetry-collector-contrib/receiver/httpcheckreceiver"
                for m in sm.metrics:
                    for dp in (m.sum if m.HasField("sum") else m.gauge).data_points:
                        attrs = {a.key: _value(a.value) for a in dp.attributes}
                        points[(m.name, attrs.get("http.url"), attrs.get("validation.type"), attrs.get("http.status_class"))] = (
                            dp.as_int, attrs)
    for url in (target.url("/echo"), target.url("/echo?second")):
        value, attrs = points[("httpcheck.status", url, None, "2xx")]
        assert value == 1 and attrs["http.status_code"] == 200 and attrs["http.method"] == "POST"
        body = json.dumps({"method": "POST", "length": 8, "ok": True, "type": "application/json"}).encode()
        assert points[("httpcheck.response.size", url, None, None)][0] == len(body)
        passed = {k[2]: v[0] for k, v in points.items() if k[0] == "httpcheck.validation.passed" and k[1] == url}
        failed = {k[2]: v[0] for k, v in points.items() if k[0] == "httpcheck.validation.failed" and k[1] == url}
        assert passed == {"contains": 1, "json_path": 1, "size": 1, "regex": 1, "not_contains": 1}
        assert failed == {"size": 1}  # max_size 10 < the body


def _value(v):
    return getattr(v, v.WhichOneof("value"))


def test_failures_are_counted_logged_once_and_scraping_goes_on(tmp_path: Path):
    refused = free_port()

    def three_scrapes(requests) -> bool:
        return sum("httpcheck.status" in metric_names(r) for r in requests) >= 3

    with Target() as target:
        requests, log = run_otelflow(_receiver(target, refused, interval="1500ms"), tmp_path, three_scrapes, timeout=30)
    errors = [dp for r in requests for rm in r.resource_metrics for sm in rm.scope_metrics for m in sm.metrics
              if m.name == "httpcheck.error" for dp in m.sum.data_points]
    messages = {a.value.string_value for dp in errors for a in dp.attributes if a.key == "error.message"}
    assert messages == {f'Get "{target.url("/hang")}": context deadline exceeded{CLIENT_TIMEOUT}',
                        f'Get "http://127.0.0.1:{refused}/": dial tcp 127.0.0.1:{refused}: connect: connection refused'}
    assert len(errors) >= 6  # two failing targets, every scrape
    assert log.count("http check of") == 2, log  # one line per failing target, not one per scrape
    assert target.hung >= 3


def test_config_errors_are_upstreams():
    with pytest.raises(ConfigError, match="no targets configured"):
        validate(Config, {}, "receivers::httpcheck")
    with pytest.raises(ConfigError, match="at least one of 'endpoint' or 'endpoints' must be specified"):
        validate(Config, {"targets": [{"method": "GET"}]}, "receivers::httpcheck")
    with pytest.raises(ConfigError, match='"endpoint" must be in the form of'):
        validate(Config, {"targets": [{"endpoint": "not a url"}]}, "receivers::httpcheck")
    cfg = validate(Config, {"targets": [{"endpoint": "http://x"}]}, "receivers::httpcheck")
    assert (cfg.collection_interval, cfg.initial_delay, cfg.targets[0].timeout) == (60.0, 1.0, 30.0)


def test_validations_count_per_kind():
    body = b'{"status": "up", "n": 3}'
    passed, failed = run_validations(body, validate(Config, {"targets": [{"endpoint": "http://x", "validations": [
        {"json_path": "status", "equals": "up"}, {"json_path": "missing"}, {"max_size": 5, "min_size": 1},
        {"regex": "n.: [0-9]"}]}]}, "r").targets[0].validations)
    assert passed == {"json_path": 1, "size": 1, "regex": 1}
    assert failed == {"json_path": 1, "size": 1}
