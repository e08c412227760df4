"""The lean HTTP/1.1 client against real servers on 127.0.0.1 (aiohttp servers and raw asyncio ones)."""

from __future__ import annotations

import asyncio
import gzip
import ssl

import pytest
from aiohttp import web

from otelflow.config.settings import TLSClientSettings
from otelflow.core.http1_client import ClientError, HTTP1Client
from otelflow.core.tls import client_ssl_context
from tests.certs import CA


async def _aiohttp_server(handler, ssl_context=None):
    app = web.Application()
    app.router.add_post("/{tail:.*}", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=ssl_context)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    return runner, port


class _Peers:
    """Counts distinct client connections seen by an aiohttp handler."""

    def __init__(self):
        self.peers: set = set()
        self.bodies: list[bytes] = []
        self.headers: list = []

    async def handler(self, request: web.Request) -> web.Response:
        self.peers.add(request.transport.get_extra_info("peername"))
        self.bodies.append(await request.read())
        self.headers.append(request.headers)
        await asyncio.sleep(float(request.query.get("sleep", "0")))
        return web.Response(body=b"ok", content_type="application/x-protobuf")


async def test_keep_alive_reuses_one_connection_and_sends_headers():
    peers = _Peers()
    runner, port = await _aiohttp_server(peers.handler)
    client = HTTP1Client(f"http://127.0.0.1:{port}/v1/traces")
    try:
        for i in range(5):
            resp = await client.post({"Content-Type": "application/x-protobuf", "X-Tenant": "a"}, b"body%d" % i)
            assert resp.status == 200 and resp.body == b"ok"
            assert resp.content_type == "application/x-protobuf"
        assert len(peers.peers) == 1 and client.connections == 1
        assert peers.bodies == [b"body%d" % i for i in range(5)]
        h = peers.headers[0]
        assert h["Host"] == f"127.0.0.1:{port}" and h["x-tenant"] == "a" and h["Content-Length"] == "5"
    finally:
        await client.close()
        await runner.cleanup()


async def test_parallel_requests_use_at_most_n_connections():
    peers = _Peers()
    runner, port = await _aiohttp_server(peers.handler)
    client = HTTP1Client(f"http://127.0.0.1:{port}/v1/traces?sleep=0.05")
    try:
        for _ in range(3):
            resps = await asyncio.gather(*(client.post({}, b"x") for _ in range(4)))
            assert [r.status for r in resps] == [200] * 4
        assert len(peers.peers) <= 4 and client.connections <= 4
        assert len(peers.bodies) == 12
    finally:
        await client.close()
        await runner.cleanup()


async def test_max_conns_makes_requests_wait_for_a_connection():
    peers = _Peers()
    runner, port = await _aiohttp_server(peers.handler)
    client = HTTP1Client(f"http://127.0.0.1:{port}/v1/traces?sleep=0.02", max_conns=2)
    try:
        resps = await asyncio.gather(*(client.post({}, b"x") for _ in range(6)))
        assert [r.status for r in resps] == [200] * 6
        assert len(peers.peers) == 2 and client.connections == 2
    finally:
        await client.close()
        await runner.cleanup()


async def _raw_server(respond):
    """A raw server: ``respond(reader, writer, n)`` handles the n-th request on a connection."""
    conns = []

    async def on_conn(reader, writer):
        conns.append(writer)
        n = 0
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                              if line.lower().startswith(b"content-length"))
                await reader.readexactly(length)
                if not await respond(reader, writer, n):
                    break
                n += 1
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        writer.close()

    server = await asyncio.start_server(on_conn, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1], conns


async def test_server_closing_an_idle_connection_is_retried_transparently():
    # each connection answers one request with keep-alive, then closes without saying so
    async def respond(reader, writer, n):
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        await writer.drain()
        await asyncio.sleep(0.03)
        return False

    server, port, conns = await _raw_server(respond)
    client = HTTP1Client(f"http://127.0.0.1:{port}/")
    try:
        assert (await client.post({}, b"a")).body == b"ok"
        await asyncio.sleep(0.05)  # the close reaches the client: the idle connection is dropped
        assert (await client.post({}, b"b")).body == b"ok"
        # now the race proper: the request goes out on a connection the server is closing right now
        assert (await client.post({}, b"c")).body == b"ok"
        conn = client._idle[-1]
        conn.transport.pause_reading()  # the server's FIN stays unseen until the next request is written
        await asyncio.sleep(0.1)
        asyncio.get_running_loop().call_later(0.01, conn.transport.resume_reading)
        assert (await client.post({}, b"d")).body == b"ok"
        assert len(conns) == 4
    finally:
        await client.close()
        server.close()


async def test_chunked_and_gzip_response():
    async def respond(reader, writer, n):
        payload = gzip.compress(b"hello world")
        writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")  # an interim answer is skipped
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Encoding: gzip\r\n"
                     b"Content-Type: application/json; charset=utf-8\r\n\r\n")
        for part in (payload[:5], payload[5:]):
            writer.write(b"%x\r\n%s\r\n" % (len(part), part))
            await writer.drain()
            await asyncio.sleep(0.01)
        writer.write(b"0\r\n\r\n")
        return True

    server, port, conns = await _raw_server(respond)
    client = HTTP1Client(f"http://127.0.0.1:{port}/")
    try:
        for _ in range(2):
            resp = await client.post({}, b"x")
            assert resp.status == 200 and resp.body == b"hello world" and resp.content_type == "application/json"
        assert len(conns) == 1
    finally:
        await client.close()
        server.close()


async def test_body_until_close_and_status_headers():
    async def respond(reader, writer, n):
        writer.write(b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 7\r\nX-A: 1\r\nx-a: 2\r\n\r\npart1,")
        await writer.drain()
        await asyncio.sleep(0.02)
        writer.write(b"part2")
        return False  # closes: the end of the body

    server, port, conns = await _raw_server(respond)
    client = HTTP1Client(f"http://127.0.0.1:{port}/")
    try:
        for _ in range(2):
            resp = await client.post({}, b"x")
            assert resp.status == 503 and resp.body == b"part1,part2"
            assert resp.headers["retry-after"] == "7" and resp.headers.getall("X-A") == ["1", "2"]
        assert client.connections == 0 and len(conns) == 2
    finally:
        await client.close()
        server.close()


async def test_timeout_drops_the_connection_and_the_next_request_works():
    peers = _Peers()
    runner, port = await _aiohttp_server(peers.handler)
    slow = HTTP1Client(f"http://127.0.0.1:{port}/v1/traces?sleep=1")
    fast = HTTP1Client(f"http://127.0.0.1:{port}/v1/traces")
    try:
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.1):
                await slow.post({}, b"x")
        assert slow.connections == 0  # cancelled mid-request: closed, not pooled
        assert (await fast.post({}, b"y")).status == 200
        quick = HTTP1Client(f"http://127.0.0.1:{port}/v1/traces?sleep=0")
        assert (await quick.post({}, b"z")).status == 200
        await quick.close()
    finally:
        await slow.close()
        await fast.close()
        await runner.cleanup()


async def test_slow_answer_then_reuse_after_timeout_on_same_client():
    async def respond(reader, writer, n):
        if n == 0:
            await asyncio.sleep(0.5)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n%d" % n)
        await writer.drain()
        return True

    server, port, conns = await _raw_server(respond)
    client = HTTP1Client(f"http://127.0.0.1:{port}/")
    try:
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.1):
                await client.post({}, b"x")
        resp = await client.post({}, b"y")  # a fresh connection: never the late answer of the first
        assert resp.body == b"0" and len(conns) == 2
    finally:
        await client.close()
        server.close()


async def test_bad_header_values_are_client_errors():
    client = HTTP1Client("http://127.0.0.1:9/v1/traces")
    with pytest.raises(ClientError, match="CR or LF"):
        await client.post({"X-A": "a\r\nX-Injected: 1"}, b"x")
    with pytest.raises(ClientError, match="Latin-1"):
        await client.post({"X-A": "\u2603"}, b"x")
    assert client.connections == 0


async def test_connection_refused_is_a_client_error():
    import socket

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    client = HTTP1Client(f"http://127.0.0.1:{port}/v1/traces")
    with pytest.raises(ClientError, match="cannot connect"):
        await client.post({}, b"x")
    await client.close()


async def test_tls_with_the_test_ca(tmp_path):
    ca = CA()
    cert, key = ca.issue("localhost").write(tmp_path, "server")
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(cert, key)
    peers = _Peers()
    runner, port = await _aiohttp_server(peers.handler, server_ctx)
    good = client_ssl_context(TLSClientSettings(ca_file=ca.write(tmp_path)))
    client = HTTP1Client(f"https://localhost:{port}/v1/traces", ssl=good)
    named = HTTP1Client(f"https://127.0.0.1:{port}/v1/traces", ssl=good, server_hostname="localhost")
    untrusted = HTTP1Client(f"https://localhost:{port}/v1/traces", ssl=ssl.create_default_context())
    try:
        for _ in range(2):
            assert (await client.post({}, b"x")).body == b"ok"
        assert (await named.post({}, b"x")).body == b"ok"
        assert client.connections == 1 and peers.headers[0]["Host"] == f"localhost:{port}"
        with pytest.raises(ClientError, match="CERTIFICATE_VERIFY_FAILED"):
            await untrusted.post({}, b"x")
    finally:
        for c in (client, named, untrusted):
            await c.close()
        await runner.cleanup()


async def test_a_configured_host_header_names_the_host_and_content_length_is_ours():
    peers = _Peers()
    runner, port = await _aiohttp_server(peers.handler)
    client = HTTP1Client(f"http://127.0.0.1:{port}/v1/traces")
    try:
        resp = await client.post({"host": "tempo.internal", "Content-Length": "999", "X-A": "1"}, b"abc")
        assert resp.status == 200
        h = peers.headers[0]
        assert h.getall("Host") == ["tempo.internal"] and h.getall("Content-Length") == ["3"]
        assert peers.bodies == [b"abc"] and h["X-A"] == "1"
        with pytest.raises(ClientError):
            await client.post({"Host": "a\r\nX-Evil: 1"}, b"")
    finally:
        await client.close()
        await runner.cleanup()
