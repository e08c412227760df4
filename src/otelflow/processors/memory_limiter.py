"""The ``memory_limiter`` processor: refuses data (retryably) while the process uses too much memory.

As upstream's memorylimiterprocessor (v0.161): a check every ``check_interval`` compares the memory in
use with a hard limit (``limit_mib``, or ``limit_percentage`` of the total memory) and a soft limit
(hard limit minus ``spike_limit_mib`` / ``spike_limit_percentage``, 20% of the hard limit by default).
At or above the soft limit every request is refused with "data refused due to high memory usage", a
retryable error (gRPC UNAVAILABLE, HTTP 503 at the otlp receiver), and a collection is forced no more
often than ``min_gc_interval_when_soft_limited`` (``..._hard_limited`` at or above the hard limit),
backing off up to ``max_gc_interval_when_*_limited`` while forced collections free little. Below the
soft limit data flows again. Requests are never looked at beyond counting their items.

What is measured differs from upstream, on purpose: Go measures its heap (``MemStats.Alloc``), which
a forced GC brings down at once. CPython has no such figure that covers memory held by protobuf (upb
arenas), gRPC and aiohttp buffers, so otelflow measures the process's resident set size (RSS, from
``/proc/self/statm``) - what the kernel and container limits see. Freed memory only leaves the RSS
when the allocator gives it back, so a forced collection here is ``gc.collect()`` followed by glibc's
``malloc_trim(0)`` where available.

One limiter (one measuring task) serves every pipeline and signal that lists the same component ID,
as upstream shares one per config. It lives in the state the service keeps per component ID
(``settings.shared``): two collectors in one process never share a limiter.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import gc
import logging
import os
import time
from typing import Callable

from google.protobuf.message import Message
from pydantic import model_validator

from otelflow.config.model import Duration, Model, UInt32
from otelflow.core.component import Component, ComponentID, Factory, Host, Kind, Settings, Signal
from otelflow.core.client import counted_as_received
from otelflow.core.consumer import Consumer, ConsumerError
from otelflow.core.telemetry import ITEM_NAMES
from otelflow.pdata import COUNTERS
from otelflow.core.workers.context import sibling_pids

MIB = 1024 * 1024
GC_EFFECTIVENESS_PERCENT = 5  # a forced collection that frees less than this is "ineffective"

ERR_DATA_REFUSED = "data refused due to high memory usage"

class Config(Model):
    check_interval: Duration = 0.0
    min_gc_interval_when_soft_limited: Duration = 10.0
    min_gc_interval_when_hard_limited: Duration = 0.0
    max_gc_interval_when_soft_limited: Duration = 30.0
    max_gc_interval_when_hard_limited: Duration = 30.0
    limit_mib: UInt32 = 0
    spike_limit_mib: UInt32 = 0
    limit_percentage: UInt32 = 0
    spike_limit_percentage: UInt32 = 0

    @model_validator(mode="after")
    def _check(self) -> "Config":
        # upstream's checks, in upstream's order, with upstream's messages
        if self.check_interval <= 0:
            raise ValueError("'check_interval' must be greater than zero")
        if self.min_gc_interval_when_soft_limited < self.min_gc_interval_when_hard_limited:
            raise ValueError("'min_gc_interval_when_soft_limited' should be larger than 'min_gc_interval_when_hard_limited'")
        soft_max, hard_max = self.max_gc_interval_when_soft_limited, self.max_gc_interval_when_hard_limited
        if soft_max < 0:
            raise ValueError("'max_gc_interval_when_soft_limited' must be non-negative")
        if hard_max < 0:
            raise ValueError("'max_gc_interval_when_hard_limited' must be non-negative")
        if soft_max > 0 and soft_max < self.min_gc_interval_when_soft_limited:
            raise ValueError(
                "'max_gc_interval_when_soft_limited' must be greater than or equal to "
                "'min_gc_interval_when_soft_limited' (or 0 to disable)"
            )
        if hard_max > 0 and hard_max < self.min_gc_interval_when_hard_limited:
            raise ValueError(
                "'max_gc_interval_when_hard_limited' must be greater than or equal to "
                "'min_gc_interval_when_hard_limited' (or 0 to disable)"
            )
        if soft_max > 0 and hard_max > 0 and soft_max < hard_max:
            raise ValueError(
                "'max_gc_interval_when_soft_limited' should be larger than or equal to "
                "'max_gc_interval_when_hard_limited' (when both are set)"
            )
        if self.limit_mib == 0 and self.limit_percentage == 0:
            raise ValueError("'limit_mib' or 'limit_percentage' must be greater than zero")
        if self.limit_percentage > 100 or self.spike_limit_percentage > 100:
            raise ValueError(
                "'limit_percentage' and 'spike_limit_percentage' must be greater than zero and less than or equal to hundred"
            )
        if self.limit_mib > 0 and self.limit_mib <= self.spike_limit_mib:
            raise ValueError("'spike_limit_mib' must be smaller than 'limit_mib'")
        if self.limit_percentage > 0 and self.limit_percentage <= self.spike_limit_percentage:
            raise ValueError("'spike_limit_percentage' must be smaller than 'limit_percentage'")
        return self


# --------------------------------------------------------------------------------------------------
# Measuring
# --------------------------------------------------------------------------------------------------

_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
_UNLIMITED_CGROUP_V1 = 9223372036854771712


def current_rss() -> int:
    """Resident set size of the collector in bytes: with several workers, of all its processes,
    since the limit is the collector's and not each worker's."""
    try:
        total = 0
        for pid in sibling_pids():
            try:
                with open(f"/proc/{pid}/statm", "rb") as f:
                    total += int(f.read().split()[1]) * _PAGE
            except FileNotFoundError:  # a worker that just exited
                continue
        return total
    except OSError:
        import resource  # not Linux: the peak is the best the standard library offers

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak if os.uname().sysname == "Darwin" else peak * 1024


def _mountinfo(path: str = "/proc/self/mountinfo") -> list[tuple[str, str, str, list[str]]]:
    """(root, mount point, fs type, super options) of each mount."""
    out = []
    with open(path) as f:
        for line in f:
            left, _, right = line.partition(" - ")
            fields, tail = left.split(), right.split()
            if len(fields) < 5 or len(tail) < 3:
                continue
            out.append((fields[3], fields[4], tail[0], tail[2].split(",")))
    return out


def cgroup_memory_limit(proc_cgroup: str = "/proc/self/cgroup", mountinfo: str = "/proc/self/mountinfo") -> int | None:
    """The memory limit of this process's cgroup in bytes, or None when none is set.

    Like upstream: cgroup v2 when a cgroup2 file system is mounted at /sys/fs/cgroup (read its
    ``memory.max``), else cgroup v1's ``memory.limit_in_bytes`` of the process's memory cgroup."""
    mounts = _mountinfo(mountinfo)
    if any(fstype == "cgroup2" and point == "/sys/fs/cgroup" for _, point, fstype, _ in mounts):
        try:
            with open("/sys/fs/cgroup/memory.max") as f:
                value = f.readline().strip()
        except FileNotFoundError:
            return None
        return None if value == "max" else int(value)
    groups: dict[str, str] = {}
    with open(proc_cgroup) as f:
        for line in f:
            parts = line.rstrip("\n").split(":", 2)
            if len(parts) == 3:
                for subsys in parts[1].split(","):
                    groups[subsys] = parts[2]
    path = groups.get("memory")
    if path is None:
        return None
    for root, point, fstype, options in mounts:
        if fstype != "cgroup" or "memory" not in options:
            continue
        rel = os.path.relpath(path, root)
        if rel == ".." or rel.startswith("../"):
            continue
        try:
            with open(os.path.join(point, rel, "memory.limit_in_bytes")) as f:
                value = int(f.read().strip())
        except (OSError, ValueError):
            return None
        return value if 0 < value != _UNLIMITED_CGROUP_V1 else None
    return None


def total_memory() -> int:
    """The cgroup memory limit when set, else MemTotal from /proc/meminfo (bytes)."""
    limit = cgroup_memory_limit()
    if limit is not None:
        return limit
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    raise OSError("MemTotal not found in /proc/meminfo")


def _malloc_trim() -> Callable[[], None]:
    """glibc's ``malloc_trim(0)``: return free heap memory to the OS (a no-op elsewhere)."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        trim = libc.malloc_trim
    except (OSError, AttributeError):
        return lambda: None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int

    def run() -> None:
        trim(0)

    return run


_TRIM = _malloc_trim()


def collect() -> None:
    """Python's forced GC: free unreachable cycles, then hand free heap pages back to the OS."""
    gc.collect()
    _TRIM()


# --------------------------------------------------------------------------------------------------
# The limiter
# --------------------------------------------------------------------------------------------------


def _mib(value: int) -> int:
    return value // MIB


class MemoryLimiter:
    """Measures on a timer and keeps ``must_refuse`` up to date; shared by a component's instances."""

    def __init__(
        self,
        config: Config,
        logger: logging.Logger,
        read_memory: Callable[[], int] = current_rss,
        run_gc: Callable[[], None] = collect,
        get_total_memory: Callable[[], int] = total_memory,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.log = logger
        if config.limit_mib:
            hard = config.limit_mib * MIB
            spike = config.spike_limit_mib * MIB
        else:
            try:
                total = get_total_memory()
            except (OSError, ValueError) as exc:
                raise ValueError(f"failed to get total memory, use fixed memory settings (limit_mib): {exc}") from exc
            logger.info(
                "Using percentage memory limiter total_memory_mib=%d limit_percentage=%d spike_limit_percentage=%d",
                _mib(total), config.limit_percentage, config.spike_limit_percentage,
            )
            hard = config.limit_percentage * total // 100
            spike = config.spike_limit_percentage * total // 100
        if spike == 0:
            spike = hard // 5  # 20% of the limit when not given
        self.hard_limit = hard
        self.soft_limit = hard - spike
        self.spike_limit = spike
        self.interval = config.check_interval
        self.min_gc_soft = config.min_gc_interval_when_soft_limited
        self.min_gc_hard = config.min_gc_interval_when_hard_limited
        self.max_gc_soft = config.max_gc_interval_when_soft_limited
        self.max_gc_hard = config.max_gc_interval_when_hard_limited
        self.cur_gc_soft = 0.0  # backed-off gates, grown while forced collections free little
        self.cur_gc_hard = 0.0
        self.read_memory = read_memory
        self.run_gc = run_gc
        self.clock = clock
        self.last_gc = clock()
        self.last_usage = 0
        self.must_refuse = False
        self.usage = 0
        self._refs = 0
        self._task: asyncio.Task | None = None
        logger.info(
            "Memory limiter configured limit_mib=%d spike_limit_mib=%d check_interval=%s",
            _mib(hard), _mib(spike), _seconds(self.interval),
        )

    # -- lifecycle (reference counted: one timer for every instance) ----------------------------

    def start(self) -> None:
        self._refs += 1
        if self._refs == 1:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="memory_limiter")

    async def shutdown(self) -> None:
        if self._refs == 0:
            return
        self._refs -= 1
        if self._refs == 0 and self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        next_tick = loop.time() + self.interval
        while True:
            await asyncio.sleep(max(0.0, next_tick - loop.time()))
            next_tick += self.interval
            if next_tick < loop.time():  # a slow check: skip missed ticks, as a Go ticker drops them
                next_tick = loop.time() + self.interval
            try:
                self.check()
            except Exception:  # noqa: BLE001 - keep measuring whatever one reading did
                self.log.exception("memory check failed")

    # -- the check ------------------------------------------------------------------------------

    def _next_backoff(self, current: float, configured_min: float, configured_max: float) -> float:
        if configured_max == 0:
            return configured_min
        floor = max(configured_min, self.interval * 0.95)
        return min(max(current, floor) * 2, max(configured_max, configured_min))

    def _classify(self, usage: int, did_gc: bool) -> bool:
        """Whether ``usage`` is at or above the soft limit; moves the GC backoff as upstream does."""
        above_soft = usage >= self.soft_limit
        effective = not above_soft or usage <= self.last_usage * (100 - GC_EFFECTIVENESS_PERCENT) // 100
        self.last_usage = usage
        if effective:
            self.cur_gc_soft = self.cur_gc_hard = 0.0
            return above_soft
        if not did_gc:
            return above_soft
        self.cur_gc_soft = self._next_backoff(self.cur_gc_soft, self.min_gc_soft, self.max_gc_soft)
        self.cur_gc_hard = self._next_backoff(self.cur_gc_hard, self.min_gc_hard, self.max_gc_hard)
        self.log.warning(
            "Forced GC did not reclaim enough memory. Will back off GC frequency to preserve CPU for recovery. "
            "next_soft_gc_interval=%s next_hard_gc_interval=%s cur_mem_mib=%d",
            _seconds(self.cur_gc_soft), _seconds(self.cur_gc_hard), _mib(usage),
        )
        return above_soft

    def _gc(self) -> int:
        self.run_gc()
        self.last_gc = self.clock()
        usage = self.read_memory()
        self.log.info("Memory usage after GC. cur_mem_mib=%d", _mib(usage))
        return usage

    def check(self) -> None:
        usage = self.read_memory()
        self.usage = usage
        self.log.debug("Currently used memory. cur_mem_mib=%d", _mib(usage))
        above_soft = self._classify(usage, did_gc=False)
        if not above_soft:
            if self.must_refuse:
                self.log.info("Memory usage back within limits. Resuming normal operation. cur_mem_mib=%d", _mib(usage))
            self.must_refuse = False
            return
        since_gc = self.clock() - self.last_gc
        if usage >= self.hard_limit:
            if since_gc > max(self.min_gc_hard, self.cur_gc_hard):
                self.log.warning("Memory usage is above hard limit. Forcing a GC. cur_mem_mib=%d", _mib(usage))
                usage = self._gc()
                above_soft = self._classify(usage, did_gc=True)
        elif since_gc > max(self.min_gc_soft, self.cur_gc_soft):
            self.log.info("Memory usage is above soft limit. Forcing a GC. cur_mem_mib=%d", _mib(usage))
            usage = self._gc()
            above_soft = self._classify(usage, did_gc=True)
        self.usage = usage
        if above_soft and not self.must_refuse:
            self.log.warning("Memory usage is above soft limit. Refusing data. cur_mem_mib=%d", _mib(usage))
        elif not above_soft and self.must_refuse:
            self.log.info("Memory usage back within limits. Resuming normal operation. cur_mem_mib=%d", _mib(usage))
        self.must_refuse = above_soft


def _seconds(value: float) -> str:
    return f"{value:g}s"


def _shared_limiter(settings: Settings, config: Config) -> MemoryLimiter:
    """The one limiter of this component ID in this service (kept in ``settings.shared``)."""
    if "limiter" not in settings.shared:
        # one logger for the shared limiter, named by the component alone (no signal/pipeline)
        settings.shared["limiter"] = MemoryLimiter(config, logging.getLogger(f"otelflow.processor.{settings.id}"))
    return settings.shared["limiter"]


class MemoryLimiterProcessor(Component):
    mutates_data = False

    def __init__(self, settings: Settings, limiter: MemoryLimiter, next_: Consumer):
        self.settings = settings
        self.limiter = limiter
        self.next = next_
        self.count = COUNTERS[settings.signal]
        items = ITEM_NAMES[settings.signal]
        self.accepted_name = f"otelcol_processor_memory_limiter_accepted_{items}"
        self.refused_name = f"otelcol_processor_memory_limiter_refused_{items}"
        self.labels = {"processor": str(settings.id)}
        # The next component when it takes the count along (the batch processor): this processor counts
        # every request for its own counter and does not change it, so the count is still right there.
        self.hand_on = getattr(next_, "consume_counted", None)
        self.as_received = False  # set by the graph: nothing before it changes requests in place

    async def consume(self, data: Message) -> None:
        # the receiver's count when this is the request it parsed (counting metrics is not free)
        n = counted_as_received(data) if self.as_received else None
        if n is None:
            n = self.count(data)
        if self.limiter.must_refuse:
            self.settings.telemetry.add(self.refused_name, n, **self.labels)
            raise ConsumerError(ERR_DATA_REFUSED)
        # counted as accepted whatever the next component answers, as upstream counts it
        self.settings.telemetry.add(self.accepted_name, n, **self.labels)
        if self.hand_on is not None:
            await self.hand_on(data, n)
        else:
            await self.next.consume(data)

    async def start(self, host: Host) -> None:
        self.limiter.start()

    async def shutdown(self) -> None:
        await self.limiter.shutdown()


factory = Factory(
    type="memory_limiter",
    kind=Kind.PROCESSOR,
    config=Config,
    create=lambda settings, config, next: MemoryLimiterProcessor(settings, _shared_limiter(settings, config), next),
    signals=frozenset(Signal),
    stability="beta",
)
