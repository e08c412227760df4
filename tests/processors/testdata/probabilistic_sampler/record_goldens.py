#!/usr/bin/env python3
"""Record what upstream's probabilistic_sampler (otelcol-ref, contrib v0.161.0) keeps.

  python tests/processors/testdata/probabilistic_sampler/record_goldens.py [--inputs] [CASE...]

``--inputs`` regenerates the fixed inputs (traces_input.bin.gz, logs_input.bin.gz) from the seeded
generators below; without it the stored inputs are used. For each case of cases.json, otelcol-ref
runs ``otlp (http) -> probabilistic_sampler (the case's config) -> file (format: proto)``, gets every
input request in order, and is stopped; what the file exporter wrote is summarised (see
``summarize`` in tests/processors/test_probabilistic_sampler.py) into ``<case>.json``.

The input files hold the requests as protobuf, each preceded by its length (4 bytes, big-endian),
gzip-compressed.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[3]
sys.path.insert(0, str(REPO))

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest  # noqa: E402
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest  # noqa: E402

from tests.processors.test_probabilistic_sampler import (  # noqa: E402
    CASES_FILE,
    INPUTS,
    REQUEST_TYPES,
    golden_path,
    read_requests,
    summarize,
    write_requests,
)

OTELCOL_REF = Path(os.environ.get("OTELCOL_REF", REPO / "bench" / ".build" / "bin" / "otelcol-ref"))

# ---- fixed inputs --------------------------------------------------------------------------------


def _hex_th(value: int) -> str:
    return ("%014x" % value).rstrip("0") or "0"


def _tracestate(rng: random.Random, trace_id: bytes) -> str:
    """A tracestate for a span: mostly OTel sampling data (consistent or not), some vendor data,
    some malformed in each way the parser distinguishes."""
    rnd = int.from_bytes(trace_id[9:16], "big") if len(trace_id) == 16 else 0
    rv_value = rng.getrandbits(56)
    rv = "%014x" % rv_value

    def below(x: int) -> str:  # a threshold that x passes
        digits = rng.randint(1, 5)
        return _hex_th((x >> (56 - 4 * digits)) << (56 - 4 * digits))

    def above(x: int) -> str:  # a threshold that x fails
        return _hex_th(min(x + rng.randint(1, 1 << 52), (1 << 56) - 1))

    def common() -> str:
        return rng.choice(["0", "8", "c", "f", "fd", "1", "08", "80", "e6a", "ffffffffffffff", "00000000000001"])

    options = [
        lambda: f"ot=th:{below(rnd)}",
        lambda: f"ot=th:{above(rnd)}",
        lambda: f"ot=th:{common()}",
        lambda: f"ot=rv:{rv}",
        lambda: f"ot=rv:{rv};th:{below(rv_value)}",
        lambda: f"ot=th:{above(rv_value)};rv:{rv}",
        lambda: f"vendor=v1,ot=th:{below(rnd)}",
        lambda: f"a=1, ot=rv:{rv} ,b=2",
        lambda: "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7",
        lambda: f"ot=th:{common()};foo:bar;rv:{rv}",
        lambda: f"ot=x:1;th:{below(rnd).upper()}",
        lambda: f"ot=rv:{rv.upper()}",
        lambda: "ot=rv:123",
        lambda: "ot=th:",
        lambda: "ot=th:123456789abcdef",
        lambda: "ot=th:zz",
        lambda: "ot=th:-1",
        lambda: "ot=th:8;",
        lambda: "Bad=1",
        lambda: "ot=th:8,ot=th:4",
        lambda: f"ot=th:4,ot=rv:{rv}",
        lambda: f"ot=rv:{rv};rv:bad",
        lambda: "ot=th:8;th:4",
        lambda: "a@b=1,ot=th:c",
        lambda: "t" * 250 + "@s=1,ot=th:c",
        lambda: "k" * 257 + "=1,ot=th:c",
        lambda: "ot=x:" + "y" * 300,
        lambda: "a=1,,,b=2,ot=th:e",
        lambda: " ot=th:4 \t",
        lambda: ",".join(f"m{i}=v" for i in range(31)),
        lambda: ",".join(f"m{i}=v" for i in range(30)) + ",ot=th:2",
        lambda: "ot=th:f," + ",".join(f"m{i}=v" for i in range(35)),
        lambda: "v=" + "x" * 1100,
        lambda: f"ot=th:0;rv:{rv}",
        lambda: "ot=th:00000000000000",
    ]
    return rng.choice(options)()


def _priority(span, rng: random.Random) -> None:
    value = rng.choice([
        ("int", 0), ("int", 3), ("int", -2), ("int", 1), ("double", 0.0), ("double", -0.0), ("double", 0.5),
        ("double", -1.5), ("double", float("nan")), ("str", "0"), ("str", "1"), ("str", "-1"), ("str", "abc"),
        ("str", "1e400"), ("str", "0x1p-2"), ("str", "1_0"), ("str", "NaN"), ("str", "-0"), ("str", " 1"),
        ("str", "Inf"), ("bool", True), ("bytes", b"\x01"),
    ])
    kv = span.attributes.add(key="sampling.priority")
    kind, v = value
    if kind == "int":
        kv.value.int_value = v
    elif kind == "double":
        kv.value.double_value = v
    elif kind == "str":
        kv.value.string_value = v
    elif kind == "bool":
        kv.value.bool_value = v
    else:
        kv.value.bytes_value = v


def make_traces_input(seed: int = 20251126, traces: int = 2000, requests: int = 24) -> list[ExportTraceServiceRequest]:
    rng = random.Random(seed)
    out = [ExportTraceServiceRequest() for _ in range(requests)]
    slots = []
    for r_index, req in enumerate(out):
        for res_index in range(rng.randint(1, 3)):
            rs = req.resource_spans.add()
            rs.resource.attributes.add(key="req", value={"int_value": r_index})
            rs.resource.attributes.add(key="res", value={"int_value": res_index})
            for s_index in range(rng.randint(1, 2)):
                ss = rs.scope_spans.add()
                ss.scope.name = f"scope-{s_index}"
                slots.append((ss, r_index))
        if rng.random() < 0.3:  # a resource without scopes, and one with an empty scope
            empty = req.resource_spans.add()
            empty.resource.attributes.add(key="req", value={"int_value": r_index})
            empty.resource.attributes.add(key="res", value={"int_value": 99})
            if rng.random() < 0.5:
                empty.scope_spans.add().scope.name = "empty"
    span_counter = 0
    for _ in range(traces):
        roll = rng.random()
        trace_id = b"" if roll < 0.01 else bytes(16) if roll < 0.02 else rng.randbytes(16)
        shared_state = "" if rng.random() < 0.6 else _tracestate(rng, trace_id)
        for _ in range(rng.randint(1, 4)):
            span_counter += 1
            ss, r_index = rng.choice(slots)
            span = ss.spans.add()
            span.trace_id = trace_id
            span.span_id = struct.pack(">Q", span_counter)
            span.name = f"span-{span_counter}"
            span.start_time_unix_nano = 1_700_000_000_000_000_000 + span_counter
            span.end_time_unix_nano = span.start_time_unix_nano + 1000
            roll = rng.random()
            if roll < 0.8:
                span.trace_state = shared_state
            elif roll < 0.9:
                span.trace_state = _tracestate(rng, trace_id)
            if rng.random() < 0.05:
                span.attributes.add(key="other", value={"string_value": "x"})
            if r_index % 4 and rng.random() < 0.1:  # every 4th request has no sampling.priority at all
                _priority(span, rng)
                if rng.random() < 0.1:
                    _priority(span, rng)  # a second one: only the first counts
    return out


def _log_value(kv, rng: random.Random, choices: list) -> None:
    kind, v = rng.choice(choices)
    if kind == "str":
        kv.value.string_value = v
    elif kind == "int":
        kv.value.int_value = v
    elif kind == "double":
        kv.value.double_value = v
    elif kind == "bool":
        kv.value.bool_value = v
    elif kind == "bytes":
        kv.value.bytes_value = v
    elif kind == "map":
        for key, item in v.items():
            item_kv = kv.value.kvlist_value.values.add(key=key)
            if isinstance(item, str):
                item_kv.value.string_value = item
            else:
                item_kv.value.double_value = item
    elif kind == "array":
        for item in v:
            kv.value.array_value.values.add().int_value = item
    # "empty": no value at all


def make_logs_input(seed: int = 4242, records: int = 1500, requests: int = 20) -> list[ExportLogsServiceRequest]:
    rng = random.Random(seed)
    out = [ExportLogsServiceRequest() for _ in range(requests)]
    slots = []
    for r_index, req in enumerate(out):
        for res_index in range(rng.randint(1, 3)):
            rl = req.resource_logs.add()
            rl.resource.attributes.add(key="req", value={"int_value": r_index})
            rl.resource.attributes.add(key="res", value={"int_value": res_index})
            for s_index in range(rng.randint(1, 2)):
                sl = rl.scope_logs.add()
                sl.scope.name = f"scope-{s_index}"
                slots.append((sl, r_index))
    for i in range(records):
        sl, r_index = rng.choice(slots)
        plain = r_index % 4 == 0  # every 4th request: no sampling.* or prio attributes at all
        record = sl.log_records.add()
        record.time_unix_nano = 1_700_000_000_000_000_000 + i
        record.body.string_value = f"rec-{i}"
        roll = rng.random()
        trace_id = b"" if roll < 0.2 else bytes(16) if roll < 0.25 else rng.randbytes(16)
        record.trace_id = trace_id
        if trace_id and rng.random() < 0.5:
            record.span_id = rng.randbytes(8)
        rnd = int.from_bytes(trace_id[9:16], "big") if trace_id else 0
        attrs = []
        if rng.random() < 0.75:
            attrs.append(("uid", [
                ("str", rng.randbytes(6).hex()), ("str", rng.randbytes(6).hex()), ("str", ""), ("int", rng.randint(-10**12, 10**12)),
                ("double", rng.uniform(-1e3, 1e3)), ("double", 1e21), ("bytes", rng.randbytes(5)), ("bytes", b""),
                ("bool", rng.random() < 0.5), ("map", {"b": "x", "a": rng.uniform(0, 1)}), ("array", [1, 2, rng.randint(0, 9)]),
                ("empty", None),
            ]))
        if not plain and rng.random() < 0.3:
            attrs.append(("prio", [
                ("int", 0), ("int", 1), ("int", 50), ("int", 100), ("int", 150), ("int", -5), ("double", 0.0),
                ("double", 0.5), ("double", 99.9), ("double", 100.0), ("double", 1e-20), ("double", float("nan")),
                ("double", 12.5), ("str", "50"), ("bool", True),
            ]))
        if not plain and rng.random() < 0.12:
            low = ("%014x" % ((rnd >> 40) << 40)).rstrip("0") or "0"
            high = ("%014x" % min(rnd + (1 << 44), (1 << 56) - 1)).rstrip("0")
            attrs.append(("sampling.threshold", [
                ("str", low), ("str", high), ("str", "8"), ("str", "c"), ("str", "0"), ("str", "zz"), ("str", ""),
                ("str", "123456789abcdef"), ("int", 5),
            ]))
        if not plain and rng.random() < 0.08:
            attrs.append(("sampling.randomness", [
                ("str", "%014x" % rng.getrandbits(56)), ("str", "%014x" % rng.getrandbits(56)), ("str", "123"),
                ("str", "zzzzzzzzzzzzzz"), ("int", 7),
            ]))
        if rng.random() < 0.2:
            attrs.append(("filler", [("str", "f"), ("int", 1)]))
        rng.shuffle(attrs)
        for key, choices in attrs:
            _log_value(record.attributes.add(key=key), rng, choices)
        if attrs and rng.random() < 0.05:
            key, choices = rng.choice(attrs)
            _log_value(record.attributes.add(key=key), rng, choices)  # a duplicate key: the first counts
    return out


# ---- running otelcol-ref -------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_port(port: int, proc: subprocess.Popen, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("otelcol-ref exited early")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("otelcol-ref did not open its port")


def _config_yaml(signal_name: str, cfg: dict, port: int, out: Path) -> str:
    return f"""
receivers:
  otlp:
    protocols:
      http:
        endpoint: 127.0.0.1:{port}
processors:
  probabilistic_sampler: {json.dumps(cfg)}
exporters:
  file:
    path: {out}
    format: proto
service:
  telemetry:
    metrics:
      level: none
    logs:
      level: warn
  pipelines:
    {signal_name}:
      receivers: [otlp]
      processors: [probabilistic_sampler]
      exporters: [file]
"""


def read_proto_file(path: Path, message_type) -> list:
    data = path.read_bytes() if path.exists() else b""
    out, pos = [], 0
    while pos + 4 <= len(data):
        (size,) = struct.unpack(">I", data[pos:pos + 4])
        out.append(message_type.FromString(data[pos + 4:pos + 4 + size]))
        pos += 4 + size
    if pos != len(data):
        raise RuntimeError(f"{path}: trailing {len(data) - pos} bytes")
    return out


def run_upstream(signal_name: str, cfg: dict, requests: list) -> list:
    with tempfile.TemporaryDirectory(prefix="psampler-") as tmp:
        work = Path(tmp)
        port = _free_port()
        out = work / "out.pb"
        config = work / "config.yaml"
        config.write_text(_config_yaml(signal_name, cfg, port, out))
        with open(work / "stderr.log", "wb") as log:
            proc = subprocess.Popen([str(OTELCOL_REF), f"--config=file:{config}"], stdout=log, stderr=log)
            try:
                _wait_port(port, proc)
                for req in requests:
                    http = urllib.request.Request(
                        f"http://127.0.0.1:{port}/v1/{signal_name}", data=req.SerializeToString(),
                        headers={"Content-Type": "application/x-protobuf"}, method="POST",
                    )
                    with urllib.request.urlopen(http, timeout=30) as resp:
                        if resp.status != 200:
                            raise RuntimeError(f"otelcol-ref answered {resp.status}")
            finally:
                proc.send_signal(signal.SIGTERM)
                proc.wait(timeout=60)
        return read_proto_file(out, REQUEST_TYPES[signal_name])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--inputs", action="store_true", help="regenerate the input files first")
    parser.add_argument("cases", nargs="*")
    args = parser.parse_args()
    if args.inputs or not all(p.exists() for p in INPUTS.values()):
        write_requests(INPUTS["traces"], make_traces_input())
        write_requests(INPUTS["logs"], make_logs_input())
    cases = json.loads(CASES_FILE.read_text())
    names = args.cases or list(cases)
    for name in names:
        case = cases[name]
        requests = read_requests(INPUTS[case["signal"]], REQUEST_TYPES[case["signal"]])
        outputs = run_upstream(case["signal"], case["config"], requests)
        summary = summarize(case["signal"], outputs)
        golden_path(name).write_text(json.dumps({"config": case["config"], "output": summary}, indent=None, separators=(",", ":")) + "\n")
        kept = sum(len(scope["items"]) for req in summary for res in req for scope in res["scopes"])
        print(f"{name}: {len(outputs)} requests out, {kept} items kept")
    return 0


if __name__ == "__main__":
    sys.exit(main())
