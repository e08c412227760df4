"""Record what otelcol-ref's influxdb exporter writes (never run by pytest).

    python tests/exporters/testdata/influxdb/record.py

Each input_*.json goes through otelcol-ref (otlp HTTP -> influxdb exporters, one per schema, see
RUNS in tests/exporters/test_influxdb.py) into a capture server; ``expected.json`` holds the
receiver's status and every write request (path, query, body).
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[3]
sys.path[:0] = [str(REPO), str(REPO / "src")]

from tests.exporters.test_influxdb import run_all  # noqa: E402

if __name__ == "__main__":
    got = asyncio.run(run_all(lambda cfg: subprocess.Popen(
        [str(REPO / "bench/.build/bin/otelcol-ref"), "--config", str(cfg)], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)))
    (HERE / "expected.json").write_text(json.dumps(got, indent=1) + "\n")
    print({k: (v["status"], len(v["requests"])) for k, v in got.items()})
