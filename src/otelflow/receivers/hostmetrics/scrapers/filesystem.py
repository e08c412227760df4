"""``filesystem``: usage (used/free/reserved), utilization and inode usage per mounted file system.

Partitions come from psutil (physical file systems only unless ``include_virtual_filesystems``);
usage from statvfs of the mount point, under ``root_path`` when one is set.
"""

from __future__ import annotations

import os

import psutil

from otelflow.receivers.hostmetrics.config import included
from otelflow.receivers.hostmetrics.scrapers import Scraper, now_ns
from otelflow.receivers.hostmetrics.scrapers.memory import ratio


def mount_mode(opts: str) -> str:
    parts = opts.split(",")
    return "rw" if "rw" in parts else "ro" if "ro" in parts else "unknown"


class FilesystemScraper(Scraper):
    name = "filesystem"

    def _include(self, part) -> bool:
        cfg = self.cfg
        if not cfg.filters_exist():
            return True
        return (included(part.device, cfg.include_devices, cfg.exclude_devices)
                and included(part.fstype, cfg.include_fs_types, cfg.exclude_fs_types)
                and included(part.mountpoint, cfg.include_mount_points, cfg.exclude_mount_points))

    def _translate(self, mountpoint: str) -> str:
        root = self.fs.root_path
        if not root or root == "/":
            return mountpoint
        if (os.path.normpath(mountpoint) + "/").startswith(os.path.normpath(root) + "/"):
            return mountpoint
        return os.path.join(root, mountpoint.lstrip("/"))

    def scrape(self):
        now = now_ns()
        errors: list[str] = []
        try:
            partitions = psutil.disk_partitions(all=self.cfg.include_virtual_filesystems)
        except OSError as exc:
            return [], [f"failed collecting partitions information: {exc}"]
        seen = set()
        usages = []
        for part in partitions:
            key = (part.mountpoint, part.device)
            if part.mountpoint and key in seen:
                continue
            seen.add(key)
            if not self._include(part):
                continue
            path = self._translate(part.mountpoint)
            try:
                st = os.statvfs(path)
            except OSError as exc:
                errors.append(f"failed to read usage at {path}: {exc}")
                continue
            usages.append((part, st))
        mb = self.mb
        for part, st in usages:
            attrs = {"device": part.device, "mode": mount_mode(part.opts), "mountpoint": part.mountpoint,
                     "type": part.fstype}
            total = st.f_blocks * st.f_bsize
            free = st.f_bavail * st.f_bsize
            used = (st.f_blocks - st.f_bfree) * st.f_bsize
            mb.record("system.filesystem.usage", now, used, state="used", **attrs)
            mb.record("system.filesystem.usage", now, free, state="free", **attrs)
            mb.record("system.filesystem.usage", now, total - used - free, state="reserved", **attrs)
            mb.record("system.filesystem.utilization", now, ratio(used, used + free), **attrs)
            mb.record("system.filesystem.inodes.usage", now, st.f_files - st.f_ffree, state="used", **attrs)
            mb.record("system.filesystem.inodes.usage", now, st.f_ffree, state="free", **attrs)
        return mb.emit(), errors
