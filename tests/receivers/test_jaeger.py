"""The jaeger receiver against goldens recorded from otelcol-ref v0.161.0 with the same bytes.

Inputs are Jaeger batches encoded from Jaeger's IDL/proto (thriftpy2, protobuf) in
``testdata/jaeger/inputs.py``; ``testdata/jaeger/record.py`` plays ``scenario.run`` against
otelcol-ref and wrote ``golden.json``. Here the same scenario runs against otelflow over real
sockets (HTTP POST, grpc.aio, UDP datagrams) and its file exporter output must match exactly,
attribute order included.
"""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from tests.conftest import running
from tests.receivers.testdata.jaeger.scenario import CASES, HERE, config, run

GOLDEN = json.loads((HERE / "golden.json").read_text())
# upstream's texts for these come from Go's Thrift/protobuf decoders; only their prefix is ours to match
DECODER_TEXT = {"garbage_body", "truncated_body", "empty_body"}


def _port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def result(tmp_path_factory) -> dict:
    import asyncio

    out = tmp_path_factory.mktemp("jaeger") / "out.json"
    ports = {"grpc": _port(), "thrift_http": _port(),
             "thrift_compact": _port(socket.SOCK_DGRAM), "thrift_binary": _port(socket.SOCK_DGRAM)}

    async def play() -> dict:
        async with running(config(ports, str(out))):
            return await run(ports, Path(out))

    return asyncio.run(play())


@pytest.mark.parametrize("case", CASES)
def test_batches_translate_as_upstream(result, case):
    got, want = result["outputs"][case], GOLDEN["outputs"][case]
    assert got["answer"] == want["answer"]
    assert _resources_in_any_order(got["output"]) == _resources_in_any_order(want["output"])


def _resources_in_any_order(output: dict) -> list:
    """Upstream regroups gRPC spans by process through a Go map, so its resource order is random;
    everything inside a resource is compared in order."""
    return sorted((json.dumps(rs, sort_keys=True) for rs in output.get("resourceSpans", [])))


@pytest.mark.parametrize("name", sorted(GOLDEN["http"]))
def test_thrift_http_answers_as_upstream(result, name):
    got, want = dict(result["http"][name]), dict(GOLDEN["http"][name])
    if name in DECODER_TEXT:
        prefix = "Unable to process request body: "
        assert got["body"].startswith(prefix) and want["body"].startswith(prefix)
        got.pop("body"), want.pop("body")
    assert got == want


@pytest.mark.parametrize("name", sorted(GOLDEN["grpc"]))
def test_grpc_answers_as_upstream(result, name):
    got, want = dict(result["grpc"][name]), dict(GOLDEN["grpc"][name])
    if name == "garbage":  # the decoder's own words differ (gogoproto vs Python protobuf)
        prefix = "grpc: failed to unmarshal the received message: "
        assert got["details"].startswith(prefix) and want["details"].startswith(prefix)
        got.pop("details"), want.pop("details")
    assert got == want


def test_garbage_datagrams_are_dropped_and_serving_goes_on(result):
    assert result["udp_after_garbage"] == GOLDEN["udp_after_garbage"]
    assert result["extra_lines"] == GOLDEN["extra_lines"] == 0
