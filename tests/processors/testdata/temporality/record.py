"""Record the temporality goldens from otelcol-ref (never run by pytest).

    python tests/processors/testdata/temporality/record.py [case ...]
"""

from __future__ import annotations

import json
import os
import shutil
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
OTELCOL_REF = Path(os.environ.get("OTELCOL_REF", REPO / "bench" / ".build" / "bin" / "otelcol-ref"))
sys.path.insert(0, str(REPO))

from tests.processors.testdata.record import free_port  # noqa: E402
from tests.processors.testdata.temporality.rig import case_dirs, config, requests  # noqa: E402


def record(case_dir: Path) -> None:
    work = Path(tempfile.mkdtemp(prefix="otelcol-ref-temporality-"))
    out, port = work / "out.jsonl", free_port()
    cfg = work / "config.yaml"
    cfg.write_text(yaml.safe_dump(config(case_dir, port, out), sort_keys=False))
    log_path = work / "otelcol.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([str(OTELCOL_REF), "--config", str(cfg)], stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 20
            while b"Everything is ready" not in log_path.read_bytes() and proc.poll() is None:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{case_dir.name}: otelcol-ref did not start:\n{log_path.read_text()}")
                time.sleep(0.05)
            if proc.poll() is not None:
                text = log_path.read_text()
                tail = text[text.rindex("Error: ") + len("Error: "):].splitlines()
                result: object = {"error": " ".join(l.strip() for l in tail if l.strip())}
            else:
                for body in requests(case_dir):
                    req = urllib.request.Request(f"http://127.0.0.1:{port}/v1/metrics", data=body,
                                                 headers={"Content-Type": "application/x-protobuf"})
                    with urllib.request.urlopen(req, timeout=10) as resp:
                        assert resp.status == 200, resp.status
                time.sleep(1.0)
                result = [json.loads(l) for l in out.read_text().splitlines() if l.strip()] if out.exists() else []
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                proc.wait(20)
    shutil.rmtree(work, ignore_errors=True)
    (case_dir / "expected.json").write_text(json.dumps(result, indent=1, ensure_ascii=False) + "\n")
    print(f"{case_dir.name}: {'error' if isinstance(result, dict) else f'{len(result)} document(s)'}")


if __name__ == "__main__":
    names = sys.argv[1:]
    for d in ([HERE / n for n in names] if names else case_dirs()):
        record(d)
