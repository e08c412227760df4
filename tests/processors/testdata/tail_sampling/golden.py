"""Reading the tail_sampling goldens (shared by record.py and the tests).

Each ``<case>/`` holds ``config.yaml`` (``description`` and the ``tail_sampling`` processor config),
``input.json`` (the OTLP/JSON export requests sent, in order, hex IDs) and ``expected.json``: what
otelcol-ref v0.161.0 exported, as ``{"kept": {trace ID: [span IDs]}}``, or ``{"error": message}``
when it refused to start.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import yaml
from google.protobuf import json_format
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

HERE = Path(__file__).resolve().parent
_IDS = ("traceId", "spanId", "parentSpanId")


def case_dirs() -> list[Path]:
    return sorted(d for d in HERE.iterdir() if (d / "config.yaml").exists())


def config(case_dir: Path) -> dict:
    return yaml.safe_load((case_dir / "config.yaml").read_text())["tail_sampling"]


def hex_ids(node):
    """OTLP/JSON's hex IDs as the base64 that protobuf's JSON parser reads for bytes."""
    if isinstance(node, dict):
        return {k: base64.b64encode(bytes.fromhex(v)).decode() if k in _IDS else hex_ids(v) for k, v in node.items()}
    if isinstance(node, list):
        return [hex_ids(v) for v in node]
    return node


def requests(case_dir: Path) -> list[ExportTraceServiceRequest]:
    docs = json.loads((case_dir / "input.json").read_text())
    return [json_format.ParseDict(hex_ids(d), ExportTraceServiceRequest()) for d in docs]


def kept(messages) -> dict[str, list[str]]:
    """trace ID -> sorted span IDs, over every span of the messages."""
    out: dict[str, list[str]] = {}
    for m in messages:
        for rs in m.resource_spans:
            for ss in rs.scope_spans:
                for sp in ss.spans:
                    out.setdefault(sp.trace_id.hex(), []).append(sp.span_id.hex())
    return {t: sorted(s) for t, s in sorted(out.items())}


def expected(case_dir: Path) -> dict:
    return json.loads((case_dir / "expected.json").read_text())
