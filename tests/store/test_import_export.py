"""Import and export: what the real SDK sent is exported as OTLP/JSON lines and imported into an
empty store unchanged (same trace, same logs); files written by otelflow's file exporter, as JSON
lines and length-prefixed protobuf, import whole; a malformed file is refused with its line number
and stores nothing; an import beyond the store's limits is refused up front with 413."""

from __future__ import annotations

import asyncio
import json
import os
import random
import struct
import time
from pathlib import Path

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

from otelflow.pdata import otlpjson
from otelflow.store import import_export, ingest
from otelflow.store.database import Retention, Store
from tests.backends import free_port
from tests.conftest import running
from tests.sdk import SDKApp
from tests.store.allinone import all_in_one

TESTDATA = Path(__file__).resolve().parent / "testdata"


def _window() -> str:
    now_us = time.time_ns() // 1000
    return f"start_us={now_us - 600 * 10**6}&end_us={now_us + 10**6}"


async def _send(aio, requests: int = 3) -> list[str]:
    app = SDKApp("http", aio.otlp, service_name="shop")
    await asyncio.to_thread(app.emit, requests)
    await asyncio.to_thread(app.shutdown)
    await aio.store.flush()
    sent = app.sent()["traces"]
    return sorted({s.trace_id.hex() for rs in sent.resource_spans for ss in rs.scope_spans for s in ss.spans})


async def test_exported_trace_reimports_unchanged(tmp_path):
    async with all_in_one(tmp_path / "a") as a:
        ids = await _send(a)
        originals = {tid: await a.get_json(f"/traces/{tid}") for tid in ids}
        exports = {}
        for tid in ids:
            status, body, headers = await a.get(f"/export/trace/{tid}")
            assert status == 200 and headers["Content-Type"].startswith("application/x-ndjson")
            assert f"trace-{tid}.jsonl" in headers["Content-Disposition"]
            lines = body.decode().splitlines()
            # one traces request, then one logs request, each as upstream's otlpjsonfile receiver reads them
            traces = otlpjson.decode(lines[0], ExportTraceServiceRequest)
            assert otlpjson.encode(traces) == lines[0].encode()  # pdata's canonical OTLP/JSON, byte for byte
            assert {s.trace_id.hex() for rs in traces.resource_spans for ss in rs.scope_spans for s in ss.spans} == {tid}
            if originals[tid]["logs"]:
                assert len(lines) == 2 and len(otlpjson.decode(lines[1], ExportLogsServiceRequest).resource_logs) == 1
            exports[tid] = body
        search = await a.get(f"/export/traces?service=shop&limit=100&{_window()}")
        assert search[0] == 200 and search[1].count(b"\n") == 2  # every trace in one traces line, logs in one line
        logs = await a.get(f"/export/logs?severity=ERROR&{_window()}")
        assert logs[0] == 200 and len(otlpjson.decode(logs[1], ExportLogsServiceRequest).resource_logs[0].scope_logs[0].log_records) >= 1
        assert (await a.get("/export/trace/" + "0" * 32))[0] == 404
        assert (await a.get("/export/trace/xyz"))[0] == 400

    async with all_in_one(tmp_path / "b") as b:
        for tid, body in exports.items():
            status, answer, _ = await b.post("/import", body, "application/x-ndjson")
            assert status == 200, answer
            got = json.loads(answer)
            assert got["trace_ids"] == [tid] and got["imported"]["spans"] == len(originals[tid]["spans"])
            assert await b.get_json(f"/traces/{tid}") == originals[tid]


async def test_file_exporter_output_imports_whole(tmp_path):
    """otelflow's file exporter (JSON lines and length-prefixed protobuf) writes what the SDK sent;
    each file imports into an empty store with every span."""
    otlp = free_port()
    files = {fmt: tmp_path / f"out.{fmt}" for fmt in ("json", "proto")}
    yaml = f"""
receivers: {{otlp: {{protocols: {{http: {{endpoint: "127.0.0.1:{otlp}"}}}}}}}}
exporters:
  file/json: {{path: "{files['json']}", format: json}}
  file/proto: {{path: "{files['proto']}", format: proto}}
service:
  telemetry: {{metrics: {{level: none}}}}
  pipelines: {{traces: {{receivers: [otlp], exporters: [file/json, file/proto]}}, logs: {{receivers: [otlp], exporters: [file/json]}}}}
"""
    async with running(yaml):
        app = SDKApp("http", f"http://127.0.0.1:{otlp}", service_name="filed")
        for _ in range(3):  # several requests: several lines
            await asyncio.to_thread(app.emit, 2)
            await asyncio.to_thread(app.flush)
        await asyncio.to_thread(app.shutdown)
        await asyncio.sleep(0.5)
    sent = app.sent()["traces"]
    span_count = sum(len(ss.spans) for rs in sent.resource_spans for ss in rs.scope_spans)
    log_count = sum(len(sl.log_records) for rl in app.sent()["logs"].resource_logs for sl in rl.scope_logs)
    assert files["json"].read_bytes().count(b"\n") >= 4
    for fmt, path in files.items():
        async with all_in_one(tmp_path / f"store-{fmt}") as aio:
            status, body, _ = await aio.post("/import?signal=traces", path.read_bytes(),
                                             "application/x-protobuf" if fmt == "proto" else "application/x-ndjson")
            assert status == 200, body
            imported = json.loads(body)["imported"]
            assert imported["spans"] == span_count
            assert imported["logs"] == (log_count if fmt == "json" else 0)
            found = await aio.get_json(f"/traces?service=filed&limit=100&{_window()}")
            assert sum(t["span_count"] for t in found["traces"]) == span_count


async def test_upstream_file_exporter_output_imports_whole(tmp_path):
    """Files written by otelcol-ref v0.161.0's file exporter (testdata/record_file_exporter.py): JSON
    lines with traces and logs, and length-prefixed protobuf traces."""
    want = json.loads((TESTDATA / "upstream_file_exporter.json").read_text())
    for name, signal, spans, logs in (("upstream_file_exporter.jsonl", "traces", want["spans"], want["logs"]),
                                      ("upstream_file_exporter.binpb", "traces", want["spans"], 0)):
        async with all_in_one(tmp_path / name) as aio:
            status, body, _ = await aio.post(f"/import?signal={signal}", (TESTDATA / name).read_bytes(), "application/octet-stream")
            assert status == 200, body
            assert json.loads(body)["imported"] == {"spans": spans, "logs": logs, "metric_points": 0}
            found = await aio.get_json("/traces?service=filed&limit=100&start_us=0")
            assert sum(t["span_count"] for t in found["traces"]) == spans


async def test_malformed_and_oversized_imports_store_nothing(tmp_path, monkeypatch):
    async with all_in_one(tmp_path / "src") as src:
        tid = (await _send(src, 1))[0]
        good = (await src.get(f"/export/trace/{tid}"))[1].splitlines()[0]
    async with all_in_one(tmp_path / "dst", max_pending_rows=3) as aio:
        cases = {
            b"not json at all\n": (400, "the request"),  # neither JSON nor protobuf framing: one bad protobuf
            good + b"\n" + good[:-20] + b"\n": (400, "line 2"),
            good + b"\n\n" + b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "zz"}]}]}]}\n': (400, "line 3"),
            good + b"\n" + b'{"hello": 1}\n': (400, "line 2: not an OTLP"),
            b"": (400, "empty"),
            b"[" * 100_000 + b"\n": (400, "line 1: not JSON"),  # nested too deeply for any parser
            good + b"\n" + b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"name": "\xff\xfe"}]}]}]}\n' + b"[1]\n": (400, "line 3"),
            struct.pack(">I", 8) + b"\x28\xb5\x2f\xfdjunk": (400, "record 1 (byte 0): bad zstd"),
            struct.pack(">I", 3) + b"\x0a\xff\xff": (400, "record 1 (byte 0): not an OTLP/protobuf traces request"),
        }
        for body, (want, text) in cases.items():
            status, answer, _ = await aio.post("/import", body)
            assert status == want and text in json.loads(answer)["error"], (body[:60], status, answer)
        # two spans fit the store's 3 pending rows; six do not: refused before anything is queued
        three = b"\n".join([good] * 3) + b"\n"
        status, answer, _ = await aio.post("/import", three)
        assert status == 413 and "max_pending_rows" in json.loads(answer)["error"]
        monkeypatch.setattr(import_export, "MAX_IMPORT_BYTES", 100)
        status, answer, _ = await aio.post("/import", good)
        assert status == 413 and "at most 100" in json.loads(answer)["error"]
        await aio.store.flush()
        assert (await aio.get_json(f"/traces?{_window()}"))["traces"] == []
        assert (await aio.get(f"/traces/{tid}"))[0] == 404
        monkeypatch.setattr(import_export, "MAX_IMPORT_BYTES", 1 << 20)
        status, answer, _ = await aio.post("/import", good)  # the collector still serves: a good file imports
        assert status == 200 and json.loads(answer)["imported"]["spans"] == 2
        assert (await aio.get(f"/traces/{tid}"))[0] == 200


async def test_export_reads_the_trace_time_lookup_and_equals_a_full_scan(tmp_path, monkeypatch):
    """On a store of many traces written in many commits (late spans, logs after their spans, one trace
    over three commits far apart), exporting one trace or many through the trace_times lookup gives the
    same bytes as scanning every row for the IDs."""
    rng = random.Random(7)
    S, now = 10**9, time.time_ns()
    store = Store(tmp_path, Retention(0, 0))
    await store.start()
    try:
        ids = [os.urandom(16) for _ in range(400)]
        for commit in range(20):
            spans, logs = ExportTraceServiceRequest(), ExportLogsServiceRequest()
            for n, tid in enumerate(ids[commit * 20:(commit + 1) * 20]):
                rs = spans.resource_spans.add()
                rs.resource.attributes.add(key="service.name", value=AnyValue(string_value=f"svc{n % 3}"))
                ss = rs.scope_spans.add()
                ss.scope.name = "lib"
                start = now - rng.randrange(3600) * S  # traces arrive out of time order
                for i in range(rng.randrange(1, 6)):
                    ss.spans.add(trace_id=tid, span_id=os.urandom(8), name=f"op{i}", start_time_unix_nano=start + i * 1000,
                                 end_time_unix_nano=start + i * 1000 + 500)
                if n % 3 == 0:  # a log 30 s after the trace's spans
                    rl = logs.resource_logs.add()
                    rl.resource.attributes.add(key="service.name", value=AnyValue(string_value="svc0"))
                    rl.scope_logs.add().log_records.add(time_unix_nano=start + 30 * S + n, trace_id=tid,
                                                        body=AnyValue(string_value=f"log {n}"))
            # the first trace grows in three commits an hour apart
            ss = spans.resource_spans.add().scope_spans.add()
            if commit in (0, 9, 19):
                ss.spans.add(trace_id=ids[0], span_id=os.urandom(8), name=f"late{commit}",
                             start_time_unix_nano=now - (3 - commit // 9) * 3600 * S, end_time_unix_nano=now)
            await store.write(ingest.spans(spans), wait=True)
            await store.write(ingest.logs(logs), wait=True)

        def export(cur, trace_ids):
            return import_export.json_lines(import_export.traces_request(cur, trace_ids),
                                            import_export.logs_request(import_export.trace_logs(cur, trace_ids)))

        cases = [[t.hex()] for t in ids[:60]] + [[t.hex() for t in ids[:100]], [t.hex() for t in ids[::7]],
                                                  [os.urandom(16).hex()], []]
        looked_up = [await store.read(lambda c, t=t: export(c, t)) for t in cases]
        monkeypatch.setattr(import_export, "time_range", lambda cur, trace_ids: (-(1 << 63), (1 << 63) - 1))
        scanned = [await store.read(lambda c, t=t: export(c, t)) for t in cases]
        assert looked_up == scanned
        assert looked_up[-2:] == [b"", b""] and all(looked_up[:-2])
        first = otlpjson.decode(looked_up[0].splitlines()[0], ExportTraceServiceRequest)
        names = {s.name for rs in first.resource_spans for ss in rs.scope_spans for s in ss.spans}
        assert {"late0", "late9", "late19"} <= names
        assert sum(b.count(b"log ") for b in looked_up[:60]) == 21  # a log per third trace (7 of 20) of the first 60
    finally:
        await store.close()
