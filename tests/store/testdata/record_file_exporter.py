"""Records what upstream's file exporter writes, for tests/store/test_import_export.py to import.

Usage (from the repo root; needs bench/.build/bin/otelcol-ref, never run by pytest):

    PYTHONPATH=src:. python tests/store/testdata/record_file_exporter.py

otelcol-ref v0.161.0 receives OTLP/HTTP from the real SDK (tests/sdk.py SDKApp, service "filed",
three requests of two orders each) and writes them with its file exporter as JSON lines (traces and
logs in one file) and as length-prefixed protobuf (traces). The expected counts go to
``upstream_file_exporter.json``.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.backends import free_port
from tests.sdk import SDKApp

HERE = Path(__file__).resolve().parent
BINARY = Path("bench/.build/bin/otelcol-ref")


def main() -> None:
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        config = out / "config.yaml"
        config.write_text(f"""
receivers: {{otlp: {{protocols: {{http: {{endpoint: "127.0.0.1:{port}"}}}}}}}}
exporters:
  file/json: {{path: "{out / 'json.jsonl'}", format: json}}
  file/proto: {{path: "{out / 'proto.binpb'}", format: proto}}
service:
  telemetry: {{metrics: {{level: none}}}}
  pipelines:
    traces: {{receivers: [otlp], exporters: [file/json, file/proto]}}
    logs: {{receivers: [otlp], exporters: [file/json]}}
""")
        proc = subprocess.Popen([str(BINARY), "--config", str(config)], stderr=subprocess.PIPE)
        time.sleep(2)
        app = SDKApp("http", f"http://127.0.0.1:{port}", service_name="filed")
        for _ in range(3):
            app.emit(2)
            app.flush()
        app.shutdown()
        time.sleep(2)
        proc.terminate()
        proc.wait(20)
        (HERE / "upstream_file_exporter.jsonl").write_bytes((out / "json.jsonl").read_bytes())
        (HERE / "upstream_file_exporter.binpb").write_bytes((out / "proto.binpb").read_bytes())
    sent = app.sent()
    counts = {"spans": sum(len(ss.spans) for rs in sent["traces"].resource_spans for ss in rs.scope_spans),
              "logs": sum(len(sl.log_records) for rl in sent["logs"].resource_logs for sl in rl.scope_logs)}
    (HERE / "upstream_file_exporter.json").write_text(json.dumps(counts) + "\n")
    print(counts, file=sys.stderr)


if __name__ == "__main__":
    main()
