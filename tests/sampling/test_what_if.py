"""Sampling what-if against real tail_sampling runs over the same traces.

One in-process collector receives the real SDK's traffic (three services, ~2,900 traces) and sends it
both into the embedded store and through three real ``tail_sampling`` processors: the seed's two
(``../shared/seed/sampling-snippets.yaml``, verbatim) and a richer set (the seed's policies plus its
/healthz route rule, an ``and``, a ``composite`` and a ``drop`` policy). Then the what-if replays the
store — in-process and as the CLI — and its kept sets, per-policy credits and fractions must match
what the processors actually exported (within 0.5 %; with the same hash they are in fact equal).
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
import yaml

from otelflow.core.component import Kind, Signal
from otelflow.sampling import policyfile, report
from otelflow.sampling.cli import parse_since
from otelflow.sampling.replay import open_store
from tests.backends import HTTPBackend, free_port
from tests.conftest import running
from tests.sampling import traffic

ROOT = Path(__file__).resolve().parents[2]
SEED = ROOT.parent / "shared" / "seed"
SNIPPETS = SEED / "sampling-snippets.yaml"
ROUTED = {
    "decision_wait": "30s",
    "policies": [
        {"name": "debug-off", "type": "drop", "drop": {"drop_sub_policy": [
            {"name": "debug", "type": "string_attribute", "string_attribute": {"key": "http.target", "values": ["/internal/debug"]}}]}},
        {"name": "errors", "type": "status_code", "status_code": {"status_codes": ["ERROR"]}},
        {"name": "slow", "type": "latency", "latency": {"threshold_ms": 500}},
        {"name": "probably", "type": "probabilistic", "probabilistic": {"sampling_percentage": 5}},
        {"name": "healthz", "type": "string_attribute",
         "string_attribute": {"key": "http.target", "values": ["/healthz"], "invert_match": False},
         "sampling": {"sampling_percentage": 1}},
        {"name": "checkout-5xx", "type": "and", "and": {"and_sub_policy": [
            {"name": "svc", "type": "string_attribute", "string_attribute": {"key": "service.name", "values": ["checkout"]}},
            {"name": "5xx", "type": "numeric_attribute", "numeric_attribute": {"key": "http.status_code", "min_value": 500, "max_value": 599}}]}},
        {"name": "budget", "type": "composite", "composite": {
            "max_total_spans_per_second": 1_000_000, "policy_order": ["vip", "rest"],
            "composite_sub_policy": [
                {"name": "vip", "type": "boolean_attribute", "boolean_attribute": {"key": "user.vip", "value": True}},
                {"name": "rest", "type": "probabilistic", "probabilistic": {"sampling_percentage": 2, "hash_salt": "budget"}}],
            "rate_allocation": [{"policy": "vip", "percent": 50}, {"policy": "rest", "percent": 50}]}},
    ],
}
TOLERANCE = 0.005  # kept fractions agree within 0.5 %


def _config(port: int, ui_port: int, store_dir: Path, backends: dict[str, str]) -> str:
    seed = yaml.safe_load(SNIPPETS.read_text())["processors"]
    processors = {"tail_sampling": seed["tail_sampling"], "tail_sampling/per-route": seed["tail_sampling/per-route"],
                  "tail_sampling/routed": ROUTED}
    pipelines = {"traces/store": {"receivers": ["otlp"], "exporters": ["embedded_store"]}}
    exporters: dict = {"embedded_store": {"store": "embedded_store"}}
    for name, endpoint in backends.items():
        exporters[f"otlphttp/{name}"] = {"endpoint": endpoint}
        pipelines[f"traces/{name}"] = {"receivers": ["otlp"], "processors": [f"tail_sampling{'' if name == 'seed' else '/' + name}"],
                                       "exporters": [f"otlphttp/{name}"]}
    return yaml.safe_dump({
        "receivers": {"otlp": {"protocols": {"http": {"endpoint": f"127.0.0.1:{port}"}}}},
        "processors": processors,
        "exporters": exporters,
        "extensions": {"embedded_store": {"directory": str(store_dir), "commit_interval": "200ms"},
                       "web_ui": {"endpoint": f"127.0.0.1:{ui_port}"}},
        "service": {"extensions": ["embedded_store", "web_ui"], "pipelines": pipelines},
    })


def _exported(backend: HTTPBackend) -> set[bytes]:
    return {sp.trace_id for m in backend.messages(Signal.TRACES) for rs in m.resource_spans
            for ss in rs.scope_spans for sp in ss.spans}


def _credits(proc) -> dict[str, int]:
    """Sampled traces per policy, from the processor's own telemetry."""
    out: dict[str, int] = {}
    for (name, labels), value in proc.telemetry.counters.items():
        labels = dict(labels)
        if name == "otelcol_processor_tail_sampling_count_traces_sampled" and labels.get("decision") == "sampled" and labels.get("processor") == str(proc.settings.id):
            out[labels["policy"]] = out.get(labels["policy"], 0) + int(value)
    return out


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """The traffic, the store it left and what each real processor exported and credited."""
    store_dir = tmp_path_factory.mktemp("store")

    async def go():
        names = ("seed", "per-route", "routed")
        backends = {n: await HTTPBackend().start() for n in names}
        port, ui_port = free_port(), free_port()
        try:
            async with running(_config(port, ui_port, store_dir, {n: b.endpoint for n, b in backends.items()})) as service:
                provs = traffic.providers(f"http://127.0.0.1:{port}")
                ids = await asyncio.to_thread(traffic.emit, provs)
                await asyncio.to_thread(traffic.flush, provs)
                store = service.component(Kind.EXTENSION, "embedded_store").store
                await store.flush()
                # the CLI cannot open the store while this collector holds it, and says so
                locked = await asyncio.to_thread(_cli, store_dir, "--policies", str(SNIPPETS))
                api = await _api(ui_port)
                procs = {n: service.component(Kind.PROCESSOR, "tail_sampling" if n == "seed" else f"tail_sampling/{n}") for n in names}
            # shutdown decided every pending trace (whole: all spans had arrived) and exported the kept ones
            return ids, {n: _exported(b) for n, b in backends.items()}, {n: _credits(p) for n, p in procs.items()}, locked, api
        finally:
            for b in backends.values():
                await b.stop()

    ids, exported, credits, locked, api = asyncio.run(go())
    return {"dir": store_dir, "ids": ids, "exported": exported, "credits": credits, "locked": locked, "api": api}


async def _api(ui_port: int) -> dict:
    """The web_ui's what-if endpoint while the collector runs: JSON body, raw YAML, bad YAML."""
    import aiohttp

    url = f"http://127.0.0.1:{ui_port}/api/v1/sampling/what-if"
    out = {}
    async with aiohttp.ClientSession() as session:
        async with session.post(url, json={"policies": yaml.safe_dump(ROUTED), "start_us": 0}) as resp:
            out["json"] = (resp.status, await resp.json())
        async with session.post(url + "?start_us=0", data=SNIPPETS.read_text(), headers={"Content-Type": "application/yaml"}) as resp:
            out["yaml"] = (resp.status, await resp.json())
        async with session.post(url, json={"policies": "policies: [{name: x, type: nope}]"}) as resp:
            out["bad"] = (resp.status, await resp.json())
        async with session.get(f"http://127.0.0.1:{ui_port}/api/v1/openapi.json") as resp:
            out["openapi"] = await resp.json()
    return out


def _cli(store_dir: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src") + os.pathsep + os.environ.get("PYTHONPATH", "")}
    return subprocess.run([sys.executable, "-m", "otelflow", "sampling", "what-if", "--data-dir", str(store_dir), *args],
                          capture_output=True, text=True, env=env, timeout=120)


def _replay(store_dir: Path, processors) -> list[dict]:
    con = open_store(store_dir)
    try:
        from otelflow.sampling.replay import replay
        out = []
        for proc in processors:
            rep = replay(con, proc.name, proc.config)
            out.append((rep, report.build(rep, {p.name: p.type for p in proc.config.policies})))
        return out
    finally:
        con.close()


def _all_ids(run) -> set[bytes]:
    return {t for ts in run["ids"].values() for t in ts}


def test_the_store_holds_every_trace_sent(run):
    con = duckdb.connect(str(run["dir"] / "otelflow.duckdb"), read_only=True)
    stored = {bytes.fromhex(t) for (t,) in con.execute("SELECT DISTINCT trace_id FROM spans").fetchall()}
    con.close()
    assert stored == _all_ids(run)
    assert len(stored) == sum(traffic.KINDS.values())


@pytest.mark.parametrize("name", ["seed", "per-route", "routed"])
def test_kept_traces_equal_a_real_tail_sampling_run(run, name):
    if name == "routed":
        processors = policyfile.from_tree(ROUTED)
        processors[0].name = "tail_sampling/routed"
    else:
        processors = policyfile.pick(policyfile.load(str(SNIPPETS)), "tail_sampling" if name == "seed" else f"tail_sampling/{name}")
    (rep, rpt), = _replay(run["dir"], processors)
    real = run["exported"][name]
    total = len(_all_ids(run))
    assert rpt["total"]["traces"] == total
    kept = {d.trace_id for d in rep.decided if d.kept}
    # the acceptance bound: fractions within 0.5 %, overall and per policy credited ...
    assert abs(len(kept) / total - len(real) / total) <= TOLERANCE, (len(kept), len(real))
    credits = run["credits"][name]
    for pol in rpt["policies"]:
        want = credits.get(pol["name"], 0)
        assert abs(pol["decided"]["traces"] - want) / total <= TOLERANCE, (pol["name"], pol["decided"]["traces"], want)
    # ... and in fact the very same traces, and the same credits
    assert kept == real
    assert {p["name"]: p["decided"]["traces"] for p in rpt["policies"] if p["decided"]["traces"]} == credits
    assert len(real) > 0


def test_what_each_policy_set_keeps(run):
    """The report's contents on known traffic: errors, slow traces, routes, services and cost."""
    ids = run["ids"]
    processors = policyfile.from_tree(ROUTED)
    (rep, r), = _replay(run["dir"], processors)
    kept = {d.trace_id for d in rep.decided if d.kept}
    # every error and slow trace kept, except the errors of dropped /internal/debug calls
    assert set(ids["error"]) | set(ids["slow"]) | set(ids["healthz_error"]) <= kept
    assert not set(ids["debug"]) & kept
    assert set(ids["unavailable"]) <= kept and set(ids["vip"]) <= kept
    assert r["decisions"]["dropped"] == len(ids["debug"])
    assert r["errors"] == {"traces": 380, "kept": 280, "dropped": 100}
    assert r["slow"]["threshold_ms"] == 500 and r["slow"]["kept"] == r["slow"]["traces"] == 150
    # the /healthz route: its traces are kept at its 1 % (plus those with errors), not by the 5 % coin
    route, = r["routes"]
    assert route["name"] == "healthz" and route["matched"]["traces"] == 980
    assert route["kept"]["traces"] - 80 <= 0.03 * 900
    # the payments service has only internal spans: its error spans are counted and kept
    pay = next(s for s in r["services"] if s["name"] == "payments")
    assert pay["error_spans"] == 300 and pay["error_spans_kept"] == 200
    front = next(s for s in r["services"] if s["name"] == "frontend")
    assert front["total"]["traces"] == sum(traffic.KINDS.values())
    # the cost: kept spans and bytes as a share of today's
    assert 0 < r["cost"]["spans_pct"] < 100 and r["kept"]["spans"] == sum(d.span_count for d in rep.decided if d.kept)
    assert r["cost"]["summary"].endswith("of spans)")
    assert {e["name"] for e in r["endpoints"]} >= {"/api/items", "/healthz", "/internal/debug"}
    assert r["approximate"] == {"budget": "composite: decided on a simulated clock (decision_wait after each trace's last span)"}


def test_cli_json_and_text_match_the_real_runs(run):
    total = len(_all_ids(run))
    out = _cli(run["dir"], "--policies", str(SNIPPETS), "--since", "7d", "--format", "json")
    assert out.returncode == 0, out.stderr
    reports = {r["processor"]: r for r in json.loads(out.stdout)["reports"]}
    assert set(reports) == {"tail_sampling", "tail_sampling/per-route"}
    for name, key in (("tail_sampling", "seed"), ("tail_sampling/per-route", "per-route")):
        r = reports[name]
        assert r["total"]["traces"] == total
        assert abs(r["kept"]["traces"] / total - len(run["exported"][key]) / total) <= TOLERANCE
        for pol in r["policies"]:
            assert abs(pol["decided"]["traces"] - run["credits"][key].get(pol["name"], 0)) / total <= TOLERANCE
    text = _cli(run["dir"], "--policies", str(SNIPPETS), "--since", "7d")
    assert text.returncode == 0, text.stderr
    assert "What-if for tail_sampling:" in text.stdout and "What-if for tail_sampling/per-route:" in text.stdout
    assert "of today's volume" in text.stdout and "payments" in text.stdout


def test_a_whole_collector_config(run, tmp_path):
    """The seed's collector config holds no tail_sampling: said plainly; with one added it is replayed."""
    seed_cfg = SEED / "otel-collector-config.yaml"
    bare = _cli(run["dir"], "--policies", str(seed_cfg))
    assert bare.returncode == 2 and "no tail_sampling processor in this config" in bare.stderr
    cfg = yaml.safe_load(seed_cfg.read_text())
    cfg["processors"]["tail_sampling/routed"] = ROUTED
    cfg["service"]["pipelines"]["traces"]["processors"].insert(3, "tail_sampling/routed")
    path = tmp_path / "collector.yaml"
    path.write_text(yaml.safe_dump(cfg))
    out = _cli(run["dir"], "--policies", str(path), "--since", "all", "--format", "json")
    assert out.returncode == 0, out.stderr
    r, = json.loads(out.stdout)["reports"]
    assert r["processor"] == "tail_sampling/routed" and r["kept"]["traces"] == len(run["exported"]["routed"])


def test_errors_are_reported_not_raised(run, tmp_path):
    assert run["locked"].returncode == 1 and "locked by a running otelflow" in run["locked"].stderr
    bad = tmp_path / "bad.yaml"
    bad.write_text("policies:\n  - {name: x, type: status_code, status_code: {status_codes: [BROKEN]}}\n")
    out = _cli(run["dir"], "--policies", str(bad))
    assert out.returncode == 2 and 'unknown status code "BROKEN"' in out.stderr
    out = _cli(tmp_path / "nowhere", "--policies", str(SNIPPETS))
    assert out.returncode == 1 and "no embedded store at" in out.stderr
    out = _cli(run["dir"], "--policies", str(SNIPPETS), "--since", "yesterday")
    assert out.returncode == 2 and "not a duration" in out.stderr
    # a range with no traces: an empty report, not an error
    out = _cli(run["dir"], "--policies", str(SNIPPETS), "--since", "1ms")
    assert out.returncode == 0 and "no traces in the store for this range" in out.stdout


def test_since_parsing():
    assert parse_since("15m") == 900 and parse_since("1h30m") == 5400 and parse_since("7d") == 7 * 86400
    assert parse_since("all") is None and parse_since("500ms") == 0.5
    with pytest.raises(ValueError):
        parse_since("1 hour")


def test_web_ui_endpoint_matches_the_real_runs(run):
    status, body = run["api"]["json"]
    assert status == 200, body
    r, = body["reports"]
    assert r["processor"] == "tail_sampling" and r["kept"]["traces"] == len(run["exported"]["routed"])
    status, body = run["api"]["yaml"]
    assert status == 200 and [x["kept"]["traces"] for x in body["reports"]] == [
        len(run["exported"]["seed"]), len(run["exported"]["per-route"])]
    status, body = run["api"]["bad"]
    assert status == 400 and "unknown sampling policy type nope" in body["error"]
    assert "post" in run["api"]["openapi"]["paths"]["/api/v1/sampling/what-if"]


def _rows_store(path: Path) -> None:
    """A store with the values the Arrow encoding must carry or leave to Python: doubles, arrays, maps,
    negative and huge ints, bools, nulls, odd trace IDs, a 20 KiB span, several resources per trace."""
    from otelflow.store import schema

    con = duckdb.connect(str(path / "otelflow.duckdb"))
    for statement in schema.ddl():
        con.execute(statement)
    values = ['1.5', '[1,"a"]', '{"k":{"n":2}}', '-7', '18446744073709551615', 'true', 'false', 'null', '"x"', '""']
    rows = []
    for t in range(40):
        tid = f"{t + 1:032x}" if t % 13 else f"{t + 1:030x}"  # a few 15-byte trace IDs
        for j in range(3):
            attrs = '{"v":%s,"http.target":"/t%d"}' % (values[(t + j) % len(values)], t % 3)
            name = "x" * 20_000 if (t, j) == (7, 1) else f"op-{j}"
            res = '{"service.name":"svc-%d","v":%s}' % (j % 2, values[t % len(values)])
            rows.append((tid, f"{t * 3 + j + 1:016x}", "" if j == 0 else f"{t * 3 + 1:016x}", "k=v" if t % 5 == 0 else "",
                         f"svc-{j % 2}", name, j, 10**18 + t * 10**9, 10**18 + t * 10**9 + (j + 1) * 10**6, (j + 1) * 10**6,
                         2 if (t + j) % 7 == 0 else 0, "", attrs, "[]", "[]", res, "scope", "1"))
    con.executemany("INSERT INTO spans VALUES (" + ", ".join("?" * 18) + ")", rows)
    con.close()


def test_arrow_encoding_equals_the_span_by_span_one(run, tmp_path):
    from opentelemetry.proto.trace.v1.trace_pb2 import TracesData

    from otelflow.sampling.traces import read_traces

    _rows_store(tmp_path)
    for directory, keys in ((run["dir"], {"http.target", "service.name", "http.status_code", "user.vip"}),
                            (tmp_path, {"v", "http.target"})):
        con = open_store(directory)
        try:
            fast = list(read_traces(con, keys, False, None, None))
            slow = list(read_traces(con, keys, False, None, None, vectorise=False))
        finally:
            con.close()
        assert len(fast) == len(slow) > 0
        for a, b in zip(fast, slow):
            assert TracesData.FromString(a.wire) == TracesData.FromString(b.wire)
            assert (a.trace_id, a.span_count, a.size, a.errors, a.first_ns, a.last_ns, a.endpoint, a.services) == (
                b.trace_id, b.span_count, b.size, b.errors, b.first_ns, b.last_ns, b.endpoint, b.services)
    # the odd store's values came back typed: a double, an array, a map, a huge int (as a double)
    kinds = {kv.value.WhichOneof("value") for t in fast for rs in t.batches for ss in rs.scope_spans for sp in ss.spans
             for kv in sp.attributes if kv.key == "v"}
    assert kinds == {"double_value", "array_value", "kvlist_value", "int_value", "bool_value", "string_value", None}
    assert any(len(sp.name) == 20_000 for t in fast for rs in t.batches for ss in rs.scope_spans for sp in ss.spans)
