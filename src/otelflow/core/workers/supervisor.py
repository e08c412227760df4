"""The supervisor: starts the workers, passes signals on, restarts a worker that dies.

It runs no pipeline itself. ``otelflow`` checks the config and then replaces itself (same pid, so
signals sent to it still arrive) with ``python -m otelflow.core.workers.supervisor``, which imports
nothing of the collector and so stays small: the memory limiter counts it. Each worker is
``otelflow`` started again with the same arguments and ``OTELFLOW_WORKER_INDEX`` set, so every worker
reads the config sources itself (also on SIGHUP).
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Sequence

from otelflow.core.workers.context import ENV_COUNT, ENV_DIR, ENV_INDEX

log = logging.getLogger("otelflow.workers")
ENV_INSTANCE_ID = "OTELFLOW_INSTANCE_ID"  # the one service.instance.id of all workers

RESTART_BACKOFF = (0.1, 0.5, 1.0, 2.0, 5.0)  # seconds before restarting a worker, by crashes in a row
STABLE_AFTER = 10.0  # a worker that ran this long before dying starts a new crash series
STARTUP_GRACE = 5.0  # a worker exiting with an error this soon after the first start: the config cannot run


class Supervisor:
    def __init__(self, count: int, argv: Sequence[str], shutdown_timeout: float):
        self.count = count
        self.argv = list(argv)
        self.shutdown_timeout = shutdown_timeout
        self.directory = Path(tempfile.mkdtemp(prefix="otelflow-workers-"))
        self.procs: dict[int, subprocess.Popen] = {}
        self.started_at: dict[int, float] = {}
        self.crashes: dict[int, int] = {}
        self.stopping = False
        self.first_failure: int | None = None
        self.pending_hup: set[int] = set()  # workers asked to reload before they were ready

    def _spawn(self, index: int) -> None:
        env = dict(os.environ, **{ENV_INDEX: str(index), ENV_COUNT: str(self.count), ENV_DIR: str(self.directory)})
        cmd = [sys.executable, "-m", "otelflow", *self.argv]
        ready_marker(self.directory, index).unlink(missing_ok=True)
        self.pending_hup.discard(index)  # a new worker reads the config sources as they are now
        self.procs[index] = subprocess.Popen(cmd, env=env)
        self.started_at[index] = time.monotonic()

    def _forward(self, sig: int) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                try:
                    proc.send_signal(sig)
                except ProcessLookupError:
                    pass

    def _on_stop(self, signum: int, _frame) -> None:
        self.stopping = True
        self._forward(signum)

    def _on_hup(self, signum: int, _frame) -> None:
        # A worker still starting has no handler yet (the default action would kill it): it gets
        # the reload once it is ready, since it may have read the config before this signal.
        self.pending_hup.update(self.procs)
        self._pass_pending_hups()

    def _pass_pending_hups(self) -> None:
        for index in list(self.pending_hup):
            proc = self.procs.get(index)
            if proc is None or proc.poll() is not None:
                continue
            if ready_marker(self.directory, index).exists():
                self.pending_hup.discard(index)
                try:
                    proc.send_signal(signal.SIGHUP)
                except ProcessLookupError:
                    pass

    def run(self) -> int:
        signal.signal(signal.SIGTERM, self._on_stop)
        signal.signal(signal.SIGINT, self._on_stop)
        signal.signal(signal.SIGHUP, self._on_hup)
        began = time.monotonic()
        try:
            # worker 0 first: a config that cannot start (a port taken) then fails once, not N times
            self._spawn(0)
            code = self._wait_ready(0)
            if code is not None:
                return code if code > 0 else 1
            if self.stopping:
                return self._wait_all()
            for i in range(1, self.count):
                self._spawn(i)
            while True:
                if self.stopping:
                    return self._wait_all()
                for index, proc in list(self.procs.items()):
                    code = proc.poll()
                    if code is None or self.stopping:
                        continue
                    if time.monotonic() - began < STARTUP_GRACE and self.crashes.get(index, 0) == 0 and code > 0:
                        # the config could not start (the worker printed why): stop the others
                        self.stopping = True
                        self._forward(signal.SIGTERM)
                        self._wait_all()
                        return code
                    self._restart(index, code)
                self._pass_pending_hups()
                time.sleep(0.05)
        finally:
            self._cleanup()

    def _wait_ready(self, index: int, timeout: float = 60.0) -> int | None:
        """Until worker ``index`` runs its pipelines (None) or exits (its exit code)."""
        marker = ready_marker(self.directory, index)
        deadline = time.monotonic() + timeout
        while not marker.exists() and time.monotonic() < deadline and not self.stopping:
            code = self.procs[index].poll()
            if code is not None:
                return code
            time.sleep(0.02)
        self._pass_pending_hups()
        return None

    def _restart(self, index: int, code: int) -> None:
        ran = time.monotonic() - self.started_at[index]
        crashes = 1 if ran > STABLE_AFTER else self.crashes.get(index, 0) + 1
        self.crashes[index] = crashes
        delay = RESTART_BACKOFF[min(crashes, len(RESTART_BACKOFF)) - 1]
        log.error("worker %d exited with code %s after %.1fs; restarting it in %.1fs", index, code, ran, delay)
        deadline = time.monotonic() + delay
        while time.monotonic() < deadline and not self.stopping:
            time.sleep(0.05)
        if not self.stopping:
            self._spawn(index)

    def _wait_all(self) -> int:
        """Wait for every worker to drain; the exit code is the first non-zero one."""
        deadline = time.monotonic() + self.shutdown_timeout + 10
        result = 0
        for proc in self.procs.values():
            try:
                code = proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                code = proc.wait()
            if code not in (0, -signal.SIGTERM, -signal.SIGINT) and result == 0:
                result = code if code > 0 else 1
        return result

    def _cleanup(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        for path in self.directory.glob("*"):
            path.unlink(missing_ok=True)
        try:
            self.directory.rmdir()
        except OSError:
            pass


def ready_marker(directory: Path, index: int) -> Path:
    """The file a worker creates once its pipelines run."""
    return directory / f"ready-{index}"


def exec_supervisor(count: int, argv: Sequence[str], shutdown_timeout: float, instance_id: str) -> None:
    """Become the supervisor (never returns)."""
    os.environ[ENV_INSTANCE_ID] = instance_id
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, [sys.executable, "-m", "otelflow.core.workers.supervisor", str(count),
                              repr(shutdown_timeout), *argv])


class _ConsoleFormat(logging.Formatter):
    """The console layout of the collector's own log lines, for the few lines the supervisor writes."""

    def format(self, record: logging.LogRecord) -> str:
        ts = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z"
        return f"{ts}\t{record.levelname.lower()}\tworkers/supervisor.py:{record.lineno}\t{record.getMessage()}"


def main(args: Sequence[str]) -> int:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_ConsoleFormat())
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False
    count, timeout, *argv = args
    return Supervisor(int(count), argv, float(timeout)).run()


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
