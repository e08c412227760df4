"""Record the receiver goldens from the upstream collector (otelcol-ref, v0.161.0).

    python tests/receivers/testdata/zipkin/record.py [path/to/otelcol-ref]

Starts otelcol-ref with two zipkin receivers (plain and ``parse_string_tags: true``), each feeding
a ``file`` exporter, posts every case of cases.py and writes goldens/<case>.json: the status code,
the response body and the OTLP/JSON lines the file exporter wrote for that request.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cases import HERE, cases  # noqa: E402

REPO = HERE.parents[3]
CONFIG = """
receivers:
  zipkin:
    endpoint: 127.0.0.1:{plain}
  zipkin/parse:
    endpoint: 127.0.0.1:{parse}
    parse_string_tags: true
exporters:
  file/plain:
    path: {out}/plain.jsonl
  file/parse:
    path: {out}/parse.jsonl
service:
  telemetry:
    metrics:
      level: none
  pipelines:
    traces/plain:
      receivers: [zipkin]
      exporters: [file/plain]
    traces/parse:
      receivers: [zipkin/parse]
      exporters: [file/parse]
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def post(port: int, case) -> tuple[int, bytes]:
    req = urllib.request.Request(f"http://127.0.0.1:{port}{case.path}", data=case.body or None, method=case.method,
                                 headers={"Content-Type": case.content_type, **case.headers})
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def main() -> None:
    binary = sys.argv[1] if len(sys.argv) > 1 else str(REPO / "bench" / ".build" / "bin" / "otelcol-ref")
    out = Path(tempfile.mkdtemp())
    ports = {"plain": free_port(), "parse": free_port()}
    (out / "config.yaml").write_text(CONFIG.format(out=out, **ports))
    proc = subprocess.Popen([binary, "--config", str(out / "config.yaml")], stdout=subprocess.DEVNULL,
                            stderr=open(out / "log.txt", "w"))
    try:
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", ports["parse"]), 0.2).close()
                socket.create_connection(("127.0.0.1", ports["plain"]), 0.2).close()
                break
            except OSError:
                time.sleep(0.2)
        goldens = HERE / "goldens"
        goldens.mkdir(exist_ok=True)
        for case in cases():
            which = "parse" if case.parse else "plain"
            before = len(lines(out / f"{which}.jsonl"))
            status, body = post(ports[which], case)
            traces: list = []
            if status == 202:
                deadline = time.time() + 10
                while time.time() < deadline and len(lines(out / f"{which}.jsonl")) == before:
                    time.sleep(0.05)
                time.sleep(0.3)
                traces = [json.loads(line) for line in lines(out / f"{which}.jsonl")[before:]]
            (goldens / f"{case.name}.json").write_text(json.dumps(
                {"status": status, "body": body.decode("utf-8", "replace"), "traces": traces}, indent=1) + "\n")
            print(case.name, status, len(traces))
    finally:
        proc.terminate()
        proc.wait(10)


if __name__ == "__main__":
    main()
