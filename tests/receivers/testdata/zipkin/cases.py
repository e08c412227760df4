"""The receiver's conformance cases: what is posted where, shared by record.py and the tests."""

from __future__ import annotations

import gzip
import json
import random
import zlib
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
INPUTS = HERE / "inputs"
V2 = "/api/v2/spans"
V1 = "/api/v1/spans"
JSON = "application/json"
PROTO = "application/x-protobuf"


@dataclass
class Case:
    name: str
    path: str
    content_type: str
    body: bytes
    parse: bool = False  # sent to the receiver with parse_string_tags: true
    headers: dict[str, str] = field(default_factory=dict)
    method: str = "POST"


def _read(name: str) -> bytes:
    return (INPUTS / name).read_bytes()


def many(count: int, seed: int) -> bytes:
    """A batch whose spans come in a scrambled service/library order, so that the order upstream's
    unstable sort leaves inside each scope is exercised (insertion sort up to 12 spans, pdqsort above)."""
    rng = random.Random(seed)
    spans = []
    for i in range(count):
        service = rng.choice(["alpha", "beta", "gamma", ""])
        tags = {"i": str(i)}
        library = rng.choice(["", "lib.a", "lib.b"])
        if library:
            tags["otel.library.name"] = library
        span = {"traceId": f"{seed:016x}{i + 1:016x}", "id": f"{i + 1:016x}", "name": f"s{i}",
                "timestamp": 1_700_000_000_000_000 + i, "duration": 1, "tags": tags}
        if service:
            span["localEndpoint"] = {"serviceName": service}
        spans.append(span)
    return json.dumps(spans).encode()


def cases() -> list[Case]:
    out: list[Case] = []
    for f in sorted(INPUTS.glob("sdk_json_v2_*.json")):
        out.append(Case(f.stem, V2, JSON, f.read_bytes()))
    for f in sorted(INPUTS.glob("sdk_json_v1_*.json")):
        out.append(Case(f.stem, V1, JSON, f.read_bytes()))
    for f in sorted(INPUTS.glob("sdk_proto_*.bin")):
        out.append(Case(f.stem, V2, PROTO, f.read_bytes()))
    v2 = _read("v2_features.json")
    v1 = _read("v1_features.json")
    proto0 = _read("sdk_proto_0.bin")
    out += [
        Case("v2_features", V2, JSON, v2),
        Case("v2_features_parse", V2, JSON, v2, parse=True),
        Case("v1_features", V1, JSON, v1),
        Case("v1_features_parse", V1, JSON, v1, parse=True),
        Case("sdk_proto_0_parse", V2, PROTO, proto0, parse=True),
        Case("sdk_proto_0_debug", V2, PROTO, proto0, headers={"X-B3-Flags": "1"}),
        Case("v2_many_13", V2, JSON, many(13, 1)),
        Case("v2_many_60", V2, JSON, many(60, 2)),
        Case("v2_many_300", V2, JSON, many(300, 3)),
        Case("v2_gzip", V2, JSON, gzip.compress(v2), headers={"Content-Encoding": "gzip"}),
        Case("v2_deflate", V2, JSON, zlib.compress(v2), headers={"Content-Encoding": "deflate"}),
        Case("v2_other_path", "/anything", JSON, v2),
        Case("v2_text_plain", V2, "text/plain", v2),
        Case("v2_null", V2, JSON, b"null"),
        Case("v2_empty_array", V2, JSON, b"[]"),
        # bad input: upstream answers 400 and keeps serving
        Case("bad_v2_syntax", V2, JSON, b'[{"traceId": '),
        Case("bad_v2_object", V2, JSON, b'{"traceId": "1", "id": "2"}'),
        Case("bad_v2_no_id", V2, JSON, b'[{"traceId": "4bf92f3577b34da6"}]'),
        Case("bad_v2_id_hex", V2, JSON, b'[{"traceId": "4bf92f3577b34da6", "id": "xyz"}]'),
        Case("bad_v2_ip", V2, JSON, b'[{"traceId": "1", "id": "2", "localEndpoint": {"ipv4": "300.1.1.1"}}]'),
        Case("bad_v2_tag_type", V2, JSON, b'[{"traceId": "1", "id": "2", "tags": {"a": 1}}]'),
        Case("bad_v2_timestamp", V2, JSON, b'[{"traceId": "1", "id": "2", "timestamp": -5}]'),
        Case("bad_v2_annotation_ts", V2, JSON, b'[{"traceId": "1", "id": "2", "annotations": [{"value": "x"}]}]'),
        Case("bad_v2_event_json", V2, JSON,
             b'[{"traceId": "1", "id": "2", "annotations": [{"timestamp": 5, "value": "a|notjson|1"}]}]'),
        Case("bad_v2_empty_body", V2, JSON, b""),
        Case("bad_v2_json_as_proto", V2, PROTO, v2),
        Case("bad_proto_garbage", V2, PROTO, b"\xff\xff\xff\xff"),
        # one span whose trace_id is 8 bytes long (Zipkin's protobuf wants 16)
        Case("bad_proto_short_trace", V2, PROTO, bytes.fromhex("0a14" "0a08") + b"\x01" * 8 + bytes.fromhex("1a08") + b"\x02" * 8),
        Case("bad_v1_syntax", V1, JSON, b"[{"),
        Case("bad_v1_trace_len", V1, JSON, b'[{"traceId": "abc", "id": "6b221d5bc9e6496c"}]'),
        Case("bad_v1_zero_id", V1, JSON, b'[{"traceId": "5af7183fb1d4cf5f", "id": "0000000000000000"}]'),
        Case("bad_v1_value_type", V1, JSON,
             b'[{"traceId": "5af7183fb1d4cf5f", "id": "6b221d5bc9e6496c", "binaryAnnotations": [{"key": "a", "value": 1}]}]'),
        Case("bad_gzip_body", V2, JSON, b"not gzip at all", headers={"Content-Encoding": "gzip"}),
        Case("bad_encoding", V2, JSON, v2, headers={"Content-Encoding": "br"}),
        Case("bad_gzip_bomb", V2, JSON, gzip.compress(b"[" + b" " * (48 << 20) + b"]", 9),
             headers={"Content-Encoding": "gzip"}),
        Case("bad_get", V2, JSON, b"", method="GET"),
    ]
    return out
