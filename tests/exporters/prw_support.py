"""Remote-Write test parts: a capturing receiver, the normal form goldens are kept in, and a real
Prometheus server with its remote-write receiver on.

``CaptureServer`` is a real HTTP endpoint on 127.0.0.1 that decodes every WriteRequest it gets (snappy
+ protobuf) and can be told to answer with other statuses first; the recorder uses it to capture
otelcol-ref's requests and the tests use it for otelflow's.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
import cramjam
import pytest
from aiohttp import web

from otelflow.exporters.prometheusremotewrite import prompb


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class CaptureServer:
    """Records (headers, WriteRequest) per request; ``statuses`` are answered first, in order."""

    def __init__(self) -> None:
        self.port = 0  # bound in start(): the kernel picks it, so no other test can take it meanwhile
        self.requests: list[tuple[dict[str, str], prompb.WriteRequest]] = []
        self.statuses: list[int] = []
        self.attempts = 0
        self.runner: web.AppRunner | None = None
        self.arrived = asyncio.Event()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/v1/write"

    async def _handle(self, request: web.Request) -> web.Response:
        self.attempts += 1
        body = await request.read()
        if self.statuses:
            return web.Response(status=self.statuses.pop(0), text="backend says no")
        req = prompb.decode(bytes(cramjam.snappy.decompress_raw(body)))
        self.requests.append((dict(request.headers), req))
        self.arrived.set()
        return web.Response(status=204)

    async def start(self) -> "CaptureServer":
        app = web.Application(client_max_size=1 << 30)
        app.router.add_post("/{tail:.*}", self._handle)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()
            self.runner = None

    async def wait_for(self, n: int = 1, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while len(self.requests) < n:
            if time.monotonic() > deadline:
                raise AssertionError(f"expected {n} write requests, got {len(self.requests)}")
            await asyncio.sleep(0.02)


def value_text(v: float) -> str:
    if prompb.is_stale(v):
        return "StaleNaN"
    if v != v:
        return "NaN"
    return repr(v)


def _histogram(h: prompb.Histogram) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in prompb.Histogram.__slots__:
        value = getattr(h, name)
        if value in (None, [], 0) and name not in ("schema",):
            continue
        if isinstance(value, float):
            value = value_text(value)
        elif isinstance(value, list):
            value = [list(x) if isinstance(x, tuple) else (value_text(x) if isinstance(x, float) else x) for x in value]
        out[name] = value
    return out


def normalise(requests: list[prompb.WriteRequest]) -> dict[str, Any]:
    """Series sorted by labels (upstream sends them in Go map order), everything as JSON values."""
    series, metadata = [], []
    for req in requests:
        for ts in req.timeseries:
            series.append({
                "labels": [list(kv) for kv in ts.labels],
                "samples": [[s.timestamp, value_text(s.value)] for s in ts.samples],
                **({"exemplars": [{"labels": [list(kv) for kv in e.labels], "value": value_text(e.value), "timestamp": e.timestamp}
                                  for e in ts.exemplars]} if ts.exemplars else {}),
                **({"histograms": [_histogram(h) for h in ts.histograms]} if ts.histograms else {}),
            })
        for m in req.metadata:
            metadata.append([prompb.METRIC_TYPE_NAMES[m.type], m.metric_family_name, m.help, m.unit])
    series.sort(key=lambda s: s["labels"])
    metadata.sort()
    return {"series": series, **({"metadata": metadata} if metadata else {})}


# -- a real Prometheus ------------------------------------------------------------------------------


def prometheus_binary() -> str:
    path = shutil.which("prometheus") or "/usr/bin/prometheus"
    if os.path.isfile(path) and os.access(path, os.X_OK):
        return path
    if os.environ.get("CI") == "true":
        pytest.fail("prometheus is not installed: CI must run `bash scripts/install-prometheus.sh` first")
    pytest.skip("prometheus is not installed (run `bash scripts/install-prometheus.sh`)")


class Prometheus:
    """Prometheus on loopback with ``--web.enable-remote-write-receiver`` and native histograms."""

    def __init__(self) -> None:
        self.binary = prometheus_binary()
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="otelflow-prw-"))
        (self.dir / "prometheus.yml").write_text("global:\n  evaluation_interval: 1s\n")
        self.proc: subprocess.Popen | None = None
        self.url = f"http://127.0.0.1:{self.port}"

    @property
    def write_url(self) -> str:
        return self.url + "/api/v1/write"

    async def start(self) -> None:
        log = open(self.dir / "prometheus.log", "wb")
        self.proc = subprocess.Popen(
            [self.binary, f"--config.file={self.dir / 'prometheus.yml'}", f"--storage.tsdb.path={self.dir / 'data'}",
             f"--web.listen-address=127.0.0.1:{self.port}", "--web.enable-remote-write-receiver",
             "--enable-feature=native-histograms", "--log.level=warn"],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )
        log.close()
        deadline = time.monotonic() + 60
        async with aiohttp.ClientSession() as session:
            while True:
                if self.proc.poll() is not None:
                    raise RuntimeError("prometheus exited:\n" + (self.dir / "prometheus.log").read_text(errors="replace"))
                try:
                    async with session.get(self.url + "/-/ready") as resp:
                        if resp.status == 200:
                            return
                except aiohttp.ClientError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError("prometheus did not become ready")
                await asyncio.sleep(0.2)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)

    async def query(self, promql: str, at: float | None = None) -> list[dict]:
        params = {"query": promql}
        if at is not None:
            params["time"] = f"{at:.3f}"
        async with aiohttp.ClientSession() as session:
            async with session.get(self.url + "/api/v1/query", params=params) as resp:
                body = await resp.json()
        assert body["status"] == "success", body
        return body["data"]["result"]

    async def series(self, match: str) -> list[dict]:
        async with aiohttp.ClientSession() as session:
            async with session.get(self.url + "/api/v1/series", params={"match[]": match}) as resp:
                body = await resp.json()
        assert body["status"] == "success", body
        return body["data"]
