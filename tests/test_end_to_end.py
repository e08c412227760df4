"""Two otelflow processes in a row, fed by the real Python SDK: what the SDK sent is what the second
one writes to its file, and SIGTERM drains queued data before exit."""

from __future__ import annotations

import json
import signal as signals
import time

import pytest

from otelflow.pdata import otlpjson
from tests.backends import free_port
from tests.process import Collector
from tests.sdk import REQUEST_OF, SDKApp, flatten, merged


def backend_config(grpc_port: int, http_port: int, out_grpc: str, out_http: str) -> str:
    """The second collector: what arrives over gRPC and over HTTP goes to separate files."""
    pipes = "\n".join(
        f"    {s}/{t}: {{receivers: [otlp/{t}], exporters: [file/{t}]}}" for s in ("traces", "metrics", "logs") for t in ("grpc", "http")
    )
    return f"""
receivers:
  otlp/grpc: {{protocols: {{grpc: {{endpoint: "127.0.0.1:{grpc_port}"}}}}}}
  otlp/http: {{protocols: {{http: {{endpoint: "127.0.0.1:{http_port}"}}}}}}
exporters:
  file/grpc: {{path: "{out_grpc}", flush_interval: 100ms}}
  file/http: {{path: "{out_http}", flush_interval: 100ms}}
service:
  pipelines:
{pipes}
"""


def forwarder_config(grpc_port: int, http_port: int, b_grpc: int, b_http: int, retry: str = "") -> str:
    return f"""
receivers:
  otlp:
    protocols:
      grpc: {{endpoint: "127.0.0.1:{grpc_port}"}}
      http: {{endpoint: "127.0.0.1:{http_port}"}}
exporters:
  otlp:
    endpoint: "127.0.0.1:{b_grpc}"
    tls: {{insecure: true}}
    {retry}
  otlphttp:
    endpoint: "http://127.0.0.1:{b_http}"
    {retry}
service:
  pipelines:
    traces: {{receivers: [otlp], exporters: [otlp, otlphttp]}}
    metrics: {{receivers: [otlp], exporters: [otlp, otlphttp]}}
    logs: {{receivers: [otlp], exporters: [otlp, otlphttp]}}
"""


def read_file_output(path) -> dict[str, list]:
    """The file exporter's OTLP/JSON lines, decoded back into protobuf requests per signal."""
    out = {"traces": [], "metrics": [], "logs": []}
    if not path.exists():
        return out
    for line in path.read_text().splitlines():
        doc = json.loads(line)
        signal = {"resourceSpans": "traces", "resourceMetrics": "metrics", "resourceLogs": "logs"}[next(iter(doc))]
        out[signal].append(otlpjson.decode(line, REQUEST_OF[signal]))
    return out


def wait_until(predicate, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.1)


@pytest.mark.parametrize("protocol", ["grpc", "http"])
def test_sdk_to_otelflow_to_otelflow_file_is_identical(tmp_path, protocol):
    ports = [free_port() for _ in range(4)]
    out_grpc, out_http = tmp_path / "via-otlp.jsonl", tmp_path / "via-otlphttp.jsonl"
    backend = Collector(backend_config(ports[2], ports[3], out_grpc, out_http)).start()
    forwarder = Collector(forwarder_config(ports[0], ports[1], ports[2], ports[3])).start()
    try:
        endpoint = f"127.0.0.1:{ports[0]}" if protocol == "grpc" else f"http://127.0.0.1:{ports[1]}"
        app = SDKApp(protocol, endpoint)
        app.emit(5)
        app.shutdown()
        sent = app.sent()
        assert forwarder.stop() == 0, forwarder.output()
        assert backend.stop() == 0, backend.output()
        for path in (out_grpc, out_http):
            got = read_file_output(path)
            for signal, expected in sent.items():
                assert flatten(merged(got[signal])) == flatten(expected), f"{signal} differs in {path.name}"
    finally:
        forwarder.stop(signals.SIGKILL)
        backend.stop(signals.SIGKILL)


def test_sigterm_drains_queued_data_to_the_backend(tmp_path):
    ports = [free_port() for _ in range(4)]
    out_grpc, out_http = tmp_path / "g.jsonl", tmp_path / "h.jsonl"
    retry = "retry_on_failure: {initial_interval: 300ms, max_interval: 500ms}"
    forwarder = Collector(forwarder_config(ports[0], ports[1], ports[2], ports[3], retry)).start()
    backend = Collector(backend_config(ports[2], ports[3], out_grpc, out_http))
    try:
        app = SDKApp("grpc", f"127.0.0.1:{ports[0]}")
        app.emit(10)
        app.shutdown()  # accepted by the forwarder, which cannot deliver yet: the backend is down
        time.sleep(0.5)
        backend.start()
        assert forwarder.stop(signals.SIGTERM) == 0, forwarder.output()
        assert "Shutdown complete" in forwarder.output()
        assert backend.stop() == 0
        sent = app.sent()
        for path in (out_grpc, out_http):
            got = read_file_output(path)
            assert flatten(merged(got["traces"])) == flatten(sent["traces"])
            assert flatten(merged(got["logs"])) == flatten(sent["logs"])
    finally:
        forwarder.stop(signals.SIGKILL)
        backend.stop(signals.SIGKILL)


def test_port_in_use_fails_start_with_a_clear_message():
    port = free_port()
    first = Collector(backend_config(port, free_port(), "/dev/null", "/dev/null")).start()
    try:
        second = Collector(backend_config(port, free_port(), "/dev/null", "/dev/null"))
        with pytest.raises(RuntimeError, match="did not start") as err:
            second.start()
        assert second.proc.wait(10) == 1
        assert "cannot start pipelines: receiver otlp/grpc" in str(err.value)
    finally:
        first.stop()
