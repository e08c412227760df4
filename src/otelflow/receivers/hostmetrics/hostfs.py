"""Where the host's /proc, /sys, /etc... are: ``root_path`` and the HOST_* variables, as gopsutil reads them.

Upstream turns ``root_path`` into gopsutil's HOST_PROC, HOST_SYS, HOST_ETC, HOST_VAR, HOST_RUN and
HOST_DEV (a variable already set in the environment wins). psutil reads /proc through its module-wide
``PROCFS_PATH``, set here once, which matches upstream's single root path per collector process.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import psutil

DEFAULTS = {"HOST_PROC": "/proc", "HOST_SYS": "/sys", "HOST_ETC": "/etc", "HOST_VAR": "/var", "HOST_RUN": "/run",
            "HOST_DEV": "/dev"}


def validate_root_path(root_path: str) -> str | None:
    """Upstream's check that the path exists. (Upstream also refuses a second, different root_path in
    the same process for good; otelflow does not, so that a reload may change it.)"""
    if root_path in ("", "/"):
        return None
    if not os.path.exists(root_path):
        return f"invalid root_path: stat {root_path}: no such file or directory"
    return None


class HostFS:
    def __init__(self, root_path: str = ""):
        self.root_path = root_path
        self.dirs = {}
        for env, default in DEFAULTS.items():
            value = os.environ.get(env)
            if not value and root_path not in ("", "/"):
                value = os.path.join(root_path, default.lstrip("/"))
            self.dirs[env] = value or default
        self._boot_time: int | None = None

    def apply(self) -> None:
        """Points psutil at this host's /proc."""
        psutil.PROCFS_PATH = self.dirs["HOST_PROC"]

    @staticmethod
    def reset() -> None:
        psutil.PROCFS_PATH = DEFAULTS["HOST_PROC"]

    def proc(self, *parts: str) -> Path:
        return Path(self.dirs["HOST_PROC"], *parts)

    def sys(self, *parts: str) -> Path:
        return Path(self.dirs["HOST_SYS"], *parts)

    def read(self, *parts: str) -> str:
        return self.proc(*parts).read_text()

    def boot_time(self) -> int:
        """Boot time in whole seconds (``btime`` of /proc/stat), cached as upstream caches it."""
        if self._boot_time is None:
            for line in self.read("stat").splitlines():
                if line.startswith("btime"):
                    self._boot_time = int(line.split()[1])
                    break
            else:
                uptime = float(self.read("uptime").split()[0])
                self._boot_time = int(time.time() - uptime)
        return self._boot_time

    def boot_time_ns(self) -> int:
        return self.boot_time() * 1_000_000_000
