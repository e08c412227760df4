"""pprof: the runtime profiles of this Python process, served under the URL paths Go's net/http/pprof
uses, as upstream's pprofextension serves the Go runtime's.

Formats (Python has no Go runtime, so these are not pprof protobufs):
- ``/debug/pprof/profile?seconds=N`` (default 30): a cProfile of the event loop's thread (where
  the pipelines run) for N seconds, in the pstats file format (``python -m pstats``, snakeviz,
  gprof2dot read it); ``&debug=1`` gives the top 100 functions by cumulative time as text.
- ``/debug/pprof/heap`` (and ``allocs``): tracemalloc's top allocation sites as text. Tracing starts
  with the first request (it costs memory and time) and stops at shutdown, so the first answer
  covers little.
- ``/debug/pprof/goroutine`` (and ``threadcreate``): every thread's stack and every asyncio task's
  stack, as text.
- ``save_to_file``: profiles the whole run the same way and writes the pstats file on shutdown.
``block_profile_fraction`` and ``mutex_profile_fraction`` are accepted and have no Python equivalent.
"""

from __future__ import annotations

import asyncio
import cProfile
import html
import io
import marshal
import pstats
import sys
import threading
import tracemalloc
import traceback
from typing import Any

from aiohttp import web
from pydantic import field_validator

from otelflow.config.model import Model
from otelflow.core.adminhttp import serve
from otelflow.core.component import Component, Factory, Host, Kind, Settings
from otelflow.core.netaddr import split_host_port

_RUNNING = threading.Lock()  # upstream allows one pprof extension per process
PROFILES = {
    "allocs": "tracemalloc's allocation sites (same as heap)",
    "block": "not applicable to Python (Go's blocking profile)",
    "cmdline": "the command line of this process",
    "goroutine": "stack traces of every thread and asyncio task",
    "heap": "tracemalloc's allocation sites; ?limit=N (default 100), ?gc=1 collects garbage first",
    "mutex": "not applicable to Python (Go's mutex contention profile)",
    "profile": "cProfile of the event loop for ?seconds=N (default 30), pstats format; &debug=1 for text",
    "threadcreate": "stack traces of every thread",
}


class Dialer(Model):
    timeout: str | float | int = 0


class Config(Model):
    endpoint: str = "localhost:1777"
    dialer: Dialer | None = None
    block_profile_fraction: int = 0
    mutex_profile_fraction: int = 0
    save_to_file: str = ""

    @field_validator("endpoint")
    @classmethod
    def _endpoint(cls, v: str) -> str:
        if v == "":
            raise ValueError('"endpoint" is required when using the "pprof" extension')
        split_host_port(v)
        return v


_CPU = threading.Lock()  # one CPU profile at a time, as Go's runtime allows


class CPUProfile:
    """cProfile on the event loop's thread, where otelflow's pipelines run (deterministic: every
    call is counted, with the overhead that brings)."""

    def __init__(self) -> None:
        if not _CPU.acquire(blocking=False):
            raise RuntimeError("Could not enable CPU profiling: cpu profiling already in use")
        self.profile = cProfile.Profile()
        self.profile.enable()

    def stop(self) -> pstats.Stats:
        try:
            self.profile.disable()
            return pstats.Stats(self.profile)
        finally:
            _CPU.release()


def stats_bytes(stats: pstats.Stats) -> bytes:
    """The pstats file format (what ``Stats.dump_stats`` writes)."""
    return marshal.dumps(stats.stats)


def stats_text(stats: pstats.Stats, limit: int = 100) -> str:
    out = io.StringIO()
    stats.stream = out
    stats.sort_stats("cumulative").print_stats(limit)
    return out.getvalue()


def thread_stacks() -> str:
    names = {t.ident: t.name for t in threading.enumerate()}
    out = []
    for ident, frame in sys._current_frames().items():  # noqa: SLF001
        out.append(f"thread {ident} [{names.get(ident, '?')}]:\n{''.join(traceback.format_stack(frame))}")
    return "\n".join(out)


def task_stacks() -> str:
    out = []
    for task in asyncio.all_tasks():
        lines = [f"task {task.get_name()} [{'done' if task.done() else 'pending'}]: {task.get_coro()!r}"]
        for frame in task.get_stack():
            lines.append(f'  File "{frame.f_code.co_filename}", line {frame.f_lineno}, in {frame.f_code.co_name}')
        out.append("\n".join(lines))
    return "\n\n".join(out)


def heap_text(limit: int) -> str:
    if not tracemalloc.is_tracing():
        tracemalloc.start(25)
        return "# tracemalloc started now; request again to see allocations since\n"
    snapshot = tracemalloc.take_snapshot()
    current, peak = tracemalloc.get_traced_memory()
    lines = [f"# traced: {current} bytes now, {peak} bytes peak (tracemalloc)"]
    for stat in snapshot.statistics("traceback")[:limit]:
        lines.append(f"{stat.size} bytes in {stat.count} blocks")
        lines.extend(f"    {line}" for line in stat.traceback.format())
    return "\n".join(lines) + "\n"


class PprofExtension(Component):
    def __init__(self, settings: Settings, config: Config):
        self.settings = settings
        self.config = config
        self._runner: web.AppRunner | None = None
        self._held = False
        self._lifetime: CPUProfile | None = None
        self.port: int | None = None

    async def _index(self, request: web.Request) -> web.Response:
        rows = "".join(f'<tr><td><a href="/debug/pprof/{n}">{n}</a></td><td>{html.escape(d)}</td></tr>'
                       for n, d in PROFILES.items())
        page = f"<html><head><title>/debug/pprof/</title></head><body><h1>/debug/pprof/</h1><table>{rows}</table></body></html>"
        return web.Response(text=page, content_type="text/html")

    async def _profile(self, request: web.Request) -> web.Response:
        try:
            seconds = float(request.query.get("seconds", "30"))
        except ValueError:
            seconds = -1
        if not 0 < seconds <= 3600:
            return web.Response(status=400, text="Bad Request: invalid value for \"seconds\"\n")
        try:
            cpu = CPUProfile()
        except RuntimeError as exc:
            return web.Response(status=500, text=f"{exc}\n")
        try:
            await asyncio.sleep(seconds)
        finally:
            stats = cpu.stop()
        if request.query.get("debug") == "1":
            return web.Response(text=stats_text(stats), content_type="text/plain")
        return web.Response(body=stats_bytes(stats), content_type="application/octet-stream",
                            headers={"Content-Disposition": 'attachment; filename="profile.pstats"'})

    async def _heap(self, request: web.Request) -> web.Response:
        if request.query.get("gc") == "1":
            import gc
            gc.collect()
        try:
            limit = int(request.query.get("limit", "100"))
        except ValueError:
            limit = 100
        return web.Response(text=await asyncio.to_thread(heap_text, limit), content_type="text/plain")

    async def _goroutine(self, request: web.Request) -> web.Response:
        return web.Response(text=f"{thread_stacks()}\n\n# asyncio tasks\n\n{task_stacks()}\n", content_type="text/plain")

    async def _threads(self, request: web.Request) -> web.Response:
        return web.Response(text=thread_stacks(), content_type="text/plain")

    async def _cmdline(self, request: web.Request) -> web.Response:
        return web.Response(text="\x00".join([sys.executable, *sys.argv]), content_type="text/plain")

    async def _not_applicable(self, request: web.Request) -> web.Response:
        return web.Response(text=f"# {PROFILES[request.match_info['name']]}\n", content_type="text/plain")

    async def start(self, host: Host) -> None:
        if not _RUNNING.acquire(blocking=False):
            raise RuntimeError("only a single pprof extension instance can be running per process")
        self._held = True
        app = web.Application()
        app.router.add_get("/debug/pprof/", self._index)
        app.router.add_get("/debug/pprof/profile", self._profile)
        app.router.add_get("/debug/pprof/heap", self._heap)
        app.router.add_get("/debug/pprof/allocs", self._heap)
        app.router.add_get("/debug/pprof/goroutine", self._goroutine)
        app.router.add_get("/debug/pprof/threadcreate", self._threads)
        app.router.add_get("/debug/pprof/cmdline", self._cmdline)
        app.router.add_get("/debug/pprof/{name:block|mutex}", self._not_applicable)
        try:
            self._runner, addresses = await serve(app, self.config.endpoint)
        except OSError:
            self._release()
            raise
        self.port = addresses[0][1]
        self.settings.logger.info("Starting net/http/pprof server: endpoint=%s", self.config.endpoint)
        if self.config.save_to_file:
            try:  # as upstream, a file that cannot be created fails the start
                await asyncio.to_thread(_write, self.config.save_to_file, "")
            except OSError:
                await self._runner.cleanup()
                self._runner = None
                self._release()
                raise
            self._lifetime = CPUProfile()

    def _release(self) -> None:
        if self._held:
            self._held = False
            _RUNNING.release()

    async def shutdown(self) -> None:
        try:
            if self._lifetime is not None:
                stats = self._lifetime.stop()
                self._lifetime = None
                try:
                    await asyncio.to_thread(stats.dump_stats, self.config.save_to_file)
                except OSError as exc:
                    self.settings.logger.error("failed to write the profile to %s: %s", self.config.save_to_file, exc)
            if self._runner is not None:
                await self._runner.cleanup()
                self._runner = None
        finally:
            if tracemalloc.is_tracing():  # started by a heap request; it slows every allocation
                tracemalloc.stop()
            self._release()


def _write(path: str, text: str) -> None:
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


def create(settings: Settings, config: Config, **_: Any) -> PprofExtension:
    return PprofExtension(settings, config)


factory = Factory(type="pprof", kind=Kind.EXTENSION, config=Config, create=create, stability="beta", one_instance=True)
