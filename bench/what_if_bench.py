"""How long ``otelflow sampling what-if`` takes over a store of a million spans, on one core.

Builds the store as bench/store_query.py does (100,000 traces of 10 spans over the last hour, ~2%
error spans, durations up to 1 s, an ``http.route`` on every span; ``INSERT ... SELECT FROM
range()``, seconds). Its traces put each span in another of 10 services (``--shape wide``); the
default ``--shape typical`` then moves the spans of a trace into 3 services (spans 0-3, 4-7, 8-9), as
a request crossing three services. Then it replays the store through each policy set below with
DuckDB on one thread and this process pinned to one CPU, and reports wall and CPU seconds (best of
``--rounds``; on a shared machine CPU seconds are the fairer figure) in bench/results/what_if-<shape>.json.

    python bench/what_if_bench.py                  # 1,000,000 spans
    python bench/what_if_bench.py --spans 200000   # a smaller store
    python bench/what_if_bench.py --keep DIR       # build into DIR once, reuse it on later runs
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))
sys.path.insert(0, str(HERE))

import duckdb  # noqa: E402

import store_query  # noqa: E402
from otelflow.sampling import policyfile, report  # noqa: E402

TARGET_S = 10.0
RESULTS = HERE / "results" / "what_if-{shape}.json"
ROUTE = """
  - name: route-7
    type: string_attribute
    string_attribute: { key: http.route, values: [/api/7] }
    sampling: { sampling_percentage: 1 }
"""
POLICY_SETS = {
    # the seed's three policies and a route rule on an attribute every span has
    "seed + route": """
decision_wait: 30s
policies:
  - { name: errors,   type: status_code, status_code: { status_codes: [ERROR] } }
  - { name: slow,     type: latency,     latency: { threshold_ms: 500 } }
  - { name: probably, type: probabilistic, probabilistic: { sampling_percentage: 5 } }
""" + ROUTE,
    "and + composite + drop": """
policies:
  - name: no-retries-13
    type: drop
    drop: { drop_sub_policy: [ { name: r, type: boolean_attribute, boolean_attribute: { key: retry, value: true } },
                               { name: s, type: string_attribute, string_attribute: { key: http.route, values: [/api/13] } } ] }
  - name: server-5xx
    type: and
    and: { and_sub_policy: [ { name: c, type: numeric_attribute, numeric_attribute: { key: http.status_code, min_value: 500, max_value: 599 } },
                             { name: l, type: latency, latency: { threshold_ms: 100 } } ] }
  - name: budget
    type: composite
    composite:
      max_total_spans_per_second: 2000
      policy_order: [errs, rest]
      composite_sub_policy:
        - { name: errs, type: status_code, status_code: { status_codes: [ERROR] } }
        - { name: rest, type: probabilistic, probabilistic: { sampling_percentage: 10 } }
      rate_allocation: [ { policy: errs, percent: 60 }, { policy: rest, percent: 40 } ]
""",
    "ottl_condition (every field built)": """
policies:
  - name: user-42
    type: ottl_condition
    ottl_condition: { error_mode: ignore, span: [ 'attributes["user.id"] == "u42"' ] }
""",
}


def reshape(path: Path) -> None:
    """Spans j of trace t (rows are stored in order: t = rowid // 10, j = rowid % 10) in service
    (t + j // 4) % 10: three services per trace instead of ten."""
    con = duckdb.connect(str(path))
    con.execute("""UPDATE spans SET service = 'service-' || ((rowid // 10 + (rowid % 10) // 4) % 10),
                   resource = '{"service.name":"service-' || ((rowid // 10 + (rowid % 10) // 4) % 10)
                              || '","host.name":"host-' || ((rowid // 10) % 20) || '"}'""")
    con.execute("CHECKPOINT")
    con.close()


def pin_one_cpu() -> str:
    try:
        cpu = sorted(os.sched_getaffinity(0))[0]
        os.sched_setaffinity(0, {cpu})
        return f"pinned to CPU {cpu}"
    except (AttributeError, OSError):
        return "not pinned"


def run_set(con, name: str, text: str, rounds: int) -> dict:
    processors = policyfile.from_text(text, name)
    best_wall = best_cpu = float("inf")
    out = None
    for _ in range(rounds):
        w0, c0 = time.perf_counter(), time.process_time()
        out = report.what_if(con, processors)[0]
        best_wall = min(best_wall, time.perf_counter() - w0)
        best_cpu = min(best_cpu, time.process_time() - c0)
    return {"policies": name, "wall_s": round(best_wall, 2), "cpu_s": round(best_cpu, 2), "traces": out["total"]["traces"],
            "spans": out["total"]["spans"], "kept_traces_pct": out["kept"]["traces_pct"], "kept_spans_pct": out["kept"]["spans_pct"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spans", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--keep", metavar="DIR", help="build the store here (once) and keep it")
    parser.add_argument("--sets", default="", help="comma-separated policy set names (default: all)")
    parser.add_argument("--shape", choices=["typical", "wide"], default="typical",
                        help="typical: 3 services per trace; wide: 10 (each span its own service)")
    args = parser.parse_args()
    pinned = pin_one_cpu()
    with tempfile.TemporaryDirectory(prefix="otelflow-what-if-bench-") as tmp:
        directory = Path(args.keep or tmp)
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / f"{args.shape}-{args.spans}" / "otelflow.duckdb"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            built = store_query.build(path, args.spans, time.time_ns())
            if args.shape == "typical":
                reshape(path)
            print(f"built {args.spans:,} spans in {built['spans_s']:.1f}s, file {built['file_bytes'] / 2**20:.0f} MiB")
        con = duckdb.connect(str(path), read_only=True)
        con.execute("SET threads = 1")
        spans = con.execute("SELECT count(*) FROM spans").fetchone()[0]
        print(f"{spans:,} stored spans, shape {args.shape}; {pinned}; DuckDB threads = 1; best of {args.rounds}; "
              f"load average {os.getloadavg()[0]:.1f}")
        print(f"{'policies':38} {'wall s':>7} {'cpu s':>7} {'kept traces %':>14} {'kept spans %':>13}")
        results = []
        wanted = [s.strip() for s in args.sets.split(",") if s.strip()]
        for name, text in POLICY_SETS.items():
            if wanted and name not in wanted:
                continue
            r = run_set(con, name, text, args.rounds)
            results.append(r)
            mark = "" if r["wall_s"] < TARGET_S else f"  (over the {TARGET_S:.0f} s target)"
            print(f"{name:38} {r['wall_s']:7.2f} {r['cpu_s']:7.2f} {r['kept_traces_pct']:14.2f} {r['kept_spans_pct']:13.2f}{mark}")
        con.close()
    out = Path(str(RESULTS).format(shape=args.shape))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"spans": spans, "shape": args.shape, "load_average": round(os.getloadavg()[0], 1), "target_s": TARGET_S, "pinned": pinned, "python": platform.python_version(),
                                   "duckdb": duckdb.__version__, "machine": platform.machine(), "results": results}, indent=2) + "\n")
    print(f"wrote {out.relative_to(HERE.parent)}")


if __name__ == "__main__":
    main()
