"""The store's read queries on an in-memory DuckDB holding rows with known answers, and the API's
parameter rules (what becomes a 400)."""

from __future__ import annotations

import json

import duckdb
import pytest
from multidict import MultiDict

from otelflow.store import query, query_metrics, query_params, query_traces, schema

S = 1_000_000_000  # ns per second
MS = 1_000_000  # ns per millisecond
BASE = 1_700_000_000 * S  # an arbitrary fixed "now" for the data, in ns
B_US = BASE // 1000
HOUR_US = 3600 * 1_000_000
TA, TB, TC = "a" * 32, "b" * 32, "c" * 32
FRONT_RES = {"service.name": "frontend", "k8s.pod.name": "pod-1"}
ODD_KEY = 'odd/key~with"quote'


def _span(con, trace_id, span_id, service, name, start_ns, dur_ns, *, parent="", kind=2, status=0, message="",
          attrs=None, events=None, links=None, resource=None):
    con.execute("INSERT INTO spans VALUES (?, ?, ?, '', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'scope', '1.0')", [
        trace_id, span_id, parent, service, name, kind, start_ns, start_ns + dur_ns, dur_ns, status, message,
        json.dumps(attrs or {}), json.dumps(events or []), json.dumps(links or []),
        json.dumps(resource or {"service.name": service})])


def _log(con, time_ns, service, severity, body, trace_id="", span_id="", text=""):
    con.execute("INSERT INTO logs VALUES (?, ?, ?, ?, ?, ?, '{\"k\":1}', ?, 'logger', ?, ?, 0, '')", [
        time_ns, time_ns + 5000, service, severity, text, body, json.dumps({"service.name": service}), trace_id, span_id])


def _point(con, name, type_, time_ns, value, *, start_ns=BASE, temporality=2, monotonic=True, attrs=None,
           count=None, service="svc"):
    con.execute("INSERT INTO metric_points VALUES (?, ?, ?, ?, 'what it is', 'By', ?, ?, ?, ?, ?, ?, NULL, NULL, ?, 'm')", [
        time_ns, start_ns, service, name, type_, temporality, monotonic, json.dumps(attrs or {}), value, count,
        json.dumps({"service.name": service})])


@pytest.fixture(scope="module")
def con():
    con = duckdb.connect()
    for statement in schema.ddl():
        con.execute(statement)
    # trace A: frontend server root, db client child with an error
    _span(con, TA, "a1" * 8, "frontend", "GET /a", BASE, 100 * MS, attrs={"http.route": "/a", "http.status_code": 200},
          events=[{"time_ns": BASE + 5 * MS, "name": "cache.miss", "attributes": {"key": "k1"}}], resource=FRONT_RES)
    _span(con, TA, "a2" * 8, "db", "SELECT", BASE + 10 * MS, 20 * MS, parent="a1" * 8, kind=3, status=2,
          message="timeout", attrs={"db.system": "postgres"},
          links=[{"trace_id": TB, "span_id": "b1" * 8, "trace_state": "x=1", "attributes": {"why": "retry"}}])
    # trace B: frontend root (ok), backend server child with an error, an odd attribute key
    _span(con, TB, "b1" * 8, "frontend", "GET /b", BASE + 1 * S, 300 * MS, status=1,
          attrs={"http.route": "/b", "http.status_code": 500, ODD_KEY: "v"}, resource=FRONT_RES)
    _span(con, TB, "b2" * 8, "backend", "charge", BASE + 1 * S + 50 * MS, 200 * MS, parent="b1" * 8, status=2)
    # trace C: only spans whose parent is missing: the earliest one stands as root
    _span(con, TC, "c2" * 8, "backend", "orphan-late", BASE + 2 * S + 100 * MS, 10 * MS, parent="ff" * 8, kind=1)
    _span(con, TC, "c1" * 8, "backend", "orphan-early", BASE + 2 * S, 50 * MS, parent="ee" * 8, kind=1)
    # "bulk": 100 server roots 100 ms apart from BASE+10s, lasting 1..100 ms, every 10th an error;
    # plus internal children (not entry spans) and one internal root at +22 s (an entry span)
    con.execute("""
        INSERT INTO spans SELECT format('{:032x}', i), format('{:016x}', i), '', '', 'bulk', 'work', 2,
               ? + (i - 1) * ?, ? + (i - 1) * ? + i * ?, i * ?, CASE WHEN i % 10 = 0 THEN 2 ELSE 0 END, '',
               '{}', '[]', '[]', '{"service.name":"bulk"}', 's', '1'
        FROM range(1, 101) AS r(i)""", [BASE + 10 * S, 100 * MS, BASE + 10 * S, 100 * MS, MS, MS])
    for i in range(3):
        _span(con, f"{i + 1:032x}", f"{1000 + i:016x}", "bulk", "inner", BASE + 10 * S + i * 100 * MS, MS,
              parent=f"{i + 1:016x}", kind=1, status=2)
    _span(con, "d" * 32, "d1" * 8, "bulk", "cron", BASE + 22 * S, 7 * MS, kind=1)
    # logs
    _log(con, BASE + 1 * MS, "frontend", 9, "Request started", TA, "a1" * 8, "INFO")
    _log(con, BASE + 12 * MS, "db", 17, "Query TIMEOUT after 20ms", TA, "a2" * 8, "ERROR")
    _log(con, BASE + 2 * S, "backend", 5, "debug detail", text="DEBUG")
    _log(con, BASE + 3 * S, "backend", 13, "disk almost full", text="WARN")
    _log(con, BASE + 4 * S, "backend", 21, "crash: 100% cpu", text="FATAL")
    # metrics over [BASE+60s, BASE+120s], step 30 s in the tests
    for t, v in ((50, 1.0), (65, 2.0), (75, 4.0), (95, 10.0)):  # gauge; the point at 50 s is before the range
        _point(con, "temperature", "gauge", BASE + t * S, v, temporality=0, monotonic=False, attrs={"room": "a"})
    _point(con, "temperature", "gauge", BASE + 70 * S, 100.0, temporality=0, monotonic=False, attrs={"room": "b"})
    for t, v in ((50, 100.0), (60, 130.0), (80, 190.0), (100, 10.0), (110, 40.0)):  # cumulative, reset at 100 s
        _point(con, "requests", "sum", BASE + t * S, v, attrs={"route": "/x", "code": "200"})
    _point(con, "requests", "sum", BASE + 70 * S, 60.0, start_ns=BASE + 65 * S, attrs={"route": "/y", "code": "500"})
    for t, v in ((61, 3.0), (62, 4.0), (100, 5.0)):  # delta
        _point(con, "events", "sum", BASE + t * S, v, temporality=1)
    for t, v, svc in ((61, 3.0, "p1"), (70, 8.0, "p1"), (65, 5.0, "p2")):  # up-down counter, two processes
        _point(con, "depth", "sum", BASE + t * S, v, monotonic=False, service=svc)
    for t, total, n in ((55, 100.0, 10), (70, 160.0, 13), (100, 400.0, 21)):  # cumulative histogram
        _point(con, "latency", "histogram", BASE + t * S, total, count=n, monotonic=False)
    schema.reindex_traces(con)  # rows inserted here, not by the store's writer
    yield con
    con.close()


def _win(start_s=0, end_s=3600):
    return {"start_us": B_US + start_s * 1_000_000, "end_us": B_US + end_s * 1_000_000}


# -- services, operations ---------------------------------------------------------------------------


def test_services(con):
    out = query.services(con, **_win())
    assert [s["name"] for s in out["services"]] == ["backend", "bulk", "db", "frontend"]
    by = {s["name"]: s for s in out["services"]}
    assert by["bulk"] == {"name": "bulk", "spans": 104, "errors": 13, "last_seen_us": B_US + 22_000_000}
    assert (by["frontend"]["spans"], by["frontend"]["errors"]) == (2, 0)
    # the time range applies: only trace A's two spans start in the first 0.5 s
    assert [s["name"] for s in query.services(con, **_win(0, 0))["services"]] == ["frontend"]


def test_operations_counts_and_percentiles(con):
    ops = query.operations(con, service="bulk", **_win())["operations"]
    assert [(o["name"], o["kind"], o["count"], o["errors"]) for o in ops] == [
        ("work", "server", 100, 10), ("inner", "internal", 3, 3), ("cron", "internal", 1, 0)]
    # durations 1..100 ms, interpolated percentiles
    assert (ops[0]["p50_us"], ops[0]["p95_us"], ops[0]["p99_us"]) == (50_500, 95_050, 99_010)
    assert (ops[2]["p50_us"], ops[2]["p99_us"]) == (7000, 7000)
    assert query.operations(con, service="nobody", **_win()) == {"operations": []}


# -- trace search -----------------------------------------------------------------------------------


def _ids(**kw):
    return [t["trace_id"] for t in kw.pop("out")["traces"]]


def test_trace_search_summaries_and_order(con):
    out = query_traces.traces(con, **_win(0, 5))["traces"]
    assert [t["trace_id"] for t in out] == [TC, TB, TA]  # newest first
    a = out[2]
    assert a == {"trace_id": TA, "root_service": "frontend", "root_name": "GET /a", "start_us": B_US,
                 "duration_us": 100_000, "span_count": 2, "error_count": 1, "services": ["db", "frontend"]}
    assert out[1]["duration_us"] == 300_000 and out[1]["services"] == ["backend", "frontend"]
    # no span without a parent: the earliest span is the root
    assert (out[0]["root_name"], out[0]["root_service"], out[0]["span_count"]) == ("orphan-early", "backend", 2)


def test_trace_search_limit_and_range(con):
    out = query_traces.traces(con, service="bulk", limit=5, **_win())["traces"]
    assert [t["start_us"] for t in out] == [B_US + 22_000_000] + [B_US + 10_000_000 + k * 100_000 for k in (99, 98, 97, 96)]
    assert query_traces.traces(con, **_win(1000, 2000)) == {"traces": []}


@pytest.mark.parametrize("filters, expected", [
    ({"service": "db"}, [TA]),
    ({"service": "frontend", "operation": "GET /b"}, [TB]),
    ({"min_duration_us": 150_000}, [TB]),
    ({"min_duration_us": 20_000, "max_duration_us": 60_000}, [TC, TA]),
    ({"status": "error"}, [TB, TA]),
    ({"status": "ok"}, [TB]),
    ({"status": "unset", "service": "frontend"}, [TA]),
    # one span must match every filter: trace A has an error span, but not from frontend
    ({"status": "error", "service": "frontend"}, []),
    ({"attrs": [("http.route", "/a")]}, [TA]),
    ({"attrs": [("http.status_code", "500")]}, [TB]),  # numbers compare as their JSON text
    ({"attrs": [(ODD_KEY, "v")]}, [TB]),  # "/", "~" and '"' in a key
    ({"attrs": [("http.route", "/b"), ("http.status_code", "200")]}, []),
    ({"attrs": [("k8s.pod.name", "pod-1")]}, [TB, TA]),  # resource attributes are searched too
    ({"attrs": [("http.route", "/a' OR '1'='1")]}, []),
])
def test_trace_search_filters(con, filters, expected):
    assert _ids(out=query_traces.traces(con, **_win(0, 5), **filters)) == expected


def test_trace_search_window_does_not_promote_older_traces():
    # the search looks at the newest part of the range first; trace X began before that window
    # but has a span inside it, and must not outrank Y, which began later
    con = duckdb.connect()
    for statement in schema.ddl():
        con.execute(statement)
    x, y = "1" * 32, "2" * 32
    _span(con, x, "x1" * 8, "svc", "x-root", BASE + 14_500 * MS, 10 * MS)
    _span(con, x, "x2" * 8, "svc", "x-late", BASE + 15_500 * MS, 10 * MS, parent="x1" * 8)
    _span(con, y, "y1" * 8, "svc", "y-root", BASE + 15_200 * MS, 10 * MS)
    schema.reindex_traces(con)
    window = {"start_us": B_US, "end_us": B_US + 16_000_000}
    assert _ids(out=query_traces.traces(con, limit=1, **window)) == [y]
    assert _ids(out=query_traces.traces(con, limit=2, **window)) == [y, x]
    assert _ids(out=query_traces.traces(con, operation="x-late", **window)) == [x]
    con.close()


def test_trace_by_id(con):
    out = query_traces.trace(con, trace_id=TA)
    assert [s["name"] for s in out["spans"]] == ["GET /a", "SELECT"]
    root, child = out["spans"]
    assert root == {
        "trace_id": TA, "span_id": "a1" * 8, "parent_span_id": "", "trace_state": "", "service": "frontend",
        "name": "GET /a", "kind": "server", "start_us": B_US, "end_us": B_US + 100_000, "duration_us": 100_000,
        "status_code": "unset", "status_message": "", "attributes": {"http.route": "/a", "http.status_code": 200},
        "events": [{"time_us": B_US + 5000, "name": "cache.miss", "attributes": {"key": "k1"}}], "links": [],
        "resource": FRONT_RES, "scope_name": "scope", "scope_version": "1.0"}
    assert (child["kind"], child["status_code"], child["status_message"], child["parent_span_id"]) == (
        "client", "error", "timeout", "a1" * 8)
    assert child["links"] == [{"trace_id": TB, "span_id": "b1" * 8, "trace_state": "x=1", "attributes": {"why": "retry"}}]
    assert [(lg["severity_text"], lg["span_id"]) for lg in out["logs"]] == [("INFO", "a1" * 8), ("ERROR", "a2" * 8)]
    assert query_traces.trace(con, trace_id="0" * 32) is None


# -- logs -------------------------------------------------------------------------------------------


def _bodies(**kw):
    return [lg["body"] for lg in query.logs(kw.pop("con"), **_win(), **kw)["logs"]]


def test_logs_order_and_shape(con):
    out = query.logs(con, **_win())["logs"]
    assert [lg["severity_text"] for lg in out] == ["FATAL", "WARN", "DEBUG", "ERROR", "INFO"]  # newest first
    assert out[-1] == {"time_us": B_US + 1000, "observed_us": B_US + 1005, "service": "frontend", "severity_number": 9,
                       "severity_text": "INFO", "body": "Request started", "attributes": {"k": 1},
                       "resource": {"service.name": "frontend"}, "scope_name": "logger", "trace_id": TA,
                       "span_id": "a1" * 8, "event_name": ""}


def test_logs_filters(con):
    assert _bodies(con=con, severity=13) == ["crash: 100% cpu", "disk almost full", "Query TIMEOUT after 20ms"]
    assert _bodies(con=con, severity=17, service="backend") == ["crash: 100% cpu"]
    assert _bodies(con=con, q="timeout") == ["Query TIMEOUT after 20ms"]  # case-insensitive
    assert _bodies(con=con, q="100%") == ["crash: 100% cpu"]  # "%" is literal, not a wildcard
    assert _bodies(con=con, q="_") == []
    assert _bodies(con=con, trace_id=TA) == ["Query TIMEOUT after 20ms", "Request started"]
    assert len(_bodies(con=con, limit=2)) == 2


# -- RED --------------------------------------------------------------------------------------------


def test_red_buckets_with_empty_ones(con):
    out = query.red(con, service="bulk", step_s=5, **_win(10, 30))
    assert out["step_s"] == 5 and out["operation"] is None
    pts = out["points"]
    assert [p["t_us"] for p in pts] == [B_US + s * 1_000_000 for s in (10, 15, 20, 25)]
    # internal children are not entry spans; the parentless internal "cron" is
    assert [(p["requests"], p["errors"]) for p in pts] == [(50, 5), (50, 5), (1, 0), (0, 0)]
    assert (pts[0]["rate"], pts[0]["error_rate"]) == (10.0, 1.0)
    assert (pts[0]["p50_us"], pts[1]["p50_us"], pts[2]["p99_us"]) == (25_500, 75_500, 7000)
    assert pts[3] == {"t_us": B_US + 25_000_000, "requests": 0, "errors": 0, "rate": 0.0, "error_rate": 0.0,
                      "error_spans": 0, "p50_us": None, "p95_us": None, "p99_us": None}
    assert out["totals"]["requests"] == 101 and out["totals"]["errors"] == 10
    # by operation; a span at the range's very end falls into the last bucket
    op = query.red(con, service="bulk", operation="cron", step_s=6, start_us=B_US + 10_000_000, end_us=B_US + 22_000_000)
    assert [p["requests"] for p in op["points"]] == [0, 1] and op["operation"] == "cron"


# -- metrics ----------------------------------------------------------------------------------------


def _series(con, name, **kw):
    out = query_metrics.metric_query(con, name=name, step_s=30, **_win(60, 120), **kw)
    return out, {json.dumps(s["labels"], sort_keys=True): [p["value"] for p in s["points"]] for s in out["series"]}


def test_metric_list(con):
    out = query_metrics.metrics(con, **_win())["metrics"]
    assert [m["name"] for m in out] == ["depth", "events", "latency", "requests", "temperature"]
    req = out[3]
    assert req == {"name": "requests", "type": "sum", "unit": "By", "description": "what it is", "services": ["svc"],
                   "label_keys": ["code", "route"]}
    assert out[0]["services"] == ["p1", "p2"] and out[0]["label_keys"] == []


def test_metric_gauge_average(con):
    out, series = _series(con, "temperature")
    assert (out["type"], out["unit"], out["step_s"]) == ("gauge", "By", 30)
    assert series == {'{"room": "a"}': [3.0, 10.0], '{"room": "b"}': [100.0, None]}
    assert [p["t_us"] for p in out["series"][0]["points"]] == [B_US + 60_000_000, B_US + 90_000_000]
    _, series = _series(con, "temperature", labels=[("room", "b")])
    assert list(series) == ['{"room": "b"}']
    _, series = _series(con, "temperature", group_by=["nope"])
    assert series == {"{}": [(2.0 + 4.0 + 100.0) / 3, 10.0]}


def test_metric_cumulative_rate(con):
    _, series = _series(con, "requests")
    # /x: +30 (from the point before the range) +60 in the first bucket; reset to 10, then +30 in the second
    # /y: born at 65 s with 60, so it grew by 60 in the first bucket
    assert series == {'{"code": "200", "route": "/x"}': [90 / 30, 40 / 30], '{"code": "500", "route": "/y"}': [2.0, None]}
    _, series = _series(con, "requests", group_by=["code", "missing"])
    assert series == {'{"code": "200"}': [3.0, 40 / 30], '{"code": "500"}': [2.0, None]}


def test_metric_delta_last_value_and_histogram(con):
    assert _series(con, "events")[1] == {"{}": [7.0, 5.0]}
    # up-down counter: last value per process, added up across processes
    assert _series(con, "depth")[1] == {"{}": [13.0, None]}
    assert _series(con, "depth", service="p2")[1] == {"{}": [5.0, None]}
    # cumulative histogram: (sum growth) / (count growth) per bucket
    assert _series(con, "latency")[1] == {"{}": [60 / 3, 240 / 8]}
    unknown = query_metrics.metric_query(con, name="nope", step_s=30, **_win(60, 120))
    assert unknown["series"] == [] and unknown["type"] is None


# -- stats ------------------------------------------------------------------------------------------


def test_stats(con):
    out = query.stats(con, database_bytes=123)
    assert out == {"spans": 110, "logs": 5, "metric_points": 20, "database_bytes": 123,
                   "oldest_us": B_US, "newest_us": B_US + 110_000_000}


def test_pointer_escaping():
    assert query.pointer("a/b~c") == "/a~1b~0c"
    assert query.pointer("http.route") == "/http.route"


# -- parameter rules (the 400s) ---------------------------------------------------------------------


def _q(*pairs):
    return MultiDict(pairs)


def test_params_defaults():
    out = query_params.traces(_q())
    assert out["limit"] == 20 and out["end_us"] - out["start_us"] == HOUR_US and out["attrs"] == []
    assert query_params.logs(_q())["limit"] == 100
    red = query_params.red(_q(("service", "s"), ("start_us", "0"), ("end_us", str(HOUR_US))))
    assert red["step_s"] == 60
    assert query_params.red(_q(("service", "s"), ("start_us", "0"), ("end_us", "10000000")))["step_s"] == 1
    out = query_params.traces(_q(("attr", "a=b=c"), ("attr", "k="), ("status", "ERROR"), ("limit", "1000")))
    assert out["attrs"] == [("a", "b=c"), ("k", "")] and out["status"] == "error" and out["limit"] == 1000
    assert query_params.logs(_q(("severity", "warn")))["severity"] == 13
    assert query_params.logs(_q(("severity", "24")))["severity"] == 24
    assert query_params.logs(_q(("trace_id", "AB" * 16)))["trace_id"] == "ab" * 16
    mq = query_params.metric_query(_q(("name", "m"), ("group_by", "a"), ("group_by", "b"), ("label", "x=1")))
    assert mq["group_by"] == ["a", "b"] and mq["labels"] == [("x", "1")]


@pytest.mark.parametrize("endpoint, pairs, message", [
    ("operations", [], "service is required"),
    ("red", [("service", "")], "service is required"),
    ("metric_query", [], "name is required"),
    ("traces", [("limit", "0")], "limit must be at least 1"),
    ("traces", [("limit", "1001")], "limit must be at most 1000"),
    ("traces", [("limit", "ten")], "limit must be an integer"),
    ("traces", [("status", "bad")], "status must be one of error, ok, unset"),
    ("traces", [("attr", "novalue")], "attr must be key=value"),
    ("traces", [("min_duration_us", "-1")], "min_duration_us must be at least 0"),
    ("traces", [("min_duration_us", "5"), ("max_duration_us", "4")], "must not be above"),
    ("services", [("start_us", "10"), ("end_us", "5")], "must not be after end_us"),
    ("services", [("end_us", str(10**19))], "end_us must be at most"),
    ("red", [("service", "s"), ("step_s", str(10**12))], "step_s must be at most"),
    ("logs", [("severity", "LOUD")], "severity must be one of"),
    ("logs", [("severity", "25")], "severity must be 1-24"),
    ("logs", [("trace_id", "xyz")], "trace_id must be 32 hex digits"),
    ("red", [("service", "s"), ("step_s", "0")], "step_s must be at least 1"),
    ("red", [("service", "s"), ("start_us", "0"), ("end_us", str(100 * HOUR_US)), ("step_s", "1")], "buckets"),
])
def test_params_rejected(endpoint, pairs, message):
    with pytest.raises(query_params.BadRequest, match=message):
        query_params.validate(endpoint, _q(*pairs))
