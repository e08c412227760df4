"""The same fuzzed requests to otelflow and to the upstream collector (``otelcol-ref``, built by
``make bench-ref``): the HTTP status must be the same. Skipped when otelcol-ref is not built.

Three kinds of difference are known and documented in docs/fuzzing.md; they are counted, not
failed: upstream refuses a known field sent with the wrong protobuf wire type (otelflow's protobuf
runtime keeps it as an unknown field), otelflow refuses messages nested deeper than 100 levels, and
upstream answers 500 when its JSON error text quotes bytes that are not UTF-8.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
from google.rpc import status_pb2
from hypothesis import event, given, settings, strategies as st

from otelflow.core.component import Signal, STABLE_SIGNALS
from tests.fuzz import corpus
from tests.fuzz.corpus import ENCODINGS, JSON, PATHS, PROTOBUF
from tests.fuzz.harness import LIMIT, Live, examples

REF = Path(os.environ.get("OTELCOL_REF", Path(__file__).resolve().parents[2] / "bench" / ".build" / "bin" / "otelcol-ref"))
pytestmark = pytest.mark.skipif(not REF.exists(), reason="otelcol-ref is not built (make bench-ref)")


class Reference(Live):
    """otelcol-ref as a process, with the same receiver settings and a debug exporter."""

    def start(self) -> "Reference":
        from tests.backends import free_port

        self.grpc_port, self.http_port = free_port(), free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="otelcol-ref-fuzz-"))
        (self.dir / "c.yaml").write_text(f"""
receivers:
  otlp:
    protocols:
      grpc: {{endpoint: "127.0.0.1:{self.grpc_port}"}}
      http: {{endpoint: "127.0.0.1:{self.http_port}", max_request_body_size: {LIMIT}}}
exporters:
  debug: {{verbosity: basic}}
service:
  telemetry: {{metrics: {{level: none}}}}
  pipelines:
    traces: {{receivers: [otlp], exporters: [debug]}}
    metrics: {{receivers: [otlp], exporters: [debug]}}
    logs: {{receivers: [otlp], exporters: [debug]}}
""")
        self.log = open(self.dir / "log", "wb")
        self.proc = subprocess.Popen([str(REF), "--config", str(self.dir / "c.yaml")], stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.http_port), 0.2).close()
                return self
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError((self.dir / "log").read_text())
                time.sleep(0.05)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)
        self.log.close()


@pytest.fixture(scope="module")
def pair():
    ours, ref = Live().start(), Reference().start()
    yield ours, ref
    ours.stop()
    ref.stop()


def _message(ctype: str, payload: bytes) -> str:
    try:
        if ctype.startswith(PROTOBUF):
            return status_pb2.Status.FromString(payload).message
        return json.loads(payload).get("message", "")
    except Exception:
        return payload[:200].decode("utf-8", "replace")


def known_difference(ref: tuple, ours: tuple, body: bytes) -> str | None:
    """Which documented difference explains two different answers, if any."""
    ref_message = _message(ref[1], ref[2])
    if ref[0] == 400 and ours[0] == 200 and ("wrong wireType" in ref_message or "end of group" in ref_message
                                              or "illegal wireType" in ref_message):
        return "protobuf wire type"
    if ref[0] == 200 and ours[0] == 400 and "nest" in _message(ours[1], ours[2]) + ours[2].decode("latin-1"):
        return "nesting depth"
    if ref[0] == 200 and ours[0] == 400 and b"Error parsing message" in ours[2]:
        return "nesting depth"  # upb's own message when it stops at its depth limit
    if ref[0] == 500 and ours[0] == 400 and not body.isascii():
        return "JSON error quoting non-UTF-8"
    return None


def compare(pair, path: str, body: bytes, headers: dict, method: str = "POST") -> None:
    ours, ref = pair
    a, b = ref.post(path, body, headers, method), ours.post(path, body, headers, method)
    if a[0] == b[0]:
        event("same status")
        return
    why = known_difference(a, b, body)
    assert why is not None, f"upstream {a[0]} {a[2][:200]!r}, otelflow {b[0]} {b[2][:200]!r}"
    event(f"known difference: {why}")


@settings(max_examples=examples(150))
@given(signal=st.sampled_from([s for s in Signal if s in STABLE_SIGNALS]), rng=st.randoms(use_true_random=False),
       kind=st.sampled_from(["protobuf", "json", "bytes"]), encoding=st.sampled_from(["", "", *ENCODINGS]),
       corrupt_encoding=st.booleans())
def test_same_status_as_upstream(pair, signal, rng, kind, encoding, corrupt_encoding):
    message = corpus.request(rng, signal)
    if kind == "protobuf":
        body, ctype = corpus.mutate_bytes(rng, message.SerializeToString()), PROTOBUF
    elif kind == "json":
        body, ctype = corpus.mutate_json(rng, message), JSON
    else:
        body, ctype = rng.randbytes(rng.randrange(200)), rng.choice([PROTOBUF, JSON])
    headers = {"Content-Type": ctype}
    if encoding:
        body = corpus.COMPRESS[encoding](body)
        if corrupt_encoding:
            body = corpus.mutate_bytes(rng, body)
        headers["Content-Encoding"] = encoding
    compare(pair, PATHS[signal], body, headers)


@settings(max_examples=examples(100))
@given(method=st.sampled_from(["POST", "GET", "PUT"]), path=st.sampled_from(["/v1/traces", "/v1/logs", "/nope"]),
       ctype=st.sampled_from([PROTOBUF, JSON, "text/plain", "", "application/json; charset", "APPLICATION/JSON"]),
       encoding=st.sampled_from(["", "gzip", "GZIP", "br", "identity", *ENCODINGS]),
       body=st.binary(max_size=40))
def test_same_status_for_headers_and_methods(pair, method, path, ctype, encoding, body):
    headers = {k: v for k, v in (("Content-Type", ctype), ("Content-Encoding", encoding)) if v}
    compare(pair, path, body, headers, method)
