"""``process``: per-process CPU, memory, disk, paging, threads, context switches, descriptors, signals
and uptime, one resource per process (pid, parent pid, executable, command, owner, cgroup).

Data points start at the process' create time. Errors per process are collected, and muted per
kind with the ``mute_process_*`` options, as upstream; one unreadable process never stops the rest.
Fields psutil does not expose (page faults, pending signals, per-thread context switches, cgroup)
are read from the process' /proc entries.
"""

from __future__ import annotations

import os
import pwd
import struct
import time

import psutil

from otelflow.core import featuregates
from otelflow.receivers.hostmetrics.scrapers import Scraper
from otelflow.receivers.hostmetrics.scrapers.memory import meminfo

DONT_EMIT_V0 = featuregates.REGISTRY.register(
    "scraper.process.DontEmitV0SystemConventions", featuregates.ALPHA,
    "When enabled, the process scraper stops emitting legacy semantic convention metrics.").id
EMIT_V1 = featuregates.REGISTRY.register(
    "scraper.process.EmitV1SystemConventions", featuregates.ALPHA,
    "When enabled, the process scraper emits metrics aligned with the latest semantic conventions.").id
BOOT_TIME_CACHE = featuregates.REGISTRY.register(
    "hostmetrics.process.bootTimeCache", featuregates.BETA,
    "When enabled, all process scrapes will use the boot time value that is cached at the start of the process.").id


def _f32(x: float) -> float:
    return struct.unpack("f", struct.pack("f", x))[0]


class ProcessScraper(Scraper):
    name = "process"
    start_at_boot = False

    def start(self) -> None:
        metrics = self.cfg.metrics_config()
        if metrics["process.handles"].enabled:
            self.log.warning("process.handles is only supported on Windows; disabling metric on this platform")
            metrics["process.handles"].enabled = False
        self.gates = {"emit_v1": featuregates.REGISTRY.is_enabled(EMIT_V1),
                      "dont_emit_v0": featuregates.REGISTRY.is_enabled(DONT_EMIT_V0)}
        super().start()
        self.cores = psutil.cpu_count(logical=True) or 1
        self.previous: dict[int, tuple[float, int]] = {}  # pid -> (cpu times, read time)

    def scrape(self):
        cfg, mb = self.cfg, self.mb
        errors: list[str] = []
        try:
            total_mem = meminfo(self.fs.read("meminfo")).get("MemTotal", 0)
        except OSError:
            total_mem = 0
        present = set()
        for proc in psutil.process_iter():
            try:
                resource, create_ms = self._metadata(proc, errors)
            except psutil.NoSuchProcess:
                continue
            if resource is None:
                continue
            present.add(proc.pid)
            now = time.time_ns()
            label = f'process "{resource["process.executable.name"]}" (pid {proc.pid})'
            for what, step in (("cpu times", self._cpu), ("memory info", self._memory),
                               ("memory utilization", lambda p, n: self._memory_util(p, n, total_mem)),
                               ("disk usage", self._disk), ("memory paging info", self._paging),
                               ("thread info", self._threads), ("context switch counts", self._ctx),
                               ("open file descriptor count", self._fds), ("pending signals", self._signals),
                               ("uptime", lambda p, n: self._uptime(n, create_ms))):
                try:
                    step(proc, now)
                except (psutil.Error, OSError, ValueError) as exc:
                    if what == "disk usage" and cfg.mute_process_io_error:
                        continue
                    errors.append(f"error reading {what} for {label}: {_text(exc)}")
            mb.emit_for_resource(resource, start_override_ns=create_ms * 1_000_000)
        for pid in [p for p in self.previous if p not in present]:
            del self.previous[pid]
        return mb.emit(), ([] if cfg.mute_process_all_errors else errors)

    def _metadata(self, proc: psutil.Process, errors: list[str]):
        cfg, pid = self.cfg, proc.pid
        try:
            exe = proc.exe()
            if not exe:
                raise OSError(f"readlink {self.fs.proc(str(pid), 'exe')}: no such file or directory")
        except (psutil.AccessDenied, OSError) as exc:
            exe = ""
            if not cfg.mute_process_exe_error:
                errors.append(f"error reading process executable for pid {pid}: {_text(exc)}")
        try:
            name = proc.name()
        except psutil.AccessDenied as exc:
            if not cfg.mute_process_name_error:
                errors.append(f"error reading process name for pid {pid}: {_text(exc)}")
            return None, 0
        try:
            cgroup = self.fs.proc(str(pid), "cgroup").read_text().removesuffix("\n")
        except OSError as exc:
            cgroup = ""
            if not cfg.mute_process_cgroup_error:
                errors.append(f"error reading process cgroup for pid {pid}: {_text(exc)}")
        if not _included(name, cfg):
            return None, 0
        resource = {"process.pid": pid, "process.parent_pid": 0, "process.executable.name": name,
                    "process.executable.path": exe, "process.cgroup": cgroup, "process.linux.cgroup": cgroup}
        try:
            cmdline = proc.cmdline()
            resource["process.command"] = cmdline[0] if cmdline else ""
            resource["process.command_line"] = " ".join(cmdline)
        except psutil.AccessDenied as exc:
            errors.append(f'error reading command for process "{name}" (pid {pid}): {_text(exc)}')
        try:
            resource["process.owner"] = pwd.getpwuid(proc.uids().real).pw_name
        except (KeyError, psutil.AccessDenied) as exc:
            if not cfg.mute_process_user_error:
                errors.append(f'error reading username for process "{name}" (pid {pid}): {_text(exc)}')
        try:
            create_ms = int(round(proc.create_time() * 1000))
        except psutil.AccessDenied as exc:
            errors.append(f'error reading create time for process "{name}" (pid {pid}): {_text(exc)}')
            create_ms = int(time.time() * 1000)
        if cfg.scrape_process_delay * 1000 > time.time() * 1000 - create_ms:
            return None, 0
        if self.cfg.resource_config()["process.parent_pid"].enabled and pid != 0:
            try:
                resource["process.parent_pid"] = proc.ppid()
            except psutil.AccessDenied as exc:
                errors.append(f'error reading parent pid for process "{name}" (pid {pid}): {_text(exc)}')
        return resource, create_ms

    def _cpu(self, proc, now):
        mb = self.mb
        if not (mb.enabled("process.cpu.time") or mb.enabled("process.cpu.utilization")):
            return
        t = proc.cpu_times()
        iowait = getattr(t, "iowait", 0.0)
        modes = (("user", "user", t.user), ("system", "system", t.system), ("wait", "iowait", iowait))
        for state, mode, value in modes:
            mb.record("process.cpu.time", now, value, state=state, **{"cpu.mode": mode})
        if not mb.enabled("process.cpu.utilization"):
            return
        before = self.previous.get(proc.pid)
        self.previous[proc.pid] = ((t.user, t.system, iowait), now)
        if before is None:
            return
        (u0, s0, w0), then = before
        elapsed = (now - then) / 1e9
        values = ((t.user - u0), (t.system - s0), (iowait - w0))
        for (state, mode, _), delta in zip(modes, values):
            value = delta / elapsed / self.cores if elapsed > 0 else 0.0
            mb.record("process.cpu.utilization", now, value, state=state, **{"cpu.mode": mode})

    def _memory(self, proc, now):
        if not (self.mb.enabled("process.memory.usage") or self.mb.enabled("process.memory.virtual")):
            return
        info = proc.memory_info()
        self.mb.record("process.memory.usage", now, info.rss)
        self.mb.record("process.memory.virtual", now, info.vms)

    def _memory_util(self, proc, now, total: int):
        if not self.mb.enabled("process.memory.utilization"):
            return
        if total <= 0:
            raise ValueError("invalid total memory")
        self.mb.record("process.memory.utilization", now, _f32(100 * proc.memory_info().rss / total))

    def _disk(self, proc, now):
        if not (self.mb.enabled("process.disk.io") or self.mb.enabled("process.disk.operations")):
            return
        io = proc.io_counters()
        self.mb.record("process.disk.io", now, io.read_bytes, direction="read", **{"disk.io.direction": "read"})
        self.mb.record("process.disk.io", now, io.write_bytes, direction="write", **{"disk.io.direction": "write"})
        self.mb.record("process.disk.operations", now, io.read_count, direction="read")
        self.mb.record("process.disk.operations", now, io.write_count, direction="write")

    def _stat(self, pid: int) -> list[str]:
        text = self.fs.proc(str(pid), "stat").read_text()
        return text[text.rfind(")") + 2:].split()

    def _paging(self, proc, now):
        if not self.mb.enabled("process.paging.faults"):
            return
        fields = self._stat(proc.pid)  # fields after the name: state=0, minflt=7, majflt=9
        self.mb.record("process.paging.faults", now, int(fields[9]), type="major",
                       **{"system.paging.fault.type": "major"})
        self.mb.record("process.paging.faults", now, int(fields[7]), type="minor",
                       **{"system.paging.fault.type": "minor"})

    def _threads(self, proc, now):
        if self.mb.enabled("process.threads"):
            self.mb.record("process.threads", now, proc.num_threads())

    def _ctx(self, proc, now):
        if not self.mb.enabled("process.context_switches"):
            return
        tasks = os.listdir(self.fs.proc(str(proc.pid), "task"))
        voluntary = involuntary = 0
        for tid in tasks:
            status = self.fs.proc(str(proc.pid), "task", tid, "status").read_text()
            for line in status.splitlines():
                if line.startswith("voluntary_ctxt_switches:"):
                    voluntary += int(line.split()[1])
                elif line.startswith("nonvoluntary_ctxt_switches:"):
                    involuntary += int(line.split()[1])
        self.mb.record("process.context_switches", now, involuntary, type="involuntary",
                       **{"process.context_switch.type": "involuntary"})
        self.mb.record("process.context_switches", now, voluntary, type="voluntary",
                       **{"process.context_switch.type": "voluntary"})

    def _fds(self, proc, now):
        if self.mb.enabled("process.open_file_descriptors"):
            self.mb.record("process.open_file_descriptors", now, proc.num_fds())

    def _signals(self, proc, now):
        if not self.mb.enabled("process.signals_pending"):
            return
        for line in self.fs.proc(str(proc.pid), "status").read_text().splitlines():
            if line.startswith("SigQ:"):
                self.mb.record("process.signals_pending", now, int(line.split()[1].split("/")[0]))
                return

    def _uptime(self, now, create_ms: int):
        if self.mb.enabled("process.uptime"):
            self.mb.record("process.uptime", now, (now - create_ms * 1_000_000) / 1e9)


def _included(name: str, cfg) -> bool:
    inc, exc = cfg.include.filterset, cfg.exclude.filterset
    return not ((inc is not None and not inc.matches(name)) or (exc is not None and exc.matches(name)))


def _text(exc: BaseException) -> str:
    if isinstance(exc, psutil.AccessDenied):
        return "permission denied"
    return str(exc) or type(exc).__name__
