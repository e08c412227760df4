"""How long exporting traces from the embedded store takes (``/api/v1/export/trace/{id}`` and
``/api/v1/export/traces?...``) on a store of a million spans.

Builds (or reuses, ``--store``) the store that bench/store_query.py builds: 100,000 traces of 10
spans over the last hour, 200,000 logs, trace_times indexed. Times the export of one trace by ID and
of the newest 20 and 100 traces of a search (the search itself timed apart), one warm-up and the median
of ``--rounds``, and records a SHA-256 of each exported body so that runs of two versions of
import_export.py can be compared byte for byte.

    python bench/trace_export_bench.py --store /tmp/export-store --label before
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent / "src"), str(HERE)]

import duckdb  # noqa: E402

import store_query  # noqa: E402
from otelflow.store import import_export, query_traces, schema  # noqa: E402


def export(con, ids: list[str]) -> bytes:
    """What the web UI's export routes answer for these trace IDs."""
    return import_export.json_lines(import_export.traces_request(con, ids),
                                    import_export.logs_request(import_export.trace_logs(con, ids)))


def timed(fn, rounds: int) -> tuple[float, float, bytes]:
    out = fn()  # warm-up
    times = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times), min(times), out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spans", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--store", type=Path, required=True, help="build the store here once, reuse it later")
    parser.add_argument("--label", default="run", help="names the result file: bench/results/trace_export-<label>.json")
    args = parser.parse_args()
    path, info = args.store / "otelflow.duckdb", args.store / "bench.json"
    if not (path.exists() and info.exists() and json.loads(info.read_text())["spans"] == args.spans):
        args.store.mkdir(parents=True, exist_ok=True)
        path.unlink(missing_ok=True)
        now_ns = time.time_ns()
        built = store_query.build(path, args.spans, now_ns)
        info.write_text(json.dumps({"spans": args.spans, "now_ns": now_ns, "build": built}))
    now_ns = json.loads(info.read_text())["now_ns"]
    con = duckdb.connect(str(path))
    schema.migrate(con)
    con.close()
    con = duckdb.connect(str(path), read_only=True)
    rng = {"start_us": now_ns // 1000 - 3600 * 10**6, "end_us": now_ns // 1000}
    middle = con.execute("SELECT trace_id FROM spans LIMIT 1 OFFSET (SELECT count(*) // 2 FROM spans)").fetchone()[0]
    searches = {n: [t["trace_id"] for t in query_traces.traces(con, limit=n, **rng)["traces"]] for n in (20, 100)}
    cases = {
        "export trace by id": lambda: export(con, [middle]),
        "search 20 (not export)": lambda: query_traces.traces(con, limit=20, **rng),
        "export 20 searched traces": lambda: export(con, searches[20]),
        "export 100 searched traces": lambda: export(con, searches[100]),
    }
    results = []
    print(f"{'case':28} {'median ms':>10} {'min ms':>8} {'bytes':>9}  sha256")
    for name, fn in cases.items():
        median, least, out = timed(fn, args.rounds)
        body = out if isinstance(out, bytes) else json.dumps(out, sort_keys=True).encode()
        digest = hashlib.sha256(body).hexdigest()[:16]
        print(f"{name:28} {median:10.1f} {least:8.1f} {len(body):9}  {digest}")
        results.append({"case": name, "median_ms": round(median, 2), "min_ms": round(least, 2), "bytes": len(body),
                        "sha256": digest})
    con.close()
    out_path = HERE / "results" / f"trace_export-{args.label}.json"
    out_path.write_text(json.dumps({
        "spans": args.spans, "rounds": args.rounds, "duckdb": duckdb.__version__, "python": platform.python_version(),
        "cpus": os.cpu_count(), "load_average_1m": round(os.getloadavg()[0], 2), "results": results}, indent=2) + "\n")
    print(f"wrote {out_path}")


if __name__ == "__main__":
    main()
