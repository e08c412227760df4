"""Record the exporter goldens from the upstream collector (otelcol-ref, v0.161.0).

    python tests/exporters/testdata/zipkin/record.py [path/to/otelcol-ref]

otelcol-ref receives each OTLP/JSON file of inputs/ on its OTLP/HTTP receiver and sends it with two
zipkin exporters (``format: json`` and ``format: proto``) to a small HTTP server here, which keeps
every body; goldens/<input>.json holds them (protobuf bodies base64-encoded) with their Content-Type.
"""

from __future__ import annotations

import base64
import http.server
import json
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[3]
CONFIG = """
receivers:
  otlp:
    protocols:
      http:
        endpoint: 127.0.0.1:{otlp}
exporters:
  zipkin/json:
    endpoint: http://127.0.0.1:{sink}/json
  zipkin/proto:
    endpoint: http://127.0.0.1:{sink}/proto
    format: proto
service:
  telemetry:
    metrics:
      level: none
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [zipkin/json, zipkin/proto]
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> None:
    binary = sys.argv[1] if len(sys.argv) > 1 else str(REPO / "bench" / ".build" / "bin" / "otelcol-ref")
    received: list[tuple[str, str, bytes]] = []

    class Sink(http.server.BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            received.append((self.path, self.headers.get("Content-Type", ""), body))
            self.send_response(202)
            self.end_headers()

        def log_message(self, *args):
            pass

    sink = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Sink)
    threading.Thread(target=sink.serve_forever, daemon=True).start()
    out = Path(tempfile.mkdtemp())
    otlp = free_port()
    (out / "config.yaml").write_text(CONFIG.format(otlp=otlp, sink=sink.server_port))
    proc = subprocess.Popen([binary, "--config", str(out / "config.yaml")], stdout=subprocess.DEVNULL,
                            stderr=open(out / "log.txt", "w"))
    try:
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", otlp), 0.2).close()
                break
            except OSError:
                time.sleep(0.2)
        (HERE / "goldens").mkdir(exist_ok=True)
        for source in sorted((HERE / "inputs").glob("*.json")):
            received.clear()
            req = urllib.request.Request(f"http://127.0.0.1:{otlp}/v1/traces", data=source.read_bytes(),
                                         headers={"Content-Type": "application/json"})
            urllib.request.urlopen(req, timeout=10).read()
            deadline = time.time() + 5
            while time.time() < deadline and len(received) < 2:
                time.sleep(0.05)
            time.sleep(0.5)
            golden = {}
            for path, content_type, body in received:
                fmt = path.strip("/")
                golden[fmt] = {"content_type": content_type,
                               "body": json.loads(body) if fmt == "json" else base64.b64encode(body).decode()}
            (HERE / "goldens" / source.name).write_text(json.dumps(golden, indent=1) + "\n")
            print(source.name, sorted(golden))
    finally:
        proc.terminate()
        proc.wait(10)
        sink.shutdown()


if __name__ == "__main__":
    main()
