"""Jaeger batches for the receiver's golden cases, encoded from Jaeger's IDL/proto with thriftpy2
and protobuf. ``python -m tests.receivers.testdata.jaeger.inputs`` rewrites the ``*.bin`` files."""

from __future__ import annotations

from pathlib import Path

from thriftpy2.protocol import TBinaryProtocolFactory, TCompactProtocolFactory
from thriftpy2.thrift import TMessageType
from thriftpy2.transport import TMemoryBuffer
from thriftpy2.utils import serialize

from otelflow.receivers.jaeger.idl import api_v2
from tests.receivers.testdata.jaeger.thriftpy_idl import agent, jaeger

Timestamp, Duration = api_v2.Timestamp, api_v2.Duration

HERE = Path(__file__).parent
T0 = 1_700_000_000_123_456  # µs
HIGH, LOW = 0x0102030405060708, -0x0F0E0D0C0B0A0908  # a negative i64 as Thrift carries it
T = jaeger.TagType


def tag(key, value):
    if isinstance(value, bool):
        return jaeger.Tag(key=key, vType=T.BOOL, vBool=value)
    if isinstance(value, int):
        return jaeger.Tag(key=key, vType=T.LONG, vLong=value)
    if isinstance(value, float):
        return jaeger.Tag(key=key, vType=T.DOUBLE, vDouble=value)
    if isinstance(value, bytes):
        return jaeger.Tag(key=key, vType=T.BINARY, vBinary=value)
    return jaeger.Tag(key=key, vType=T.STRING, vStr=value)


def thrift_batch() -> jaeger.Batch:
    process = jaeger.Process(serviceName="checkout", tags=[
        tag("hostname", "web-1"), tag("jaeger.version", "Go-2.30.0"), tag("ip", "10.0.0.7"), tag("pid", 4242)])
    spans = [
        jaeger.Span(traceIdLow=LOW, traceIdHigh=HIGH, spanId=0x11, parentSpanId=0, operationName="GET /cart",
                    flags=1, startTime=T0, duration=2500, tags=[
                        tag("span.kind", "server"), tag("http.method", "GET"), tag("http.status_code", 503),
                        tag("ratio", 0.25), tag("cached", False), tag("blob", b"\x00\xffjaeger"),
                        tag("otel.scope.name", "cart-lib"), tag("w3c.tracestate", "vendor=1")],
                    logs=[jaeger.Log(timestamp=T0 + 100, fields=[tag("event", "cache miss"), tag("key", "cart:9")]),
                          jaeger.Log(timestamp=T0 + 200, fields=[tag("message", "no event name")]),
                          jaeger.Log(timestamp=T0 + 300, fields=[])]),
        jaeger.Span(traceIdLow=LOW, traceIdHigh=HIGH, spanId=0x12, parentSpanId=0x11, operationName="SELECT",
                    flags=0, startTime=T0 + 10, duration=700, tags=[
                        tag("span.kind", "client"), tag("error", True), tag("otel.status_description", "timeout"),
                        tag("db.system", "postgresql")],
                    references=[jaeger.SpanRef(refType=jaeger.SpanRefType.CHILD_OF, traceIdLow=LOW, traceIdHigh=HIGH,
                                               spanId=0x11),
                                jaeger.SpanRef(refType=jaeger.SpanRefType.FOLLOWS_FROM, traceIdLow=99, traceIdHigh=0,
                                               spanId=0x77)]),
        # no parentSpanId: the parent comes from the first same-trace CHILD_OF reference
        jaeger.Span(traceIdLow=LOW, traceIdHigh=HIGH, spanId=0x13, parentSpanId=0, operationName="publish",
                    flags=3, startTime=T0 + 20, duration=50, tags=[
                        tag("span.kind", "producer"), tag("otel.status_code", "ok"), tag("error", False)],
                    references=[jaeger.SpanRef(refType=jaeger.SpanRefType.FOLLOWS_FROM, traceIdLow=LOW,
                                               traceIdHigh=HIGH, spanId=0x12),
                                jaeger.SpanRef(refType=jaeger.SpanRefType.CHILD_OF, traceIdLow=LOW, traceIdHigh=HIGH,
                                               spanId=0x11)]),
        jaeger.Span(traceIdLow=5, traceIdHigh=0, spanId=0x21, parentSpanId=0, operationName="call",
                    flags=1, startTime=T0, duration=1, tags=[
                        tag("span.kind", "client"), tag("http.response.status_code", "404"),
                        tag("http.status_message", "Not Found"), tag("span.kind", "weird")]),
        jaeger.Span(traceIdLow=0, traceIdHigh=0, spanId=0, parentSpanId=0, operationName="",
                    flags=0, startTime=0, duration=0),  # blank: dropped by the translator
    ]
    return jaeger.Batch(process=process, spans=spans, seqNo=7)


def thrift_http_body() -> bytes:
    return serialize(thrift_batch(), TBinaryProtocolFactory())


def agent_datagram(compact: bool) -> bytes:
    batch = jaeger.Batch(process=jaeger.Process(serviceName="agent-svc", tags=[tag("client-uuid", "abc")]),
                         spans=thrift_batch().spans[:2])
    buf = TMemoryBuffer()
    proto = (TCompactProtocolFactory() if compact else TBinaryProtocolFactory()).get_protocol(buf)
    proto.write_message_begin("emitBatch", TMessageType.ONEWAY, 1)
    proto.write_struct(agent.Agent.emitBatch_args(batch=batch))
    proto.write_message_end()
    return buf.getvalue()


def kv(key, value):
    if isinstance(value, bool):
        return api_v2.KeyValue(key=key, v_type=api_v2.BOOL, v_bool=value)
    if isinstance(value, int):
        return api_v2.KeyValue(key=key, v_type=api_v2.INT64, v_int64=value)
    if isinstance(value, float):
        return api_v2.KeyValue(key=key, v_type=api_v2.FLOAT64, v_float64=value)
    if isinstance(value, bytes):
        return api_v2.KeyValue(key=key, v_type=api_v2.BINARY, v_binary=value)
    return api_v2.KeyValue(key=key, v_type=api_v2.STRING, v_str=value)


def ts(micros: int) -> Timestamp:
    return Timestamp(seconds=micros // 1_000_000, nanos=(micros % 1_000_000) * 1000 + 7)


TID = bytes(range(1, 17))


def sid(n: int) -> bytes:
    return n.to_bytes(8, "big")


def grpc_request() -> bytes:
    process = api_v2.Process(service_name="frontend", tags=[kv("hostname", "fe-1"), kv("host.name", "kept"),
                                                            kv("jaeger.version", "Java-1.8"), kv("ip", "10.1.1.1")])
    other = api_v2.Process(service_name="worker", tags=[kv("queue", "jobs")])
    spans = [
        api_v2.Span(trace_id=TID, span_id=sid(1), operation_name="GET /", flags=1, start_time=ts(T0),
                    duration=Duration(seconds=0, nanos=1_500_123), tags=[
                        kv("span.kind", "server"), kv("otel.scope.name", "io.lib"), kv("otel.scope.version", "1.2"),
                        kv("w3c.tracestate", "rojo=00f067aa0ba902b7"), kv("http.status_code", 200),
                        kv("otel.status_code", "ERROR"), kv("otel.status_description", "boom"), kv("n", -3)],
                    logs=[api_v2.Log(timestamp=ts(T0 + 5), fields=[kv("event", "retry"), kv("attempt", 2)])]),
        api_v2.Span(trace_id=TID, span_id=sid(2), operation_name="render", flags=0, start_time=ts(T0 + 1),
                    duration=Duration(nanos=900_000), tags=[kv("otel.scope.name", "io.lib"),
                                                            kv("otel.scope.version", "1.2"), kv("x", 1.5)],
                    references=[api_v2.SpanRef(trace_id=TID, span_id=sid(1), ref_type=api_v2.CHILD_OF)]),
        api_v2.Span(trace_id=TID, span_id=sid(3), operation_name="consume", flags=1, start_time=ts(T0 + 2),
                    duration=Duration(seconds=1), process=other, tags=[
                        kv("span.kind", "consumer"), kv("error", True), kv("http.status_message", "bad gateway"),
                        kv("bin", b"\x01\x02")],
                    references=[api_v2.SpanRef(trace_id=TID, span_id=sid(2), ref_type=api_v2.FOLLOWS_FROM),
                                api_v2.SpanRef(trace_id=sid(9), span_id=sid(8), ref_type=api_v2.CHILD_OF)]),
        api_v2.Span(trace_id=sid(0x42), span_id=sid(4), operation_name="short-id", flags=1, start_time=ts(T0 + 3),
                    duration=Duration(nanos=1000), tags=[kv("span.kind", "client"), kv("http.status_code", "418"),
                                                         kv("otel.scope.name", "other")]),
    ]
    return api_v2.PostSpansRequest(batch=api_v2.Batch(process=process, spans=spans)).SerializeToString()


def thrift_edge_body() -> bytes:
    """Corner cases of the Thrift path: odd tag types, status precedence, parents from references."""
    process = jaeger.Process(serviceName="", tags=[tag("hostname", 7), tag("host.name", "kept"),
                                                   tag("jaeger.version", 3), tag("service.name", "from-tag")])
    spans = [
        jaeger.Span(traceIdLow=1, traceIdHigh=0, spanId=1, parentSpanId=0, operationName="a", flags=2, startTime=5,
                    duration=-10, tags=[
                        tag("span.kind", 1), tag("error", "true"), tag("otel.status_code", 5),
                        tag("otel.status_description", "kept?"), jaeger.Tag(key="odd", vType=9),
                        jaeger.Tag(key="nostr", vType=T.STRING), tag("http.status_code", "abc")]),
        jaeger.Span(traceIdLow=1, traceIdHigh=0, spanId=2, parentSpanId=0, operationName="b", flags=1, startTime=6,
                    duration=1, tags=[tag("span.kind", "server"), tag("http.status_code", 404),
                                      tag("http.status_message", "nf")],
                    references=[jaeger.SpanRef(refType=jaeger.SpanRefType.FOLLOWS_FROM, traceIdLow=1, traceIdHigh=0,
                                               spanId=1)]),
        jaeger.Span(traceIdLow=1, traceIdHigh=0, spanId=3, parentSpanId=0, operationName="c", flags=1, startTime=7,
                    duration=1, tags=[tag("http.status_code", 200), tag("error", True),
                                      tag("http.status_message", "msg"), tag("otel.status_code", "OK")],
                    references=[jaeger.SpanRef(refType=jaeger.SpanRefType.CHILD_OF, traceIdLow=2, traceIdHigh=0,
                                               spanId=9)],
                    logs=[jaeger.Log(timestamp=9, fields=[tag("event", 5), tag("k", "v")])]),
        jaeger.Span(traceIdLow=1, traceIdHigh=0, spanId=4, parentSpanId=0, operationName="d", flags=1, startTime=8,
                    duration=1, tags=[], references=[]),
    ]
    return serialize(jaeger.Batch(process=process, spans=spans), TBinaryProtocolFactory())


def grpc_edge_request() -> bytes:
    """Corner cases of the protobuf path: spans sharing the batch's process, the no-service marker,
    absent timestamps, scope tags that are not strings, short trace IDs in references."""
    base = api_v2.Process(service_name="same", tags=[kv("a", 1)])
    spans = [
        api_v2.Span(trace_id=sid(5), span_id=sid(1), operation_name="no-times", process=api_v2.Process(
            service_name="same", tags=[kv("a", 1)]), tags=[kv("otel.scope.name", 5), kv("otel.scope.version", "v")]),
        api_v2.Span(trace_id=sid(5), span_id=sid(2), operation_name="marker", start_time=ts(T0),
                    process=api_v2.Process(service_name="OTLPResourceNoServiceName", tags=[kv("x", "y")]),
                    tags=[kv("otel.scope.version", "only-version"), kv("w3c.tracestate", 5),
                          kv("span.kind", "producer"), kv("http.status_code", "503")],
                    references=[api_v2.SpanRef(trace_id=sid(5), span_id=sid(1), ref_type=api_v2.FOLLOWS_FROM)]),
        api_v2.Span(trace_id=sid(5), span_id=sid(3), operation_name="logs", start_time=ts(T0), flags=2,
                    logs=[api_v2.Log(fields=[kv("event", "no-time")]), api_v2.Log(timestamp=ts(T0))],
                    tags=[api_v2.KeyValue(key="odd", v_type=7), kv("otel.status_code", "error"),
                          kv("error", False)]),
        api_v2.Span(),  # blank: dropped
    ]
    return api_v2.PostSpansRequest(batch=api_v2.Batch(process=base, spans=spans)).SerializeToString()


CASES = {
    "thrift_http": thrift_http_body,
    "grpc": grpc_request,
    "thrift_compact": lambda: agent_datagram(True),
    "thrift_binary": lambda: agent_datagram(False),
    "thrift_http_edge": thrift_edge_body,
    "grpc_edge": grpc_edge_request,
}


if __name__ == "__main__":
    for name, build in CASES.items():
        (HERE / f"{name}.bin").write_bytes(build())
        print("wrote", name)
