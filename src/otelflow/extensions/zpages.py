"""zpages: simple HTML pages about the running collector, under the paths upstream's zpages extension
serves: /debug/servicez (build and runtime), /debug/pipelinez (pipelines and their components),
/debug/extensionz (extensions), /debug/featurez (feature gates), and /debug/expvarz (JSON process
variables) when ``expvar.enabled``. /debug/tracez needs the collector to trace itself, which
otelflow does not do, so it is not served. The pages describe the config the service started with.
"""

from __future__ import annotations

import gc
import html
import json
import os
import platform
import sys
import threading
import time
from datetime import datetime, timezone
from typing import Any

from aiohttp import web
from pydantic import field_validator

from otelflow import __version__
from otelflow.config.model import Model
from otelflow.config.settings import HTTPServerSettings
from otelflow.core import featuregates
from otelflow.extensions.health_check import ignored_server_keys, serve_admin
from otelflow.core.component import Component, Factory, Host, Kind, Settings
from otelflow.core.netaddr import split_host_port


class Expvar(Model):
    enabled: bool = False


class Config(HTTPServerSettings):
    endpoint: str = "localhost:55679"
    expvar: Expvar = Expvar()

    @field_validator("endpoint")
    @classmethod
    def _endpoint(cls, v: str) -> str:
        if v == "":
            raise ValueError('"endpoint" is required when using the "zpages" extension')
        split_host_port(v)
        return v

    def upstream_incompatibilities(self) -> list[str]:
        return ignored_server_keys(self)


_STYLE = ("body{font-family:sans-serif;margin:1.5em}table{border-collapse:collapse}"
          "td,th{border:1px solid #ccc;padding:.3em .6em;text-align:left}th{background:#eee}")
_LINKS = ("servicez", "pipelinez", "extensionz", "featurez")


def _page(title: str, body: str) -> web.Response:
    nav = " | ".join(f'<a href="/debug/{p}">{p}</a>' for p in _LINKS)
    text = (f"<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>{html.escape(title)}</title>"
            f"<style>{_STYLE}</style></head><body><p>{nav}</p><h1>{html.escape(title)}</h1>{body}</body></html>")
    return web.Response(text=text, content_type="text/html")


def _table(header: list[str], rows: list[list[Any]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _ids(ids) -> str:
    return ", ".join(str(i) for i in ids) or "-"


class ZPages(Component):
    def __init__(self, settings: Settings, config: Config):
        self.settings = settings
        self.config = config
        self.generation: Any = None
        self.started_wall = datetime.now(timezone.utc)
        self.started = time.monotonic()
        self._runner: web.AppRunner | None = None
        self.port: int | None = None

    async def _servicez(self, request: web.Request) -> web.Response:
        uptime = time.monotonic() - self.started
        build = [["Command", os.path.basename(sys.argv[0]) or "otelflow"], ["Description", "otelflow"],
                 ["Version", __version__]]
        runtime = [["StartTimestamp", self.started_wall.isoformat()], ["Uptime", f"{uptime:.0f}s"],
                   ["Python", f"{platform.python_implementation()} {platform.python_version()}"],
                   ["OS", f"{platform.system()} {platform.release()} {platform.machine()}"], ["PID", os.getpid()],
                   ["CPUs", os.cpu_count()]]
        return _page("Service", "<h2>Build Info</h2>" + _table(["Property", "Value"], build)
                     + "<h2>Runtime Info</h2>" + _table(["Property", "Value"], runtime))

    async def _pipelinez(self, request: web.Request) -> web.Response:
        cfg = getattr(self.generation, "cfg", None)
        rows = []
        for pid, p in (cfg.pipelines.items() if cfg else []):
            rows.append([str(pid), _ids(p.receivers), _ids(p.processors), _ids(p.exporters)])
        return _page("Pipelines", _table(["Pipeline", "Receivers", "Processors", "Exporters"], rows))

    async def _extensionz(self, request: web.Request) -> web.Response:
        cfg = getattr(self.generation, "cfg", None)
        rows = [[str(e), e.type] for e in (cfg.extensions if cfg else [])]
        return _page("Extensions", _table(["Extension", "Type"], rows))

    async def _featurez(self, request: web.Request) -> web.Response:
        rows = [[g.id, "true" if g.enabled else "false", g.stage, g.description] for g in featuregates.REGISTRY.gates()]
        return _page("Feature Gates", _table(["ID", "Enabled", "Stage", "Description"], rows))

    async def _expvarz(self, request: web.Request) -> web.Response:
        doc = {"cmdline": [sys.executable, *sys.argv],
               "gc": {"counts": list(gc.get_count()), "stats": gc.get_stats()},
               "threads": threading.active_count(), "pid": os.getpid()}
        return web.Response(text=json.dumps(doc, indent=1), content_type="application/json")

    async def start(self, host: Host) -> None:
        self.generation = getattr(host, "generation", None)
        app = web.Application()
        app.router.add_get("/debug/servicez", self._servicez)
        app.router.add_get("/debug/pipelinez", self._pipelinez)
        app.router.add_get("/debug/extensionz", self._extensionz)
        app.router.add_get("/debug/featurez", self._featurez)
        if self.config.expvar.enabled:
            app.router.add_get("/debug/expvarz", self._expvarz)
            self.settings.logger.info("Registered zPages expvar handler")
        self._runner, self.port = await serve_admin(app, self.config)
        self.settings.logger.info("Starting zPages extension: endpoint=%s", self.config.endpoint)

    async def shutdown(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None


def create(settings: Settings, config: Config, **_: Any) -> ZPages:
    return ZPages(settings, config)


factory = Factory(type="zpages", kind=Kind.EXTENSION, config=Config, create=create, stability="beta", one_instance=True)
