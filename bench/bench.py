#!/usr/bin/env python3
"""Throughput/CPU/memory/latency benchmark: otelflow vs the upstream Go collector (otelcol-ref) vs
rotel, one after another on this machine, under the same telemetrygen load.

  bench.py --quick      traces only, fixed rate + as fast as it goes, short runs (< 2 minutes)
  bench.py              traces, metrics and logs, fixed rate + as fast as it goes (~8 minutes)
  bench.py --peers otelflow,otelcol-ref --scenarios traces-fixed --duration 30

Layout of one run (see README.md "Benchmark"):
  core 1: the collector under test (taskset -c 1), nothing else;
  core 0: telemetrygen, the counting sink (a second otelcol-ref: otlp receiver -> debug exporter,
          counted by its own otelcol_receiver_accepted_* counters on its Prometheus endpoint), the
          latency probe and this script.
The collector runs the seed's pipeline for the signal, with its exporter pointed at the sink.
Every number is measured from outside the collector (/proc, the sink's counters), never reported
by the collector itself.
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.client
import json
import os
import platform
import random
import re
import shutil
import signal as _signal
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from netutil import free_port, wait_port  # noqa: E402 - bench/ is the script's directory

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
# the otelflow of this checkout, whatever an editable install elsewhere points at
os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO / "src"), os.environ.get("PYTHONPATH")]))
BIN = HERE / ".build" / "bin"
OTELCOL_REF = BIN / "otelcol-ref"
TELEMETRYGEN = BIN / "telemetrygen"
SEED = HERE / "configs" / "seed-otel-collector-config.yaml"
RESULTS = HERE / "results"

COLLECTOR_CORE = "1"
LOAD_CORE = "0"
CLK_TCK = os.sysconf("SC_CLK_TCK")
PROBE_SERVICE = "bench-latency-probe"
PROBE_INTERVAL = 0.05  # 20 probe spans per second during fixed-rate traces runs
WARMUP = 2.0  # seconds of each run left out of the steady-state rate
SINK_EXPORTER = "otlphttp/bench_sink"  # replaces the seed's pull-only prometheus exporter

ITEM = {"traces": "spans", "metrics": "metric points", "logs": "log records"}
SINK_COUNTER = {
    "traces": "otelcol_receiver_accepted_spans",
    "metrics": "otelcol_receiver_accepted_metric_points",
    "logs": "otelcol_receiver_accepted_log_records",
}
SINK_REFUSED = {
    "traces": "otelcol_receiver_refused_spans",
    "metrics": "otelcol_receiver_refused_metric_points",
    "logs": "otelcol_receiver_refused_log_records",
}
GENERATED = {"traces": "traces generated", "metrics": "metrics generated", "logs": "logs generated"}

# The same telemetrygen load for every peer. Span/log attributes exercise the seed's processors
# (attributes/scrub hashes http.url and deletes db.statement; resource copies env).
COMMON_ATTRS = [
    "--otlp-attributes", 'env="bench"',
    "--telemetry-attributes", 'http.url="https://shop.example.com/checkout?card=4111111111111111"',
    "--telemetry-attributes", 'db.statement="SELECT * FROM orders WHERE id = 42"',
]
# (processes, telemetrygen arguments) per scenario.
# telemetrygen's rate limiter tops out near 2000 items/s per worker, so rates are split across
# workers. Traces: one telemetrygen process has one export in flight and its SDK batch span
# processor drops spans when its queue is full (no back-pressure), so "max" runs 4 processes (4
# exports in flight, 512 spans each: the OTel SDK's default export batch) offering more than
# core 0 can send; the "(no collector)" row shows what the load side delivers straight into the
# sink. Metrics and logs export synchronously per worker (8 in flight), so "max" is unthrottled
# (rate 0) with back-pressure.
LOADS = {
    ("traces", "fixed"): (1, ["--workers", "10", "--rate", "1000", "--child-spans", "1"]),
    ("traces", "max"): (4, ["--workers", "20", "--rate", "2000", "--child-spans", "1", "--batch-size", "512"]),
    ("metrics", "fixed"): (1, ["--workers", "10", "--rate", "1000", "--allow-export-failures"]),
    ("metrics", "max"): (1, ["--workers", "8", "--rate", "0", "--allow-export-failures"]),
    ("logs", "fixed"): (1, ["--workers", "10", "--rate", "1000", "--allow-export-failures"]),
    ("logs", "max"): (1, ["--workers", "8", "--rate", "0", "--allow-export-failures"]),
}
QUICK_SCENARIOS = ["traces-fixed", "traces-max"]
FULL_SCENARIOS = ["traces-fixed", "traces-max", "metrics-fixed", "metrics-max", "logs-fixed", "logs-max"]
PEERS = ["otelflow", "otelcol-ref", "rotel"]
# rotel's exporter protocol. Its default, gRPC, is used: with "http" this rotel build stalls about
# 40 ms per export request on loopback (measured: ~25 requests/s whatever the size), which would
# measure that stall rather than rotel. Override with --rotel-export-protocol http.
ROTEL_EXPORT_PROTOCOL = "grpc"
# How telemetrygen sends: OTLP/HTTP (protobuf). With OTLP/gRPC, this rotel build answers each
# request from telemetrygen (Go gRPC client) only after ~40 ms (measured: one worker gets ~2,400
# log records/s through rotel, ~190,000/s straight into otelcol-ref), so rotel's numbers would
# measure that stall. --transport grpc runs the gRPC variant for every peer.
LOAD_TRANSPORT = "http"
BASELINE = "(no collector)"


# ---------------------------------------------------------------------------------------------
# small helpers


def parse_duration(text: Any) -> float:
    if isinstance(text, (int, float)):
        return float(text)
    m = re.fullmatch(r"\s*([\d.]+)\s*(ns|us|µs|ms|s|m|h)?\s*", str(text))
    if not m:
        return 0.0
    scale = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600, None: 1}[m.group(2)]
    return float(m.group(1)) * scale


def descendants(pid: int) -> list[int]:
    """pid and every live descendant."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out


def cpu_seconds(pid: int) -> float:
    """utime+stime of pid and its live descendants, from /proc/PID/stat."""
    total = 0.0
    for p in descendants(pid):
        try:
            with open(f"/proc/{p}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / CLK_TCK
        except (OSError, IndexError, ValueError):
            pass
    return total


def machine_busy_seconds() -> float:
    """CPU seconds all cores spent not idle since boot (/proc/stat)."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    user, nice, system, idle, iowait, irq, softirq, steal = (fields + [0] * 8)[:8]
    return (user + nice + system + irq + softirq + steal) / CLK_TCK


def self_cpu_seconds() -> float:
    t = os.times()
    return t.user + t.system


def peak_rss_mib(pid: int) -> float:
    """VmHWM (peak resident set) of pid and its live descendants, from /proc/PID/status."""
    total = 0
    for p in descendants(pid):
        try:
            with open(f"/proc/{p}/status") as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        total += int(line.split()[1])
        except OSError:
            pass
    return total / 1024


def stop(proc: subprocess.Popen | None, timeout: float = 15.0) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(_signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    k = (len(ordered) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


# ---------------------------------------------------------------------------------------------
# the counting sink


class Sink:
    """A second otelcol-ref on core 0: otlp receiver -> debug exporter (basic, heavily sampled).
    Counts with its own otelcol_receiver_accepted_* counters. With ``probe`` it also stamps the
    latency-probe spans with their arrival time (filter + transform) and writes them to a file."""

    def __init__(self, workdir: Path, probe: bool):
        self.workdir = workdir
        self.probe = probe
        self.grpc_port, self.http_port, self.metrics_port = free_port(), free_port(), free_port()
        self.probe_file = workdir / "sink-probe.jsonl"
        self.proc: subprocess.Popen | None = None

    def config(self) -> dict:
        cfg: dict[str, Any] = {
            "receivers": {"otlp": {"protocols": {
                "grpc": {"endpoint": f"127.0.0.1:{self.grpc_port}", "max_recv_msg_size_mib": 64},
                "http": {"endpoint": f"127.0.0.1:{self.http_port}"},
            }}},
            "exporters": {"debug": {"verbosity": "basic", "sampling_initial": 1, "sampling_thereafter": 1000000}},
            "service": {
                "telemetry": {
                    "logs": {"level": "warn"},
                    "metrics": {"level": "normal", "readers": [{"pull": {"exporter": {"prometheus": {
                        "host": "127.0.0.1", "port": self.metrics_port}}}}]},
                },
                "pipelines": {s: {"receivers": ["otlp"], "exporters": ["debug"]} for s in ("traces", "metrics", "logs")},
            },
        }
        if self.probe:
            cfg["processors"] = {
                "filter/probe": {"error_mode": "ignore", "traces": {"span": [
                    f'resource.attributes["service.name"] != "{PROBE_SERVICE}"']}},
                "transform/stamp": {"error_mode": "ignore", "trace_statements": [
                    {"context": "span", "statements": ['set(attributes["sink.received_unix_nano"], UnixNano(Now()))']}]},
            }
            cfg["exporters"]["file/probe"] = {"path": str(self.probe_file)}
            cfg["service"]["pipelines"]["traces/probe"] = {
                "receivers": ["otlp"], "processors": ["filter/probe", "transform/stamp"], "exporters": ["file/probe"]}
        return cfg

    def start(self) -> None:
        path = self.workdir / "sink.yaml"
        path.write_text(yaml.safe_dump(self.config(), sort_keys=False))
        log = open(self.workdir / "sink.log", "wb")
        self.proc = subprocess.Popen(["taskset", "-c", LOAD_CORE, str(OTELCOL_REF), "--config", str(path)],
                                     stdout=log, stderr=subprocess.STDOUT)
        for port in (self.grpc_port, self.http_port, self.metrics_port):
            wait_port(port, self.proc)

    def counters(self) -> dict[str, float]:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=5) as resp:
            text = resp.read().decode()
        out: dict[str, float] = {}
        for line in text.splitlines():
            if line.startswith("#") or not line.strip():
                continue
            name = re.split(r"[{ ]", line, 1)[0]
            try:
                out[name] = out.get(name, 0.0) + float(line.rsplit(" ", 1)[1])
            except ValueError:
                pass
        return out

    def count(self, signal: str) -> float:
        return self.counters().get(SINK_COUNTER[signal], 0.0)

    def stop(self) -> None:
        stop(self.proc)

    def probe_latencies_ms(self) -> list[float]:
        out = []
        if not self.probe_file.exists():
            return out
        for line in self.probe_file.read_text().splitlines():
            try:
                doc = json.loads(line)
            except ValueError:
                continue
            for rs in doc.get("resourceSpans", []):
                for ss in rs.get("scopeSpans", []):
                    for span in ss.get("spans", []):
                        attrs = {a["key"]: a.get("value", {}) for a in span.get("attributes", [])}
                        sent = attrs.get("probe.sent_unix_nano", {}).get("intValue")
                        got = attrs.get("sink.received_unix_nano", {}).get("intValue")
                        if sent is not None and got is not None:
                            out.append((int(got) - int(sent)) / 1e6)
        return out


# ---------------------------------------------------------------------------------------------
# latency probe: one span every PROBE_INTERVAL through the collector's OTLP/HTTP receiver


class Probe(threading.Thread):
    def __init__(self, port: int):
        super().__init__(daemon=True)
        self.port = port
        self.sent = 0
        self.errors = 0
        self._halt = threading.Event()

    def _request(self) -> bytes:
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

        req = ExportTraceServiceRequest()
        rs = req.resource_spans.add()
        kv = rs.resource.attributes.add()
        kv.key, kv.value.string_value = "service.name", PROBE_SERVICE
        span = rs.scope_spans.add().spans.add()
        span.trace_id = random.randbytes(16)
        span.span_id = random.randbytes(8)
        span.name = "latency-probe"
        now = time.time_ns()
        span.start_time_unix_nano = span.end_time_unix_nano = now
        kv = span.attributes.add()
        kv.key, kv.value.int_value = "probe.sent_unix_nano", now
        return req.SerializeToString()

    def run(self) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        next_at = time.monotonic()
        while not self._halt.is_set():
            try:
                conn.request("POST", "/v1/traces", body=self._request(),
                             headers={"Content-Type": "application/x-protobuf"})
                resp = conn.getresponse()
                resp.read()
                if resp.status == 200:
                    self.sent += 1
                else:
                    self.errors += 1
            except (OSError, http.client.HTTPException):
                self.errors += 1
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
            next_at += PROBE_INTERVAL
            self._halt.wait(max(0.0, next_at - time.monotonic()))
        conn.close()

    def stop(self) -> None:
        self._halt.set()
        self.join(timeout=15)


# ---------------------------------------------------------------------------------------------
# peers


def seed_pipeline_config(seed: dict, signal: str, telemetry_port: int) -> dict:
    """The seed config reduced to the pipeline of ``signal`` (and what it references). The seed's
    metrics exporter is `prometheus` (pull-only, cannot be counted at an OTLP sink): it is
    replaced by an otlphttp exporter for every peer."""
    pipeline = dict(seed["service"]["pipelines"][signal])
    exporters = {}
    for name in pipeline.get("exporters", []):
        if name.split("/")[0] == "prometheus":
            exporters[SINK_EXPORTER] = {"endpoint": "http://127.0.0.1:1"}
        else:
            exporters[name] = dict(seed["exporters"][name])
    pipeline["exporters"] = list(exporters)
    processors = {name: seed["processors"][name] for name in pipeline.get("processors", [])}
    cfg: dict[str, Any] = {"receivers": {r: seed["receivers"][r] for r in pipeline["receivers"]}}
    if processors:
        cfg["processors"] = processors
    cfg["exporters"] = exporters
    cfg["service"] = {
        # upstream's default internal telemetry (level normal, Prometheus pull reader), bound to
        # loopback on a free port instead of localhost:8888
        "telemetry": {"metrics": {"readers": [{"pull": {"exporter": {"prometheus": {
            "host": "127.0.0.1", "port": telemetry_port}}}}]}},
        "pipelines": {signal: pipeline},
    }
    return cfg


def endpoint_sets(cfg: dict, signal: str, grpc_port: int, http_port: int, sink_http: int) -> list[str]:
    sets = [f"receivers::otlp::protocols::grpc::endpoint=127.0.0.1:{grpc_port}",
            f"receivers::otlp::protocols::http::endpoint=127.0.0.1:{http_port}"]
    for name in cfg["service"]["pipelines"][signal]["exporters"]:
        sets.append(f"exporters::{name}::endpoint=http://127.0.0.1:{sink_http}")
    return sets


def batch_timeout(cfg: dict, signal: str) -> float:
    """The longest time a batch processor, or an exporter's ``sending_queue.batch``, in the pipeline
    may hold data (0 without one)."""
    longest = 0.0
    pipeline = cfg["service"]["pipelines"][signal]
    for name in pipeline.get("processors", []):
        if name.split("/")[0] == "batch":
            longest = max(longest, parse_duration((cfg["processors"].get(name) or {}).get("timeout", "200ms")))
    for name in pipeline.get("exporters", []):
        queue = (cfg["exporters"].get(name) or {}).get("sending_queue") or {}
        if "batch" in queue:
            longest = max(longest, parse_duration((queue["batch"] or {}).get("flush_timeout", "200ms")))
    return longest


def otelflow_validate(config_path: Path, sets: list[str]) -> tuple[bool, str]:
    cmd = [sys.executable, "-m", "otelflow", "validate", "--config", str(config_path)]
    for s in sets:
        cmd += ["--set", s]
    out = subprocess.run(cmd, capture_output=True, text=True)
    text = out.stdout + out.stderr
    return out.returncode == 0 and "configuration is valid" in text, text


def _reason(text: str) -> str:
    lines = [l.strip() for l in text.splitlines() if l.strip()]
    for line in lines:
        if "unknown processor type" in line:
            return line
    return lines[-1] if lines else "rejected"


_SUPPORT_CACHE: dict[tuple[str, str], str | None] = {}


def otelflow_processor_support(cfg: dict, signal: str, sets: list[str], workdir: Path) -> dict[str, str | None]:
    """Which of the pipeline's processors otelflow accepts: name -> None (accepted) or the reason
    it is left out (``otelflow validate`` lists unknown component types). Each processor is tried
    on its own, so one missing or broken processor does not hide the others."""
    names = list(cfg["service"]["pipelines"][signal].get("processors", []))
    out: dict[str, str | None] = {}
    for name in names:
        key = (name, json.dumps(cfg["processors"].get(name), sort_keys=True))
        if key not in _SUPPORT_CACHE:
            trial = json.loads(json.dumps(cfg))
            trial["processors"] = {name: cfg["processors"][name]}
            trial["service"]["pipelines"][signal]["processors"] = [name]
            path = workdir / f"otelflow-probe-{name.replace('/', '_')}.yaml"
            path.write_text(yaml.safe_dump(trial, sort_keys=False))
            ok, text = otelflow_validate(path, sets)
            _SUPPORT_CACHE[key] = None if ok else _reason(text)
        out[name] = _SUPPORT_CACHE[key]
    return out


def rotel_binary() -> Path | None:
    try:
        import rotel  # noqa: F401
    except ImportError:
        return None
    path = Path(rotel.__file__).parent / "rotel-agent"
    return path if path.exists() else None


@dataclass
class PeerSetup:
    name: str
    command: list[str]
    grpc_port: int
    http_port: int
    processors: list[str]
    skipped_processors: list[str]
    exporter: str
    drain_min: float  # seconds to wait after the load before "no more data" can be concluded
    note: str = ""


def setup_peer(peer: str, signal: str, workdir: Path, seed: dict, sink: Sink) -> PeerSetup:
    grpc_port, http_port = free_port(), free_port()
    if peer == "rotel":
        binary = rotel_binary()
        if binary is None:
            raise RuntimeError("rotel is not installed (pip install rotel==0.0.1a15)")
        sink_port = sink.grpc_port if ROTEL_EXPORT_PROTOCOL == "grpc" else sink.http_port
        cmd = [str(binary), "start",
               "--otlp-grpc-endpoint", f"127.0.0.1:{grpc_port}",
               "--otlp-http-endpoint", f"127.0.0.1:{http_port}",
               "--exporter", "otlp",
               "--otlp-exporter-endpoint", f"http://127.0.0.1:{sink_port}",
               "--otlp-exporter-protocol", ROTEL_EXPORT_PROTOCOL,
               "--pid-file", str(workdir / "rotel.pid"), "--log-file", str(workdir / "rotel.log")]
        return PeerSetup(peer, cmd, grpc_port, http_port, ["(built-in batching: 8192 items / 200ms)"], [],
                         f"otlp ({ROTEL_EXPORT_PROTOCOL}, gzip)", 1.5, "pass-through")
    cfg = seed_pipeline_config(seed, signal, free_port())
    sets = endpoint_sets(cfg, signal, grpc_port, http_port, sink.http_port)
    path = workdir / f"{peer}.yaml"
    skipped: list[str] = []
    if peer == "otelflow":
        support = otelflow_processor_support(cfg, signal, sets, workdir)
        skipped = [name for name, reason in support.items() if reason is not None]
        for name in skipped:
            print(f"    otelflow: processor {name} left out: {support[name]}", flush=True)
            cfg.get("processors", {}).pop(name, None)
        pipe = cfg["service"]["pipelines"][signal]
        pipe["processors"] = [p for p in pipe.get("processors", []) if p not in skipped]
        if not pipe["processors"]:
            del pipe["processors"]
        if not cfg.get("processors"):
            cfg.pop("processors", None)
        path.write_text(yaml.safe_dump(cfg, sort_keys=False))
        ok, text = otelflow_validate(path, sets)
        if not ok:
            raise RuntimeError(f"otelflow rejects the bench config:\n{text}")
        cmd = [sys.executable, "-m", "otelflow", "--config", str(path)]
    else:
        path.write_text(yaml.safe_dump(cfg, sort_keys=False))
        cmd = [str(OTELCOL_REF), "--config", str(path)]
    for s in sets:
        cmd += ["--set", s]
    pipe = cfg["service"]["pipelines"][signal]
    exporter = ", ".join(pipe["exporters"])
    return PeerSetup(peer, cmd, grpc_port, http_port, list(pipe.get("processors", [])), skipped, exporter,
                     batch_timeout(cfg, signal) + 1.0)


# ---------------------------------------------------------------------------------------------
# one run


@dataclass
class RunResult:
    peer: str
    signal: str
    mode: str
    duration: float
    processors: list[str] = field(default_factory=list)
    skipped_processors: list[str] = field(default_factory=list)
    exporter: str = ""
    sent: int = 0
    delivered: int = 0
    lost: int = 0
    sink_refused: int = 0
    rate_total: float = 0.0  # delivered / load duration (includes the drained tail)
    rate_steady: float = 0.0  # sink slope from WARMUP to the end of the load
    cpu_seconds: float | None = None
    cpu_per_million: float | None = None
    collector_core_util: float | None = None  # collector CPU / wall time during the load
    peak_rss_mib: float | None = None
    latency_p50_ms: float | None = None
    latency_p99_ms: float | None = None
    latency_samples: int = 0
    probe_sent: int = 0
    probe_errors: int = 0
    loadgen_cpu_seconds: float = 0.0
    sink_cpu_seconds: float = 0.0
    core0_util: float = 0.0
    other_cpu_util: float = 0.0  # CPU used by other processes on the machine during the load (cores)
    loadgen_errors: int = 0
    drain_seconds: float = 0.0
    error: str = ""

    @property
    def headline_rate(self) -> float:
        return self.rate_total if self.mode == "fixed" else self.rate_steady


def telemetrygen_cmd(signal: str, mode: str, grpc_port: int, http_port: int, duration: float) -> list[str]:
    cmd = ["taskset", "-c", LOAD_CORE, str(TELEMETRYGEN), signal, "--otlp-insecure", "--duration", f"{duration:g}s"]
    if LOAD_TRANSPORT == "http":
        cmd += ["--otlp-http", "--otlp-endpoint", f"127.0.0.1:{http_port}"]
    else:
        cmd += ["--otlp-endpoint", f"127.0.0.1:{grpc_port}"]
    cmd += LOADS[(signal, mode)][1]
    if signal in ("traces", "logs"):
        cmd += COMMON_ATTRS
    else:
        cmd += COMMON_ATTRS[:2]
    return cmd


def generated_items(signal: str, log_text: str) -> int:
    total = 0
    for m in re.finditer(re.escape(GENERATED[signal]) + r'\s+(\{.*\})', log_text):
        try:
            fields = json.loads(m.group(1))
        except ValueError:
            continue
        for key in ("traces", "metrics", "logs"):
            if key in fields:
                total += int(fields[key])
    if signal == "traces":
        total *= 2  # one parent + --child-spans 1 per trace
    return total


def run_one(peer: str, signal: str, mode: str, duration: float, seed: dict, workdir: Path) -> RunResult:
    workdir.mkdir(parents=True, exist_ok=True)
    result = RunResult(peer, signal, mode, duration)
    probe_on = signal == "traces" and mode == "fixed"
    sink = Sink(workdir, probe=probe_on)
    collector: subprocess.Popen | None = None
    probe: Probe | None = None
    try:
        sink.start()
        if peer == BASELINE:
            target_grpc, target_http, drain_min = sink.grpc_port, sink.http_port, 1.0
            result.processors, result.exporter = [], "-"
        else:
            setup = setup_peer(peer, signal, workdir, seed, sink)
            result.processors, result.skipped_processors = setup.processors, setup.skipped_processors
            result.exporter = setup.exporter
            (workdir / f"{peer}.cmd").write_text(" ".join(setup.command) + "\n")
            log = open(workdir / f"{peer}.log", "wb")
            collector = subprocess.Popen(["taskset", "-c", COLLECTOR_CORE] + setup.command,
                                         stdout=log, stderr=subprocess.STDOUT, cwd=workdir)
            wait_port(setup.grpc_port, collector)
            wait_port(setup.http_port, collector)
            target_grpc, target_http, drain_min = setup.grpc_port, setup.http_port, setup.drain_min
        time.sleep(1.0)  # let the collector settle after start-up
        c0 = sink.count(signal)
        cpu0 = cpu_seconds(collector.pid) if collector else None
        sink_cpu0 = cpu_seconds(sink.proc.pid)
        busy0, self0 = machine_busy_seconds(), self_cpu_seconds()
        t0 = time.monotonic()
        if probe_on:
            probe = Probe(target_http)
            probe.start()
        procs, _ = LOADS[(signal, mode)]
        tg_logs = [workdir / f"telemetrygen-{i}.log" for i in range(procs)]
        tgs = []
        for path in tg_logs:
            with open(path, "wb") as log:
                tgs.append(subprocess.Popen(telemetrygen_cmd(signal, mode, target_grpc, target_http, duration), stdout=log,
                                            stderr=subprocess.STDOUT))
        series: list[tuple[float, float]] = [(0.0, c0)]
        running = list(tgs)
        while running:
            # reap telemetrygen ourselves to get its rusage (its CPU on core 0)
            for tg in list(running):
                pid, status, usage = os.wait4(tg.pid, os.WNOHANG)
                if pid:
                    tg.returncode = os.waitstatus_to_exitcode(status)
                    result.loadgen_cpu_seconds += usage.ru_utime + usage.ru_stime
                    running.remove(tg)
            if not running:
                break
            time.sleep(0.5)
            try:
                series.append((time.monotonic() - t0, sink.count(signal)))
            except OSError:
                pass
            if time.monotonic() - t0 > duration + 60:
                for tg in running:
                    tg.kill()
        t1 = time.monotonic()
        cpu1 = cpu_seconds(collector.pid) if collector else None
        # CPU used on the machine during the load by anything but this run's processes
        accounted = ((cpu1 - cpu0) if collector else 0.0) + result.loadgen_cpu_seconds \
            + (cpu_seconds(sink.proc.pid) - sink_cpu0) + (self_cpu_seconds() - self0)
        result.other_cpu_util = max(0.0, machine_busy_seconds() - busy0 - accounted) / (t1 - t0)
        if probe is not None:
            probe.stop()
            result.probe_sent, result.probe_errors = probe.sent, probe.errors
        c1 = sink.count(signal)
        series.append((t1 - t0, c1))
        tg_text = "".join(path.read_text(errors="replace") for path in tg_logs)
        result.sent = generated_items(signal, tg_text) + result.probe_sent
        result.loadgen_errors = len(re.findall(r"exporter failed|failed to export|traces export:|context deadline",
                                               tg_text))
        # drain: until everything arrived, or nothing arrived for 1.5 s (not before drain_min)
        last, last_change = c1, time.monotonic()
        while True:
            now = time.monotonic()
            if last - c0 >= result.sent or now - t1 > drain_min + 30:
                break
            if now - t1 >= drain_min and now - last_change >= 1.5:
                break
            time.sleep(0.25)
            c = sink.count(signal)
            if c != last:
                last, last_change = c, time.monotonic()
        t2 = time.monotonic()
        result.drain_seconds = t2 - t1
        counters = sink.counters()
        c2 = counters.get(SINK_COUNTER[signal], 0.0)
        result.sink_refused = int(counters.get(SINK_REFUSED[signal], 0.0))
        result.delivered = int(c2 - c0)
        result.lost = result.sent - result.delivered
        load_time = t1 - t0
        result.rate_total = result.delivered / load_time if load_time > 0 else 0.0
        steady = [(t, c) for t, c in series if t >= WARMUP]
        if len(steady) >= 2 and steady[-1][0] > steady[0][0]:
            result.rate_steady = (steady[-1][1] - steady[0][1]) / (steady[-1][0] - steady[0][0])
        else:
            result.rate_steady = result.rate_total
        result.sink_cpu_seconds = cpu_seconds(sink.proc.pid) - sink_cpu0
        result.core0_util = (result.loadgen_cpu_seconds + result.sink_cpu_seconds) / load_time
        if collector is not None:
            result.cpu_seconds = cpu_seconds(collector.pid) - cpu0
            result.collector_core_util = (cpu1 - cpu0) / load_time
            result.peak_rss_mib = peak_rss_mib(collector.pid)
            if result.delivered > 0:
                result.cpu_per_million = result.cpu_seconds / result.delivered * 1e6
        (workdir / "series.json").write_text(json.dumps(series))
    except Exception as exc:  # keep going with the other peers; the error is in the results
        result.error = f"{type(exc).__name__}: {exc}"
    finally:
        if probe is not None and probe.is_alive():
            probe.stop()
        stop(collector)
        sink.stop()
    if probe_on:
        lat = sink.probe_latencies_ms()
        result.latency_samples = len(lat)
        result.latency_p50_ms = percentile(lat, 0.50)
        result.latency_p99_ms = percentile(lat, 0.99)
    return result


# ---------------------------------------------------------------------------------------------
# report


def fmt(value: float | None, spec: str = ",.0f", na: str = "n/a") -> str:
    return na if value is None else format(value, spec)


def ratio(a: float | None, b: float | None) -> str:
    if a is None or b is None or b == 0:
        return "n/a"
    return f"{a / b:.2f}x"


def table(results: list[RunResult]) -> str:
    lines: list[str] = []
    by_scenario: dict[tuple[str, str], list[RunResult]] = {}
    for r in results:
        by_scenario.setdefault((r.signal, r.mode), []).append(r)
    for (signal, mode), rows in by_scenario.items():
        unit = ITEM[signal]
        procs, load_args = LOADS[(signal, mode)]
        load = (f"{procs} x " if procs > 1 else "") + " ".join(load_args)
        lines.append("")
        lines.append(f"== {signal}, {'fixed rate' if mode == 'fixed' else 'as fast as it goes'}  "
                     f"(telemetrygen over OTLP/{LOAD_TRANSPORT}: {load}; collector on core {COLLECTOR_CORE}, load+sink on core {LOAD_CORE})")
        head = (f"{'peer':16} {unit + '/s':>12} {'CPU-s/M':>9} {'core%':>6} {'peak RSS':>9} "
                f"{'p50 ms':>8} {'p99 ms':>8} {'sent':>10} {'delivered':>10} {'lost':>9} {'core0%':>6} {'other%':>6}")
        lines.append(head)
        lines.append("-" * len(head))
        for r in rows:
            if r.error:
                lines.append(f"{r.peer:16} ERROR {r.error}")
                continue
            lines.append(
                f"{r.peer:16} {fmt(r.headline_rate):>12} {fmt(r.cpu_per_million, ',.1f'):>9} "
                f"{fmt(None if r.collector_core_util is None else r.collector_core_util * 100, '.0f'):>6} "
                f"{fmt(r.peak_rss_mib, '.0f') + ' MiB' if r.peak_rss_mib is not None else 'n/a':>9} "
                f"{fmt(r.latency_p50_ms, '.1f'):>8} {fmt(r.latency_p99_ms, '.1f'):>8} "
                f"{r.sent:>10,} {r.delivered:>10,} {r.lost:>9,} {r.core0_util * 100:>6.0f} "
                f"{r.other_cpu_util * 100:>6.0f}")
        flow = next((r for r in rows if r.peer == "otelflow" and not r.error), None)
        for other in ("otelcol-ref", "rotel"):
            o = next((r for r in rows if r.peer == other and not r.error), None)
            if flow is None or o is None:
                continue
            lines.append(
                f"{'otelflow/' + other:16} {ratio(flow.headline_rate, o.headline_rate):>12} "
                f"{ratio(flow.cpu_per_million, o.cpu_per_million):>9} {'':>6} "
                f"{ratio(flow.peak_rss_mib, o.peak_rss_mib):>9} "
                f"{ratio(flow.latency_p50_ms, o.latency_p50_ms):>8} {ratio(flow.latency_p99_ms, o.latency_p99_ms):>8}")
        lines.append("pipelines run:")
        for r in rows:
            if r.peer == BASELINE:
                lines.append(f"  {r.peer:14} telemetrygen straight into the sink (ceiling of core 0)")
                continue
            procs = ", ".join(r.processors) if r.processors else "(none)"
            skipped = f"   [left out, otelflow lacks them: {', '.join(r.skipped_processors)}]" if r.skipped_processors else ""
            lines.append(f"  {r.peer:14} otlp -> {procs} -> {r.exporter}{skipped}")
    return "\n".join(lines)


LEGEND = """\
items/s   delivered to the sink per second (fixed: all delivered / load time; flat out: slope of
          the sink's counter from {warmup:.0f} s into the load to its end)
CPU-s/M   collector CPU seconds (utime+stime, /proc/PID/stat) per million items delivered
core%     collector CPU / load time; well under 100 means something else was the limit
peak RSS  VmHWM of the collector (/proc/PID/status)
p50/p99   latency-probe spans (20/s over OTLP/HTTP), collector receive -> sink; fixed-rate traces only;
          includes each pipeline's batching (the seed's batch processor: up to 5 s)
sent      generated by telemetrygen (+ probe spans); lost = sent - delivered. For traces flat out,
          mostly spans telemetrygen's own SDK queue dropped because they were not taken fast enough
core0%    telemetrygen + sink CPU / load time; near 100 means the load side was the limit
other%    CPU used by other processes on the machine during the load (/proc/stat minus this run's
          processes); above ~10 the run was disturbed and its numbers are not trustworthy""".format(warmup=WARMUP)


# ---------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    global ROTEL_EXPORT_PROTOCOL, LOAD_TRANSPORT
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="traces only, short runs (under two minutes)")
    p.add_argument("--duration", type=float, help="seconds of load per run (quick: 8, full: 15)")
    p.add_argument("--peers", default=",".join(PEERS), help=f"comma-separated, from {PEERS}")
    p.add_argument("--scenarios", help=f"comma-separated, from {FULL_SCENARIOS}")
    p.add_argument("--no-baseline", action="store_true", help="skip the telemetrygen->sink ceiling runs")
    p.add_argument("--seed", type=Path, default=SEED, help="the seed collector config")
    p.add_argument("--rotel-export-protocol", choices=["grpc", "http"], default=ROTEL_EXPORT_PROTOCOL)
    p.add_argument("--transport", choices=["http", "grpc"], default=LOAD_TRANSPORT,
                   help="how telemetrygen sends to the collector (default: OTLP/HTTP protobuf)")
    p.add_argument("--out", type=Path, help="JSON results file (default bench/results/bench-<time>-<kind>.json)")
    args = p.parse_args(argv)

    if os.cpu_count() is not None and os.cpu_count() < 2:
        print("needs two CPUs (collector on core 1, load on core 0)", file=sys.stderr)
        return 2
    for binary in (OTELCOL_REF, TELEMETRYGEN):
        if not binary.exists():
            print(f"{binary} is missing: run `make bench-ref`", file=sys.stderr)
            return 2
    if shutil.which("taskset") is None:
        print("taskset (util-linux) is needed", file=sys.stderr)
        return 2
    os.sched_setaffinity(0, {int(LOAD_CORE)})  # this script stays off the collector's core

    ROTEL_EXPORT_PROTOCOL = args.rotel_export_protocol
    LOAD_TRANSPORT = args.transport
    kind = "quick" if args.quick else "full"
    duration = args.duration or (8.0 if args.quick else 15.0)
    scenarios = (args.scenarios.split(",") if args.scenarios else (QUICK_SCENARIOS if args.quick else FULL_SCENARIOS))
    peers = [x for x in args.peers.split(",") if x]
    if not args.no_baseline:
        peers = peers + [BASELINE]
    seed = yaml.safe_load(args.seed.read_text())
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    run_dir = RESULTS / "runs" / f"{stamp}-{kind}"
    out_path = args.out or RESULTS / f"bench-{stamp}-{kind}.json"
    print(f"bench ({kind}): {len(scenarios)} scenario(s) x {len(peers)} peer(s), {duration:g}s of load each; "
          f"work files in {run_dir.relative_to(REPO)}")

    results: list[RunResult] = []
    started = time.monotonic()
    for scenario in scenarios:
        signal, mode = scenario.split("-")
        if (signal, mode) not in LOADS:
            print(f"unknown scenario {scenario}", file=sys.stderr)
            return 2
        for peer in peers:
            if mode == "fixed" and peer == BASELINE:
                continue  # the ceiling only matters for "as fast as it goes"
            r = run_one(peer, signal, mode, duration, seed, run_dir / f"{scenario}-{peer.strip('()').replace(' ', '-')}")
            results.append(r)
            status = r.error or (f"{r.headline_rate:,.0f} {ITEM[signal]}/s, {r.delivered:,}/{r.sent:,} delivered, "
                                 f"CPU {fmt(r.cpu_per_million, ',.1f')} s/M")
            print(f"  {scenario:14} {peer:14} {status}", flush=True)

    doc = {
        "kind": kind,
        "started_utc": stamp,
        "elapsed_seconds": round(time.monotonic() - started, 1),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()},
        "layout": {"collector_core": COLLECTOR_CORE, "load_core": LOAD_CORE},
        "duration_seconds": duration,
        "warmup_seconds": WARMUP,
        "loads": {f"{s}-{m}": {"processes": LOADS[(s, m)][0], "args": LOADS[(s, m)][1]} for s, m in LOADS},
        "common_attributes": COMMON_ATTRS,
        "rotel_export_protocol": ROTEL_EXPORT_PROTOCOL,
        "load_transport": LOAD_TRANSPORT,
        "seed": str(args.seed),
        "results": [r.__dict__ | {"headline_rate": r.headline_rate} for r in results],
    }
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(json.dumps(doc, indent=2) + "\n")
    print(table(results))
    print()
    print(LEGEND)
    disturbed = [f"{r.signal}-{r.mode}/{r.peer}" for r in results if r.other_cpu_util > 0.10]
    if disturbed:
        print(f"\nWARNING: other processes used more than 10% of a core during {len(disturbed)} run(s) "
              f"({', '.join(disturbed)}): rerun on a quiet machine before drawing conclusions.")
    print(f"\nresults: {out_path.relative_to(REPO) if out_path.is_relative_to(REPO) else out_path}  "
          f"({doc['elapsed_seconds']:.0f}s)")
    return 1 if any(r.error for r in results) else 0


if __name__ == "__main__":
    raise SystemExit(main())
