"""Record the otlp_json connector golden from otelcol-ref (never run by pytest).

    python tests/connectors/testdata/otlpjson/record.py

Runs otelcol-ref with otlp (HTTP) -> logs pipeline -> otlp_json -> traces/metrics/logs pipelines ->
one file exporter each, posts ``input.json`` (a logs request whose bodies are OTLP/JSON requests,
some malformed) as binary protobuf, and writes what each file exporter wrote to ``expected.json``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[3]
sys.path.insert(0, str(REPO))

from tests.connectors.test_otlpjson import collector_config, input_request  # noqa: E402
from tests.backends import free_port  # noqa: E402

OTELCOL_REF = Path(os.environ.get("OTELCOL_REF", REPO / "bench" / ".build" / "bin" / "otelcol-ref"))


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="otelcol-ref-otlpjson-"))
    port = free_port()
    cfg = work / "config.yaml"
    cfg.write_text(yaml.safe_dump(collector_config(port, work), sort_keys=False))
    log_path = work / "log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([str(OTELCOL_REF), "--config", str(cfg)], stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 20
            while b"Everything is ready" not in log_path.read_bytes():
                assert proc.poll() is None and time.monotonic() < deadline, log_path.read_text()
                time.sleep(0.05)
            req = urllib.request.Request(f"http://127.0.0.1:{port}/v1/logs", data=input_request().SerializeToString(),
                                         headers={"Content-Type": "application/x-protobuf"})
            with urllib.request.urlopen(req, timeout=10) as resp:
                assert resp.status == 200
            time.sleep(1.5)
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(20)
    out = {s: [json.loads(l) for l in (work / f"{s}.jsonl").read_text().splitlines() if l.strip()]
           for s in ("traces", "metrics", "logs")}
    out["log_lines"] = [l for l in log_path.read_text().splitlines() if "otlp" in l and ("error" in l.lower() or "Invalid" in l)]
    (HERE / "expected.json").write_text(json.dumps(out, indent=1) + "\n")
    print({s: len(v) for s, v in out.items()})


if __name__ == "__main__":
    main()
