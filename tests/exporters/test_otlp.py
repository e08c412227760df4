"""The otlp (gRPC) exporter against a real OTLP/gRPC backend: retryable codes and RetryInfo."""

import asyncio

import grpc
import pytest
from google.protobuf import duration_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2

from otelflow.core.component import Signal
from otelflow.core.consumer import ConsumerError, PermanentError
from tests.backends import GRPCBackend, free_port
from tests.exporters.helpers import started_exporter
from tests.receivers.test_otlp import _trace_request, wait_for

FAST_RETRY = {"initial_interval": "50ms", "max_interval": "100ms", "max_elapsed_time": "10s"}


def config(endpoint: str, **extra) -> dict:
    return {"endpoint": endpoint, "tls": {"insecure": True}, "retry_on_failure": FAST_RETRY, **extra}


@pytest.fixture
async def backend():
    b = await GRPCBackend().start()
    yield b
    await b.stop()


async def test_unavailable_is_retried_and_headers_sent(backend):
    backend.codes = [grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.UNAVAILABLE]
    exp = await started_exporter("otlp", config(backend.endpoint, headers={"X-Tenant": "t1"}))
    await exp.consume(_trace_request())
    await wait_for(lambda: backend.received)
    await exp.shutdown()
    assert backend.attempts == 3
    assert backend.received[0].message == _trace_request()
    assert backend.received[0].headers["x-tenant"] == "t1"


async def test_invalid_argument_is_permanent(backend):
    backend.codes = [grpc.StatusCode.INVALID_ARGUMENT]
    exp = await started_exporter("otlp", config(backend.endpoint, sending_queue={"enabled": False}))
    with pytest.raises(PermanentError, match="INVALID_ARGUMENT"):
        await exp.consume(_trace_request())
    await exp.shutdown()
    assert backend.attempts == 1


async def test_resource_exhausted_retried_only_with_retry_info():
    attempts = []

    async def export(request, context):
        attempts.append(1)
        if len(attempts) == 1:
            info = error_details_pb2.RetryInfo(retry_delay=duration_pb2.Duration(nanos=300_000_000))
            st = status_pb2.Status(code=code_pb2.RESOURCE_EXHAUSTED, message="slow down")
            st.details.add().Pack(info)
            await context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, "slow down",
                                trailing_metadata=(("grpc-status-details-bin", st.SerializeToString()),))
        if len(attempts) == 2:
            await context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, "no retry info")
        return b""

    port = free_port()
    server = grpc.aio.server()
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(
        "opentelemetry.proto.collector.trace.v1.TraceService",
        {"Export": grpc.unary_unary_rpc_method_handler(export)}),))
    server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    try:
        exp = await started_exporter("otlp", config(f"127.0.0.1:{port}", sending_queue={"enabled": False}))
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        with pytest.raises(PermanentError, match="no retry info"):
            await exp.consume(_trace_request())
        assert len(attempts) == 2 and loop.time() - t0 >= 0.29
        await exp.shutdown()
    finally:
        await server.stop(None)


async def test_zstd_over_grpc_is_refused_with_a_clear_message():
    from otelflow.config import ConfigError

    with pytest.raises(ConfigError, match="compression \"zstd\" is not available over gRPC"):
        await started_exporter("otlp", config("127.0.0.1:1", compression="zstd"))
    with pytest.raises(ConfigError, match='requires a non-empty "endpoint"'):
        await started_exporter("otlp", {})
