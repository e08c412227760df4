"""Write the tail_sampling cases and record what otelcol-ref keeps of them (never run by pytest).

    python tests/processors/testdata/tail_sampling/record.py           # every case of cases.py
    python tests/processors/testdata/tail_sampling/record.py NAME ...  # some

For each case: write ``config.yaml`` and ``input.json`` from cases.py, run otelcol-ref (v0.161.0) with
otlp (HTTP, loopback, free port) -> tail_sampling (decision_wait 1s unless the case sets it) -> file
(OTLP/JSON lines), post the requests as binary protobuf, wait until every decision is out, and write
``expected.json`` with the spans exported per trace, or the error otelcol-ref stopped with.
"""

from __future__ import annotations

import concurrent.futures
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import yaml
from google.protobuf import json_format
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[3]
OTELCOL_REF = Path(os.environ.get("OTELCOL_REF", REPO / "bench" / ".build" / "bin" / "otelcol-ref"))
sys.path.insert(0, str(REPO))

from tests.processors.testdata.tail_sampling import cases, golden  # noqa: E402

START_PREFIX = 'cannot start pipelines: failed to start "tail_sampling" processor: '
CONFIG_PREFIX = "invalid configuration: processors::tail_sampling: "


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_case(name: str) -> Path:
    cfg, reqs = cases.CASES[name]()
    cfg = {"decision_wait": "1s", **cfg}
    case_dir = HERE / name
    case_dir.mkdir(exist_ok=True)
    doc = {"description": (cases.CASES[name].__doc__ or name).strip(), "tail_sampling": cfg}
    (case_dir / "config.yaml").write_text(yaml.safe_dump(doc, sort_keys=False, width=120))
    (case_dir / "input.json").write_text(json.dumps(reqs, separators=(",", ":")) + "\n")
    return case_dir


def record(name: str) -> str:
    case_dir = write_case(name)
    work = Path(tempfile.mkdtemp(prefix="otelcol-ref-ts-"))
    out, port = work / "out.jsonl", free_port()
    full = {
        "receivers": {"otlp": {"protocols": {"http": {"endpoint": f"127.0.0.1:{port}"}}}},
        "processors": {"tail_sampling": golden.config(case_dir)},
        "exporters": {"file": {"path": str(out), "flush_interval": "100ms"}},
        "service": {"telemetry": {"metrics": {"level": "none"}},
                    "pipelines": {"traces": {"receivers": ["otlp"], "processors": ["tail_sampling"], "exporters": ["file"]}}},
    }
    (work / "config.yaml").write_text(yaml.safe_dump(full, sort_keys=False))
    log_path = work / "otelcol.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([str(OTELCOL_REF), "--config", str(work / "config.yaml")], stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 20
            while b"Everything is ready" not in log_path.read_bytes() and proc.poll() is None:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{name}: otelcol-ref did not start:\n{log_path.read_text()}")
                time.sleep(0.05)
            if proc.poll() is not None:
                line = [l for l in log_path.read_text().splitlines() if l.startswith("Error: ")][-1][len("Error: "):]
                result: dict = {"error": line}
            else:
                for req in golden.requests(case_dir):
                    r = urllib.request.Request(f"http://127.0.0.1:{port}/v1/traces", data=req.SerializeToString(),
                                               headers={"Content-Type": "application/x-protobuf"})
                    with urllib.request.urlopen(r, timeout=10) as resp:
                        assert resp.status == 200, resp.status
                time.sleep(3.5)  # decided at the second tick after arrival (decision_wait 1s), then flushed
                lines = out.read_text().splitlines() if out.exists() else []
                docs = [json_format.ParseDict(golden.hex_ids(json.loads(l)), ExportTraceServiceRequest()) for l in lines if l.strip()]
                result = {"kept": golden.kept(docs)}
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                proc.wait(20)
    (case_dir / "expected.json").write_text(json.dumps(result, indent=1) + "\n")
    return f"{name}: " + (result["error"] if "error" in result else f"{len(result['kept'])} trace(s) kept")


def main(names: list[str]) -> None:
    names = names or list(cases.CASES)
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        for line in pool.map(record, names):
            print(line)


if __name__ == "__main__":
    main(sys.argv[1:])
