"""Senders used both when recording goldens against otelcol-ref and in the tests: real sockets."""

from __future__ import annotations

import asyncio
import socket

import aiohttp
import grpc

POST_SPANS = "/jaeger.api_v2.CollectorService/PostSpans"


async def post_http(port: int, body: bytes, content_type: str | None = "application/x-thrift",
                    method: str = "POST", path: str = "/api/traces", encoding: str | None = None) -> dict:
    headers = {} if content_type is None else {"Content-Type": content_type}
    if encoding is not None:
        headers["Content-Encoding"] = encoding
    async with aiohttp.ClientSession(skip_auto_headers=["Content-Type"]) as session:
        async with session.request(method, f"http://127.0.0.1:{port}{path}", data=body, headers=headers) as resp:
            return {"status": resp.status, "body": (await resp.read()).decode(),
                    "content_type": resp.headers.get("Content-Type", "")}


async def post_grpc(port: int, body: bytes) -> dict:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        call = channel.unary_unary(POST_SPANS, request_serializer=None, response_deserializer=None)
        try:
            reply = await call(body, timeout=10)
        except grpc.aio.AioRpcError as exc:
            return {"code": exc.code().name, "details": exc.details()}
        return {"code": "OK", "reply": reply.hex()}


def send_udp(port: int, datagram: bytes) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.sendto(datagram, ("127.0.0.1", port))


async def wait_port(port: int, timeout: float = 20.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            return
        except OSError:
            if asyncio.get_running_loop().time() > deadline:
                raise
            await asyncio.sleep(0.1)
