"""How fast the web UI's pages show their data on a store of a million spans, in a real browser.

Builds the 1,000,000-span store of bench/store_query.py (its ``build``, spread over the last hour so
the UI's default 1h range sees all of it) as ``<tmp>/data/otelflow.duckdb``, starts otelflow as a
process with the all-in-one default config on free loopback ports, and runs ui/e2e/bench-pages.mjs:
headless Chromium through playwright-core opens each page cold (fresh context), warm (the same URL
again, several times) and by in-app navigation (a hash change), and times navigation start → the
page's data on screen, with the slowest /api/v1 call of each load. Prints a table and writes
bench/results/ui_pages.json.

    python bench/ui_pages.py                  # 1,000,000 spans
    python bench/ui_pages.py --spans 200000   # a smaller store
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "bench")]

from store_query import build  # noqa: E402
from tests.backends import free_port  # noqa: E402

TARGET_MS = 1000.0  # every page's data on screen within a second, warm
SERVICE = "service-3"
CHROMIUM = "/usr/bin/chromium"
SCRIPT = REPO / "ui" / "e2e" / "bench-pages.mjs"
RESULTS = REPO / "bench" / "results" / "ui_pages.json"


def start(data: Path, log: Path) -> tuple[subprocess.Popen, str]:
    """otelflow with its default config; returns the process and the web UI's URL once it is ready."""
    ports: list[int] = []
    while len(ports) < 3:  # free_port() can hand out the same port twice in a row
        if (port := free_port()) not in ports:
            ports.append(port)
    grpc, http, ui = ports
    args = [sys.executable, "-m", "otelflow", "--data-dir", str(data),
            "--set", f"receivers::otlp::protocols::grpc::endpoint=127.0.0.1:{grpc}",
            "--set", f"receivers::otlp::protocols::http::endpoint=127.0.0.1:{http}",
            "--set", f"extensions::web_ui::endpoint=127.0.0.1:{ui}",
            "--set", "service::telemetry::metrics::level=none"]
    with open(log, "wb") as out:
        proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, cwd=REPO)
    deadline = time.monotonic() + 60
    while b"Everything is ready" not in log.read_bytes():
        if proc.poll() is not None or time.monotonic() > deadline:
            stop(proc)
            raise SystemExit(f"otelflow did not start:\n{log.read_text(errors='replace')}")
        time.sleep(0.1)
    return proc, f"http://127.0.0.1:{ui}"


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def api(url: str, path: str, **params) -> dict:
    with urllib.request.urlopen(f"{url}/api/v1/{path}?{urllib.parse.urlencode(params)}", timeout=30) as resp:
        return json.load(resp)


def pick(url: str, spans: int) -> tuple[str, str]:
    """A trace of SERVICE from the middle of the hour, and a metric the store has."""
    now_us = time.time_ns() // 1000
    if (held := api(url, "stats")["spans"]) != spans:
        raise SystemExit(f"otelflow's store holds {held:,} spans, not the {spans:,} built")
    window = {"start_us": now_us - 3600 * 10**6, "end_us": now_us - 1800 * 10**6}
    traces = api(url, "traces", service=SERVICE, **window)["traces"]
    metrics = [m["name"] for m in api(url, "metrics", start_us=now_us - 3600 * 10**6, end_us=now_us)["metrics"]]
    if not traces or not metrics:
        raise SystemExit(f"the store shows no trace of {SERVICE} or no metric: is the data in the last hour?")
    return traces[0]["trace_id"], "requests" if "requests" in metrics else metrics[0]


def median(loads: list[dict], key) -> float:
    return round(statistics.median(key(x) for x in loads), 1)


def summary(page: dict) -> dict:
    if "error" in page:
        return {"page": page["page"], "hash": page["hash"], "error": page["error"], "meets_target": False}
    warm = page["warm"]
    slowest = max(warm, key=lambda x: x["slowest_api"]["ms"] if x["slowest_api"] else 0)["slowest_api"]
    out = {
        "page": page["page"], "hash": page["hash"],
        "cold_ms": round(page["cold"]["ms"], 1),
        "warm_median_ms": median(warm, lambda x: x["ms"]),
        "nav_median_ms": median(page["nav"], lambda x: x["ms"]),
        "api_calls": warm[0]["api_calls"],
        # warm medians: until the first API call (the app is running), the last API answer, the data on screen
        "warm_first_api_ms": median(warm, lambda x: x["first_api_ms"] or 0),
        "warm_api_done_ms": median(warm, lambda x: x["api_done_ms"]),
        "warm_render_ms": median(warm, lambda x: x["render_ms"]),
        "warm_slowest_api_median_ms": median(warm, lambda x: x["slowest_api"]["ms"] if x["slowest_api"] else 0),
        "slowest_api": {"path": slowest["path"], "ms": round(slowest["ms"], 1), "server_ms": round(slowest["server_ms"], 1)}
        if slowest else None,
    }
    out["meets_target"] = out["warm_median_ms"] < TARGET_MS
    return out


def table(rows: list[dict]) -> None:
    print(f"{'page':22} {'cold ms':>8} {'warm ms':>8} {'nav ms':>7} {'calls':>5} {'boot':>5} {'api ms':>7} {'render':>7}  slowest API call: median/max ms")
    for r in rows:
        if "error" in r:
            print(f"{r['page']:22} FAILED: {r['error']}")
            continue
        s = r["slowest_api"]
        flag = "" if r["meets_target"] else f"  over {TARGET_MS:.0f} ms"
        print(f"{r['page']:22} {r['cold_ms']:8.0f} {r['warm_median_ms']:8.0f} {r['nav_median_ms']:7.0f} {r['api_calls']:5} "
              f"{r['warm_first_api_ms']:5.0f} {r['warm_api_done_ms']:7.0f} {r['warm_render_ms']:7.0f}  {s['path'] if s else '-'} {r['warm_slowest_api_median_ms']:.0f}/{s['ms'] if s else 0:.0f}{flag}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spans", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=5, help="warm loads and in-app navigations per page")
    args = parser.parse_args()
    if not os.access(CHROMIUM, os.X_OK) or not (REPO / "ui" / "node_modules" / "playwright-core").is_dir():
        raise SystemExit(f"needs {CHROMIUM} (bash scripts/install-browser.sh) and ui/node_modules (make ui)")
    with tempfile.TemporaryDirectory(prefix="otelflow-ui-bench-") as tmp:
        data = Path(tmp) / "data"
        data.mkdir()
        built = build(data / "otelflow.duckdb", args.spans, time.time_ns())
        print(f"built {args.spans:,} spans in {built['spans_s']:.1f}s, file {built['file_bytes'] / 2**20:.0f} MiB")
        log = Path(tmp) / "otelflow.log"
        proc, url = start(data, log)
        try:
            trace_id, metric = pick(url, args.spans)
            out = Path(tmp) / "pages.json"
            env = {**os.environ, "UI_URL": url, "SERVICE": SERVICE, "TRACE_ID": trace_id, "METRIC": metric,
                   "OUT": str(out), "ROUNDS": str(args.rounds), "CHROMIUM": CHROMIUM}
            run = subprocess.run(["node", str(SCRIPT)], cwd=REPO / "ui", env=env, timeout=900)
            if run.returncode != 0 or not out.exists():
                tail = "\n".join(log.read_text(errors="replace").splitlines()[-30:])
                raise SystemExit(f"{SCRIPT.name} failed (exit {run.returncode}); otelflow's log (tail):\n{tail}")
            raw = json.loads(out.read_text())
        finally:
            stop(proc)
    chromium = next((r["chromium"] for r in raw if "chromium" in r), None)
    rows = [summary(p) for p in raw if "page" in p]
    table(rows)
    missed = [r["page"] for r in rows if not r["meets_target"]]
    print(f"target: data on screen < {TARGET_MS:.0f} ms warm; " + (f"missed by: {', '.join(missed)}" if missed else "every page meets it"))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({
        "spans": args.spans, "rounds": args.rounds, "target_ms": TARGET_MS, "service": SERVICE, "trace_id": trace_id,
        "metric": metric, "build": built, "chromium": chromium, "python": platform.python_version(),
        "cpus": os.cpu_count(), "load_average_1m": round(os.getloadavg()[0], 2),  # other work skews the figures
        "pages": rows, "raw": raw}, indent=2) + "\n")
    print(f"wrote {RESULTS.relative_to(REPO)}")
    if any("error" in r for r in rows):
        sys.exit(1)


if __name__ == "__main__":
    main()
