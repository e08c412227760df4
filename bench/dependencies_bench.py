"""How long the service-map query (/api/v1/dependencies) takes on a store built as store_query.py builds it:
from the per-minute rollups (what the API serves) and as the raw join over the spans it replaced.

    python bench/dependencies_bench.py                 # 1,000,000 spans over the last hour
    python bench/dependencies_bench.py --spans 200000
    python bench/dependencies_bench.py --store /tmp/store10m --spans 10000000   # a store_query.py --store directory
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

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import duckdb  # noqa: E402

import store_query  # noqa: E402
from otelflow.store import query_dependencies  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spans", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--store", type=Path, help="a bench/store_query.py --store directory built for --spans")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        if args.store:
            path = args.store / "otelflow.duckdb"
            now_ns = json.loads((args.store / "bench.json").read_text())["now_ns"]
        else:
            path, now_ns = Path(tmp) / "bench.duckdb", time.time_ns()
            store_query.build(path, args.spans, now_ns)
        con = duckdb.connect(str(path), read_only=True)
        now_us = now_ns // 1000
        for how, fn in (("rollups", query_dependencies.dependencies), ("raw join", query_dependencies.dependencies_raw)):
            for label, width_us in (("last 1h", 3_600_000_000), ("last 15m", 900_000_000)):
                kwargs = {"start_us": now_us - width_us, "end_us": now_us}
                result = fn(con, **kwargs)  # warm-up
                times = []
                for _ in range(args.rounds):
                    t0 = time.perf_counter()
                    fn(con, **kwargs)
                    times.append((time.perf_counter() - t0) * 1000)
                print(f"{args.spans} spans, {how}, {label}: median {statistics.median(times):.1f} ms "
                      f"(min {min(times):.1f}); {len(result['edges'])} edges, {len(result['nodes'])} nodes")
        con.close()


if __name__ == "__main__":
    main()
