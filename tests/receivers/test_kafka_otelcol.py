"""Interop of the ``kafka`` receiver with upstream's: otelcol-ref (v0.161.0, ``make bench-ref``)
exports OTLP requests to a real Apache Kafka broker with every encoding its kafka exporter has
(traces: otlp_proto, otlp_json, zipkin_proto, zipkin_json, jaeger_proto, jaeger_json; metrics and
logs: otlp_proto, otlp_json), and the test writes records for the logs-only encodings (raw, text,
text_<charset>, json). The records are read twice, by otelcol-ref's own kafka receiver and
by otelflow's, in their own consumer groups, each into an OTLP/HTTP backend; both must deliver the
same telemetry, and for the OTLP encodings exactly what was sent. Skipped where otelcol-ref is not
built (CI has no Go toolchain)."""

from __future__ import annotations

import asyncio
import subprocess
import time
from pathlib import Path

import pytest

from otelflow.core.component import Signal, STABLE_SIGNALS
from tests.backends import HTTPBackend, free_port
from tests.conformance.rig import OTELCOL_REF, wait_port
from tests.conftest import running
from tests.exporters.test_kafka_otelcol import (DISJOINT, log_requests, metric_requests, normalized, send_all,
                                                trace_requests)
from tests.kafka_broker import kafka_broker  # noqa: F401 - the session fixture
from tests.receivers.test_kafka import produce
from tests.sdk import flatten, merged

pytestmark = pytest.mark.skipif(not OTELCOL_REF.exists(),
                                reason=f"{OTELCOL_REF} is missing (build it with `make bench-ref`)")

ENCODINGS = {
    "traces": ["otlp_proto", "otlp_json", "zipkin_proto", "zipkin_json", "jaeger_proto", "jaeger_json"],
    "metrics": ["otlp_proto", "otlp_json"],
    "logs": ["otlp_proto", "otlp_json"],
}
# logs encodings only the receiver has: the test writes these records itself
READ_ONLY = {"raw": [b"plain line", b"\x00\xffbinary"],
             "text": ["caf\u00e9 line".encode()],
             "text_utf-16": ["wide \u00e9".encode("utf-16-le")],
             "json": [b'{"msg": "hi", "n": 3, "nested": {"ok": true, "list": [1, "a", null]}}']}
ROUTES = [(s, e) for s, encodings in ENCODINGS.items() for e in encodings] + [("logs", e) for e in READ_ONLY]


def _topic(signal: str, encoding: str) -> str:
    return f"ix_{signal}_{encoding}".replace("-", "_")


def _route_attr(signal: str, encoding: str) -> str:
    return f"{signal}_{encoding}".replace("-", "_")


def _receivers(bootstrap: str, group: str) -> str:
    """One kafka receiver per (signal, encoding), each reading its own topic from the start."""
    out = ""
    for signal, encoding in ROUTES:
        out += (f"  kafka/{_route_attr(signal, encoding)}:\n    brokers: [\"{bootstrap}\"]\n    group_id: {group}\n"
                f"    initial_offset: earliest\n"
                f"    {signal}: {{topics: [{_topic(signal, encoding)}], encoding: {encoding}}}\n")
    return out


def _tagging() -> str:
    """A resource processor per route, so the backend knows which receiver delivered what."""
    return "".join(f"  resource/{_route_attr(s, e)}:\n    attributes: [{{key: ix.route, value: {_route_attr(s, e)}, "
                   f"action: upsert}}]\n" for s, e in ROUTES)


def _sink(endpoint: str) -> str:
    return f"""  otlphttp/sink:
    endpoint: {endpoint}
    sending_queue: {{enabled: false}}
"""


def _read_pipelines() -> str:
    return "".join(f"    {s}/read_{_route_attr(s, e)}: {{receivers: [kafka/{_route_attr(s, e)}], "
                   f"processors: [resource/{_route_attr(s, e)}], "
                   f"exporters: [otlphttp/sink]}}\n" for s, e in ROUTES)


def ref_yaml(http_port: int, bootstrap: str, sink: str) -> str:
    """otelcol-ref: OTLP/HTTP in -> a kafka exporter per (signal, encoding); and its own receivers."""
    exporters = "".join(f"  kafka/{s}_{e}:\n    brokers: [\"{bootstrap}\"]\n    sending_queue: {{enabled: false}}\n"
                        f"    {s}: {{topic: {_topic(s, e)}, encoding: {e}}}\n" for s, encs in ENCODINGS.items()
                        for e in encs)
    write = "".join(f"    {s}/write: {{receivers: [otlp], exporters: [{', '.join(f'kafka/{s}_{e}' for e in encs)}]}}\n"
                    for s, encs in ENCODINGS.items())
    return f"""
receivers:
  otlp:
    protocols:
      http: {{endpoint: "127.0.0.1:{http_port}"}}
{_receivers(bootstrap, "ref")}processors:
{_tagging()}exporters:
{exporters}{_sink(sink)}service:
  telemetry: {{metrics: {{level: none}}}}
  pipelines:
{write}{_read_pipelines()}"""


def flow_yaml(bootstrap: str, sink: str) -> str:
    return f"""
receivers:
{_receivers(bootstrap, "flow")}processors:
{_tagging()}exporters:
{_sink(sink)}service:
  telemetry: {{metrics: {{level: none}}}}
  pipelines:
{_read_pipelines()}"""


def _sort_maps(value) -> None:
    if value.HasField("kvlist_value"):
        items = sorted(value.kvlist_value.values, key=lambda kv: kv.key)
        for kv in items:
            _sort_maps(kv.value)
        copies = [type(kv)(key=kv.key, value=kv.value) for kv in items]
        del value.kvlist_value.values[:]
        value.kvlist_value.values.extend(copies)
    elif value.HasField("array_value"):
        for item in value.array_value.values:
            _sort_maps(item)


def by_route(backend: HTTPBackend) -> dict[str, dict[str, list]]:
    """route -> normalized messages, with the routing attribute removed again."""
    out: dict[str, list] = {}
    for signal in [s for s in Signal if s in STABLE_SIGNALS]:
        for message in backend.messages(signal):
            copy = type(message)()
            copy.CopyFrom(message)
            message = normalized(copy)
            for entry in message.ListFields()[0][1]:
                attrs = entry.resource.attributes
                route = next(a.value.string_value for a in attrs if a.key == "ix.route")
                keep = [a for a in attrs if a.key != "ix.route"]
                del attrs[:]
                attrs.extend(keep)
                if signal is Signal.LOGS:  # the raw/text/json encodings stamp the time of reading
                    for scope in entry.scope_logs:
                        for record in scope.log_records:
                            record.observed_time_unix_nano = 0
                            if route == _route_attr("logs", "json"):  # Go fills the map in random order
                                _sort_maps(record.body)
                single = type(message)()
                getattr(single, message.DESCRIPTOR.fields[0].name).append(entry)
                out.setdefault(route, []).append(single)
    return out


async def test_receiver_reads_otelcol_ref_records_as_otelcol_ref_does(kafka_broker, tmp_path: Path):
    for signal, encoding in ROUTES:
        kafka_broker.create_topic(_topic(signal, encoding), 2)
    requests = {"traces": trace_requests(DISJOINT), "metrics": metric_requests(), "logs": log_requests(False)}
    for encoding, values in READ_ONLY.items():
        await asyncio.to_thread(produce, kafka_broker.bootstrap, _topic("logs", encoding), values)
    flow_sink, ref_sink = await HTTPBackend().start(), await HTTPBackend().start()
    port = free_port()
    config = tmp_path / "ref.yaml"
    config.write_text(ref_yaml(port, kafka_broker.bootstrap, ref_sink.endpoint))
    log = tmp_path / "ref.log"
    try:
        async with running(flow_yaml(kafka_broker.bootstrap, flow_sink.endpoint)):
            with open(log, "wb") as out:
                proc = subprocess.Popen([str(OTELCOL_REF), "--config", str(config)], stdout=out,
                                        stderr=subprocess.STDOUT)
            try:
                await asyncio.to_thread(wait_port, port, proc, 20)
                await send_all(port, requests)
                sent = {s: len(flatten(merged(r))) for s, r in requests.items()}
                want = {_route_attr(s, e): len(READ_ONLY[e]) if e in READ_ONLY else sent[s] for s, e in ROUTES}

                def complete(backend: HTTPBackend) -> bool:
                    routes = by_route(backend)
                    return all(route in routes and len(flatten(merged(routes[route]))) >= n
                               for route, n in want.items())

                deadline = time.monotonic() + 40
                while not (complete(flow_sink) and complete(ref_sink)) and time.monotonic() < deadline:
                    assert proc.poll() is None, log.read_text()[-3000:]
                    await asyncio.sleep(0.2)
                await asyncio.sleep(0.5)  # a duplicate would show now
            finally:
                proc.terminate()
                await asyncio.to_thread(proc.wait, 20)
        flow, ref = by_route(flow_sink), by_route(ref_sink)
        for signal, encoding in ROUTES:
            route = _route_attr(signal, encoding)
            assert route in ref, f"otelcol-ref's receiver delivered nothing for {route}:\n{log.read_text()[-3000:]}"
            assert route in flow, f"otelflow's receiver delivered nothing for {route}"
            got, upstream = flatten(merged(flow[route])), flatten(merged(ref[route]))
            assert got == upstream, f"{route}: otelflow's receiver and otelcol-ref's disagree"
            assert len(got) == want[route], f"{route}: {len(got)} items, {want[route]} sent"
            if encoding.startswith("otlp_"):  # nothing lost or changed on the way
                assert got == flatten(merged([normalized(r) for r in requests[signal]])), route
    finally:
        await flow_sink.stop()
        await ref_sink.stop()
