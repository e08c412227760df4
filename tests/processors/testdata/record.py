"""Record goldens for the attributes/resource processor conformance cases from the upstream binary.

Usage (from the repo root; needs bench/.build/bin/otelcol-ref, never run by pytest):

    python tests/processors/testdata/record.py            # every case
    python tests/processors/testdata/record.py case_a ... # some cases

Each case directory holds ``config.yaml`` (``signal``, ``description`` and a ``processors`` map whose
order is the pipeline order) and ``input.json`` (one OTLP/JSON export request, hex IDs). The recorder
runs otelcol-ref with ``otlp`` (HTTP, loopback, free port) -> the processors -> ``file`` (OTLP/JSON
lines), posts the input as binary protobuf (so both collectors see identical bytes), and writes
``expected.json``: the list of documents the file exporter wrote, or ``{"error": ...}`` with the
message upstream printed when the collector refused to start.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[2]
OTELCOL_REF = Path(os.environ.get("OTELCOL_REF", REPO / "bench" / ".build" / "bin" / "otelcol-ref"))
sys.path.insert(0, str(REPO))

from tests.processors.testdata.goldens import PATHS, collector_config, input_bytes  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def record(case_dir: Path) -> None:
    case = yaml.safe_load((case_dir / "config.yaml").read_text())
    work = Path(tempfile.mkdtemp(prefix="otelcol-ref-case-"))
    out = work / "out.jsonl"
    port = free_port()
    cfg_path = work / "config.yaml"
    cfg_path.write_text(yaml.safe_dump(collector_config(case, port, out), sort_keys=False))
    log_path = work / "otelcol.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([str(OTELCOL_REF), "--config", str(cfg_path)], stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 20
            while b"Everything is ready" not in log_path.read_bytes():
                if proc.poll() is not None:
                    break
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{case_dir.name}: otelcol-ref did not start:\n{log_path.read_text()}")
                time.sleep(0.05)
            if proc.poll() is not None:
                lines = [l for l in log_path.read_text().splitlines() if l.startswith("Error:")]
                if not lines:
                    raise RuntimeError(f"{case_dir.name}: otelcol-ref exited without an error line:\n{log_path.read_text()}")
                result: object = {"error": lines[-1][len("Error: "):]}
            else:
                body = input_bytes(case_dir, case["signal"])
                req = urllib.request.Request(f"http://127.0.0.1:{port}{PATHS[case['signal']]}", data=body,
                                             headers={"Content-Type": "application/x-protobuf"})
                with urllib.request.urlopen(req, timeout=10) as resp:
                    assert resp.status == 200, resp.status
                deadline = time.monotonic() + 10
                while not (out.exists() and out.read_bytes().endswith(b"\n")):
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"{case_dir.name}: no output:\n{log_path.read_text()}")
                    time.sleep(0.05)
                time.sleep(0.3)
                result = [json.loads(l) for l in out.read_text().splitlines() if l.strip()]
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                proc.wait(20)
    shutil.rmtree(work, ignore_errors=True)
    (case_dir / "expected.json").write_text(json.dumps(result, indent=1, ensure_ascii=False) + "\n")
    print(f"{case_dir.name}: {'error' if isinstance(result, dict) else f'{len(result)} document(s)'}")


def main(names: list[str]) -> None:
    dirs = [HERE / n for n in names] if names else sorted(d for d in HERE.iterdir() if (d / "config.yaml").exists())
    for d in dirs:
        record(d)


if __name__ == "__main__":
    main(sys.argv[1:])
