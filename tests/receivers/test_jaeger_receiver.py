"""The jaeger receiver's own behaviour over real sockets: refusals from the pipeline, UDP under a
modest load with garbage mixed in, compressed and large Thrift bodies, and strings that are not UTF-8."""

from __future__ import annotations

import asyncio
import gzip
import socket

import aiohttp
import pytest
from thriftpy2.protocol import TBinaryProtocolFactory
from thriftpy2.utils import serialize

from otelflow.config.model import validate
from otelflow.core.component import ComponentID, Host, Kind, Settings, Signal
from otelflow.core.consumer import ConsumerError, PermanentError
from otelflow.core.telemetry import Telemetry
from otelflow.receivers.jaeger import Config, JaegerReceiver
from tests.receivers.testdata.jaeger.thriftpy_idl import jaeger
from otelflow.receivers.jaeger.udp import DROPPED
from tests.receivers.testdata.jaeger.inputs import HERE, agent_datagram, tag
from tests.receivers.testdata.jaeger.send import post_grpc, post_http, send_udp


class Collecting:
    """The next consumer in the pipeline: keeps what it accepts, or refuses with a given error."""

    mutates_data = False

    def __init__(self) -> None:
        self.requests: list = []
        self.refuse: ConsumerError | None = None

    async def consume(self, request) -> None:
        if self.refuse is not None:
            raise self.refuse
        self.requests.append(request)

    def spans(self) -> int:
        return sum(len(ss.spans) for r in self.requests for rs in r.resource_spans for ss in rs.scope_spans)


def _port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
async def receiver():
    ports = {"grpc": _port(), "thrift_http": _port(),
             "thrift_compact": _port(socket.SOCK_DGRAM), "thrift_binary": _port(socket.SOCK_DGRAM)}
    cfg = validate(Config, {"protocols": {name: {"endpoint": f"127.0.0.1:{port}"} for name, port in ports.items()}},
                   "receivers::jaeger")
    sink = Collecting()
    telemetry = Telemetry()
    rec = JaegerReceiver(Settings(ComponentID("jaeger"), Kind.RECEIVER, telemetry), cfg, {Signal.TRACES: sink})
    await rec.start(Host())
    try:
        yield rec, sink, ports, telemetry
    finally:
        await rec.shutdown()


async def wait_for(predicate, timeout: float = 20.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


async def test_pipeline_refusal_maps_to_upstream_answers(receiver):
    rec, sink, ports, telemetry = receiver
    sink.refuse = PermanentError("no room")
    answer = await post_http(ports["thrift_http"], (HERE / "thrift_http.bin").read_bytes())
    assert answer == {"status": 500, "body": "Cannot submit Jaeger batch: no room\n",
                      "content_type": "text/plain; charset=utf-8"}
    sink.refuse = ConsumerError("try later")
    answer = await post_grpc(ports["grpc"], (HERE / "grpc.bin").read_bytes())
    assert answer == {"code": "UNKNOWN", "details": "try later"}
    assert telemetry.value("otelcol_receiver_refused_spans", transport="collector_http") == 5
    assert telemetry.value("otelcol_receiver_refused_spans", transport="grpc") == 4
    sink.refuse = None  # and it keeps serving
    async with aiohttp.ClientSession() as session:
        async with session.post(f"http://127.0.0.1:{ports['thrift_http']}/api/traces",
                                data=(HERE / "thrift_http.bin").read_bytes(),
                                headers={"Content-Type": "application/x-thrift"}) as resp:
            assert resp.status == 202 and resp.headers.get("Connection") == "close"  # keep-alives off
    assert sink.spans() == 4  # the blank span is not translated


async def test_udp_load_with_garbage_keeps_every_good_datagram(receiver):
    rec, sink, ports, telemetry = receiver
    good = {True: agent_datagram(True), False: agent_datagram(False)}
    sent = 0
    for i in range(600):
        compact = i % 2 == 0
        send_udp(ports["thrift_compact" if compact else "thrift_binary"], good[compact])
        sent += 2
        if i % 50 == 0:
            send_udp(ports["thrift_compact"], b"\xff" * 40)  # garbage, dropped and counted
            send_udp(ports["thrift_binary"], b"\x80\x01\x00\x04\x00\x00\x00\x09emitBatch")  # truncated
        if i % 20 == 0:
            await asyncio.sleep(0.01)  # a modest pace: the kernel buffer is not what is tested
    await wait_for(lambda: sink.spans() >= sent)
    assert sink.spans() == sent
    await wait_for(lambda: telemetry.value(DROPPED, reason="undecodable") == 24)
    assert telemetry.value("otelcol_receiver_accepted_spans", transport="udp_thrift_compact") == sent // 2


async def test_gzip_and_large_thrift_bodies(receiver):
    rec, sink, ports, telemetry = receiver
    spans = [jaeger.Span(traceIdLow=i + 1, traceIdHigh=0, spanId=i + 1, parentSpanId=0, operationName=f"op{i}", flags=1,
                         startTime=1_000_000 + i, duration=5, tags=[tag("payload", "x" * 200)]) for i in range(2000)]
    body = serialize(jaeger.Batch(process=jaeger.Process(serviceName="big"), spans=spans), TBinaryProtocolFactory())
    assert len(body) > 256 * 1024  # decoded off the event loop
    assert (await post_http(ports["thrift_http"], body))["status"] == 202
    answer = await post_http_gzip(ports["thrift_http"], gzip.compress(body))
    assert answer == 202
    assert sink.spans() == 4000
    assert sink.requests[0].resource_spans[0].scope_spans[0].spans[1999].name == "op1999"


async def post_http_gzip(port: int, body: bytes) -> int:
    import aiohttp

    async with aiohttp.ClientSession() as session:
        async with session.post(f"http://127.0.0.1:{port}/api/traces", data=body, headers={
                "Content-Type": "application/x-thrift", "Content-Encoding": "gzip"}) as resp:
            return resp.status


async def test_strings_that_are_not_utf8_do_not_break_the_receiver(receiver):
    rec, sink, ports, telemetry = receiver
    batch = jaeger.Batch(process=jaeger.Process(serviceName="svc"), spans=[
        jaeger.Span(traceIdLow=1, traceIdHigh=0, spanId=1, parentSpanId=0, operationName="op", flags=1,
                    startTime=1, duration=1, tags=[jaeger.Tag(key="k", vType=0, vStr="caf\u00e9")])])
    body = serialize(batch, TBinaryProtocolFactory()).replace("caf\u00e9".encode(), b"caf\xff\xfe")
    answer = await post_http(ports["thrift_http"], body)
    assert answer["status"] == 202  # upstream keeps such strings; JSON shows U+FFFD for the bad bytes
    span = sink.requests[-1].resource_spans[0].scope_spans[0].spans[0]
    assert span.attributes[0].value.string_value == "caf\ufffd\ufffd"
    assert (await post_http(ports["thrift_http"], (HERE / "thrift_http.bin").read_bytes()))["status"] == 202


async def test_large_grpc_batch_and_the_message_size_limit(receiver):
    from otelflow.receivers.jaeger.idl import api_v2

    rec, sink, ports, telemetry = receiver

    def request(spans: int) -> bytes:
        batch = api_v2.Batch(process=api_v2.Process(service_name="big"))
        for i in range(spans):
            span = batch.spans.add(trace_id=(i + 1).to_bytes(16, "big"), span_id=(i + 1).to_bytes(8, "big"),
                                   operation_name=f"op{i}", tags=[api_v2.KeyValue(key="p", v_str="y" * 200)])
            span.start_time.seconds = 1_700_000_000
        return api_v2.PostSpansRequest(batch=batch).SerializeToString()

    body = request(3000)
    assert 256 * 1024 < len(body) < 4 * 1024 * 1024  # translated off the event loop
    assert (await post_grpc(ports["grpc"], body))["code"] == "OK"
    assert sink.spans() == 3000
    # over grpc's default 4 MiB receive limit (max_recv_msg_size_mib unset), as grpc-go answers
    assert (await post_grpc(ports["grpc"], request(20000)))["code"] == "RESOURCE_EXHAUSTED"
    assert (await post_grpc(ports["grpc"], request(1)))["code"] == "OK"


async def test_bearer_token_auth_on_thrift_http_and_grpc(tmp_path):
    import aiohttp
    import grpc

    from tests.conftest import running

    http_port, grpc_port = _port(), _port()
    cfg = f"""
extensions:
  bearertokenauth: {{token: s3cret}}
receivers:
  jaeger:
    protocols:
      thrift_http: {{endpoint: "127.0.0.1:{http_port}", auth: {{authenticator: bearertokenauth}}}}
      grpc: {{endpoint: "127.0.0.1:{grpc_port}", auth: {{authenticator: bearertokenauth}}}}
exporters:
  file: {{path: "{tmp_path / 'out.json'}"}}
service:
  extensions: [bearertokenauth]
  pipelines:
    traces: {{receivers: [jaeger], exporters: [file]}}
"""
    thrift = (HERE / "thrift_http.bin").read_bytes()
    proto = (HERE / "grpc.bin").read_bytes()
    async with running(cfg):
        async with aiohttp.ClientSession() as session:
            for token, path, want in (("", "/api/traces", 401), ("Bearer wrong", "/api/traces", 401),
                                      ("", "/elsewhere", 401), ("Bearer s3cret", "/api/traces", 202)):
                headers = {"Content-Type": "application/x-thrift", **({"Authorization": token} if token else {})}
                async with session.post(f"http://127.0.0.1:{http_port}{path}", data=thrift, headers=headers) as r:
                    assert r.status == want, (token, path)
        async with grpc.aio.insecure_channel(f"127.0.0.1:{grpc_port}") as channel:
            call = channel.unary_unary("/jaeger.api_v2.CollectorService/PostSpans", request_serializer=None,
                                       response_deserializer=None)
            with pytest.raises(grpc.aio.AioRpcError) as err:
                await call(proto, timeout=10)
            assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
            await call(proto, timeout=10, metadata=(("authorization", "Bearer s3cret"),))
        await wait_for(lambda: (tmp_path / "out.json").exists()
                       and len((tmp_path / "out.json").read_text().splitlines()) == 2)
