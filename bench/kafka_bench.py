#!/usr/bin/env python3
"""Kafka end to end: telemetrygen -> collector A (otlp -> kafka exporter) -> Kafka -> collector B
(kafka receiver -> otlphttp) -> counting sink, with otelflow and otelcol-ref on either side.

  kafka_bench.py --quick     otelflow->otelflow and otelcol-ref->otelcol-ref; max and split, 10 s (< 2 min)
  kafka_bench.py             both pairs and the two mixed ones; fixed, max and split, 30 s each
  kafka_bench.py --pairs otelflow:otelcol-ref --scenarios max --duration 20

Layout (2 cores, as bench.py): collectors A and B share core 1 (taskset), so the end-to-end rate
of a pair is what one core does with the spans on both sides; telemetrygen, the sink (otelcol-ref
otlp -> debug, counted by its otelcol_receiver_accepted_spans) and the single-node Kafka 4.1.1
broker (tests/kafka_broker.py, scripts/install-kafka.sh) run on core 0. Each run gets a fresh topic
of 4 partitions and a fresh consumer group reading from the earliest offset, so nothing produced
before B joins its group is missed. A and B run no processors: this measures the Kafka transport.

Scenarios: "fixed" and "max" run telemetrygen (bench.py's traces loads) through A and B at once;
"max" is bounded by the load side on core 0 (telemetrygen + sink + broker), not by core 1.
"split" measures each side flat out: A alone under 8 connections posting pre-encoded 512-span
requests (shaped like telemetrygen's) until the broker holds every accepted request, then B alone
draining that topic into the sink (timed from its first delivered span).

Figures, all measured from outside the collectors:
  e2e spans/s   delivered spans / time from load start until the last span reached the sink
                (B may lag while A takes the shared core, and catch up after the load)
  sent          what telemetrygen generated (its SDK drops spans it cannot export fast enough)
  accepted      spans A's otlp receiver accepted (A's own counter; accounting only)
  delivered     spans at the sink once B has drained the topic; lost = accepted - delivered
  CPU-s/M A, B  utime+stime of each collector (/proc) from load start to drain end, per million
                delivered spans
  ratios        otelflow pair / otelcol-ref pair for each of those
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))

import bench  # noqa: E402 - bench/ is the script's directory
from loadrun import drain, run_load  # noqa: E402
from netutil import free_port, wait_port  # noqa: E402

PEERS = ("otelflow", "otelcol-ref")
PARTITION_TRACES_BY_ID = False  # --partition-traces-by-id: one record per trace, as a gateway tier needs
TOPIC_PARTITIONS = 4
# telemetrygen loads (processes, arguments), as bench.py's traces scenarios
LOADS = {"fixed": bench.LOADS[("traces", "fixed")], "max": bench.LOADS[("traces", "max")]}


@dataclass
class Result:
    producer: str
    consumer: str
    scenario: str
    duration: float
    sent: int = 0
    accepted: int = 0  # by A's otlp receiver (A's own counter)
    records: int = 0  # Kafka records in the topic
    delivered: int = 0
    rate_e2e: float = 0.0
    drain_seconds: float = 0.0
    cpu_a: float = 0.0
    cpu_b: float = 0.0
    rate_a: float = 0.0  # split: spans/s A accepted (and the broker acknowledged) with B not running
    rate_b: float = 0.0  # split: spans/s B delivered draining the topic alone
    core0_util: float = 0.0
    error: str = ""

    @property
    def pair(self) -> str:
        return f"{self.producer}->{self.consumer}"

    def per_million(self, cpu: float) -> float | None:
        return cpu / self.delivered * 1e6 if self.delivered else None


# ---------------------------------------------------------------------------------------------
# broker


def start_broker(workdir: Path):
    from tests.kafka_broker import INSTALL, KafkaBroker, kafka_home

    if shutil.which("java") is None:
        raise SystemExit("java is not installed (scripts/install-kafka.sh installs a JRE with the broker)")
    subprocess.run(["bash", str(INSTALL)], check=True, capture_output=True, timeout=900)
    broker = KafkaBroker(workdir / "kafka", kafka_home())
    broker.workdir.mkdir(parents=True, exist_ok=True)
    broker.format()
    broker.launch_prefix = ["taskset", "-c", bench.LOAD_CORE]  # load side: off the collectors' core
    broker.start()
    return broker


# ---------------------------------------------------------------------------------------------
# collectors


def telemetry(port: int) -> dict:
    return {"logs": {"level": "warn"},
            "metrics": {"readers": [{"pull": {"exporter": {"prometheus": {"host": "127.0.0.1", "port": port}}}}]}}


def producer_config(bootstrap: str, topic: str, grpc_port: int, http_port: int, metrics_port: int) -> dict:
    return {
        "receivers": {"otlp": {"protocols": {"grpc": {"endpoint": f"127.0.0.1:{grpc_port}"},
                                             "http": {"endpoint": f"127.0.0.1:{http_port}"}}}},
        "exporters": {"kafka": {"brokers": [bootstrap], "traces": {"topic": topic},
                                "partition_traces_by_id": PARTITION_TRACES_BY_ID}},
        "service": {"telemetry": telemetry(metrics_port),
                    "pipelines": {"traces": {"receivers": ["otlp"], "exporters": ["kafka"]}}},
    }


def consumer_config(bootstrap: str, topic: str, group: str, sink_http: int, metrics_port: int) -> dict:
    """B. With one record per trace, B batches before exporting, as a gateway tier would: without
    it every two-span record is one export request, for both collectors."""
    cfg = {
        "receivers": {"kafka": {"brokers": [bootstrap], "traces": {"topics": [topic]},
                                "group_id": group, "initial_offset": "earliest"}},
        # back-pressure instead of drops: with the default (non-blocking) queue, a consumer that
        # reads faster than the exporter sends gets "sending queue is full" and, with upstream's
        # default message_marking, skips those records (both collectors behave so)
        "exporters": {"otlphttp": {"endpoint": f"http://127.0.0.1:{sink_http}",
                                   "sending_queue": {"block_on_overflow": True}}},
        "service": {"telemetry": telemetry(metrics_port),
                    "pipelines": {"traces": {"receivers": ["kafka"], "exporters": ["otlphttp"]}}},
    }
    if PARTITION_TRACES_BY_ID:
        cfg["processors"] = {"batch": {}}
        cfg["service"]["pipelines"]["traces"]["processors"] = ["batch"]
    return cfg


def scrape(port: int) -> dict[str, float]:
    """A collector's own counters (used only to account for spans, never for speed)."""
    import urllib.request

    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
            text = resp.read().decode()
    except OSError:
        return {}
    out: dict[str, float] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name = line.split("{", 1)[0].split(" ", 1)[0]
            try:
                out[name] = out.get(name, 0.0) + float(line.rsplit(" ", 1)[1])
            except ValueError:
                pass
    return out


def topic_records(bootstrap: str, topic: str) -> int:
    """Records in the topic (sum of high watermarks), read by a plain client after the run."""
    from confluent_kafka import Consumer, TopicPartition

    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "bench-offsets", "log_level": 3})
    try:
        parts = c.list_topics(topic, timeout=10).topics[topic].partitions
        return sum(c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in parts)
    finally:
        c.close()


def command(peer: str, path: Path) -> list[str]:
    if peer == "otelflow":
        return [sys.executable, "-m", "otelflow", "--config", str(path)]
    return [str(bench.OTELCOL_REF), "--config", str(path)]


def env_for(peer: str) -> dict[str, str]:
    env = dict(os.environ)
    if peer == "otelflow":
        env["OTELFLOW_WORKERS"] = "1"  # one process, as taskset leaves it one CPU anyway
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO / "src"), env.get("PYTHONPATH")]))
    return env


def validate(peer: str, path: Path) -> str | None:
    """None when the peer accepts the config, else its complaint (e.g. a component it lacks)."""
    if peer == "otelflow":
        cmd = [sys.executable, "-m", "otelflow", "validate", "--config", str(path)]
    else:
        cmd = [str(bench.OTELCOL_REF), "validate", "--config", str(path)]
    out = subprocess.run(cmd, capture_output=True, text=True, env=env_for(peer), timeout=120)
    if out.returncode == 0:
        return None
    lines = [line for line in (out.stdout + out.stderr).splitlines() if line.strip()]
    return lines[-1] if lines else f"exit {out.returncode}"


def launch(peer: str, path: Path, log: Path) -> subprocess.Popen:
    with open(log, "wb") as out:
        return subprocess.Popen(["taskset", "-c", bench.COLLECTOR_CORE, *command(peer, path)], stdout=out,
                                stderr=subprocess.STDOUT, env=env_for(peer), cwd=path.parent)


# ---------------------------------------------------------------------------------------------
# one run


def new_topic(producer: str, consumer: str, scenario: str, broker, workdir: Path) -> tuple[str, str]:
    """A fresh topic for one run, and B's consumer group on it (nothing left over from other runs)."""
    workdir.mkdir(parents=True, exist_ok=True)
    stamp = f"{producer}_{consumer}_{scenario}_{int(time.time())}".replace("-", "")
    topic, group = f"bench_{stamp}", f"bench-{stamp}"
    broker.create_topic(topic, TOPIC_PARTITIONS)
    return topic, group


def configure(producer: str, consumer: str, broker, topic: str, group: str, sink_port: int,
              workdir: Path) -> tuple[int, int, int, int, Path, Path]:
    """A's and B's configs written and validated by their own binaries: (A's gRPC and HTTP ports,
    A's and B's metrics ports, A's and B's config paths)."""
    grpc_port, http_port, a_metrics, b_metrics = free_port(), free_port(), free_port(), free_port()
    a_path, b_path = workdir / f"A-{producer}.yaml", workdir / f"B-{consumer}.yaml"
    a_path.write_text(yaml.safe_dump(producer_config(broker.bootstrap, topic, grpc_port, http_port, a_metrics)))
    b_path.write_text(yaml.safe_dump(consumer_config(broker.bootstrap, topic, group, sink_port, b_metrics)))
    for peer, path in ((producer, a_path), (consumer, b_path)):
        why = validate(peer, path)
        if why is not None:
            raise RuntimeError(f"{peer} rejects {path.name}: {why}")
    return grpc_port, http_port, a_metrics, b_metrics, a_path, b_path


def run_one(producer: str, consumer: str, scenario: str, duration: float, broker, workdir: Path) -> Result:
    result = Result(producer, consumer, scenario, duration)
    topic, group = new_topic(producer, consumer, scenario, broker, workdir)
    sink = bench.Sink(workdir, probe=False)
    a = b = None
    try:
        sink.start()
        grpc_port, http_port, a_metrics, b_metrics, a_path, b_path = configure(
            producer, consumer, broker, topic, group, sink.http_port, workdir)
        b = launch(consumer, b_path, workdir / "B.log")
        a = launch(producer, a_path, workdir / "A.log")
        wait_port(grpc_port, a, timeout=60)
        wait_port(http_port, a, timeout=60)
        time.sleep(3.0)  # B joins its consumer group
        if b.poll() is not None:
            raise RuntimeError(f"collector B exited {b.returncode}: {(workdir / 'B.log').read_text()[-2000:]}")

        c0 = sink.count("traces")
        cpu_a0, cpu_b0 = bench.cpu_seconds(a.pid), bench.cpu_seconds(b.pid)
        sink_cpu0 = bench.cpu_seconds(sink.proc.pid)
        procs, _ = LOADS[scenario]
        load = run_load(_telemetrygen(scenario, grpc_port, http_port, duration), procs, workdir,
                        lambda: sink.count("traces"), c0, duration)
        t0, t1, series = load.t0, load.t1, load.series
        series.append((t1 - t0, sink.count("traces")))
        result.sent = bench.generated_items("traces", "".join(p.read_text(errors="replace") for p in load.logs))
        result.accepted = int(scrape(a_metrics).get("otelcol_receiver_accepted_spans", 0))
        # drain: until the sink has all A accepted, or nothing arrived for 5 s (at most 120 s)
        last, last_change = drain(lambda: sink.count("traces"), c0 + result.accepted, series[-1][1], t1, 5.0, t1 + 120)
        if last != series[-1][1]:
            series.append((last_change - t0, last))
        result.drain_seconds = max(0.0, last_change - t1)
        result.delivered = int(sink.count("traces") - c0)
        result.rate_e2e = result.delivered / (max(t1, last_change) - t0)
        result.records = topic_records(broker.bootstrap, topic)
        result.cpu_a = bench.cpu_seconds(a.pid) - cpu_a0
        result.cpu_b = bench.cpu_seconds(b.pid) - cpu_b0
        result.core0_util = (load.cpu_seconds + bench.cpu_seconds(sink.proc.pid) - sink_cpu0) / (t1 - t0)
        (workdir / "series.json").write_text(json.dumps(series))
        for name, proc in (("A", a), ("B", b)):
            if proc.poll() is not None:
                result.error = f"collector {name} exited {proc.returncode} during the run"
    except Exception as exc:  # keep going with the other pairs; the error is in the results
        result.error = f"{type(exc).__name__}: {exc}"
    finally:
        bench.stop(a)
        bench.stop(b)
        sink.stop()
    return result


# ---------------------------------------------------------------------------------------------
# split: each side alone, flat out


def requests(variants: int = 16, traces: int = 256) -> list[bytes]:
    """OTLP/HTTP bodies shaped as telemetrygen's (parent + child span per trace, its attributes),
    512 spans each, with distinct IDs per variant."""
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    out = []
    for v in range(variants):
        req = ExportTraceServiceRequest()
        rs = req.resource_spans.add()
        for key, value in (("service.name", "telemetrygen"), ("env", "bench")):
            kv = rs.resource.attributes.add()
            kv.key, kv.value.string_value = key, value
        scope = rs.scope_spans.add()
        scope.scope.name = "telemetrygen"
        now = time.time_ns()
        for t in range(traces):
            trace_id = (v * traces + t + 1).to_bytes(16, "big")
            for child in (0, 1):
                span = scope.spans.add(trace_id=trace_id, span_id=(2 * t + child + 1).to_bytes(8, "big"),
                                       name="okey-dokey-0" if child else "lets-go", kind=3 if child else 2,
                                       start_time_unix_nano=now, end_time_unix_nano=now + 123_000)
                if child:
                    span.parent_span_id = (2 * t + 1).to_bytes(8, "big")
                for key, value in (("http.url", "https://shop.example.com/checkout?card=4111111111111111"),
                                   ("db.statement", "SELECT * FROM orders WHERE id = 42"),
                                   ("net.sock.peer.addr", "1.2.3.4"), ("peer.service", "telemetrygen-server")):
                    kv = span.attributes.add()
                    kv.key, kv.value.string_value = key, value
        out.append(req.SerializeToString())
    return out


def post_flat_out(port: int, bodies: list[bytes], duration: float, concurrency: int = 8) -> int:
    """POST the bodies round-robin for ``duration`` s from ``concurrency`` connections; returns how
    many requests were answered 200 (accepted)."""
    import asyncio

    import aiohttp

    async def main() -> int:
        ok = 0
        deadline = time.monotonic() + duration
        url = f"http://127.0.0.1:{port}/v1/traces"
        headers = {"Content-Type": "application/x-protobuf"}

        async def worker(i: int) -> None:
            nonlocal ok
            n = i
            async with aiohttp.ClientSession() as session:
                while time.monotonic() < deadline:
                    try:
                        async with session.post(url, data=bodies[n % len(bodies)], headers=headers) as resp:
                            await resp.read()
                            ok += resp.status == 200
                    except aiohttp.ClientError:
                        await asyncio.sleep(0.01)
                    n += concurrency

        await asyncio.gather(*(worker(i) for i in range(concurrency)))
        return ok

    return asyncio.run(main())


def run_split(producer: str, consumer: str, duration: float, broker, workdir: Path) -> Result:
    """A alone under a flat-out pre-encoded load (acknowledged by the broker), then B alone
    draining what A wrote into the sink."""
    result = Result(producer, consumer, "split", duration)
    topic, group = new_topic(producer, consumer, "split", broker, workdir)
    sink = bench.Sink(workdir, probe=False)
    bodies = requests()
    per_request = 512
    a = b = None
    try:
        sink.start()
        grpc_port, http_port, a_metrics, b_metrics, a_path, b_path = configure(
            producer, consumer, broker, topic, group, sink.http_port, workdir)
        # A alone; stopped (its queue flushed to the broker) before B starts
        a = launch(producer, a_path, workdir / "A.log")
        wait_port(http_port, a, timeout=60)
        time.sleep(1.0)
        cpu0, t0 = bench.cpu_seconds(a.pid), time.monotonic()
        accepted = post_flat_out(http_port, bodies, duration) * per_request
        # the sending queue drains into the broker: wait until A's exporter reports every span sent
        # (A's own counter, used only to know when to stop the clock), or the topic stops growing
        last_records, still = -1, time.monotonic()
        while time.monotonic() - t0 < duration + 60:
            if scrape(a_metrics).get("otelcol_exporter_sent_spans", 0) >= accepted:
                break
            records = topic_records(broker.bootstrap, topic)
            if records != last_records:
                last_records, still = records, time.monotonic()
            elif time.monotonic() - still > 5:
                break
            time.sleep(0.25)
        t1 = time.monotonic()
        result.cpu_a = bench.cpu_seconds(a.pid) - cpu0
        result.accepted, result.sent = accepted, accepted
        result.rate_a = accepted / (t1 - t0)
        bench.stop(a)
        result.records = topic_records(broker.bootstrap, topic)
        # B alone, from the earliest offset into the sink
        c0 = sink.count("traces")
        b = launch(consumer, b_path, workdir / "B.log")
        t2 = time.monotonic()
        cpu_b0 = 0.0
        last, last_change = c0, t2
        while last - c0 < accepted and time.monotonic() - last_change < 10.0:
            time.sleep(0.2)
            if b.poll() is not None:
                raise RuntimeError(f"collector B exited {b.returncode}: {(workdir / 'B.log').read_text()[-2000:]}")
            count = sink.count("traces")
            if count != last:
                if last == c0:  # first data: B is up and in its group; time from here
                    t2, cpu_b0 = time.monotonic(), bench.cpu_seconds(b.pid)
                last, last_change = count, time.monotonic()
        result.delivered = int(last - c0)
        result.cpu_b = bench.cpu_seconds(b.pid) - cpu_b0
        result.rate_b = result.delivered / max(1e-9, last_change - t2)
        result.rate_e2e = 0.0
    except Exception as exc:  # keep going with the other pairs; the error is in the results
        result.error = f"{type(exc).__name__}: {exc}"
    finally:
        bench.stop(a)
        bench.stop(b)
        sink.stop()
    return result


def _telemetrygen(scenario: str, grpc_port: int, http_port: int, duration: float) -> list[str]:
    return ["taskset", "-c", bench.LOAD_CORE, str(bench.TELEMETRYGEN), "traces", "--otlp-insecure",
            "--duration", f"{duration:g}s", "--otlp-http", "--otlp-endpoint", f"127.0.0.1:{http_port}",
            *LOADS[scenario][1], *bench.COMMON_ATTRS]


# ---------------------------------------------------------------------------------------------
# report


def _num(value: float | None, spec: str = ",.0f") -> str:
    return "n/a" if value is None else format(value, spec)


def _ratio(a: float | None, b: float | None) -> str:
    return "n/a" if a is None or not b else f"{a / b:.2f}x"


def report(results: list[Result]) -> str:
    lines = []
    for scenario in dict.fromkeys(r.scenario for r in results):
        rows = [r for r in results if r.scenario == scenario]
        if scenario == "split":
            lines.extend(split_report(rows))
            continue
        procs, args = LOADS[scenario]
        lines.append(f"\n== traces, {scenario} ({procs} x telemetrygen {' '.join(args)}; A+B on core "
                     f"{bench.COLLECTOR_CORE}, load+sink+broker on core {bench.LOAD_CORE})")
        lines.append(f"{'A -> B':28} {'e2e spans/s':>12} {'sent':>10} {'accepted':>10} {'delivered':>10} {'drain s':>8} "
                     f"{'CPU-s/M A':>10} {'CPU-s/M B':>10} {'core0%':>7}")
        for r in rows:
            if r.error:
                lines.append(f"{r.pair:28} error: {r.error}")
                continue
            lines.append(f"{r.pair:28} {_num(r.rate_e2e):>12} {r.sent:>10,} {r.accepted:>10,} {r.delivered:>10,} "
                         f"{r.drain_seconds:>8.1f} {_num(r.per_million(r.cpu_a), '.2f'):>10} "
                         f"{_num(r.per_million(r.cpu_b), '.2f'):>10} {r.core0_util * 100:>6.0f}%")
        flow = next((r for r in rows if r.pair == "otelflow->otelflow" and not r.error), None)
        ref = next((r for r in rows if r.pair == "otelcol-ref->otelcol-ref" and not r.error), None)
        if flow and ref:
            lines.append(f"{'otelflow/otelcol-ref':28} {_ratio(flow.rate_e2e, ref.rate_e2e):>12} {'':>10} {'':>10} {'':>10} "
                         f"{'':>8} {_ratio(flow.per_million(flow.cpu_a), ref.per_million(ref.cpu_a)):>10} "
                         f"{_ratio(flow.per_million(flow.cpu_b), ref.per_million(ref.cpu_b)):>10}")
    lines.append("\nCPU-s/M: CPU seconds of that collector per million delivered spans (lower is better); "
                 "drain s: time after the load\nuntil the sink had everything (B's backlog); core0%: "
                 "telemetrygen + sink CPU per second of load (the broker also runs there).\n"
                 "Spans lost between A's receiver and the sink (accepted - delivered): "
                 + ", ".join(f"{r.pair} {r.scenario} {r.accepted - r.delivered:,}" for r in results if not r.error))
    return "\n".join(lines)


def split_report(rows: list[Result]) -> list[str]:
    lines = [f"\n== traces, split: A alone under 8 connections posting 512-span OTLP/HTTP requests flat out "
             f"(until the broker has them all), then B alone draining the topic into the sink; each on core "
             f"{bench.COLLECTOR_CORE}",
             f"{'A -> B':28} {'A spans/s':>10} {'B spans/s':>10} {'accepted':>10} {'delivered':>10} "
             f"{'CPU-s/M A':>10} {'CPU-s/M B':>10}"]
    for r in rows:
        if r.error:
            lines.append(f"{r.pair:28} error: {r.error}")
            continue
        lines.append(f"{r.pair:28} {_num(r.rate_a):>10} {_num(r.rate_b):>10} {r.accepted:>10,} {r.delivered:>10,} "
                     f"{_num(r.per_million(r.cpu_a), '.2f'):>10} {_num(r.per_million(r.cpu_b), '.2f'):>10}")
    flow = next((r for r in rows if r.pair == "otelflow->otelflow" and not r.error), None)
    ref = next((r for r in rows if r.pair == "otelcol-ref->otelcol-ref" and not r.error), None)
    if flow and ref:
        lines.append(f"{'otelflow/otelcol-ref':28} {_ratio(flow.rate_a, ref.rate_a):>10} {_ratio(flow.rate_b, ref.rate_b):>10} "
                     f"{'':>10} {'':>10} {_ratio(flow.per_million(flow.cpu_a), ref.per_million(ref.cpu_a)):>10} "
                     f"{_ratio(flow.per_million(flow.cpu_b), ref.per_million(ref.cpu_b)):>10}")
    return lines


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="the two same-kind pairs, flat out, 10 s each")
    p.add_argument("--pairs", help="comma-separated A:B pairs, e.g. otelflow:otelflow,otelflow:otelcol-ref")
    p.add_argument("--scenarios", help="comma-separated: fixed, max (telemetrygen through both at once), "
                                       "split (each side alone, flat out)")
    p.add_argument("--duration", type=float, help="seconds of load per run")
    p.add_argument("--partition-traces-by-id", action="store_true",
                   help="A's kafka exporter writes one record per trace keyed by its ID (default: one per request)")
    p.add_argument("--out", type=Path, help="write the results as JSON here")
    args = p.parse_args(argv)
    global PARTITION_TRACES_BY_ID
    PARTITION_TRACES_BY_ID = args.partition_traces_by_id
    same = [("otelflow", "otelflow"), ("otelcol-ref", "otelcol-ref")]
    mixed = [("otelflow", "otelcol-ref"), ("otelcol-ref", "otelflow")]
    pairs = same if args.quick else same + mixed
    if args.pairs:
        pairs = [tuple(x.split(":")) for x in args.pairs.split(",")]  # type: ignore[misc]
        for a, b in pairs:
            if a not in PEERS or b not in PEERS:
                p.error(f"unknown peer in {a}:{b}; peers are {', '.join(PEERS)}")
    scenarios = args.scenarios.split(",") if args.scenarios else (["max", "split"] if args.quick else ["fixed", "max", "split"])
    for name in scenarios:
        if name not in (*LOADS, "split"):
            p.error(f"unknown scenario {name}")
    duration = args.duration or (10.0 if args.quick else 30.0)
    for tool in (bench.OTELCOL_REF, bench.TELEMETRYGEN):
        if not tool.exists():
            raise SystemExit(f"{tool} is missing (built by bench/Makefile)")
    if shutil.which("taskset") is None:
        raise SystemExit("taskset is required")

    os.sched_setaffinity(0, {int(bench.LOAD_CORE)})  # this script is load side (split's sender)
    workdir = Path(tempfile.mkdtemp(prefix="otelflow-kafka-bench-"))
    started = time.monotonic()
    print(f"broker starting (work dir {workdir})", flush=True)
    broker = start_broker(workdir)
    results: list[Result] = []
    try:
        for scenario in scenarios:
            for a, b in pairs:
                print(f"  {scenario:5} {a} -> kafka -> {b} ({duration:g}s) ...", flush=True)
                if scenario == "split":
                    r = run_split(a, b, duration, broker, workdir / f"{scenario}-{a}-{b}")
                    line = f"A {r.rate_a:,.0f} spans/s, B {r.rate_b:,.0f} spans/s, {r.delivered:,}/{r.accepted:,} delivered"
                else:
                    r = run_one(a, b, scenario, duration, broker, workdir / f"{scenario}-{a}-{b}")
                    line = f"{r.rate_e2e:,.0f} spans/s, {r.delivered:,}/{r.accepted:,} delivered"
                print(f"    {'error: ' + r.error if r.error else line}", flush=True)
                results.append(r)
    finally:
        broker.stop()
        shutil.rmtree(broker.logs, ignore_errors=True)  # gigabytes of records; the logs stay
    text = report(results)
    print(text)
    print(f"\n({time.monotonic() - started:.0f} s; {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC; "
          f"logs in {workdir})")
    if args.out:
        args.out.write_text(json.dumps([asdict(r) for r in results], indent=2))
    return 0 if results and not all(r.error for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
