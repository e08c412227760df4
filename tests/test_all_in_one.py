"""`otelflow` with no config: the all-in-one store and UI, as a newcomer starts it."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from tests.backends import free_port
from tests.sdk import SDKApp


def _start(data_dir: Path, grpc: int, http: int, ui: int, log: Path, workers: int = 1) -> subprocess.Popen:
    args = [sys.executable, "-m", "otelflow", "--workers", str(workers), "--data-dir", str(data_dir),
            "--set", f"receivers::otlp::protocols::grpc::endpoint=127.0.0.1:{grpc}",
            "--set", f"receivers::otlp::protocols::http::endpoint=127.0.0.1:{http}",
            "--set", f"extensions::web_ui::endpoint=127.0.0.1:{ui}",
            "--set", "service::telemetry::metrics::level=none"]
    proc = subprocess.Popen(args, stdout=open(log, "wb"), stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 30
    while log.read_bytes().count(b"Everything is ready") < workers:
        assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
        time.sleep(0.05)
    return proc


def _get(ui: int, path: str) -> dict:
    with urllib.request.urlopen(f"http://127.0.0.1:{ui}{path}", timeout=10) as resp:
        return json.load(resp)


def _wait_for(ui: int, predicate, timeout: float = 15.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        stats = _get(ui, "/api/v1/stats")
        if predicate(stats) or time.monotonic() > deadline:
            return stats


def test_default_config_stores_what_the_sdk_sends_and_keeps_it_across_a_restart(tmp_path):
    grpc, http, ui = free_port(), free_port(), free_port()
    data = tmp_path / "data"
    proc = _start(data, grpc, http, ui, tmp_path / "first.log")
    try:
        assert f"otelflow UI: http://127.0.0.1:{ui}/" in (tmp_path / "first.log").read_text()
        app = SDKApp("http/protobuf", f"http://127.0.0.1:{http}", service_name="newcomer")
        app.emit(2)
        app.shutdown()
        stats = _wait_for(ui, lambda s: s["spans"] >= 4 and s["logs"] >= 3 and s["metric_points"] > 0)
        assert stats["spans"] == 4 and stats["logs"] == 3
        services = _get(ui, "/api/v1/services")["services"]
        assert [s["name"] for s in services] == ["newcomer"]
    finally:
        proc.terminate()
        assert proc.wait(30) == 0
    assert (data / "otelflow.duckdb").exists()

    proc = _start(data, grpc, http, ui, tmp_path / "second.log")
    try:
        stats = _get(ui, "/api/v1/stats")
        assert (stats["spans"], stats["logs"]) == (4, 3)
        traces = _get(ui, "/api/v1/traces?service=newcomer&status=error")["traces"]
        assert len(traces) == 1 and traces[0]["span_count"] == 2
    finally:
        proc.terminate()
        proc.wait(30)


def test_default_config_on_two_workers_keeps_one_store_fed_by_both(tmp_path):
    """Both workers take requests (one connection per app); worker 0 alone owns the database and UI."""
    grpc, http, ui = free_port(), free_port(), free_port()
    data = tmp_path / "data"
    proc = _start(data, grpc, http, ui, tmp_path / "workers.log", workers=2)
    try:
        apps = [SDKApp("http/protobuf", f"http://127.0.0.1:{http}", service_name=f"svc{i}") for i in range(6)]
        for app in apps:
            app.emit(1)
            app.shutdown()
        stats = _wait_for(ui, lambda s: s["spans"] >= 12 and s["logs"] >= 12)
        assert (stats["spans"], stats["logs"]) == (12, 12)  # per app: 2 spans, a log per order and "done"
        services = _get(ui, "/api/v1/services")["services"]
        assert sorted(s["name"] for s in services) == [f"svc{i}" for i in range(6)]
        log = (tmp_path / "workers.log").read_text()
        assert log.count("otelflow UI: http://") == 1  # the UI runs once
    finally:
        proc.terminate()
        assert proc.wait(30) == 0
    assert [p.name for p in data.glob("*.duckdb")] == ["otelflow.duckdb"]


def test_print_default_config_is_a_valid_config(tmp_path):
    out = subprocess.run([sys.executable, "-m", "otelflow", "--print-default-config"], capture_output=True, text=True, check=True)
    path = tmp_path / "default.yaml"
    path.write_text(out.stdout)
    check = subprocess.run([sys.executable, "-m", "otelflow", "validate", "--config", str(path)], capture_output=True, text=True)
    assert check.returncode == 0, check.stderr
    assert "embedded_store" in out.stdout and "web_ui" in out.stdout
    strict = subprocess.run([sys.executable, "-m", "otelflow", "validate", "--strict-upstream", "--config", str(path)],
                            capture_output=True, text=True)
    assert strict.returncode == 1
    assert "extensions::web_ui: web_ui is an otelflow extension; otelcol has no such component" in strict.stderr
    assert "exporters::embedded_store: embedded_store is an otelflow exporter" in strict.stderr


def test_data_dir_needs_an_embedded_store(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("receivers: {otlp: {protocols: {grpc: {}}}}\nexporters: {debug: {}}\n"
                   "service: {pipelines: {traces: {receivers: [otlp], exporters: [debug]}}}\n")
    run = subprocess.run([sys.executable, "-m", "otelflow", "--config", str(cfg), "--data-dir", str(tmp_path)],
                         capture_output=True, text=True)
    assert run.returncode == 1
    assert "--data-dir: the config has no embedded_store extension" in run.stderr
