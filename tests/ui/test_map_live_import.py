"""Service map, live tail and import/export in a real browser (ui/e2e/map-live-import.mjs).

Two all-in-one otelflow processes: one with two workers (the product default on this machine: the
store, the UI and so the live tail run in worker 0 while OTLP lands on either worker), fed by the
real SDK emulating python-api -> go-svc -> rust-svc with a queue hop (tests/store/map_fleet.py); the
other empty, to import an exported trace into. While the script has the traces page following
live, it writes ``live-ready``; this test then sends a span with the SDK and writes its trace ID to
``live-sent`` for the script to find on the page.
"""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time

import pytest
from opentelemetry import trace

from tests.backends import free_port
from tests.process import Collector
from tests.sdk import SDKApp
from tests.store.map_fleet import Fleet
from tests.ui.test_browser import ARTIFACTS, CHROMIUM, UI_DIR, config, get_json, require_chromium, wait_for

REQUESTS, FAILING = 6, 2
LIVE_LOG = "disk almost full on live-svc"
RANGE_S = 900  # the script looks at the last 15 minutes
EDGES = [["python-api", "go-svc", "parent"], ["go-svc", "rust-svc", "parent"], ["go-svc", "order-worker", "parent"],
         ["go-svc", "batch-worker", "link"]]


def _start(tmp_path, name: str, workers: int) -> tuple[Collector, int, str]:
    grpc, http, ui = free_port(), free_port(), free_port()
    collector = Collector(config(grpc, http, ui, tmp_path / name), env={"OTELFLOW_WORKERS": str(workers)}).start(timeout=60)
    return collector, http, f"http://127.0.0.1:{ui}"


def _wait_file(path, timeout: float = 90) -> bool:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def _send_live(endpoint: str) -> None:
    """Once the traces page follows live, one request of a new service through the SDK; once the
    logs page does, one ERROR log."""
    app = SDKApp("http", endpoint, service_name="live-svc")
    if not _wait_file(ARTIFACTS / "live-ready"):
        return
    with app.tracer_provider.get_tracer("live").start_as_current_span("GET /live", kind=trace.SpanKind.SERVER) as span:
        pass
    app.tracer_provider.force_flush()
    (ARTIFACTS / "live-sent").write_text(format(span.get_span_context().trace_id, "032x"))
    if not _wait_file(ARTIFACTS / "live-logs-ready"):
        return
    app.log.error(LIVE_LOG)
    app.shutdown()
    (ARTIFACTS / "live-logs-sent").write_text(LIVE_LOG)


def test_service_map_live_tail_and_reimported_waterfall(tmp_path):
    require_chromium()
    if not (UI_DIR / "node_modules" / "playwright-core").is_dir():
        pytest.fail("ui/node_modules is missing: run `make ui`")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for name in ("live-ready", "live-sent", "live-logs-ready", "live-logs-sent"):
        (ARTIFACTS / name).unlink(missing_ok=True)
    fleet_otelflow, http, url = _start(tmp_path, "fleet", workers=2)
    empty_otelflow, _, empty_url = _start(tmp_path, "empty", workers=1)
    try:
        fleet = Fleet(f"http://127.0.0.1:{http}")
        ids = [fleet.request(fail=i < FAILING) for i in range(REQUESTS)]
        fleet.shutdown()
        now_us = time.time_ns() // 1000
        deps = f"{url}/api/v1/dependencies?start_us={now_us - RANGE_S * 10**6}&end_us={now_us + 60 * 10**6}"
        wait_for("every edge of the fleet", lambda: sorted([e["parent"], e["child"], e["how"]] for e in get_json(deps)["edges"]) == sorted(EDGES)
                 and all(e["calls"] == REQUESTS for e in get_json(deps)["edges"]), timeout=30)
        wait_for("the exported trace whole", lambda: len(get_json(f"{url}/api/v1/traces/{ids[0]}")["spans"]) == 7)

        sender = threading.Thread(target=_send_live, args=(f"http://127.0.0.1:{http}",), daemon=True)
        sender.start()
        env = {**os.environ, "UI_URL": url, "EMPTY_UI_URL": empty_url, "ARTIFACTS": str(ARTIFACTS), "CHROMIUM": CHROMIUM,
               "REQUESTS": str(REQUESTS), "FAILING": str(FAILING), "RATE": f"{round(REQUESTS * 3600 / RANGE_S)}/h",
               "TRACE_ID": ids[0], "EDGES": json.dumps(EDGES)}
        proc = subprocess.run(["node", str(UI_DIR / "e2e" / "map-live-import.mjs")], cwd=UI_DIR, env=env,
                              capture_output=True, text=True, timeout=150)
        output = proc.stdout + proc.stderr
        assert proc.returncode == 0, (output + "\n--- otelflow (fleet) log tail ---\n"
                                      + "\n".join(fleet_otelflow.output().splitlines()[-30:]))
        assert "browser test passed" in output
        for name in ("service-map", "live-tail", "live-logs", "imported-waterfall"):
            assert (ARTIFACTS / f"{name}.png").stat().st_size > 10_000, f"{name}.png is missing or blank"
        live_trace = (ARTIFACTS / "live-sent").read_text()
        assert get_json(f"{url}/api/v1/traces/{live_trace}")["spans"][0]["service"] == "live-svc"
    finally:
        assert fleet_otelflow.stop() == 0
        assert empty_otelflow.stop() == 0
