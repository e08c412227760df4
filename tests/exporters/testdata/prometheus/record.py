#!/usr/bin/env python3
"""Records the goldens in this folder from the upstream collector (otelcol-ref v0.161.0).

For each case in cases.json: otelcol-ref runs `otlp` (HTTP) -> `prometheus` on loopback, gets the
case's requests (inputs/*.json, OTLP/JSON) in order, and /metrics is fetched once per Accept header
named by the case. Outputs: <case>.<accept>.txt (the body) and <case>.<accept>.ctype (Content-Type).

    python tests/exporters/testdata/prometheus/record.py [CASE...]

Needs bench/.build/bin/otelcol-ref (`make -C bench ref`). Not run by the tests.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[3]
BINARY = REPO / "bench" / ".build" / "bin" / "otelcol-ref"

# What Prometheus 2.x sends when it scrapes, and what a plain client sends.
ACCEPT = {
    "text": "text/plain;version=0.0.4;q=1,*/*;q=0.1",
    "openmetrics": "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,"
                   "text/plain;version=0.0.4;q=0.5,*/*;q=0.1",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def config_yaml(otlp_port: int, prom_port: int, exporter: dict) -> str:
    cfg = {
        "receivers": {"otlp": {"protocols": {"http": {"endpoint": f"127.0.0.1:{otlp_port}"}}}},
        "exporters": {"prometheus": {"endpoint": f"127.0.0.1:{prom_port}", **exporter}},
        "service": {
            "telemetry": {"metrics": {"level": "none"}, "logs": {"level": "debug"}},
            "pipelines": {"metrics": {"receivers": ["otlp"], "exporters": ["prometheus"]}},
        },
    }
    return json.dumps(cfg)  # JSON is YAML


def wait_ready(url: str, proc: subprocess.Popen, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("otelcol-ref exited")
        try:
            urllib.request.urlopen(url, timeout=2).read()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} not ready")


def record(case: dict) -> None:
    otlp_port, prom_port = free_port(), free_port()
    with tempfile.TemporaryDirectory() as tmp:
        cfg = Path(tmp) / "config.yaml"
        cfg.write_text(config_yaml(otlp_port, prom_port, case["config"]))
        log = open(Path(tmp) / "log.txt", "wb")
        proc = subprocess.Popen([str(BINARY), "--config", str(cfg)], stdout=log, stderr=subprocess.STDOUT)
        try:
            metrics_url = f"http://127.0.0.1:{prom_port}/metrics"
            wait_ready(metrics_url, proc)
            for name in case["requests"]:
                body = (HERE / "inputs" / f"{name}.json").read_bytes()
                req = urllib.request.Request(f"http://127.0.0.1:{otlp_port}/v1/metrics", data=body,
                                             headers={"Content-Type": "application/json"})
                urllib.request.urlopen(req, timeout=10).read()
            for accept in case["accept"]:
                req = urllib.request.Request(metrics_url, headers={"Accept": ACCEPT[accept]})
                with urllib.request.urlopen(req, timeout=10) as resp:
                    (HERE / f"{case['name']}.{accept}.txt").write_bytes(resp.read())
                    (HERE / f"{case['name']}.{accept}.ctype").write_text(resp.headers["Content-Type"] + "\n")
        finally:
            proc.terminate()
            proc.wait(30)
            log.close()
            errors = [line for line in (Path(tmp) / "log.txt").read_text().splitlines() if "error" in line.lower()]
            if errors:
                print(f"{case['name']}: upstream logged errors:\n  " + "\n  ".join(errors[:10]))


def main(names: list[str]) -> None:
    for case in json.loads((HERE / "cases.json").read_text()):
        if not names or case["name"] in names:
            record(case)
            print(f"recorded {case['name']}")


if __name__ == "__main__":
    main(sys.argv[1:])
