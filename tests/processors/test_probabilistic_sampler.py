"""The probabilistic_sampler processor against upstream (contrib v0.161.0).

* goldens: for each case of testdata/probabilistic_sampler/cases.json, what otelcol-ref kept of a
  fixed input (spans with odd tracestates and sampling.priority values; log records with trace IDs,
  record attributes and priorities) — recorded by record_goldens.py in that directory — must equal
  what this processor keeps, item for item, with the same tracestates / attributes and the same
  request, resource and scope structure;
* upstream's own table of tracestate cases, and the config errors;
* statistics: 10% of 100k traces, whole traces kept or dropped together across requests;
* end to end: the real Python SDK through the in-process collector to a backend.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import math
import random
import struct
import time
from collections import Counter
from pathlib import Path

import pytest
from google.protobuf import json_format
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1 import common_pb2

from otelflow.config.errors import ConfigError
from otelflow.config.model import validate
from otelflow.core.component import ComponentID, Kind, Settings, Signal
from otelflow.core.consumer import copy_message
from otelflow.core.telemetry import Telemetry
from otelflow.processors import probabilistic_sampler as ps
from otelflow.processors.sampling import gocompat
from otelflow.processors.sampling.threshold import probability_to_threshold, threshold_to_tvalue
from otelflow.processors.sampling.tracestate import parse_w3c

TESTDATA = Path(__file__).parent / "testdata" / "probabilistic_sampler"
CASES_FILE = TESTDATA / "cases.json"
INPUTS = {"traces": TESTDATA / "traces_input.bin.gz", "logs": TESTDATA / "logs_input.bin.gz"}
REQUEST_TYPES = {"traces": ExportTraceServiceRequest, "logs": ExportLogsServiceRequest}


def golden_path(name: str) -> Path:
    return TESTDATA / f"{name}.json"


def write_requests(path: Path, messages) -> None:
    body = b"".join(struct.pack(">I", len(b)) + b for b in (m.SerializeToString() for m in messages))
    path.write_bytes(gzip.compress(body, mtime=0))


def read_requests(path: Path, message_type) -> list:
    data = gzip.decompress(path.read_bytes())
    out, pos = [], 0
    while pos < len(data):
        (size,) = struct.unpack(">I", data[pos:pos + 4])
        out.append(message_type.FromString(data[pos + 4:pos + 4 + size]))
        pos += 4 + size
    return out


def _attr_values(attributes) -> list:
    return [[kv.key, json_format.MessageToDict(kv.value)] for kv in attributes]


def summarize(signal: str, outputs: list) -> list:
    """What came out, request by request: resources (by their req/res attributes), scopes (by name)
    and the items kept — spans as [span ID, tracestate], records as [body, trace ID, attributes]."""
    summary = []
    for message in outputs:
        request = []
        resources = message.resource_spans if signal == "traces" else message.resource_logs
        for res in resources:
            scopes = []
            for scope in (res.scope_spans if signal == "traces" else res.scope_logs):
                if signal == "traces":
                    items = [[span.span_id.hex(), span.trace_state] for span in scope.spans]
                else:
                    # an all-zero trace ID counts as none (upstream's encoder leaves it out)
                    items = [[rec.body.string_value, rec.trace_id.hex() if any(rec.trace_id) else "", _attr_values(rec.attributes)]
                             for rec in scope.log_records]
                scopes.append({"scope": scope.scope.name, "items": items})
            request.append({"res": [kv.value.int_value for kv in res.resource.attributes], "scopes": scopes})
        summary.append(request)
    return summary


class Sink:
    mutates_data = False

    def __init__(self):
        self.received = []

    async def consume(self, data) -> None:
        self.received.append(data)


def make_processor(cfg: dict, signal: Signal, telemetry: Telemetry | None = None):
    config = validate(ps.Config, cfg, "processors::probabilistic_sampler")
    sink = Sink()
    settings = Settings(id=ComponentID("probabilistic_sampler"), kind=Kind.PROCESSOR, telemetry=telemetry or Telemetry(), signal=signal)
    return ps.factory.create(settings=settings, config=config, next=sink), sink


# ---- goldens recorded from otelcol-ref -----------------------------------------------------------

CASES = json.loads(CASES_FILE.read_text())


@pytest.mark.parametrize("name", sorted(CASES))
async def test_matches_upstream_golden(name):
    case = CASES[name]
    golden = json.loads(golden_path(name).read_text())
    assert golden["config"] == case["config"], "cases.json changed since the golden was recorded"
    signal = case["signal"]
    processor, sink = make_processor(case["config"], Signal(signal))
    for request in read_requests(INPUTS[signal], REQUEST_TYPES[signal]):
        await processor.consume(request)
    got = summarize(signal, sink.received)
    expected = golden["output"]
    assert len(got) == len(expected), f"{len(got)} requests passed on, upstream passed {len(expected)}"
    for i, (g, e) in enumerate(zip(got, expected)):
        assert g == e, f"output request #{i} differs"


def test_goldens_are_not_trivial():
    """Every golden keeps some items and drops others, and the inputs hit the interesting paths."""
    for name, case in CASES.items():
        output = json.loads(golden_path(name).read_text())["output"]
        kept = sum(len(s["items"]) for req in output for res in req for s in res["scopes"])
        signal = case["signal"]
        total = sum(
            len(s.spans if signal == "traces" else s.log_records)
            for req in read_requests(INPUTS[signal], REQUEST_TYPES[signal])
            for res in (req.resource_spans if signal == "traces" else req.resource_logs)
            for s in (res.scope_spans if signal == "traces" else res.scope_logs)
        )
        assert 0 < kept < total, name
    states = Counter()
    for req in read_requests(INPUTS["traces"], ExportTraceServiceRequest):
        for res in req.resource_spans:
            for scope in res.scope_spans:
                for span in scope.spans:
                    _, errors = parse_w3c(span.trace_state)
                    states["error" if errors else "rv/th" if "ot=" in span.trace_state else "plain"] += 1
                    states["priority"] += any(kv.key == "sampling.priority" for kv in span.attributes)
    assert states["error"] > 50 and states["rv/th"] > 300 and states["plain"] > 2000 and states["priority"] > 300


# ---- upstream's tracestate table (processor tests), as facts --------------------------------------

DEFAULT_TID = bytes.fromhex("fefefefefefefefefe80000000000000")  # randomness 0x80000000000000
IMPROBABLE_TID = bytes.fromhex("111111111111111111ffffffffffffff")

# name, percentage, precision (0 = full), trace ID, tracestate, priority, {mode: (sampled, tracestate)}
TRACESTATE_TABLE = [
    ("100 percent", 100, 0, None, "", None, {"*": (True, "ot=th:0")}),
    ("50 percent", 50, 0, None, "", None, {"*": (True, "ot=th:8")}),
    ("25 percent sampled", 25, 0, "ddddddddddddddddddc0000000000000", "", None, {"*": (True, "ot=th:c")}),
    ("25 percent unsampled", 25, 0, "ddddddddddddddddddb0000000000000", "", None, {"*": (False, None)}),
    ("1 percent, upper-case rv", 1, 0, None, "ot=rv:FD70A3D70A3D71", None, {"*": (True, "ot=rv:FD70A3D70A3D71;th:fd70a3d70a3d71")}),
    ("1 percent precision 4", 1, 4, None, "ot=rv:FD70A3D70A3D71", None, {"*": (True, "ot=rv:FD70A3D70A3D71;th:fd70a")}),
    ("1 percent precision 3", 1, 3, None, "ot=rv:FD70A3D70A3D71", None, {"*": (False, None)}),
    ("1 percent rv just below", 1, 0, None, "ot=rv:FD70A3D70A3D70", None, {"*": (False, None)}),
    ("49 percent", 49, 0, None, "", None, {"*": (False, None)}),
    ("1 percent mixed-case rv", 1, 0, None, "ot=rv:fd70B000000000", None, {"*": (True, "ot=rv:fd70B000000000;th:fd70a3d70a3d71")}),
    ("1 percent by trace ID", 1, 4, "a0a0a0a0a0a0a0a0a0fe000000000000", "", None, {"*": (True, "ot=th:fd70a")}),
    ("priority keeps", 1, 0, None, "", 2, {"*": (True, "ot=th:0")}),
    ("priority drops", 99, 0, None, "", 0, {"*": (False, None)}),
    ("arriving 50 percent with rv", 50, 0, None, "ot=rv:90000000000000;th:80000000000000", None,
     {"equalizing": (True, "ot=rv:90000000000000;th:8"), "proportional": (False, None)}),
    ("arriving 50 percent at 25 percent", 25, 0, None, "ot=th:8", None, {"*": (False, None)}),
    ("arriving 50 percent at 25 percent kept", 25, 0, "ffffffffffffffffffffffffffffffff", "ot=th:8", None,
     {"equalizing": (True, "ot=th:c"), "proportional": (True, "ot=th:e")}),
    ("equalizing vs proportional", 50, 0, None, "ot=rv:c0000000000000;th:8", None,
     {"equalizing": (True, "ot=rv:c0000000000000;th:8"), "proportional": (True, "ot=rv:c0000000000000;th:c")}),
    ("inconsistent arriving threshold", 100, 0, None, "ot=rv:40000000000000;th:8", None, {"*": (True, "ot=rv:40000000000000;th:0")}),
    ("inconsistent arriving threshold dropped", 1, 0, None, "ot=rv:40000000000000;th:8", None, {"*": (False, None)}),
    ("40 percent precision 3", 40, 3, None, "ot=rv:a0000000000000", None, {"*": (True, "ot=rv:a0000000000000;th:99a")}),
    ("arriving 50 percent at 40 percent precision 6", 40, 6, "a0a0a0a0a0a0a0a0a0d0000000000000", "ot=th:8", None,
     {"proportional": (True, "ot=th:cccccd"), "equalizing": (True, "ot=th:99999a")}),
    ("arriving 50 percent at 40 percent partly", 40, 3, "a0a0a0a0a0a0a0a0a0b0000000000000", "ot=th:8", None,
     {"proportional": (False, None), "equalizing": (True, "ot=th:99a")}),
    ("arriving 50 percent at 40 percent dropped", 40, 3, "a0a0a0a0a0a0a0a0a080000000000000", "ot=th:8", None, {"*": (False, None)}),
    ("200 percent", 200, 0, None, "", None, {"*": (True, "ot=th:0")}),
    ("tiny probability rounding", 100 * 2**-14, 0, IMPROBABLE_TID.hex(), "ot=th:fffc", None,
     {"equalizing": (True, "ot=th:fffc"), "proportional": (True, "ot=th:fffffff")}),
    ("almost 100 percent", (1 - 8e-7) * 100, 10, IMPROBABLE_TID.hex(), "", None, {"*": (True, "ot=th:00000cccccccd")}),
    ("probability underflow", 2**-4, 0, IMPROBABLE_TID.hex(), "ot=th:fffffffffffff8", None,
     {"equalizing": (True, "ot=th:fffffffffffff8"), "proportional": (False, None)}),
]


def _one_span_request(trace_id: bytes, tracestate: str, priority) -> ExportTraceServiceRequest:
    req = ExportTraceServiceRequest()
    span = req.resource_spans.add().scope_spans.add().spans.add()
    span.trace_id, span.span_id, span.trace_state = trace_id, b"\0\0\0\0\xfe\xfe\xfe\xfe", tracestate
    if priority is not None:
        span.attributes.add(key="sampling.priority").value.int_value = priority
    return req


@pytest.mark.parametrize("mode", ["equalizing", "proportional"])
@pytest.mark.parametrize("row", TRACESTATE_TABLE, ids=[r[0] for r in TRACESTATE_TABLE])
async def test_upstream_tracestate_table(row, mode):
    name, pct, precision, tid, tracestate, priority, expect = row
    # upstream's table builds Config literals: precision 0 (full) and fail_closed false unless set;
    # validation would refuse precision 0 in a config file
    config = ps.Config.model_construct(**{**ps.Config().model_dump(), "sampling_percentage": gocompat.float32(pct), "mode": mode,
                                          "sampling_precision": precision, "fail_closed": name.endswith("dropped")})
    settings = Settings(id=ComponentID("probabilistic_sampler"), kind=Kind.PROCESSOR, telemetry=Telemetry(), signal=Signal.TRACES)
    sink = Sink()
    processor = ps.ProbabilisticSampler(settings, config, sink)
    await processor.consume(_one_span_request(bytes.fromhex(tid) if tid else DEFAULT_TID, tracestate, priority))
    sampled, out_state = expect.get(mode, expect.get("*"))
    if sampled:
        assert len(sink.received) == 1
        assert sink.received[0].resource_spans[0].scope_spans[0].spans[0].trace_state == out_state
    else:
        assert sink.received == []


# ---- unit checks of the arithmetic --------------------------------------------------------------

def _fnv_reference(seed: int, data: bytes) -> int:
    h = 2166136261
    for b in seed.to_bytes(4, "little") + data:
        h = ((h ^ b) * 16777619) % 2**32
    return h


def test_hash_randomness_layout():
    rng = random.Random(1)
    for _ in range(200):
        seed, data = rng.getrandbits(32), rng.randbytes(16)
        h = _fnv_reference(seed, data)
        rnd = ps.hash_randomness(data, gocompat.fnv1a32(seed.to_bytes(4, "little")))
        assert rnd >> 42 == 16383 - (h & 0x3FFF)
        u = h >> 18
        assert (rnd >> 14) & (2**28 - 1) == u ^ (u << 10)
        assert rnd & 0x3FFF == h & 0x3FFF
        assert rnd < 2**56


def test_lane_parallel_fnv_equals_plain_fnv():
    rng = random.Random(2)
    for n in (1, 31, 32, 33, 1000, 5000):
        seed = rng.getrandbits(32)
        items = [rng.randbytes(16) for _ in range(n)] + [b"\xff" * 16, bytes(16)]
        state = gocompat.fnv1a32(seed.to_bytes(4, "little"))
        assert ps.fnv1a32_many(items, state) == [_fnv_reference(seed, item) for item in items]


@pytest.mark.parametrize("pct,scaled", [(33.3, 5455), (10, 1638), (15.3, 2506), (0.01, 1), (100, 16384), (99.99, 16382),
                                        (50, 8192), (1, 163), (0.0061, 0), (0.0062, 1), (12.5, 2048), (7.77, 1273)])
def test_hash_seed_bucket_count_uses_float32(pct, scaled):
    """uint32(float32(pct) * float32(163.84)), as Go computes it (checked against go1.26)."""
    sampler = ps.make_sampler(validate(ps.Config, {"sampling_percentage": pct}, "p"), is_logs=False)
    if scaled == 0:
        assert isinstance(sampler, ps._NeverSampler)
    else:
        assert sampler.scaled == scaled and sampler.threshold == (16384 - scaled) << 42


def test_threshold_encoding():
    assert threshold_to_tvalue(0) == "0"
    assert threshold_to_tvalue(2**56) == ""
    assert threshold_to_tvalue(2**55) == "8"
    assert threshold_to_tvalue(probability_to_threshold(0.25, 4)) == "c"
    assert threshold_to_tvalue(probability_to_threshold(0.01, 4)) == "fd70a"  # precision grows by leading f's
    assert threshold_to_tvalue(probability_to_threshold(0.01, 3)) == "fd71"
    assert threshold_to_tvalue(probability_to_threshold(1 / 3, 4)) == "aaab"
    assert threshold_to_tvalue(probability_to_threshold(2**-56, 1)) == "ffffffffffffff"


@pytest.mark.parametrize("mode", ["hash_seed", "proportional", "equalizing"])
def test_fast_path_agrees_with_general_path(mode):
    cfg = validate(ps.Config, {"sampling_percentage": 37.1, "mode": mode, "hash_seed": 5}, "p")
    fast = ps._TracesSampler(cfg, ps.logging.getLogger("t"))
    slow = ps._TracesSampler(cfg, ps.logging.getLogger("t"))
    slow.fast = None
    rng = random.Random(3)
    for _ in range(3000):
        tid = rng.randbytes(16)
        assert fast.decide(tid, "", ps._DEFER) == slow.decide(tid, "", ps._DEFER)


# ---- config --------------------------------------------------------------------------------------

def test_defaults():
    cfg = validate(ps.Config, None, "p")
    assert (cfg.sampling_percentage, cfg.hash_seed, cfg.mode, cfg.fail_closed, cfg.sampling_precision) == (0, 0, "", True, 4)
    assert (cfg.attribute_source, cfg.from_attribute, cfg.sampling_priority) == ("traceID", "", "")
    # unset mode is hash_seed, with or without a seed, for traces and logs
    assert isinstance(ps.make_sampler(validate(ps.Config, {"sampling_percentage": 5}, "p"), False), ps._HashingSampler)
    assert isinstance(ps.make_sampler(validate(ps.Config, {"sampling_percentage": 5, "hash_seed": 3}, "p"), True), ps._HashingSampler)
    assert isinstance(ps.make_sampler(validate(ps.Config, {"sampling_percentage": 5, "mode": "equalizing", "hash_seed": 3}, "p"), False),
                      ps._EqualizingSampler)


@pytest.mark.parametrize("cfg,message", [
    ({"sampling_percentage": -15.3}, "sampling rate is negative: -15.300000%"),
    ({"sampling_percentage": float("inf")}, "sampling rate is invalid: +Inf%"),
    ({"sampling_percentage": float("nan")}, "sampling rate is invalid: NaN%"),
    ({"sampling_percentage": 1e-15}, "sampling rate is too small: 1e-15%"),
    ({"sampling_percentage": 1.2345e-16}, "sampling rate is too small: 1.2345e-16%"),
    ({"sampling_percentage": 15.3, "sampling_precision": 0}, "invalid sampling precision: 0"),
    ({"sampling_percentage": 50, "sampling_precision": 15}, "sampling precision is too great, should be <= 14: 15"),
    ({"attribute_source": "span"}, "invalid attribute source: span. Expected: traceID or record"),
    ({"mode": "random"}, 'unsupported sampler mode "random"'),
    ({"hash_seed": -1}, "cannot parse value as 'uint32': -1 overflows uint"),
    ({"hash_seed": "5"}, "expected type 'uint32', got unconvertible type 'string'"),
    ({"sampling_percentage": "10"}, "expected type 'float32', got unconvertible type 'string'"),
    ({"sampling_percentage": True}, "expected type 'float32', got unconvertible type 'bool'"),
    ({"sampling_percentage": 1e39}, "sampling rate is invalid: +Inf%"),  # beyond float32
    ({"sampling_precision": "3"}, "expected type 'int', got unconvertible type 'string'"),
    ({"fail_closed": "true"}, "expected type 'bool', got unconvertible type 'string'"),
    ({"fail_closed": 1}, "expected type 'bool', got unconvertible type 'int'"),
    ({"samplingpercentage": 1}, "unknown key"),
])
def test_config_errors(cfg, message):
    with pytest.raises(ConfigError) as err:
        validate(ps.Config, cfg, "processors::probabilistic_sampler")
    assert message in str(err.value)


def test_config_accepts_upstream_examples():
    cfg = validate(ps.Config, {"sampling_percentage": 15.3, "hash_seed": 22, "attribute_source": "record",
                               "from_attribute": "foo", "sampling_priority": "bar"}, "p")
    assert cfg.sampling_percentage == gocompat.float32(15.3)
    assert validate(ps.Config, {"sampling_percentage": 0.000000000000002}, "p").sampling_percentage > 0
    assert validate(ps.Config, {"sampling_precision": -3, "attribute_source": ""}, "p").sampling_precision == -3  # not refused upstream
    # as upstream's decoder: the seed wraps at 2**32, floats are truncated into integer fields
    assert validate(ps.Config, {"hash_seed": 2**32 + 5}, "p").hash_seed == 5
    assert validate(ps.Config, {"hash_seed": 2.9, "sampling_precision": 2.5}, "p").model_dump()["sampling_precision"] == 2


# ---- behaviour -----------------------------------------------------------------------------------

async def test_nothing_left_skips_the_rest_of_the_pipeline():
    processor, sink = make_processor({"sampling_percentage": 0}, Signal.TRACES)
    await processor.consume(_one_span_request(DEFAULT_TID, "", None))
    assert sink.received == []
    await processor.consume(_one_span_request(DEFAULT_TID, "", 1))
    assert len(sink.received) == 1
    assert sink.received[0].resource_spans[0].scope_spans[0].spans[0].trace_state == "ot=th:0"


async def test_counts_items_by_policy():
    telemetry = Telemetry()
    processor, _ = make_processor({"sampling_percentage": 50, "mode": "proportional"}, Signal.TRACES, telemetry)
    req = _one_span_request(DEFAULT_TID, "", None)  # randomness 0x80000000000000: kept at 50%
    extra = req.resource_spans[0].scope_spans[0].spans.add()
    extra.trace_id = bytes.fromhex("fefefefefefefefefe7fffffffffffff")  # just below: dropped
    prio = req.resource_spans[0].scope_spans[0].spans.add()
    prio.trace_id = extra.trace_id
    prio.attributes.add(key="sampling.priority").value.string_value = "5"
    await processor.consume(req)
    metric = ps.TRACES_METRIC
    assert telemetry.value(metric, policy="trace_id_w3c", sampled="true") == 1
    assert telemetry.value(metric, policy="trace_id_w3c", sampled="false") == 1
    assert telemetry.value(metric, policy="sampling_priority", sampled="true") == 1


async def test_logs_priority_and_attribute_updates():
    processor, sink = make_processor({"sampling_percentage": 1, "mode": "proportional", "sampling_priority": "prio"}, Signal.LOGS)
    req = ExportLogsServiceRequest()
    records = req.resource_logs.add().scope_logs.add().log_records
    for value in (100, 50.0, 0, 150):  # 100% and 50% raise the probability; 0 and >100 are ignored
        rec = records.add(trace_id=bytes.fromhex("010203040506070809f0000000000000"))  # randomness f0000000000000
        rec.attributes.add(key="sampling.threshold", value={"string_value": "fd"})  # arrived at ~1%: inconsistent
        rec.attributes.add(key="a", value={"int_value": 1})
        if isinstance(value, float):
            rec.attributes.add(key="prio", value={"double_value": value})
        else:
            rec.attributes.add(key="prio", value={"int_value": value})
    await processor.consume(req)
    out = sink.received[0].resource_logs[0].scope_logs[0].log_records
    # "fd" does not fit the randomness: it is removed (the last attribute takes its place) and the
    # record fails closed; priorities 100 and 50 then decide; 0 and 150 leave it failed
    assert [rec.attributes[0].value for rec in out] == [common_pb2.AnyValue(int_value=100), common_pb2.AnyValue(double_value=50.0)]
    assert [[kv.key for kv in rec.attributes] for rec in out] == [["prio", "a", "sampling.threshold"]] * 2
    assert [rec.attributes[2].value.string_value for rec in out] == ["0", "8"]


@pytest.mark.parametrize("rebuild", [False, True])
async def test_removal_keeps_order_and_new_tracestates(rebuild, monkeypatch):
    if rebuild:
        monkeypatch.setattr(ps.prune, "_REBUILD_ABOVE", -1)  # the path taken for huge requests
    rng = random.Random(4)
    request = build_requests([rng.randbytes(16) for _ in range(500)], spans_per_trace=2, requests=1, rng=rng)[0]
    threshold = probability_to_threshold(0.3, 4)
    spans_in = [(s.span_id, s.trace_id) for s in request.resource_spans[0].scope_spans[0].spans]
    expected = [sid for sid, tid in spans_in if int.from_bytes(tid[9:], "big") >= threshold]
    processor, sink = make_processor({"sampling_percentage": 30, "mode": "equalizing"}, Signal.TRACES)
    await processor.consume(request)
    spans = sink.received[0].resource_spans[0].scope_spans[0].spans
    assert [s.span_id for s in spans] == expected and 200 < len(expected) < 400
    assert {s.trace_state for s in spans} == {"ot=th:" + threshold_to_tvalue(threshold)}


# ---- statistics: 10% of 100k traces, whole traces together ---------------------------------------

def _span_bytes(trace_id: bytes, span_id: bytes) -> bytes:
    # Span: trace_id (1), span_id (2), name (5); sizes below 128 so lengths are one byte
    body = b"\x0a\x10" + trace_id + b"\x12\x08" + span_id + b"\x2a\x01s"
    return b"\x12" + bytes([len(body)]) + body  # as ScopeSpans.spans (2)


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def build_requests(trace_ids: list[bytes], spans_per_trace: int, requests: int, rng: random.Random) -> list[ExportTraceServiceRequest]:
    """Big requests built from wire bytes (fast); each trace's spans land in different requests."""
    buckets: list[list[bytes]] = [[] for _ in range(requests)]
    counter = 0
    for tid in trace_ids:
        for _ in range(spans_per_trace):
            counter += 1
            buckets[rng.randrange(requests)].append(_span_bytes(tid, counter.to_bytes(8, "big")))
    out = []
    for spans in buckets:
        scope = b"".join(spans)
        resource = b"\x12" + _varint(len(scope)) + scope  # ResourceSpans.scope_spans (2)
        out.append(ExportTraceServiceRequest.FromString(b"\x0a" + _varint(len(resource)) + resource))
    return out


@pytest.mark.parametrize("mode", ["hash_seed", "proportional", "equalizing"])
async def test_ten_percent_of_100k_traces(mode):
    n, p = 100_000, 0.10
    rng = random.Random(99)
    trace_ids = [rng.randbytes(16) for _ in range(n)]
    requests = build_requests(trace_ids, spans_per_trace=4, requests=40, rng=rng)
    processor, sink = make_processor({"sampling_percentage": 10, "mode": mode, "hash_seed": 17}, Signal.TRACES)
    spans_in = 4 * n
    start = time.perf_counter()
    for req in requests:
        await processor.consume(req)
    elapsed = time.perf_counter() - start
    per_trace = Counter()
    for req in sink.received:
        for rs in req.resource_spans:
            for ss in rs.scope_spans:
                for span in ss.spans:
                    per_trace[span.trace_id] += 1
    assert set(per_trace.values()) == {4}, "a trace was split: some of its spans kept, others dropped"
    fraction = len(per_trace) / n
    bound = 3.29 * math.sqrt(p * (1 - p) / n)
    assert abs(fraction - p) <= bound, f"kept {fraction:.5f}, expected {p} ± {bound:.5f}"
    print(f"\n{mode}: {spans_in / elapsed:,.0f} spans/s ({elapsed:.2f}s for {spans_in} spans), kept {fraction:.4%}")
    assert elapsed < 10


# ---- end to end: the real SDK through the collector ----------------------------------------------

async def _wait_for(predicate, timeout: float = 15.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.05)


async def test_sdk_through_collector_to_backend():
    from tests.backends import HTTPBackend, free_port
    from tests.conftest import running
    from tests.sdk import SDKApp

    backend = await HTTPBackend().start()
    port = free_port()
    yaml = f"""
receivers:
  otlp:
    protocols:
      http: {{endpoint: "127.0.0.1:{port}"}}
processors:
  probabilistic_sampler:
    sampling_percentage: 50
    hash_seed: 3
exporters:
  otlphttp:
    endpoint: {backend.endpoint}
service:
  pipelines:
    traces: {{receivers: [otlp], processors: [probabilistic_sampler], exporters: [otlphttp]}}
    logs: {{receivers: [otlp], processors: [probabilistic_sampler], exporters: [otlphttp]}}
"""
    try:
        async with running(yaml):
            app = SDKApp("http", f"http://127.0.0.1:{port}")
            await asyncio.to_thread(app.emit, 40)
            await asyncio.to_thread(app.shutdown)
            sent = app.sent()
            sent_spans = [s for rs in sent["traces"].resource_spans for ss in rs.scope_spans for s in ss.spans]
            sent_logs = [r for rl in sent["logs"].resource_logs for sl in rl.scope_logs for r in sl.log_records]

            def keeps(trace_id: bytes) -> bool:
                return any(trace_id) and _fnv_reference(3, trace_id) & 0x3FFF < 8192

            want_spans = {s.span_id for s in sent_spans if keeps(s.trace_id)}
            want_logs = [r.body.string_value for r in sent_logs if keeps(r.trace_id)]
            assert 0 < len(want_spans) < len(sent_spans)

            def got_spans():
                return [s for m in backend.messages(Signal.TRACES) for rs in m.resource_spans for ss in rs.scope_spans for s in ss.spans]

            def got_logs():
                return [r for m in backend.messages(Signal.LOGS) for rl in m.resource_logs for sl in rl.scope_logs for r in sl.log_records]

            await _wait_for(lambda: len(got_spans()) >= len(want_spans) and len(got_logs()) >= len(want_logs))
            await asyncio.sleep(0.3)
        spans = got_spans()
        assert {s.span_id for s in spans} == want_spans and len(spans) == len(want_spans)
        for span in spans:
            h = _fnv_reference(3, span.trace_id)
            u = h >> 18
            rnd = ((16383 - (h & 0x3FFF)) << 42) | ((u ^ (u << 10)) << 14) | (h & 0x3FFF)
            assert span.trace_state == f"ot=rv:{rnd:014x};th:8"
        logs = got_logs()
        assert [r.body.string_value for r in logs] == want_logs  # the final log has no trace ID: dropped (fail_closed)
        for rec in logs:
            attrs = {kv.key: kv.value.string_value for kv in rec.attributes}
            assert attrs["sampling.threshold"] == "8" and len(attrs["sampling.randomness"]) == 14
    finally:
        await backend.stop()
