#!/usr/bin/env python3
"""Worker processes (issue 16): spans/s and CPU-seconds per million spans for ``--workers 1, 2, ...``,
and what routing keyed data between workers costs.

  workers_bench.py --quick                 5 s of load per run (< 3 minutes)
  workers_bench.py --workers 1,2,4         a bigger machine draws the curve
  workers_bench.py --duration 20 --no-ref  longer runs, without otelcol-ref

Two pipelines, both ``otlp -> ... -> batch -> otlp`` to a counting sink:

- ``tail``: ``tail_sampling`` (always_sample, decision_wait 1s) before the batch: keyed by trace ID,
  so with N workers each request is cut by trace and (N-1)/N of its spans cross to another worker;
- ``fanin``: no keyed component: each worker serves the connections the kernel gave it (SO_REUSEPORT)
  and nothing crosses. The difference between the two separates routing from running N processes.

Two loads, the same for every worker count (telemetrygen v0.161.0, OTLP/HTTP, several processes
since each holds one connection and SO_REUSEPORT spreads connections, not requests):

- ``fixed``: a rate one worker sustains (~11k spans/s), 512 spans a request (the SDKs' default
  batch); CPU-s per million spans compares like with like;
- ``small``: the same rate in 100-span requests (telemetrygen's default, bench.py's traces-fixed);
- ``max``: more than the machine can take; spans/s is the sink's steady rate.

The sink is an otelcol-ref (otlp -> debug) counted by its own receiver counters, as in bench.py.
Nothing is pinned: with N workers the collector may use every core, and it shares them with the load
and the sink (on a 2-core machine "max" is then bounded by the machine, not the collector); CPU is
the collector's own (supervisor + workers, from /proc), so CPU-s/M stays comparable.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from bench import (COMMON_ATTRS, OTELCOL_REF, TELEMETRYGEN, Sink, cpu_seconds, generated_items,  # noqa: E402
                   machine_busy_seconds, peak_rss_mib, self_cpu_seconds, stop)
from loadrun import drain, run_load  # noqa: E402
from netutil import free_port, wait_port  # noqa: E402

REPO = HERE.parent
RESULTS = HERE / "results"
WARMUP = 2.0
# (telemetrygen processes, arguments of each). One process = one connection (one export in flight).
# "fixed" sends the OTel SDKs' default batch (512 spans a request); "small" the same rate in
# telemetrygen's default 100-span requests (bench.py's traces-fixed): routing costs per request too.
LOADS = {
    "fixed": (8, ["--workers", "2", "--rate", "800", "--child-spans", "1", "--batch-size", "512"]),
    "small": (8, ["--workers", "2", "--rate", "800", "--child-spans", "1"]),
    "max": (8, ["--workers", "10", "--rate", "2000", "--child-spans", "1", "--batch-size", "512"]),
}
FIXED = ("fixed", "small")
PIPELINES = {
    "tail": ["tail_sampling", "batch"],
    "fanin": ["batch"],
}


def collector_config(pipeline: str, grpc_port: int, http_port: int, sink_grpc: int, telemetry_port: int) -> dict:
    processors = {
        "tail_sampling": {"decision_wait": "1s", "num_traces": 200000,
                          "policies": [{"name": "all", "type": "always_sample"}]},
        "batch": {},
    }
    return {
        "receivers": {"otlp": {"protocols": {"grpc": {"endpoint": f"127.0.0.1:{grpc_port}"},
                                             "http": {"endpoint": f"127.0.0.1:{http_port}"}}}},
        "processors": {p: processors[p] for p in PIPELINES[pipeline]},
        "exporters": {"otlp": {"endpoint": f"127.0.0.1:{sink_grpc}", "tls": {"insecure": True}}},
        "service": {
            "telemetry": {"logs": {"level": "info"}, "metrics": {"readers": [{"pull": {"exporter": {"prometheus": {
                "host": "127.0.0.1", "port": telemetry_port}}}}]}},
            "pipelines": {"traces": {"receivers": ["otlp"], "processors": PIPELINES[pipeline],
                                     "exporters": ["otlp"]}},
        },
    }


@dataclass
class Run:
    peer: str  # "otelflow" or "otelcol-ref"
    workers: int  # otelflow worker processes (otelcol-ref: GOMAXPROCS, i.e. every core)
    pipeline: str
    load: str
    duration: float
    sent: int = 0
    delivered: int = 0
    rate_total: float = 0.0
    rate_steady: float = 0.0
    cpu_seconds: float = 0.0
    cpu_per_million: float | None = None
    collector_cores: float = 0.0  # collector CPU / (load + drain time)
    loadgen_cpu_seconds: float = 0.0
    sink_cpu_seconds: float = 0.0
    other_cpu_util: float = 0.0
    peak_rss_mib: float = 0.0
    drain_seconds: float = 0.0
    error: str = ""

    @property
    def label(self) -> str:
        return f"otelflow --workers {self.workers}" if self.peer == "otelflow" else "otelcol-ref"


def wait_ready(log: Path, proc: subprocess.Popen, count: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while log.read_bytes().count(b"Everything is ready") < count:
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"otelflow did not get {count} workers ready:\n{log.read_text()[-2000:]}")
        time.sleep(0.1)


def telemetrygen(load: str, http_port: int, duration: float) -> list[str]:
    return [str(TELEMETRYGEN), "traces", "--otlp-insecure", "--duration", f"{duration:g}s", "--otlp-http",
            "--otlp-endpoint", f"127.0.0.1:{http_port}", *LOADS[load][1], *COMMON_ATTRS]


def run_one(peer: str, workers: int, pipeline: str, load: str, duration: float, workdir: Path) -> Run:
    workdir.mkdir(parents=True, exist_ok=True)
    result = Run(peer, workers, pipeline, load, duration)
    sink = Sink(workdir, probe=False)
    collector: subprocess.Popen | None = None
    try:
        sink.start()
        gp, hp, tp = free_port(), free_port(), free_port()
        cfg_path = workdir / "config.yaml"
        cfg_path.write_text(yaml.safe_dump(collector_config(pipeline, gp, hp, sink.grpc_port, tp), sort_keys=False))
        if peer == "otelflow":
            cmd = [sys.executable, "-m", "otelflow", "--config", str(cfg_path), "--workers", str(workers)]
            env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
        else:
            cmd, env = [str(OTELCOL_REF), "--config", str(cfg_path)], dict(os.environ)
        (workdir / "collector.cmd").write_text(" ".join(cmd) + "\n")
        log_path = workdir / "collector.log"
        with open(log_path, "wb") as log:
            collector = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=workdir)
        if peer == "otelflow":
            wait_ready(log_path, collector, workers)
        wait_port(hp, collector)
        time.sleep(1.0)
        c0 = sink.count("traces")
        cpu0, sink0 = cpu_seconds(collector.pid), cpu_seconds(sink.proc.pid)
        busy0, self0 = machine_busy_seconds(), self_cpu_seconds()
        procs, _ = LOADS[load]
        run = run_load(telemetrygen(load, hp, duration), procs, workdir, lambda: sink.count("traces"), c0, duration)
        t0, t1, series = run.t0, run.t1, run.series
        result.loadgen_cpu_seconds += run.cpu_seconds
        if collector.poll() is not None:  # its CPU would be gone from /proc: the run says nothing
            raise RuntimeError(f"the collector exited during the load (code {collector.returncode})")
        result.sent = sum(generated_items("traces", p.read_text(errors="replace")) for p in run.logs)
        last, changed = drain(lambda: sink.count("traces"), c0 + result.sent, sink.count("traces"), time.monotonic(),
                              3.0, t1 + 60)
        t2 = time.monotonic()
        result.drain_seconds = t2 - t1
        cpu1 = cpu_seconds(collector.pid)
        if collector.poll() is not None or cpu1 < cpu0:
            raise RuntimeError("the collector or one of its workers exited during the run")
        load_time = t1 - t0
        result.delivered = int(last - c0)
        result.cpu_seconds = cpu1 - cpu0
        result.collector_cores = result.cpu_seconds / (t2 - t0)
        result.sink_cpu_seconds = cpu_seconds(sink.proc.pid) - sink0
        accounted = result.cpu_seconds + result.loadgen_cpu_seconds + result.sink_cpu_seconds + (self_cpu_seconds() - self0)
        result.other_cpu_util = max(0.0, machine_busy_seconds() - busy0 - accounted) / (t2 - t0)
        result.rate_total = result.delivered / load_time
        steady = [(t, c) for t, c in series if t >= WARMUP]
        if len(steady) >= 2 and steady[-1][0] > steady[0][0]:
            result.rate_steady = (steady[-1][1] - steady[0][1]) / (steady[-1][0] - steady[0][0])
        else:
            result.rate_steady = result.rate_total
        result.peak_rss_mib = peak_rss_mib(collector.pid)
        if result.delivered:
            result.cpu_per_million = result.cpu_seconds / result.delivered * 1e6
    except Exception as exc:  # keep going with the other runs; the error is in the results
        result.error = f"{type(exc).__name__}: {exc}"
    finally:
        stop(collector, timeout=30)
        sink.stop()
    return result


def fmt(v: float | None, spec: str = ",.0f") -> str:
    return "n/a" if v is None else format(v, spec)


def median(values: list[float]) -> float | None:
    values = sorted(v for v in values if v is not None)
    if not values:
        return None
    mid = len(values) // 2
    return values[mid] if len(values) % 2 else (values[mid - 1] + values[mid]) / 2


def groups(runs: list[Run]) -> dict[tuple, list[Run]]:
    out: dict[tuple, list[Run]] = {}
    for r in runs:
        out.setdefault((r.pipeline, r.load, r.peer, r.workers), []).append(r)
    return out


def rate_of(r: Run) -> float:
    return r.rate_total if r.load in FIXED else r.rate_steady


def table(runs: list[Run]) -> str:
    """One row per (pipeline, load, collector): medians over the repeats (CPU-s/M also its range)."""
    lines = ["| pipeline | load | collector | spans/s | CPU-s/M | CPU-s/M range | cores | peak RSS MiB | "
             "delivered/sent | other% | runs |",
             "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for (pipeline, load, _, _), rs in groups(runs).items():
        ok = [r for r in rs if not r.error] or rs
        cpm = [r.cpu_per_million for r in ok if r.cpu_per_million]
        lines.append(
            f"| {pipeline} | {load} | {rs[0].label} | {fmt(median([rate_of(r) for r in ok]))} | "
            f"{fmt(median(cpm), '.1f')} | {fmt(min(cpm) if cpm else None, '.1f')}-{fmt(max(cpm) if cpm else None, '.1f')} | "
            f"{median([r.collector_cores for r in ok]):.2f} | {median([r.peak_rss_mib for r in ok]):.0f} | "
            f"{sum(r.delivered for r in ok) / max(1, sum(r.sent for r in ok)) * 100:.0f} % | "
            f"{median([r.other_cpu_util for r in ok]) * 100:.0f} | {len(rs)} |"
            + "".join(f" ERROR {r.error}" for r in rs if r.error))
    return "\n".join(lines)


def overhead(runs: list[Run], workers: list[int]) -> str:
    """CPU per span of N workers over 1 worker, per pipeline, under the same fixed-rate load."""
    by = {(pipeline, load, n): median([r.cpu_per_million for r in rs])
          for (pipeline, load, peer, n), rs in groups(runs).items() if peer == "otelflow"}
    out = []
    for load in FIXED:
        for n in workers:
            if n == 1:
                continue
            ratios = {}
            for pipeline in PIPELINES:
                one, many = by.get((pipeline, load, 1)), by.get((pipeline, load, n))
                if one and many:
                    ratios[pipeline] = many / one - 1
            if "tail" in ratios and "fanin" in ratios:
                out.append(f"{load} load, --workers {n} vs 1, CPU per span: tail_sampling pipeline "
                           f"{ratios['tail'] * 100:+.1f} %, no keyed component {ratios['fanin'] * 100:+.1f} %; "
                           f"routing alone ~ {(ratios['tail'] - ratios['fanin']) * 100:+.1f} points")
            else:
                out.extend(f"{load} load, --workers {n} vs 1, CPU per span, {p}: {v * 100:+.1f} %"
                           for p, v in ratios.items())
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--workers", default="1,2", help="comma-separated worker counts (default 1,2)")
    p.add_argument("--pipelines", default="tail,fanin", help="tail, fanin or both")
    p.add_argument("--loads", default="fixed,small,max", help="any of fixed, small, max")
    p.add_argument("--duration", type=float, default=15.0, help="seconds of load per run")
    p.add_argument("--quick", action="store_true", help="5 s per run, otelcol-ref only under max load")
    p.add_argument("--no-ref", action="store_true", help="leave out otelcol-ref")
    p.add_argument("--repeat", type=int, default=1,
                   help="run the whole plan this many times, interleaved; the table shows medians")
    args = p.parse_args(argv)
    for binary in (OTELCOL_REF, TELEMETRYGEN):
        if not binary.exists():
            print(f"missing {binary}: run `make bench-ref`", file=sys.stderr)
            return 2
    workers = [int(w) for w in args.workers.split(",")]
    pipelines, loads = args.pipelines.split(","), args.loads.split(",")
    duration = 5.0 if args.quick else args.duration
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    root = RESULTS / "runs" / f"{stamp}-workers"
    plan = [("otelflow", n, pl, ld) for pl in pipelines for ld in loads for n in workers]
    if not args.no_ref:
        plan += [("otelcol-ref", os.cpu_count() or 1, pl, ld) for pl in pipelines for ld in loads
                 if not (args.quick and ld in FIXED)]
    plan = plan * args.repeat
    runs = []
    began = time.monotonic()
    for k, (peer, n, pl, ld) in enumerate(plan):
        name = f"{pl}-{ld}-{peer}-{n}-{k // (len(plan) // args.repeat)}"
        print(f"[{time.monotonic() - began:5.0f}s] {name} ...", flush=True)
        r = run_one(peer, n, pl, ld, duration, root / name)
        if r.error:  # e.g. a free port taken by another program meanwhile: once more
            print(f"        {r.error}; again", flush=True)
            r = run_one(peer, n, pl, ld, duration, root / f"{name}-again")
        runs.append(r)
        rate = rate_of(r)
        print(f"        {fmt(rate)} spans/s, {fmt(r.cpu_per_million, '.1f')} CPU-s/M, "
              f"{r.delivered:,}/{r.sent:,} delivered {r.error}", flush=True)
    report = table(runs) + "\n\n" + overhead(runs, workers)
    print()
    print(report)
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"workers-{stamp}{'-quick' if args.quick else ''}.json"
    out.write_text(json.dumps({
        "when": stamp, "command": " ".join(["bench/workers_bench.py", *(argv if argv is not None else sys.argv[1:])]),
        "machine": {"cpus": os.cpu_count(), "affinity": len(os.sched_getaffinity(0)), "platform": platform.platform(),
                    "python": platform.python_version()},
        "loads": {k: {"processes": v[0], "telemetrygen": v[1]} for k, v in LOADS.items()},
        "runs": [asdict(r) for r in runs], "overhead": overhead(runs, workers),
    }, indent=1))
    print(f"\nwritten {out.relative_to(REPO)} in {time.monotonic() - began:.0f}s")
    return 0 if not any(r.error for r in runs) else 1


if __name__ == "__main__":
    raise SystemExit(main())
