"""Record what otelcol-ref's exporters send with headers_setter (never run by pytest).

    python tests/extensions/testdata/headers_setter/record.py

Runs ``config.yaml`` in otelcol-ref, sends one span from a real SDK app with ``X-Tenant: acme``,
and writes the headers the HTTP and gRPC backends received (``x-*`` names only: the rest is each
client's own) to ``expected.json``.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[3]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "src"))

from tests.extensions.test_headers_setter import run_golden_config  # noqa: E402

if __name__ == "__main__":
    got = asyncio.run(run_golden_config(lambda cfg: subprocess.Popen(
        [str(REPO / "bench/.build/bin/otelcol-ref"), "--config", str(cfg)],
        stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)))
    (HERE / "expected.json").write_text(json.dumps(got, indent=1, sort_keys=True) + "\n")
    print(got)
