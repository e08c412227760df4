"""One real collector per test module, running on its own event-loop thread so that hypothesis can
drive it from plain (synchronous) tests with real HTTP and gRPC clients on 127.0.0.1."""

from __future__ import annotations

import asyncio
import http.client
import os
import threading

import grpc

from otelflow.core.component import Signal
from otelflow.receivers.otlp.grpc import SERVICES
from tests.backends import HTTPBackend, free_port
from tests.conftest import running

#: The receiver's body limit in these tests: small, so that bombs and oversized bodies stay cheap.
LIMIT = 1 << 20
SCALE = float(os.environ.get("FUZZ_SCALE", "1"))


def examples(n: int) -> int:
    return max(1, int(n * SCALE))


def config(grpc_port: int, http_port: int, backend: str) -> str:
    return f"""
receivers:
  otlp:
    protocols:
      grpc: {{endpoint: "127.0.0.1:{grpc_port}"}}
      http: {{endpoint: "127.0.0.1:{http_port}", max_request_body_size: {LIMIT}}}
exporters:
  otlphttp:
    endpoint: {backend}
    compression: none
    retry_on_failure: {{enabled: false}}
service:
  pipelines:
    traces: {{receivers: [otlp], exporters: [otlphttp]}}
    metrics: {{receivers: [otlp], exporters: [otlphttp]}}
    logs: {{receivers: [otlp], exporters: [otlphttp]}}
"""


class Live:
    """The collector (and the backend its otlphttp exporter records into) on a background loop."""

    def __init__(self):
        self.grpc_port, self.http_port = free_port(), free_port()
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="fuzz-collector", daemon=True)
        self.backend: HTTPBackend | None = None
        self._cm = None
        self.channel: grpc.Channel | None = None

    def _run(self, coro, timeout: float = 60):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def start(self) -> "Live":
        self.thread.start()

        async def up():
            self.backend = await HTTPBackend().start()
            self._cm = running(config(self.grpc_port, self.http_port, self.backend.endpoint))
            await self._cm.__aenter__()

        self._run(up())
        self.channel = grpc.insecure_channel(f"127.0.0.1:{self.grpc_port}", options=[
            ("grpc.max_send_message_length", 64 << 20)])
        return self

    def stop(self) -> None:
        if self.channel is not None:
            self.channel.close()

        async def down():
            await self._cm.__aexit__(None, None, None)
            await self.backend.stop()

        try:
            self._run(down())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(10)
            self.loop.close()

    def received(self, signal: Signal) -> int:
        return len(self.backend.messages(signal))

    # -- clients ----------------------------------------------------------------------------------

    def post(self, path: str, body: bytes, headers: dict, method: str = "POST") -> tuple[int, str, bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", self.http_port, timeout=30)
        try:
            conn.request(method, path, body=body, headers=headers)
            resp = conn.getresponse()
            return resp.status, resp.getheader("Content-Type") or "", resp.read()
        finally:
            conn.close()

    def export(self, signal: Signal, body: bytes, compression=None) -> grpc.StatusCode:
        call = self.channel.unary_unary(f"/{SERVICES[signal]}/Export")
        try:
            call(body, timeout=30, compression=compression)
        except grpc.RpcError as err:
            return err.code()
        return grpc.StatusCode.OK


def rss_bytes() -> int:
    """This process's resident set size now (the in-process collector's memory with it)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS in /proc/self/status")
