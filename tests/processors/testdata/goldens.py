"""Shared by the conformance tests and ``record.py``: reading cases and normalising OTLP/JSON output.

Normalisation, the only differences tolerated between otelflow and upstream:
- grouping: every document is flattened to one record per (resource, scope, item), records sorted;
- numbers compare by value (``1`` and ``1.0``; 64-bit integers written as strings stay strings);
- an empty ``status``, ``resource``, ``scope``, ``body``, ``positive`` or ``negative`` object is the
  same as none (upstream's encoder always writes some of them, otelflow's leaves empty ones out);
- for the cases that ask for it (``compare: {sort_kvlists: true}``), the entries of a
  ``kvlistValue`` are sorted by key, because upstream fills a map given as a config ``value`` by
  iterating a Go map (random order).
Attribute order in every other list is compared as it is.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import yaml
from google.protobuf import json_format
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

HERE = Path(__file__).resolve().parent
REQUEST_OF = {"traces": ExportTraceServiceRequest, "metrics": ExportMetricsServiceRequest, "logs": ExportLogsServiceRequest}
LAYOUT = {
    "traces": ("resourceSpans", "scopeSpans", "spans"),
    "metrics": ("resourceMetrics", "scopeMetrics", "metrics"),
    "logs": ("resourceLogs", "scopeLogs", "logRecords"),
}
ID_KEYS = ("traceId", "spanId", "parentSpanId")
PATHS = {"traces": "/v1/traces", "metrics": "/v1/metrics", "logs": "/v1/logs"}
# What the upstream collector puts before a processor's own message when it refuses a config.
UPSTREAM_PREFIXES = ("invalid configuration: processors::", "failed to build pipelines: failed to create ")


def case_dirs() -> list[Path]:
    return sorted(d for d in HERE.iterdir() if (d / "config.yaml").exists())


def hex_ids_to_base64(node: Any) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ID_KEYS and isinstance(value, str):
                node[key] = base64.b64encode(bytes.fromhex(value)).decode()
            else:
                hex_ids_to_base64(value)
    elif isinstance(node, list):
        for item in node:
            hex_ids_to_base64(item)


def _number(value: float) -> int | float:
    # JSON numbers here are doubles (64-bit integers are strings): 5 and 5.0 are one value.
    return int(value) if value.is_integer() else value


def _canonical_numbers(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _canonical_numbers(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_canonical_numbers(v) for v in node]
    if isinstance(node, (int, float)) and not isinstance(node, bool):
        return _number(float(node))
    return node


_EMPTY_MEANS_ABSENT = frozenset({"status", "resource", "scope", "body", "positive", "negative"})


def _drop_empty_messages(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _drop_empty_messages(v) for k, v in node.items() if not (k in _EMPTY_MEANS_ABSENT and v == {})}
    if isinstance(node, list):
        return [_drop_empty_messages(v) for v in node]
    return node


def _sort_kvlists(node: Any) -> Any:
    if isinstance(node, dict):
        out = {k: _sort_kvlists(v) for k, v in node.items()}
        kv = out.get("kvlistValue")
        if isinstance(kv, dict) and isinstance(kv.get("values"), list):
            kv["values"] = sorted(kv["values"], key=lambda e: json.dumps(e, sort_keys=True))
        return out
    if isinstance(node, list):
        return [_sort_kvlists(v) for v in node]
    return node


def flatten(documents: list[dict], sort_kvlists: bool = False) -> list[str]:
    records = []
    for doc in documents:
        doc = _drop_empty_messages(_canonical_numbers(doc))
        if sort_kvlists:
            doc = _sort_kvlists(doc)
        for signal, (rkey, skey, ikey) in LAYOUT.items():
            for rs in doc.get(rkey, []):
                base = {k: v for k, v in rs.items() if k != skey}
                for ss in rs.get(skey, []) or [{}]:
                    sbase = {k: v for k, v in ss.items() if k != ikey}
                    for item in ss.get(ikey, []) or [None]:
                        records.append(json.dumps({"signal": signal, "resource": base, "scope": sbase, "item": item},
                                                  sort_keys=True, ensure_ascii=False))
    return sorted(records)


def load_case(case_dir: Path) -> dict:
    return yaml.safe_load((case_dir / "config.yaml").read_text())


def collector_config(case: dict, port: int, out: Path) -> dict:
    """otlp (HTTP on loopback) -> the case's processors in order -> file (OTLP/JSON lines)."""
    processors = case.get("processors") or {}
    return {
        "receivers": {"otlp": {"protocols": {"http": {"endpoint": f"127.0.0.1:{port}"}}}},
        "processors": processors,
        "exporters": {"file": {"path": str(out), "flush_interval": "100ms"}},
        "service": {
            "telemetry": {"metrics": {"level": "none"}},
            "pipelines": {case["signal"]: {"receivers": ["otlp"], "processors": list(processors), "exporters": ["file"]}},
        },
    }


def input_message(case_dir: Path, signal_name: str):
    tree = json.loads((case_dir / "input.json").read_text())
    hex_ids_to_base64(tree)
    message = REQUEST_OF[signal_name]()
    json_format.ParseDict(tree, message)
    return message


def input_bytes(case_dir: Path, signal_name: str) -> bytes:
    return input_message(case_dir, signal_name).SerializeToString()


def expected(case_dir: Path) -> Any:
    return json.loads((case_dir / "expected.json").read_text())


def upstream_core_message(error: str) -> str:
    """The processor's own words in upstream's one-line startup error."""
    if error.startswith(UPSTREAM_PREFIXES[0]):
        return error[len(UPSTREAM_PREFIXES[0]):].split(": ", 1)[1]
    if error.startswith(UPSTREAM_PREFIXES[1]):
        return error.split(', in pipeline "', 1)[1].split('": ', 1)[1]
    return error


def processor_types(case: dict) -> set[str]:
    return {name.partition("/")[0] for name in case.get("processors") or {}}


async def run_through_otelflow(case_dir: Path, out: Path) -> list[dict]:
    """The case through an in-process otelflow built as record.py builds upstream's: otlp (HTTP,
    binary protobuf in) -> processors -> file exporter; returns the documents the file holds."""
    import aiohttp

    from tests.backends import free_port
    from tests.conftest import running

    case = load_case(case_dir)
    port = free_port()
    async with running(yaml.safe_dump(collector_config(case, port, out), sort_keys=False)):
        async with aiohttp.ClientSession() as session:
            async with session.post(f"http://127.0.0.1:{port}{PATHS[case['signal']]}", data=input_bytes(case_dir, case["signal"]),
                                    headers={"Content-Type": "application/x-protobuf"}) as resp:
                assert resp.status == 200, await resp.text()
    return [json.loads(line) for line in out.read_text().splitlines() if line.strip()]


async def check_case(case_dir: Path, out: Path) -> None:
    """otelflow's output (or refusal) for a case equals what upstream's was."""
    from otelflow.config.errors import ConfigError

    case = load_case(case_dir)
    want = expected(case_dir)
    if isinstance(want, dict):
        try:
            await run_through_otelflow(case_dir, out)
        except ConfigError as exc:
            assert upstream_core_message(want["error"]) in str(exc), f"\notelflow: {exc}\nupstream: {want['error']}"
            return
        raise AssertionError(f"otelflow accepted a config upstream refuses: {want['error']}")
    got = await run_through_otelflow(case_dir, out)
    sort_kvlists = bool((case.get("compare") or {}).get("sort_kvlists"))
    got_records, want_records = flatten(got, sort_kvlists), flatten(want, sort_kvlists)
    if got_records != want_records:
        import difflib

        def lines(records: list[str]) -> list[str]:
            return [line for r in records for line in json.dumps(json.loads(r), indent=1, sort_keys=True).splitlines()]

        diff = "\n".join(difflib.unified_diff(lines(want_records), lines(got_records), "upstream", "otelflow", lineterm="", n=3))
        raise AssertionError(f"{case_dir.name}: otelflow's output differs from upstream's\n{diff}")
