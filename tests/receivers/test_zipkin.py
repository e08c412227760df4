"""The zipkin receiver against goldens recorded from otelcol-ref (tests/receivers/testdata/zipkin):
bodies from the OpenTelemetry SDK's own Zipkin exporters (v2 JSON, v1 JSON, v2 protobuf), hand-written
v1/v2 bodies, compressed bodies and bad input, each posted over a real socket. The status code and
the OTLP handed to the pipeline must equal upstream's; only what upstream leaves to chance is
normalised: attribute order (Go map iteration) and the time of receipt upstream stamps on a v1 span
that has none."""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest

from otelflow.config.model import validate
from otelflow.core.component import ComponentID, Host, Kind, Settings, Signal
from otelflow.core.consumer import ConsumerError, PermanentError
from otelflow.core.telemetry import Telemetry
from otelflow.pdata import otlpjson
from otelflow.receivers.zipkin import Config, ZipkinReceiver

DATA = Path(__file__).parent / "testdata" / "zipkin"
sys.path.insert(0, str(DATA))
from cases import cases  # noqa: E402

CASES = {c.name: c for c in cases()}
ABSENT = "otel.zipkin.absentField.startTime"


class Collecting:
    mutates_data = False

    def __init__(self) -> None:
        self.requests: list = []
        self.refuse: ConsumerError | None = None

    async def consume(self, request) -> None:
        if self.refuse is not None:
            raise self.refuse
        self.requests.append(request)


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def _start(parse: bool = False):
    port = _port()
    cfg = validate(Config, {"endpoint": f"127.0.0.1:{port}", "parse_string_tags": parse}, "receivers::zipkin")
    sink = Collecting()
    telemetry = Telemetry()
    rec = ZipkinReceiver(Settings(ComponentID("zipkin"), Kind.RECEIVER, telemetry), cfg, {Signal.TRACES: sink})
    await rec.start(Host())
    return rec, sink, port, telemetry


@pytest.fixture
async def receivers():
    plain, parse = await _start(False), await _start(True)
    try:
        yield {False: plain, True: parse}
    finally:
        await plain[0].shutdown()
        await parse[0].shutdown()


async def _post(port: int, case) -> tuple[int, str]:
    async with aiohttp.ClientSession() as session:
        async with session.request(case.method, f"http://127.0.0.1:{port}{case.path}", data=case.body,
                                   headers={"Content-Type": case.content_type, **case.headers}) as resp:
            return resp.status, (await resp.read()).decode("utf-8", "replace")


def normalise(traces: list[dict]) -> list[dict]:
    """Sort attributes by key; replace the receipt time upstream stamps on a v1 span with no time."""
    def attrs(obj: dict) -> None:
        if "attributes" in obj:
            obj["attributes"] = sorted(obj["attributes"], key=lambda kv: kv["key"])

    for line in traces:
        for rs in line.get("resourceSpans", []):
            attrs(rs.get("resource", {}))
            for ss in rs.get("scopeSpans", []):
                attrs(ss.get("scope", {}))
                for span in ss.get("spans", []):
                    attrs(span)
                    for item in span.get("events", []) + span.get("links", []):
                        attrs(item)
    return traces


def _stamped(traces: list[dict]) -> list[dict]:
    for line in traces:
        for rs in line.get("resourceSpans", []):
            for ss in rs.get("scopeSpans", []):
                for span in ss.get("spans", []):
                    if any(kv["key"] == ABSENT for kv in span.get("attributes", [])) and span.get("startTimeUnixNano") \
                            and span.get("startTimeUnixNano") == span.get("endTimeUnixNano"):
                        span["startTimeUnixNano"] = span["endTimeUnixNano"] = "<receipt time>"
    return traces


@pytest.mark.parametrize("name", sorted(CASES))
async def test_matches_upstream(receivers, name):
    case = CASES[name]
    golden = json.loads((DATA / "goldens" / f"{name}.json").read_text())
    rec, sink, port, _ = receivers[case.parse]
    status, body = await _post(port, case)
    assert status == golden["status"], body
    got = [json.loads(otlpjson.encode(r)) for r in sink.requests]
    assert _stamped(normalise(got)) == _stamped(normalise(golden["traces"]))
    if status == 202:
        assert body == ""
    # the receiver keeps serving after bad input
    status, _ = await _post(port, CASES["v2_features"])
    assert status == 202


@pytest.mark.parametrize("name", ["bad_v2_no_id", "bad_v2_ip", "bad_v1_zero_id", "bad_proto_short_trace",
                                  "bad_encoding", "bad_v2_timestamp", "bad_v1_trace_len", "bad_v2_annotation_ts"])
async def test_error_messages_match_upstream(receivers, name):
    golden = json.loads((DATA / "goldens" / f"{name}.json").read_text())
    _, _, port, _ = receivers[False]
    assert await _post(port, CASES[name]) == (400, golden["body"])


async def test_pipeline_refusals_map_to_upstream_status(receivers):
    _, sink, port, telemetry = receivers[False]
    sink.refuse = PermanentError("no")
    assert await _post(port, CASES["v2_features"]) == (400, '"Bad Request"')
    sink.refuse = ConsumerError("later")
    assert await _post(port, CASES["sdk_proto_0"]) == (500, '"Internal Server Error"')
    assert telemetry.value("otelcol_receiver_refused_spans", transport="http_v2_json") == 7
    assert telemetry.value("otelcol_receiver_refused_spans", transport="http_v2_proto") == 1
    sink.refuse = None
    assert (await _post(port, CASES["v1_features"]))[0] == 202
    assert telemetry.value("otelcol_receiver_accepted_spans", transport="http_v1_json") == 5


@pytest.mark.parametrize("encoding", ["json_v2", "json_v1", "proto"])
async def test_live_sdk_sender(receivers, encoding):
    """The SDK's Zipkin exporter posting straight to the receiver (the recorded goldens cover exactness)."""
    python = sys.executable
    if encoding == "proto":
        sys.path.insert(0, str(DATA))
        from capture import PROTO_PYTHON

        if not Path(PROTO_PYTHON).exists():
            pytest.skip("the protobuf exporter needs a side venv with protobuf 3.x (see testdata/zipkin/capture.py)")
        python = PROTO_PYTHON
    _, sink, port, _ = receivers[True]
    path = "/api/v1/spans" if encoding == "json_v1" else "/api/v2/spans"
    proc = await asyncio.create_subprocess_exec(python, str(DATA / "sdk_sender.py"), f"http://127.0.0.1:{port}{path}",
                                                encoding, stderr=subprocess.PIPE)
    _, err = await proc.communicate()
    assert proc.returncode == 0 and b"Traceback" not in err, err.decode()
    spans = {s.name: (rs, ss, s) for r in sink.requests for rs in r.resource_spans for ss in rs.scope_spans
             for s in ss.spans}
    assert sorted(spans) == ["GET /cart", "SELECT cart", "compute", "consume", "publish"]
    rs, ss, root = spans["GET /cart"]
    resource = {kv.key: kv.value.string_value for kv in rs.resource.attributes}
    assert resource["service.name"] == "checkout"
    if encoding == "json_v1":  # a v1 resource is the service; the SDK's resource attributes are span tags
        assert {kv.key: kv.value.string_value for kv in root.attributes}["host.name"] == "node-1"
    else:
        assert resource["host.name"] == "node-1"
    attrs = {kv.key: kv.value for kv in root.attributes}
    if encoding != "json_v1":
        assert ss.scope.name == "shop.checkout" and ss.scope.version == "0.9.0"
        assert root.kind == 2 and attrs["http.status_code"].int_value == 200 and attrs["retry.ratio"].double_value == 1.5
        assert attrs["cache.hit"].bool_value is True
        # the SDK writes an event as an annotation whose value is a JSON object {name: attributes}
        assert json.loads(root.events[0].name) == {"cache miss": {"attempt": 2, "key": "cart:42"}}
        assert spans["SELECT cart"][2].status.code == 2


async def test_cors():
    port = _port()
    cfg = validate(Config, {"endpoint": f"127.0.0.1:{port}", "cors": {"allowed_origins": ["https://*.example.com"]}},
                   "receivers::zipkin")
    sink = Collecting()
    rec = ZipkinReceiver(Settings(ComponentID("zipkin"), Kind.RECEIVER, Telemetry()), cfg, {Signal.TRACES: sink})
    await rec.start(Host())
    try:
        async with aiohttp.ClientSession() as session:
            async with session.options(f"http://127.0.0.1:{port}/api/v2/spans", headers={
                    "Origin": "https://app.example.com", "Access-Control-Request-Method": "POST"}) as resp:
                assert resp.status == 204
                assert resp.headers["Access-Control-Allow-Origin"] == "https://app.example.com"
            async with session.post(f"http://127.0.0.1:{port}/api/v2/spans", data=CASES["v2_features"].body,
                                    headers={"Origin": "https://app.example.com"}) as resp:
                assert resp.status == 202 and resp.headers["Access-Control-Allow-Origin"] == "https://app.example.com"
            async with session.post(f"http://127.0.0.1:{port}/api/v2/spans", data=CASES["v2_features"].body,
                                    headers={"Origin": "https://evil.test"}) as resp:
                assert resp.status == 202 and "Access-Control-Allow-Origin" not in resp.headers
    finally:
        await rec.shutdown()
    assert len(sink.requests) == 2


def test_upstream_config_testdata():
    import yaml

    raw = yaml.safe_load((DATA / "config.yaml").read_text())
    configs = {name: validate(Config, body or {}, f"receivers::{name}") for name, body in raw.items()}
    assert (configs["zipkin"].endpoint, configs["zipkin"].parse_string_tags) == ("localhost:9411", False)
    assert configs["zipkin/customname"].endpoint == "localhost:8765"
    assert configs["zipkin/parse_strings"].parse_string_tags is True
    default = configs["zipkin"]
    assert (default.write_timeout, default.read_header_timeout, default.idle_timeout, default.keep_alives_enabled) == (
        0.0, 0.0, 0.0, False)
