"""Run the SDK sender against a local HTTP server and keep each body it posts (the recorded inputs).

    python capture.py            # writes sdk_json_v2_N.json, sdk_json_v1_N.json, sdk_proto_N.bin
"""

from __future__ import annotations

import http.server
import os
import subprocess
import sys
import threading
from pathlib import Path

HERE = Path(__file__).resolve().parent
# A venv with --system-site-packages and protobuf==3.20.3, for the protobuf exporter's generated code.
PROTO_PYTHON = os.environ.get("ZIPKIN_PROTO_PYTHON", "/tmp/zipkin-proto-venv/bin/python")


def capture(encoding: str) -> list[tuple[str, bytes]]:
    bodies: list[tuple[str, bytes]] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            bodies.append((self.headers.get("Content-Type", ""), body))
            self.send_response(202)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    path = "/api/v1/spans" if encoding == "json_v1" else "/api/v2/spans"
    python = PROTO_PYTHON if encoding == "proto" else sys.executable
    subprocess.run([python, str(HERE / "sdk_sender.py"), f"http://127.0.0.1:{server.server_port}{path}",
                    encoding], check=True)
    server.shutdown()
    return bodies


def main() -> None:
    for encoding in ("json_v2", "json_v1", "proto"):
        for i, (_, body) in enumerate(capture(encoding)):
            ext = "bin" if encoding == "proto" else "json"
            (HERE / "inputs" / f"sdk_{encoding}_{i}.{ext}").write_bytes(body)


if __name__ == "__main__":
    main()
