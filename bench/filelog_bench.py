"""file_log receiver throughput: otelflow vs otelcol-ref, lines per second from files to OTLP.

The same ``--files`` files of ``--lines`` lines in total are written to a temp directory; each
collector runs alone (pinned to core 1 when ``taskset`` exists) with ``file_log (start_at:
beginning) -> otlp`` to a gRPC LogsService sink in this process (core 0), which counts records.
Reported: lines/s between the first and the last record at the sink, wall time from launch,
and the otelflow/otelcol-ref ratio.

    python bench/filelog_bench.py                     # 200000 lines across 10 files
    python bench/filelog_bench.py --lines 1000000
    python bench/filelog_bench.py --only otelflow
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from concurrent import futures
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

import grpc  # noqa: E402
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2, logs_service_pb2_grpc  # noqa: E402
from netutil import free_port  # noqa: E402 - bench/ is the script's directory

OTELCOL_REF = Path(os.environ.get("OTELCOL_REF", REPO / "bench" / ".build" / "bin" / "otelcol-ref"))


class Sink(logs_service_pb2_grpc.LogsServiceServicer):
    """Counts log records and remembers when the first and the latest arrived."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        self.count = 0
        self.first = self.last = 0.0

    def Export(self, request, context):  # noqa: N802 - gRPC method name
        n = sum(len(sl.log_records) for rl in request.resource_logs for sl in rl.scope_logs)
        now = time.perf_counter()
        with self.lock:
            if not self.count:
                self.first = now
            self.count += n
            self.last = now
        return logs_service_pb2.ExportLogsServiceResponse()


def write_files(directory: Path, files: int, lines: int) -> None:
    per_file = lines // files
    for i in range(files):
        with open(directory / f"app{i:02d}.log", "w") as f:
            f.write("".join(f"2024-05-01T10:00:00Z INFO app{i:02d} request {n:09d} served in 12ms user=alice\n"
                            for n in range(per_file)))


def config(logs: Path, port: int) -> str:
    return f"""
receivers:
  file_log:
    include: ["{logs}/*.log"]
    start_at: beginning
    include_file_path: true
exporters:
  otlp:
    endpoint: 127.0.0.1:{port}
    tls:
      insecure: true
    # no queue: each batch is sent before the receiver reads on (otherwise upstream drops with
    # "sending queue is full" when files are read faster than one gRPC sink drains them)
    sending_queue:
      enabled: false
service:
  telemetry:
    metrics:
      level: none
  pipelines:
    logs:
      receivers: [file_log]
      exporters: [otlp]
"""


def run(name: str, cmd: list[str], sink: Sink, expected: int, workdir: Path, timeout: float) -> dict:
    sink.reset()
    if shutil.which("taskset"):
        cmd = ["taskset", "-c", "1", *cmd]
    log = open(workdir / f"{name}.log", "wb")
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    try:
        while sink.count < expected:
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited: {(workdir / f'{name}.log').read_text()[-2000:]}")
            if time.perf_counter() - started > timeout:
                raise RuntimeError(f"{name}: {sink.count}/{expected} records after {timeout}s; log tail:\n"
                                   f"{(workdir / f'{name}.log').read_text()[-3000:]}")
            time.sleep(0.02)
    finally:
        proc.terminate()
        proc.wait(30)
        log.close()
    span = max(sink.last - sink.first, 1e-9)
    return {"name": name, "records": sink.count, "lines_per_s": sink.count / span,
            "wall_s": sink.last - started}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lines", type=int, default=200_000)
    ap.add_argument("--files", type=int, default=10)
    ap.add_argument("--timeout", type=float, default=600)
    ap.add_argument("--only", choices=["otelflow", "otelcol-ref"])
    args = ap.parse_args()
    expected = args.lines // args.files * args.files

    sink = Sink()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4), options=[
        ("grpc.max_receive_message_length", 64 * 1024 * 1024)])
    logs_service_pb2_grpc.add_LogsServiceServicer_to_server(sink, server)
    port = free_port()
    server.add_insecure_port(f"127.0.0.1:{port}")
    server.start()
    if hasattr(os, "sched_setaffinity") and shutil.which("taskset"):
        os.sched_setaffinity(0, {0})

    results = []
    with tempfile.TemporaryDirectory(prefix="filelog-bench-") as tmp:
        work = Path(tmp)
        logs = work / "logs"
        logs.mkdir()
        write_files(logs, args.files, args.lines)
        cfg = work / "config.yaml"
        cfg.write_text(config(logs, port))
        plan = []
        if args.only != "otelcol-ref":
            plan.append(("otelflow", [sys.executable, "-m", "otelflow", "--config", str(cfg)]))
        if args.only != "otelflow":
            if OTELCOL_REF.exists():
                plan.append(("otelcol-ref", [str(OTELCOL_REF), "--config", str(cfg)]))
            else:
                print(f"otelcol-ref not found at {OTELCOL_REF}; skipping it", file=sys.stderr)
        env_path = os.environ.get("PYTHONPATH", "")
        os.environ["PYTHONPATH"] = f"{REPO / 'src'}{os.pathsep}{env_path}" if env_path else str(REPO / "src")
        for name, cmd in plan:
            results.append(run(name, cmd, sink, expected, work, args.timeout))
    server.stop(0)

    print(f"file_log -> otlp, {expected} lines in {args.files} files")
    for r in results:
        print(f"  {r['name']:<12} {r['lines_per_s']:>12,.0f} lines/s   (last record {r['wall_s']:.2f}s after launch)")
    if len(results) == 2:
        print(f"  ratio otelflow/otelcol-ref: {results[0]['lines_per_s'] / results[1]['lines_per_s']:.2f}")


if __name__ == "__main__":
    main()
