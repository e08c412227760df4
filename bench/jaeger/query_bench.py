"""How long the Jaeger query API's store queries take, on the store bench/store_query.py builds.

Calls the functions behind /jaeger/api/ (jaeger_query, including the conversion to Jaeger's JSON
model) directly on a DuckDB cursor: one warm-up, median of five, in ms.

    python bench/jaeger/query_bench.py                  # 1,000,000 spans
    python bench/jaeger/query_bench.py --spans 10000000
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "src"))
sys.path.insert(0, os.path.join(HERE, ".."))

import duckdb  # noqa: E402
from store_query import build  # noqa: E402

from otelflow.store import jaeger_query  # noqa: E402


def cases(con, now_ns: int) -> dict:
    hour = 3600 * 10**9
    rng = {"start_ns": now_ns - 48 * hour, "end_ns": now_ns}  # Jaeger's default search range
    trace_id = con.execute("SELECT trace_id FROM spans LIMIT 1 OFFSET (SELECT count(*) // 2 FROM spans)").fetchone()[0]

    def search(**kw):
        return jaeger_query.traces(con, jaeger_query.find_trace_ids(con, **{"limit": 20, **rng, **kw}))

    return {
        "services": lambda: jaeger_query.services(con),
        "operations": lambda: jaeger_query.operations(con, "service-3"),
        "traces service (limit 20)": lambda: search(service="service-3"),
        "traces service (limit 100)": lambda: search(service="service-3", limit=100),
        "traces service+operation": lambda: search(service="service-3", operation="operation-7"),
        "traces tag": lambda: search(service="service-3", tags={"http.route": "/api/42"}),
        "traces minDuration": lambda: search(service="service-3", min_duration_ns=900_000_000),
        "trace by id": lambda: jaeger_query.traces(con, [trace_id]),
        "dependencies (1h)": lambda: jaeger_query.dependencies(con, start_ns=now_ns - hour, end_ns=now_ns),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spans", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.duckdb"
        now_ns = time.time_ns()
        built = build(path, args.spans, now_ns)
        print(f"built {args.spans:,} spans in {built['spans_s']:.1f} s")
        con = duckdb.connect(str(path), read_only=True)
        out = {}
        for name, fn in cases(con, now_ns).items():
            fn()
            times = []
            for _ in range(args.rounds):
                t0 = time.perf_counter()
                fn()
                times.append((time.perf_counter() - t0) * 1000)
            out[name] = round(statistics.median(times), 1)
            print(f"{name:30} {out[name]:8.1f} ms")
        print(json.dumps({"spans": args.spans, "ms": out}))


if __name__ == "__main__":
    main()
