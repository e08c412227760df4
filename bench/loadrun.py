"""Running telemetrygen processes as a bench load, and waiting for the sink to drain, shared by the
bench scripts that drive a collector with telemetrygen (kafka_bench.py, workers_bench.py): the reaping
loop that charges telemetrygen's CPU from its rusage and samples the sink was written in each."""

from __future__ import annotations

import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable


@dataclass
class Load:
    t0: float  # time.monotonic() when the first process started
    t1: float  # when the last one ended (or was killed)
    cpu_seconds: float  # user + system CPU of the telemetrygen processes (their rusage when reaped)
    series: list[tuple[float, float]]  # (seconds since t0, count) every ~0.5 s, from (0, first)
    logs: list[Path]  # each process's stdout + stderr (telemetrygen logs what it generated)


def run_load(command: list[str], procs: int, workdir: Path, count: Callable[[], float], first: float,
             duration: float) -> Load:
    """Run ``procs`` copies of ``command`` to their end, sampling ``count()`` every 0.5 s; copies still
    running 60 s past ``duration`` are killed. The processes are reaped here, not by Popen, so that their
    rusage (CPU on the load core) is known."""
    logs = [workdir / f"telemetrygen-{i}.log" for i in range(procs)]
    t0 = time.monotonic()
    running, cpu = [], 0.0
    for path in logs:
        with open(path, "wb") as out:
            running.append(subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT))
    series: list[tuple[float, float]] = [(0.0, first)]
    while running:
        for proc in list(running):
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                proc.returncode = os.waitstatus_to_exitcode(status)
                cpu += usage.ru_utime + usage.ru_stime
                running.remove(proc)
        if not running:
            break
        time.sleep(0.5)
        series.append((time.monotonic() - t0, count()))
        if time.monotonic() - t0 > duration + 60:
            for proc in running:
                proc.kill()
    return Load(t0, time.monotonic(), cpu, series, logs)


def drain(count: Callable[[], float], target: float, last: float, changed: float, quiet: float,
          deadline: float) -> tuple[float, float]:
    """Poll ``count()`` every 0.25 s until it reaches ``target``, stays still ``quiet`` seconds or
    ``deadline`` (monotonic) passes; starts from ``last`` counted at ``changed``. Returns the last count
    and when it last changed."""
    while last < target and time.monotonic() - changed < quiet and time.monotonic() < deadline:
        time.sleep(0.25)
        now = count()
        if now != last:
            last, changed = now, time.monotonic()
    return last, changed
