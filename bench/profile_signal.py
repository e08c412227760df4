#!/usr/bin/env python3
"""Profile otelflow (cProfile, one worker) on the seed's pipeline for one signal under bench.py's load.

  python bench/profile_signal.py metrics fixed --duration 10
  python bench/profile_signal.py logs max --top 40 --out /tmp/logs.prof
  python bench/profile_signal.py metrics fixed --py-spy /tmp/metrics.txt   # sampling, no cProfile

With ``--py-spy FILE`` the collector runs unprofiled and py-spy (``pip install py-spy``, a dev tool)
samples it while the load runs (``py-spy record --pid PID --rate 500 --format raw --nonblocking``,
idle samples left out, so samples are CPU time); the table is then own and inclusive samples per
function, in µs per request, which unlike cProfile does not inflate many small calls.

Same layout as bench.py (collector alone on core 1; telemetrygen and the counting sink on core 0)
but the collector runs under cProfile (timing CPU, not wall time), so its CPU figures are inflated
by the profiler: read the table for where time goes (share of the total), and bench.py for CPU per item.
It prints the top functions by own time and by cumulative time, scaled to microseconds per request
and per item (requests and items counted at the sink-facing side: telemetrygen's requests carry a
fixed number of items, see bench/README.md "Metrics and logs path").
"""

from __future__ import annotations

import argparse
import os
import pstats
import signal as _signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench  # noqa: E402 - bench/ is the script's directory
import yaml  # noqa: E402
from netutil import wait_port  # noqa: E402

# Items per request in telemetrygen's default batching (--batch-size 100): metrics arrive as one
# resource with 100 scopes of one gauge point each, logs as one scope of 100 records.
ITEMS_PER_REQUEST = {"metrics": 100, "logs": 100, "traces": 100}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("signal", choices=["traces", "metrics", "logs"])
    ap.add_argument("mode", choices=["fixed", "max"])
    ap.add_argument("--duration", type=float, default=10.0)
    ap.add_argument("--top", type=int, default=30)
    ap.add_argument("--out", default="", help="keep the cProfile data here")
    ap.add_argument("--seed", default=str(bench.SEED))
    ap.add_argument("--py-spy", dest="pyspy", default="", help="sample with py-spy into this raw (collapsed) file")
    ap.add_argument("--rate", type=int, default=500, help="py-spy samples per second")
    args = ap.parse_args(argv)

    seed = yaml.safe_load(Path(args.seed).read_text())
    work = Path(tempfile.mkdtemp(prefix="otelflow-profile-"))
    out = Path(args.out) if args.out else work / "otelflow.prof"
    sink = bench.Sink(work, probe=False)
    collector = None
    try:
        sink.start()
        setup = bench.setup_peer("otelflow", args.signal, work, seed, sink)
        cmd = setup.command[:]
        # CPU time, not wall time: on a shared machine waiting for the core would be charged to
        # whatever function was running. Profiling runs only while the load does (SIGUSR1 ... SIGUSR2):
        # start-up (imports, config) would otherwise weigh on short runs.
        runner = ("import cProfile, runpy, signal, sys, time\n"
                  "p = cProfile.Profile(time.process_time)\n"
                  "signal.signal(signal.SIGUSR1, lambda *a: p.enable())\n"
                  "signal.signal(signal.SIGUSR2, lambda *a: (p.disable(), p.dump_stats(OUT)))\n"
                  "sys.argv = ['otelflow'] + sys.argv[1:]\n"
                  "runpy.run_module('otelflow', run_name='__main__')\n")
        if not args.pyspy:
            cmd[1:3] = ["-c", runner.replace("OUT", repr(str(out)))]
        env = dict(os.environ, OTELFLOW_WORKERS="1")
        log = open(work / "otelflow.log", "wb")
        collector = subprocess.Popen(["taskset", "-c", bench.COLLECTOR_CORE] + cmd, stdout=log,
                                     stderr=subprocess.STDOUT, env=env, cwd=work)
        wait_port(setup.grpc_port, collector)
        wait_port(setup.http_port, collector)
        time.sleep(1.0)
        before = sink.count(args.signal)
        spy = None
        if args.pyspy:
            spy = subprocess.Popen(["taskset", "-c", bench.LOAD_CORE, "py-spy", "record", "--pid", str(collector.pid),
                                    "--rate", str(args.rate), "--format", "raw", "--nonblocking",
                                    "--output", args.pyspy], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(1.0)
        else:
            collector.send_signal(_signal.SIGUSR1)
        cpu0 = bench.cpu_seconds(collector.pid)
        tg = bench.telemetrygen_cmd(args.signal, args.mode, setup.grpc_port, setup.http_port, args.duration)
        subprocess.run(tg, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        deadline = time.monotonic() + setup.drain_min + 10
        last, still = -1.0, 0
        while time.monotonic() < deadline:
            time.sleep(0.5)
            now = sink.count(args.signal)
            still = still + 1 if now == last else 0
            last = now
            if still >= 2 and time.monotonic() > deadline - 10 + setup.drain_min:
                break
        items = sink.count(args.signal) - before
        cpu = bench.cpu_seconds(collector.pid) - cpu0
        if spy is not None:
            spy.send_signal(_signal.SIGINT)  # py-spy writes its file on Ctrl-C
            spy.wait(timeout=30)
        else:
            collector.send_signal(_signal.SIGUSR2)
            time.sleep(1.0)
        collector.send_signal(_signal.SIGTERM)
        collector.wait(timeout=60)
    finally:
        if collector is not None and collector.poll() is None:
            collector.kill()
        sink.stop()
    requests = items / ITEMS_PER_REQUEST[args.signal]
    print(f"collector CPU during the load and drain: {cpu:.2f} s = {cpu / items * 1e6:.2f} CPU-s/M items, "
          f"{cpu / requests * 1e6:,.0f} µs/request")
    if args.pyspy:
        return pyspy_table(Path(args.pyspy), args.signal, args.mode, items, requests, cpu, args.top)
    stats = pstats.Stats(str(out))
    total = stats.total_tt
    print(f"{args.signal} {args.mode}: {items:,.0f} items delivered, ~{requests:,.0f} requests; "
          f"profiled time {total:.2f} s = {total / requests * 1e6:,.0f} µs/request, {total / items * 1e6:.2f} µs/item")
    for key, label in (("tottime", "own time"), ("cumulative", "cumulative")):
        print(f"\n-- top {args.top} by {label} (µs per request / per item, share of total) --")
        rows = sorted(stats.stats.items(), key=lambda kv: kv[1][2 if key == "tottime" else 3], reverse=True)
        for (path, line, name), (cc, nc, tt, ct, _) in rows[: args.top]:
            t = tt if key == "tottime" else ct
            where = f"{Path(path).name}:{line}" if line else path
            print(f"{t / requests * 1e6:9.1f} {t / items * 1e6:7.2f} {100 * t / total:5.1f}%  {nc:>9}  {name}  ({where})")
    print(f"\nprofile: {out}")
    return 0


_WAITING = {"EpollSelector.select", "_Writer._run", "Thread.run", "Condition.wait", "Event.wait", "_wait_for_tstate_lock",
            "wait", "select"}


# Where a sample's CPU goes: the first bucket with a frame on the stack, frames compared whole
# ("function (file)"; "#own": only as the leaf). Ordered innermost first.
_PARTS = [
    ("batch: join the cut requests", ("Splitter.take (split.py)",)),
    ("export: encode + compress", ("compress (compression.py)", "OTLPHTTPExporter.send (otlphttp.py)#own")),
    ("export: HTTP client (aiohttp) + queue", ("QueuedRetryExporter._worker (exporterhelper.py)", "_Shard._run (processor.py)")),
    ("pipeline: processors", ("OTLPReceiver.deliver (receiver.py)",)),
    ("receiver: body read + decompress", ("read_body (httpserver.py)", "decompress (compression.py)")),
    ("receiver: parse, ID check, response", ("HTTPServer._handler.<locals>.handle (http.py)",)),
    ("HTTP server (aiohttp: parse, routing, middleware, response write)",
     ("RequestHandler.data_received (web_protocol.py)", "RequestHandler.start (web_protocol.py)",
      "RequestHandler._handle_request (web_protocol.py)", "RequestHandler.finish_response (web_protocol.py)",
      "_SelectorSocketTransport._read_ready (selector_events.py)")),
    ("connections (accept, set up, close)", ("BaseSelectorEventLoop._accept_connection (selector_events.py)",
                                            "BaseSelectorEventLoop._accept_connection2 (selector_events.py)",
                                            "_SelectorTransport._call_connection_lost (selector_events.py)",
                                            "RequestHandler.connection_made (web_protocol.py)",
                                            "RequestHandler.connection_lost (web_protocol.py)")),
    ("event loop and the rest", ()),
]


def _part(frames: list[str]) -> str:
    on_stack = set(frames)
    for name, marks in _PARTS:
        for mark in marks:
            if mark.endswith("#own"):
                if frames and frames[-1] == mark[:-4]:
                    return name
            elif mark in on_stack:
                return name
    return _PARTS[-1][0]


def pyspy_table(path: Path, signal: str, mode: str, items: float, requests: float, cpu: float, top: int) -> int:
    """Own and inclusive samples per function from py-spy's collapsed stacks, scaled so that all
    samples together are the collector's measured CPU time."""
    own: dict[str, int] = {}
    incl: dict[str, int] = {}
    parts: dict[str, int] = {}
    total = waiting = 0
    for line in path.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        if not stack or not n.isdigit():
            continue
        count = int(n)
        frames = [f.split(" (")[0] + " (" + Path(f.split(" (")[1].split(":")[0]).name + ")" if " (" in f else f
                  for f in stack.split(";")[1:]]  # the first frame is the process/thread
        # In --nonblocking mode py-spy cannot tell a thread blocked in epoll_wait (or a thread
        # waiting on a lock) from a running one: those samples are wall time, left out, and the rest
        # is scaled to the CPU time measured.
        if frames and frames[-1].split(" (")[0] in _WAITING:
            waiting += count
            continue
        total += count
        part = _part(frames)
        parts[part] = parts.get(part, 0) + count
        if frames:
            own[frames[-1]] = own.get(frames[-1], 0) + count
        for f in set(frames):
            incl[f] = incl.get(f, 0) + count
    if not total:
        print("py-spy recorded no samples")
        return 1
    scale = cpu / total / requests * 1e6  # µs per request for one sample
    print(f"{signal} {mode}: {items:,.0f} items, ~{requests:,.0f} requests; {total} samples on CPU "
          f"({waiting} waiting left out)")
    print("\n-- where a request's CPU goes (µs per request, share) --")
    for name, _ in _PARTS:
        count = parts.get(name, 0)
        print(f"{count * scale:9.1f} {100 * count / total:5.1f}%  {name}")
    for table, label in ((own, "own"), (incl, "inclusive")):
        print(f"\n-- top {top} by {label} samples (µs per request, share) --")
        for name, count in sorted(table.items(), key=lambda kv: kv[1], reverse=True)[:top]:
            print(f"{count * scale:9.1f} {100 * count / total:5.1f}%  {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
