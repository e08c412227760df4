"""A collector under test as a process: otelflow or the reference otelcol on a config file, pinned to
the collector's core, ready once its port listens; shared by the receiver benches that compare the
two (jaeger_bench.py, zipkin_bench.py), which each started and stopped it their own way."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
from contextlib import asynccontextmanager
from pathlib import Path
from typing import AsyncIterator

from netutil import wait_port

REPO = Path(__file__).resolve().parents[1]
OTELCOL_REF = Path(os.environ.get("OTELCOL_REF", REPO / "bench" / ".build" / "bin" / "otelcol-ref"))


def command(peer: str, config: Path, core: str = "1") -> list[str]:
    """How to run ``peer`` ("otelflow" or "otelcol-ref") on ``config``, on ``core`` when taskset exists."""
    cmd = [sys.executable, "-m", "otelflow", "--config", str(config)] if peer == "otelflow" else \
        [str(OTELCOL_REF), "--config", str(config)]
    return ["taskset", "-c", core, *cmd] if shutil.which("taskset") else cmd


@asynccontextmanager
async def running(peer: str, config: Path, port: int, timeout: float = 60) -> AsyncIterator[subprocess.Popen]:
    """The peer, started on ``config`` and listening on ``port``; terminated on exit. Its output goes
    to ``collector.log`` beside the config, whose tail is shown when it does not start."""
    log_path = config.parent / "collector.log"
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(command(peer, config), stdout=log, stderr=subprocess.STDOUT, env=env)
    try:
        try:
            await asyncio.to_thread(wait_port, port, proc, timeout)
        except RuntimeError:
            raise SystemExit(f"{peer} did not start:\n" + log_path.read_text(errors="replace")[-2000:]) from None
        yield proc
    finally:
        proc.terminate()
        proc.wait(15)
