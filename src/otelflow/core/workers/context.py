"""Which worker this process is, read once from the environment the supervisor sets."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

ENV_COUNT = "OTELFLOW_WORKERS"  # users set this (or --workers); the supervisor sets it for workers too
ENV_INDEX = "OTELFLOW_WORKER_INDEX"
ENV_DIR = "OTELFLOW_WORKER_DIR"


def available_cpus() -> int:
    """CPUs this process may run on, as Go's GOMAXPROCS default counts them."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def worker_count(flag: int | None) -> int:
    """``--workers`` wins, then ``OTELFLOW_WORKERS``, then the usable CPUs; ValueError if not >= 1."""
    if flag is not None:
        count = flag
    elif os.environ.get(ENV_COUNT, "").strip():
        text = os.environ[ENV_COUNT].strip()
        try:
            count = int(text)
        except ValueError:
            raise ValueError(f"{ENV_COUNT}={text!r}: expected a whole number of worker processes") from None
    else:
        count = available_cpus()
    if count < 1:
        raise ValueError(f"the number of workers must be at least 1, got {count}")
    return count


@dataclass(frozen=True)
class WorkerContext:
    """Worker ``index`` of ``count``; ``directory`` holds the workers' sockets."""

    index: int = 0
    count: int = 1
    directory: Path | None = None

    @property
    def single(self) -> bool:
        return self.count == 1

    @property
    def owner(self) -> bool:
        """Worker 0 runs the components that exist once (ports, files, the database)."""
        return self.index == 0

    def socket_path(self, index: int) -> Path:
        assert self.directory is not None
        return self.directory / f"worker-{index}.sock"

    @classmethod
    def from_env(cls) -> "WorkerContext | None":
        """The context the supervisor handed down, or None in a process it did not start."""
        if ENV_INDEX not in os.environ:
            return None
        return cls(int(os.environ[ENV_INDEX]), int(os.environ[ENV_COUNT]), Path(os.environ[ENV_DIR]))


SINGLE = WorkerContext()


def sibling_pids() -> list[int]:
    """Every process of this collector (supervisor and workers) when run as workers, else [self]."""
    ctx = WorkerContext.from_env()
    if ctx is None or ctx.single:
        return [os.getpid()]
    parent = os.getppid()
    try:
        children = Path(f"/proc/{parent}/task/{parent}/children").read_text().split()
    except OSError:
        return [os.getpid()]
    return [parent, *(int(p) for p in children)]


def share_ports() -> bool:
    """Whether listeners must let the other workers bind the same port (SO_REUSEPORT)."""
    ctx = WorkerContext.from_env()
    return ctx is not None and not ctx.single
