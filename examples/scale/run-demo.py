#!/usr/bin/env python3
"""The scale demo: agents -> two tail-sampling gateways, by load balancing or through Kafka.

Starts every otelflow process on 127.0.0.1 (free ports), sends traces with the real OpenTelemetry
Python SDK from two services reporting to *different* agents (so the spans of one trace enter the
system at two places), waits for the gateways' decisions, stops everything with SIGTERM and prints
per-gateway counts. It checks that

* every trace arrived whole at exactly one gateway (no trace's spans on two gateways),
* every sampling decision was whole (a trace's spans all kept or all dropped), and
* the decisions are the seed's policies: errors and slow (> 500 ms) traces kept, /healthz traces
  kept at 1 % and the rest at 5 %, both by upstream's trace-ID hash.

Usage (from the repository root):

    python examples/scale/run-demo.py                  # loadbalancing exporter, 2 agents, 2 gateways
    python examples/scale/run-demo.py --kafka          # Kafka between the tiers (starts a broker;
                                                       # bash scripts/install-kafka.sh first)
    python examples/scale/run-demo.py --kafka --broker 127.0.0.1:9092   # an existing broker

Exit status 0 when every check passed. The processes' logs and the gateways' output stay in the
work directory it prints (``--keep``; otherwise it is removed).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
SPANS_PER_TRACE = 3  # frontend's root span (agent 1) + two checkout spans (agent 2)
HASH_SALT = b"default-hash-seed"  # tail_sampling's default probabilistic salt
# Demo timing instead of the production values in the configs: decide after 2 s, batch for 200 ms.
FAST = ("processors::tail_sampling::decision_wait=2s", "processors::batch::timeout=200ms")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Otelflow:
    """One otelflow process, started the way a user starts it."""

    def __init__(self, name: str, config: Path, env: dict[str, str], workdir: Path, sets: tuple[str, ...] = FAST):
        self.name, self.workdir, self.log = name, workdir, workdir / f"{name}.log"
        args = [sys.executable, "-m", "otelflow", "--config", str(config)]
        for s in sets:
            args += ["--set", s]
        self.args = args
        src = str(ROOT / "src")
        self.env = {**os.environ, **env, "PYTHONPATH": os.pathsep.join(filter(None, (src, os.environ.get("PYTHONPATH"))))}
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        self._out = open(self.log, "wb")
        self.proc = subprocess.Popen(self.args, env=self.env, cwd=self.workdir, stdout=self._out, stderr=subprocess.STDOUT)

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while b"Everything is ready" not in self.log.read_bytes():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{self.name} did not start:\n{self.log.read_text(errors='replace')[-3000:]}")
            time.sleep(0.05)

    def stop(self, timeout: float = 60) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc is not None:
            self._out.close()


@dataclass
class Trace:
    kind: str  # "error", "slow", "healthz" or "normal"
    expected_spans: int = SPANS_PER_TRACE


@dataclass
class Result:
    sent: dict[str, Trace]
    received: dict[str, Counter]  # gateway -> trace ID -> spans received
    sampled: dict[str, Counter]  # gateway -> trace ID -> spans sampled
    problems: list[str] = field(default_factory=list)
    endpoints: dict[str, str] = field(default_factory=dict)  # gateway -> its OTLP address (loadbalancing)

    @property
    def ok(self) -> bool:
        return not self.problems


# -- load -----------------------------------------------------------------------------------------

def send_traces(agents: list[str], count: int) -> dict[str, Trace]:
    """``count`` traces from two SDK-instrumented services, each exporting to its own agent.

    The root span (service ``frontend``) goes to the first agent, the two child spans (service
    ``checkout``) to the second. Durations and statuses are set explicitly so the policies have
    something to decide: every 10th trace fails, every 15th takes 800 ms, every 4th is /healthz."""
    from opentelemetry import trace
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor
    from opentelemetry.trace import SpanKind, Status, StatusCode

    def provider(service: str, agent: str) -> TracerProvider:
        p = TracerProvider(resource=Resource.create({"service.name": service, "env": "demo"}))
        p.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=agent, insecure=True),
                                                schedule_delay_millis=200, max_export_batch_size=256))
        return p

    front, back = provider("frontend", agents[0]), provider("checkout", agents[-1])
    t_front, t_back = front.get_tracer("scale-demo"), back.get_tracer("scale-demo")
    sent: dict[str, Trace] = {}
    ms = 1_000_000
    for i in range(count):
        kind = "error" if i % 10 == 0 else "slow" if i % 15 == 0 else "healthz" if i % 4 == 1 else "normal"
        route = "/healthz" if kind == "healthz" else "/checkout"
        duration = 800 * ms if kind == "slow" else 50 * ms
        t0 = time.time_ns()
        root = t_front.start_span(f"GET {route}", kind=SpanKind.SERVER, start_time=t0,
                                  attributes={"http.target": route, "http.url": f"http://shop{route}?user={i}"})
        ctx = trace.set_span_in_context(root)
        for n, name in enumerate(("reserve", "charge")):
            child = t_back.start_span(name, context=ctx, kind=SpanKind.INTERNAL, start_time=t0 + (n + 1) * ms)
            if kind == "error" and name == "charge":
                child.set_status(Status(StatusCode.ERROR, "card declined"))
            child.end(end_time=t0 + duration - ms)
        root.end(end_time=t0 + duration)
        sent[format(root.get_span_context().trace_id, "032x")] = Trace(kind)
    for p in (front, back):
        p.force_flush()
        p.shutdown()
    return sent


# -- expectations ---------------------------------------------------------------------------------

def _fnv1a64(data: bytes) -> int:
    h = 0xCBF29CE484222325
    for b in data:
        h = ((h ^ b) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


def expected_kept(trace_id: str, t: Trace) -> bool:
    """The seed's policies: errors, slow; else 1 % of /healthz (route rule) or 5 % of the rest."""
    if t.kind in ("error", "slow"):
        return True
    percent = 1 if t.kind == "healthz" else 5
    return _fnv1a64(HASH_SALT + bytes.fromhex(trace_id)) <= int(0xFFFFFFFFFFFFFFFF * percent / 100)


# -- reading the gateways' output -----------------------------------------------------------------

def span_counts(path: Path) -> Counter:
    """Spans per trace ID in an OTLP/JSON lines file written by the file exporter."""
    counts: Counter = Counter()
    if not path.exists():
        return counts
    for line in path.read_text().split("\n")[:-1]:  # a last line without its newline is still being written
        if not line.strip():
            continue
        for rs in json.loads(line).get("resourceSpans", []):
            for ss in rs.get("scopeSpans", []):
                for span in ss.get("spans", []):
                    counts[span["traceId"]] += 1
    return counts


def check(sent: dict[str, Trace], received: dict[str, Counter], sampled: dict[str, Counter]) -> list[str]:
    problems = []
    where: dict[str, list[str]] = {}
    for gw, counts in received.items():
        for tid in counts:
            where.setdefault(tid, []).append(gw)
    split = [t for t, gws in where.items() if len(gws) > 1]
    if split:
        problems.append(f"{len(split)} traces reached more than one gateway, e.g. {split[0]}: {where[split[0]]}")
    missing = [t for t in sent if t not in where]
    if missing:
        problems.append(f"{len(missing)} traces reached no gateway")
    partial = [t for t, gws in where.items() if t in sent and sum(received[g][t] for g in gws) != sent[t].expected_spans]
    if partial:
        problems.append(f"{len(partial)} traces arrived with a wrong span count")
    kept: dict[str, int] = Counter()
    for gw, counts in sampled.items():
        for tid, n in counts.items():
            kept[tid] += n
            if where.get(tid) != [gw]:
                problems.append(f"trace {tid} sampled on {gw} but received on {where.get(tid)}")
    torn = [t for t, n in kept.items() if t in sent and n != sent[t].expected_spans]
    if torn:
        problems.append(f"{len(torn)} traces were sampled in part (a torn decision), e.g. {torn[0]}")
    wrong = [t for t, tr in sent.items() if (t in kept) != expected_kept(t, tr)]
    if wrong:
        problems.append(f"{len(wrong)} sampling decisions differ from the seed's policies")
    return problems


def report(result: Result) -> str:
    lines = [f"{'gateway':<12}{'traces in':>10}{'spans in':>10}{'traces kept':>13}{'spans kept':>12}"]
    for gw in sorted(result.received):
        r, s = result.received[gw], result.sampled[gw]
        lines.append(f"{gw:<12}{len(r):>10}{sum(r.values()):>10}{len(s):>13}{sum(s.values()):>12}")
    kinds = Counter(t.kind for t in result.sent.values())
    kept = {t for s in result.sampled.values() for t in s}
    kept_kinds = Counter(result.sent[t].kind for t in kept if t in result.sent)
    lines.append("sent: " + ", ".join(f"{k} {kinds[k]} (kept {kept_kinds[k]})" for k in ("error", "slow", "healthz", "normal")))
    lines.append("every trace whole on one gateway, every decision whole and as the policies say: "
                 + ("yes" if result.ok else "NO"))
    lines.extend(f"  problem: {p}" for p in result.problems)
    return "\n".join(lines)


# -- topologies -----------------------------------------------------------------------------------

def _wait_received(workdir: Path, gateways: list[str], spans: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if sum(sum(span_counts(workdir / "scale-data" / g / "received.jsonl").values()) for g in gateways) >= spans:
            return
        time.sleep(0.25)


def _run(workdir: Path, gateways: list[Otelflow], agents: list[Otelflow], agent_endpoints: list[str],
         traces: int, before_load=None) -> Result:
    names = [g.name for g in gateways]
    try:
        for p in gateways + agents:
            p.start()
        for p in gateways + agents:
            p.wait_ready()
        if before_load is not None:
            before_load()
        sent = send_traces(agent_endpoints, traces)
        _wait_received(workdir, names, len(sent) * SPANS_PER_TRACE, timeout=30)
        time.sleep(3.5)  # decision_wait (2 s) and the next 1 s tick
    finally:
        for p in agents + gateways:  # agents first: they drain into the gateways
            p.stop()
    received = {g: span_counts(workdir / "scale-data" / g / "received.jsonl") for g in names}
    sampled = {g: span_counts(workdir / "scale-data" / g / "sampled.jsonl") for g in names}
    return Result(sent, received, sampled, check(sent, received, sampled))


def run_loadbalancing(workdir: Path, traces: int = 400, agents: int = 2) -> Result:
    """Agents with the loadbalancing exporter (static resolver) -> 2 gateways (gateway.yaml)."""
    gw_endpoints = [f"127.0.0.1:{free_port()}" for _ in range(2)]
    gateways = [Otelflow(f"gateway-{n + 1}", HERE / "gateway.yaml",
                         {"GATEWAY_OTLP_GRPC": ep, "GATEWAY_NAME": f"gateway-{n + 1}"}, workdir)
                for n, ep in enumerate(gw_endpoints)]
    agent_endpoints = [f"127.0.0.1:{free_port()}" for _ in range(agents)]
    procs = [Otelflow(f"agent-{n + 1}", HERE / "agent-loadbalancing.yaml",
                      {"AGENT_OTLP_GRPC": ep, "GATEWAY_1": gw_endpoints[0], "GATEWAY_2": gw_endpoints[1]}, workdir)
             for n, ep in enumerate(agent_endpoints)]
    result = _run(workdir, gateways, procs, agent_endpoints, traces)
    result.endpoints = {g.name: ep for g, ep in zip(gateways, gw_endpoints)}
    return result


def run_kafka(workdir: Path, traces: int = 400, broker: str | None = None, partitions: int = 4) -> Result:
    """Agents with the kafka exporter -> topic otlp_spans -> 2 gateways in one consumer group."""
    from confluent_kafka.admin import AdminClient, NewTopic

    with contextlib.ExitStack() as stack:
        if broker is None:
            sys.path.insert(0, str(ROOT))
            from tests.kafka_broker import running_broker  # Kafka 4.1.1 from scripts/install-kafka.sh

            broker = stack.enter_context(running_broker()).bootstrap
        admin = AdminClient({"bootstrap.servers": broker, "log_level": 3})
        for f in admin.create_topics([NewTopic("otlp_spans", partitions, 1)]).values():
            try:
                f.result(30)
            except Exception as exc:  # an existing topic is fine
                if "TOPIC_ALREADY_EXISTS" not in str(exc):
                    raise
        gateways = [Otelflow(f"gateway-{n + 1}", HERE / "gateway-kafka.yaml",
                             {"KAFKA_BROKER": broker, "GATEWAY_NAME": f"gateway-{n + 1}"}, workdir) for n in range(2)]
        agent_endpoints = [f"127.0.0.1:{free_port()}" for _ in range(2)]
        agents = [Otelflow(f"agent-{n + 1}", HERE / "agent-kafka.yaml", {"AGENT_OTLP_GRPC": ep, "KAFKA_BROKER": broker},
                           workdir) for n, ep in enumerate(agent_endpoints)]

        def group_stable() -> None:
            """Send only once both gateways hold partitions: a rebalance mid-trace would split it."""
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                try:
                    group = admin.describe_consumer_groups(["otelflow-gateways"])["otelflow-gateways"].result(10)
                except Exception as exc:  # the group coordinator is still loading: ask again
                    if "COORDINATOR" not in str(exc) and "GROUP_ID_NOT_FOUND" not in str(exc):
                        raise
                    time.sleep(0.5)
                    continue
                # a gateway with several worker processes has a member per worker
                clients = {m.client_id for m in group.members}
                if clients >= {"gateway-1", "gateway-2"} and str(group.state).endswith("STABLE") and all(
                        m.assignment.topic_partitions for m in group.members):
                    return
                time.sleep(0.5)
            raise RuntimeError("the gateways' consumer group did not settle with both gateways in it")

        return _run(workdir, gateways, agents, agent_endpoints, traces, before_load=group_stable)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--kafka", action="store_true", help="Kafka between the tiers instead of the loadbalancing exporter")
    ap.add_argument("--broker", help="an existing Kafka broker (host:port); default: start one on loopback")
    ap.add_argument("--traces", type=int, default=400, help="how many traces to send (3 spans each)")
    ap.add_argument("--keep", action="store_true", help="keep the work directory (logs, gateways' output)")
    args = ap.parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="otelflow-scale-"))
    print(f"work directory: {workdir}")
    started = time.monotonic()
    try:
        result = run_kafka(workdir, args.traces, args.broker) if args.kafka else run_loadbalancing(workdir, args.traces)
        print(report(result))
        print(f"done in {time.monotonic() - started:.1f} s")
        return 0 if result.ok else 1
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
