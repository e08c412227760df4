"""core/http1 over real sockets on 127.0.0.1: framing, keep-alive, limits, shutdown, and the OTLP
receiver on it under many keep-alive connections from the real OTel Python SDK exporter."""

from __future__ import annotations

import asyncio
import gc
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from otelflow.core.http1 import HTTP1Server, Request
from tests.backends import HTTPBackend, free_port
from tests.conftest import running

LIMIT = 1000


async def echo(request: Request):
    if request.path == "/slow":
        await asyncio.sleep(0.3)
    text = f"{request.method} {request.path} q={request.query_string} len={len(request.body)} within={request.within}"
    return 200, {"Content-Type": "text/plain"}, text.encode()


@pytest.fixture
async def server():
    srv = HTTP1Server(echo, LIMIT)
    (_, port), *_ = await srv.listen("127.0.0.1", 0)
    srv.port = port
    yield srv
    await srv.close(timeout=2)


async def connect(srv):
    return await asyncio.open_connection("127.0.0.1", srv.port)


async def read_response(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], bytes]:
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:] if line)}
    body = await reader.readexactly(int(headers.get("content-length", 0)))
    return status, headers, body


def post(path: str, body: bytes, extra: str = "", version: str = "1.1") -> bytes:
    return (f"POST {path} HTTP/{version}\r\nHost: x\r\nContent-Length: {len(body)}\r\n{extra}\r\n").encode() + body


async def test_pipelined_requests_in_one_write_answered_in_order(server):
    reader, writer = await connect(server)
    writer.write(post("/slow", b"abc") + post("/fast?x=1", b"hello"))
    first, second = await read_response(reader), await read_response(reader)
    assert first[0] == 200 and first[2] == b"POST /slow q= len=3 within=True"
    assert second[2] == b"POST /fast q=x=1 len=5 within=True"
    assert "date" in first[1] and first[1]["date"].endswith(" GMT") and "connection" not in first[1]
    writer.close()


async def test_chunked_request_body(server):
    reader, writer = await connect(server)
    writer.write(b"POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                 b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n")
    status, _, body = await read_response(reader)
    assert status == 200 and body == b"POST /c q= len=11 within=True"
    writer.close()


@pytest.mark.parametrize("version,extra", [("1.0", ""), ("1.1", "Connection: close\r\n")])
async def test_http10_and_connection_close_end_the_connection(server, version, extra):
    reader, writer = await connect(server)
    writer.write(post("/p", b"x", extra, version))
    status, headers, body = await read_response(reader)
    assert status == 200 and headers["connection"] == "close" and body.endswith(b"len=1 within=True")
    assert await asyncio.wait_for(reader.read(), 5) == b""  # the server closed it
    writer.close()


async def test_expect_100_continue_before_the_body_and_unknown_expect_is_417(server):
    reader, writer = await connect(server)
    writer.write(b"POST /e HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n")
    assert await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5) == b"HTTP/1.1 100 Continue\r\n\r\n"
    writer.write(b"data")
    status, _, body = await read_response(reader)
    assert status == 200 and body.endswith(b"len=4 within=True")
    writer.write(post("/e", b"data", "Expect: something-else\r\n"))
    status, _, body = await read_response(reader)
    assert status == 417 and body == b"Unknown Expect: something-else"
    writer.close()


async def test_malformed_request_line_is_400_and_closed(server):
    reader, writer = await connect(server)
    writer.write(post("/ok", b"1") + b"NOT A REQUEST\r\n\r\n")
    assert (await read_response(reader))[0] == 200  # the good request ahead of it is still answered
    status, headers, body = await read_response_until_close(reader)
    assert status == 400 and headers["connection"] == "close" and body == b"400 Bad Request"
    writer.close()


async def read_response_until_close(reader):
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    lines = head.decode().split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:] if line)}
    return int(lines[0].split()[1]), headers, await asyncio.wait_for(reader.read(), 5)


async def test_header_too_large_is_431_and_the_server_goes_on(server):
    reader, writer = await connect(server)
    writer.write(post("/h", b"", "X-Big: " + "a" * 70000 + "\r\n"))
    status, headers, body = await read_response_until_close(reader)
    assert status == 431 and body == b"431 Request Header Fields Too Large"
    writer.close()
    reader, writer = await connect(server)
    writer.write(post("/after", b"ok"))
    assert (await read_response(reader))[2].endswith(b"len=2 within=True")
    writer.close()


async def test_body_over_the_limit_keeps_limit_plus_one_bytes_and_the_connection(server):
    reader, writer = await connect(server)
    writer.write(post("/big", b"z" * 5000) + post("/next", b"ok"))
    status, _, body = await read_response(reader)
    assert status == 200 and body == f"POST /big q= len={LIMIT + 1} within=False".encode()
    assert (await read_response(reader))[2].endswith(b"len=2 within=True")
    writer.close()


async def test_client_leaving_mid_body_does_not_stop_the_server(server):
    reader, writer = await connect(server)
    writer.write(b"POST /gone HTTP/1.1\r\nHost: x\r\nContent-Length: 500\r\n\r\npartial")
    await writer.drain()
    writer.close()
    await writer.wait_closed()
    for _ in range(50):
        if not server.connections:
            break
        await asyncio.sleep(0.02)
    assert not server.connections
    reader, writer = await connect(server)
    writer.write(post("/still", b"up"))
    assert (await read_response(reader))[2].endswith(b"len=2 within=True")
    writer.close()


async def test_shutdown_closes_idle_connections_and_answers_the_request_in_hand():
    srv = HTTP1Server(echo, LIMIT)
    (_, port), *_ = await srv.listen("127.0.0.1", 0)
    idle_r, idle_w = await asyncio.open_connection("127.0.0.1", port)
    busy_r, busy_w = await asyncio.open_connection("127.0.0.1", port)
    idle_w.write(post("/warm", b""))
    await read_response(idle_r)
    busy_w.write(post("/slow", b"abc"))
    await asyncio.sleep(0.05)
    await srv.close(timeout=5)
    status, headers, body = await read_response(busy_r)
    assert status == 200 and headers["connection"] == "close" and body.endswith(b"len=3 within=True")
    assert await asyncio.wait_for(idle_r.read(), 5) == b""
    with pytest.raises(OSError):
        await asyncio.open_connection("127.0.0.1", port)
    idle_w.close()
    busy_w.close()


# the request's path runs in the connection's eager task (core/eager.py): sent from the queue's
# consumers, by the request's own task up to its first wait, inside the request (no queue: the
# exporter's asyncio.timeout needs that task) or joined to a batch
@pytest.mark.parametrize("queue", ["{}", "{enabled: false}", "{batch: {flush_timeout: 50ms}}"])
async def test_many_keepalive_connections_from_the_sdk_exporter(queue):
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    backend = await HTTPBackend().start()
    port = free_port()
    clients, rounds = 12, 5
    config = f"""
receivers:
  otlp:
    protocols:
      http: {{endpoint: "127.0.0.1:{port}"}}
exporters:
  otlphttp: {{endpoint: "{backend.endpoint}", sending_queue: {queue}}}
service:
  pipelines:
    traces: {{receivers: [otlp], exporters: [otlphttp]}}
"""
    try:
        async with running(config):
            providers = []
            for i in range(clients):
                provider = TracerProvider(resource=Resource.create({"service.name": f"client-{i}"}))
                provider.add_span_processor(SimpleSpanProcessor(
                    OTLPSpanExporter(endpoint=f"http://127.0.0.1:{port}/v1/traces")))
                providers.append(provider)
            barrier = threading.Barrier(clients)

            def emit(provider):
                barrier.wait(timeout=20)
                tracer = provider.get_tracer("t")
                for n in range(rounds):
                    with tracer.start_as_current_span(f"span-{n}"):
                        pass

            loop = asyncio.get_running_loop()
            with ThreadPoolExecutor(clients) as pool:  # all at once: the default pool has fewer threads
                await asyncio.gather(*(loop.run_in_executor(pool, emit, p) for p in providers))
            servers = [o for o in gc.get_objects() if isinstance(o, HTTP1Server) and o.server is not None
                       and o.server.sockets and o.server.sockets[0].getsockname()[1] == port]
            # each exporter kept its one connection open across its requests
            assert len(servers) == 1 and len(servers[0].connections) == clients
            deadline = asyncio.get_running_loop().time() + 15
            while sum(len(r.message.resource_spans) for r in backend.received) < clients * rounds:
                assert asyncio.get_running_loop().time() < deadline, "spans did not all arrive"
                await asyncio.sleep(0.05)
            for provider in providers:
                await asyncio.to_thread(provider.shutdown)
        names = {}
        for rec in backend.received:
            for rs in rec.message.resource_spans:
                svc = next(a.value.string_value for a in rs.resource.attributes if a.key == "service.name")
                names.setdefault(svc, []).extend(s.name for ss in rs.scope_spans for s in ss.spans)
        assert sorted(names) == sorted(f"client-{i}" for i in range(clients))
        assert all(sorted(v) == sorted(f"span-{n}" for n in range(rounds)) for v in names.values())
    finally:
        await backend.stop()


async def test_half_closed_client_still_gets_its_answers(server):
    reader, writer = await connect(server)
    writer.write(post("/slow", b"a") + post("/b", b"bb"))
    writer.write_eof()  # done sending: the server answers both, then closes
    assert (await read_response(reader))[2].endswith(b"len=1 within=True")
    assert (await read_response(reader))[2].endswith(b"len=2 within=True")
    assert await asyncio.wait_for(reader.read(), 5) == b""
    writer.close()


async def test_read_header_timeout_closes_a_connection_whose_headers_stall():
    srv = HTTP1Server(echo, LIMIT, idle_timeout=30, read_header_timeout=0.3)
    (_, port), *_ = await srv.listen("127.0.0.1", 0)
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"POST /a HTTP/1.1\r\nHost: x\r\n")  # and nothing more: a slow client
        assert await asyncio.wait_for(reader.read(), 3) == b""  # closed without an answer, as Go does
        writer.close()
        # a request that arrives whole is served, and the timer of a finished header block is gone
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(post("/b", b"x"))
        status, _, body = await read_response(reader)
        assert status == 200 and body == b"POST /b q= len=1 within=True"
        await asyncio.sleep(0.5)
        writer.write(post("/c", b"yz"))
        assert (await read_response(reader))[2] == b"POST /c q= len=2 within=True"
        writer.close()
    finally:
        await srv.close(timeout=1)


async def test_idle_timeout_and_keep_alives_disabled():
    srv = HTTP1Server(echo, LIMIT, idle_timeout=0.3)
    (_, port), *_ = await srv.listen("127.0.0.1", 0)
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(post("/a", b""))
        assert (await read_response(reader))[0] == 200
        assert await asyncio.wait_for(reader.read(), 3) == b""  # idle keep-alive connection closed
    finally:
        await srv.close(timeout=1)
    srv = HTTP1Server(echo, LIMIT, keep_alive=False)
    (_, port), *_ = await srv.listen("127.0.0.1", 0)
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(post("/a", b""))
        status, headers, _ = await read_response(reader)
        assert status == 200 and headers.get("connection") == "close"
        assert await asyncio.wait_for(reader.read(), 3) == b""
    finally:
        await srv.close(timeout=1)


async def test_the_receiver_passes_confighttp_timeouts_to_the_server():
    port = free_port()
    cfg = f"""
receivers:
  otlp:
    protocols:
      http: {{endpoint: 127.0.0.1:{port}, read_header_timeout: 300ms, keep_alives_enabled: false}}
exporters:
  nop: {{}}
service:
  pipelines:
    traces: {{receivers: [otlp], exporters: [nop]}}
"""
    async with running(cfg):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"POST /v1/traces HTTP/1.1\r\nHost: x\r\n")
        assert await asyncio.wait_for(reader.read(), 3) == b""
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(post("/v1/traces", b"", "Content-Type: application/x-protobuf\r\n"))
        status, headers, _ = await read_response(reader)
        assert status == 200 and headers.get("connection") == "close"
