"""otelflow as a real process, the way users run it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path


class Collector:
    def __init__(self, config: str, *args: str, env: dict | None = None):
        self.dir = Path(tempfile.mkdtemp(prefix="otelflow-test-"))
        self.config = self.dir / "config.yaml"
        self.config.write_text(config)
        self.log = self.dir / "otelflow.log"
        self.args = args
        self.env = {**os.environ, **(env or {})}
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 20) -> "Collector":
        self._log = open(self.log, "wb")
        self.proc = subprocess.Popen([sys.executable, "-m", "otelflow", "--config", str(self.config), *self.args],
                                     stdout=self._log, stderr=subprocess.STDOUT, env=self.env)
        deadline = time.monotonic() + timeout
        while b"Everything is ready" not in self.log.read_bytes():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"otelflow did not start:\n{self.output()}")
            time.sleep(0.05)
        return self

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 60) -> int:
        if self.proc is None:
            return 0
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        finally:
            self._log.close()
