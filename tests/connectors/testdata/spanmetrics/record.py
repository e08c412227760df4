#!/usr/bin/env python3
"""Records the goldens in this folder from the upstream collector (otelcol-ref v0.161.0).

For each case in cases.json: otelcol-ref runs `otlp` (HTTP) -> traces pipeline -> `spanmetrics`
(with the case's config and metrics_flush_interval 300ms) -> metrics pipeline -> `file`. It gets
inputs/spans.json (OTLP/JSON) in one request, flushes a few times and is stopped. The metrics
requests it wrote that hold data are kept: <case>.jsonl, one OTLP/JSON request per line, in order.
The first line is the first flush after the spans arrived; later lines are the flushes after it.

    python tests/connectors/testdata/spanmetrics/record.py [CASE...]

Needs bench/.build/bin/otelcol-ref (`make -C bench ref`). Not run by the tests.
"""

from __future__ import annotations

import json
import signal
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


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def record(case: dict) -> None:
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out.jsonl"
        cfg = {
            "receivers": {"otlp": {"protocols": {"http": {"endpoint": f"127.0.0.1:{port}"}}}},
            "connectors": {"spanmetrics": {"metrics_flush_interval": "300ms", **case["config"]}},
            "exporters": {"file": {"path": str(out), "flush_interval": "10ms"}},
            "service": {
                "telemetry": {"metrics": {"level": "none"}},
                "pipelines": {
                    "traces": {"receivers": ["otlp"], "exporters": ["spanmetrics"]},
                    "metrics": {"receivers": ["spanmetrics"], "exporters": ["file"]},
                },
            },
        }
        (Path(tmp) / "config.yaml").write_text(json.dumps(cfg))
        log = open(Path(tmp) / "log.txt", "wb")
        proc = subprocess.Popen([str(BINARY), "--config", str(Path(tmp) / "config.yaml")], stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 30
            body = (HERE / "inputs" / "spans.json").read_bytes()
            while True:
                try:
                    req = urllib.request.Request(f"http://127.0.0.1:{port}/v1/traces", data=body,
                                                 headers={"Content-Type": "application/json"})
                    urllib.request.urlopen(req, timeout=5).read()
                    break
                except OSError:
                    if time.monotonic() > deadline or proc.poll() is not None:
                        raise
                    time.sleep(0.1)
            time.sleep(1.5)
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(30)
            log.close()
        lines = [line for line in out.read_text().splitlines() if line.strip()]
        kept = [line for line in lines if json.loads(line).get("resourceMetrics")]
        print(f"{case['name']}: {len(lines)} requests written, {len(kept)} with data")
        (HERE / f"{case['name']}.jsonl").write_text("".join(line + "\n" for line in kept[:3]))


def main(names: list[str]) -> None:
    for case in json.loads((HERE / "cases.json").read_text()):
        if not names or case["name"] in names:
            record(case)


if __name__ == "__main__":
    main(sys.argv[1:])
