"""An in-process all-in-one for the store API tests: OTLP/HTTP in, embedded_store, web_ui."""

from __future__ import annotations

import asyncio
import contextlib
import json
import urllib.error
import urllib.request
from typing import AsyncIterator

from otelflow.core.component import Kind
from tests.backends import free_port
from tests.conftest import running


def yaml(otlp: int, ui: int, directory, commit_interval: str = "100ms", max_pending_rows: int = 1_000_000) -> str:
    pipelines = ", ".join(f"{s}: {{receivers: [otlp], exporters: [embedded_store]}}" for s in ("traces", "logs", "metrics"))
    return f"""
receivers: {{otlp: {{protocols: {{http: {{endpoint: "127.0.0.1:{otlp}"}}}}}}}}
exporters: {{embedded_store: {{}}}}
extensions:
  embedded_store: {{directory: "{directory}", commit_interval: {commit_interval}, max_pending_rows: {max_pending_rows}}}
  web_ui: {{endpoint: "127.0.0.1:{ui}"}}
service:
  extensions: [embedded_store, web_ui]
  telemetry: {{metrics: {{level: none}}}}
  pipelines: {{{pipelines}}}
"""


class AllInOne:
    def __init__(self, service, otlp: int, ui: int):
        self.service = service
        self.otlp = f"http://127.0.0.1:{otlp}"
        self.api = f"http://127.0.0.1:{ui}/api/v1"

    @property
    def store(self):
        return self.service.component(Kind.EXTENSION, "embedded_store").store

    async def get(self, path: str) -> tuple[int, bytes, dict]:
        return await asyncio.to_thread(http, "GET", self.api + path)

    async def post(self, path: str, body: bytes, content_type: str = "application/json") -> tuple[int, bytes, dict]:
        return await asyncio.to_thread(http, "POST", self.api + path, body, content_type)

    async def get_json(self, path: str):
        status, body, _ = await self.get(path)
        assert status == 200, (path, status, body[:300])
        return json.loads(body)


def http(method: str, url: str, body: bytes | None = None, content_type: str = "") -> tuple[int, bytes, dict]:
    req = urllib.request.Request(url, data=body, method=method, headers={"Content-Type": content_type} if content_type else {})
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, resp.read(), dict(resp.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(), dict(exc.headers)


@contextlib.asynccontextmanager
async def all_in_one(directory, **kw) -> AsyncIterator[AllInOne]:
    otlp, ui = free_port(), free_port()
    async with running(yaml(otlp, ui, directory, **kw)) as service:
        yield AllInOne(service, otlp, ui)
