"""Service dependencies: which service calls which, from the spans of a time range.

An edge is a span whose parent span belongs to another service (parent service -> child service),
found with one hash join of the range's spans on (trace ID, span ID), joined as one 64-bit hash of
the pair (about twice as quick as joining the two strings; a false match needs a hash collision).
The child spans measure the edge (calls, errors, p95 duration), as a call is measured where it is
served. A queue hop whose consumer span points at the producer through a span link instead of a
parent (batch consumers, or a consumer that starts a new trace) is a second, smaller join over
consumer spans that have links; those edges are marked ``"link"``. Parents are looked for a little
before the range, so that calls made by a long request that began before it still count.

The service map reads the per-minute ``edge_rollup`` and ``span_rollup`` (rollups.py): the range is
widened to the whole minutes it touches (child spans of those minutes, parents from 15 minutes before
the first of them), the rate still divides by the range asked for, and p95 comes from the duration
histogram (within 4.5%). ``dependencies_raw`` is the same query over the spans themselves; for ranges
of whole minutes, once the rollups have settled, both give the same edges, counts and nodes.
"""

from __future__ import annotations

from otelflow.store.query import pct_us
from otelflow.store.rollups import MINUTE_NS, percentiles

PARENT_SLACK_NS = 15 * 60 * 10**9  # a parent may begin this long before the range
_CONSUMER = 5
_PRODUCER = 4

# one row per (parent service, child service, how): child spans' counts and p95 in ns
_BY_PARENT = """
    SELECT p.service AS parent, c.service AS child,
           bool_or(c.kind = 5 OR p.kind = 4) AS queue,
           count(*) AS calls, count(*) FILTER (WHERE c.status_code = 2) AS errors,
           quantile_cont(c.duration_ns, 0.95) AS p95_ns
    FROM (SELECT hash(trace_id, parent_span_id) AS key, service, kind, status_code, duration_ns FROM spans
          WHERE start_ns BETWEEN ? AND ? AND parent_span_id <> '') c
    JOIN (SELECT hash(trace_id, span_id) AS key, service, kind FROM spans WHERE start_ns BETWEEN ? AND ?) p
      ON p.key = c.key
    WHERE p.service <> c.service
    GROUP BY 1, 2"""

# consumer spans' links to producer spans of another service (possibly another trace)
_BY_LINK = """
    WITH c AS (
        SELECT service, status_code, duration_ns,
               unnest(from_json(links, '[{"trace_id":"VARCHAR","span_id":"VARCHAR"}]')) AS link
        FROM spans WHERE start_ns BETWEEN ? AND ? AND kind = 5 AND links <> '[]')
    SELECT p.service AS parent, c.service AS child, true AS queue,
           count(*) AS calls, count(*) FILTER (WHERE c.status_code = 2) AS errors,
           quantile_cont(c.duration_ns, 0.95) AS p95_ns
    FROM c JOIN (SELECT hash(trace_id, span_id) AS key, service FROM spans WHERE start_ns BETWEEN ? AND ? AND kind = 4) p
      ON p.key = hash(c.link.trace_id, c.link.span_id)
    WHERE p.service <> c.service
    GROUP BY 1, 2"""

_NODES = """
    SELECT service, count(*) AS spans, count(*) FILTER (WHERE status_code = 2) AS errors
    FROM spans WHERE start_ns BETWEEN ? AND ? GROUP BY service"""


def edges_raw(cur, *, start_us: int, end_us: int) -> list[dict]:
    """Edges parent -> child of the range, busiest first. ``how`` is ``"parent"`` (the child span's
    parent is in the other service) or ``"link"`` (a consumer span links to a producer span);
    ``queue`` is true when the hop goes through a messaging system (producer or consumer spans)."""
    start_ns, end_ns = start_us * 1000, end_us * 1000
    seconds = max((end_us - start_us) / 1e6, 1e-6)
    parents = [start_ns, end_ns, max(0, start_ns - PARENT_SLACK_NS), end_ns]
    out = []
    for how, sql in (("parent", _BY_PARENT), ("link", _BY_LINK)):
        for parent, child, queue, calls, errors, p95 in cur.execute(sql, parents).fetchall():
            out.append(_edge(parent, child, how, queue, calls, errors, seconds, p95))
    out.sort(key=lambda e: (-e["calls"], e["parent"], e["child"], e["how"]))
    return out


def _edge(parent: str, child: str, how: str, queue, calls: int, errors: int, seconds: float, p95) -> dict:
    return {
        "parent": parent, "child": child, "how": how, "queue": bool(queue),
        "calls": calls, "errors": errors, "error_rate": errors / calls if calls else 0.0,
        "rate_per_s": calls / seconds, "p95_us": pct_us(p95),
    }


def dependencies_raw(cur, *, start_us: int, end_us: int) -> dict:
    """``dependencies`` from the spans (the reference the rollups must match)."""
    found = edges_raw(cur, start_us=start_us, end_us=end_us)
    nodes = {name: {"name": name, "spans": spans, "errors": errors}
             for name, spans, errors in cur.execute(_NODES, [start_us * 1000, end_us * 1000]).fetchall()}
    return _answer(start_us, end_us, found, nodes)


def edges(cur, *, start_us: int, end_us: int) -> list[dict]:
    """``edges_raw`` from the rollups, for the whole minutes the range touches."""
    start_ns, end_ns = max(0, start_us * 1000), max(0, end_us * 1000)
    seconds = max((end_us - start_us) / 1e6, 1e-6)
    where = "minute BETWEEN ? AND ? AND parent_minute BETWEEN ? AND ?"
    params = [start_ns // MINUTE_NS, end_ns // MINUTE_NS, max(0, start_ns - PARENT_SLACK_NS) // MINUTE_NS,
              end_ns // MINUTE_NS]
    found = percentiles(cur, "edge_rollup", where, params, ("parent", "child", "how"), (0.95,),
                        ("bool_or(queue)", "sum(calls)", "sum(errors)"))
    out = []
    for (parent, child, how), ((p95,), (queue, calls, errors)) in found.items():
        out.append(_edge(parent, child, how, queue, int(calls), int(errors), seconds, p95))
    out.sort(key=lambda e: (-e["calls"], e["parent"], e["child"], e["how"]))
    return out


def dependencies(cur, *, start_us: int, end_us: int) -> dict:
    """The service map of a range: its edges, and every service with spans in it (a node may have no
    edge) with its span and error-span counts; from the rollups, for the whole minutes the range touches."""
    found = edges(cur, start_us=start_us, end_us=end_us)
    nodes = {name: {"name": name, "spans": int(spans), "errors": int(errors)}
             for name, spans, errors in cur.execute("""
                 SELECT service, sum(spans), coalesce(sum(spans) FILTER (WHERE status_code = 2), 0) FROM span_rollup
                 WHERE minute BETWEEN ? AND ? GROUP BY service""",
                 [max(0, start_us * 1000) // MINUTE_NS, max(0, end_us * 1000) // MINUTE_NS]).fetchall()}
    return _answer(start_us, end_us, found, nodes)


# rollups: settle the dirty minutes before answering (web_ui)
dependencies.reads_rollups = True  # type: ignore[attr-defined]


def _answer(start_us: int, end_us: int, found: list[dict], nodes: dict) -> dict:
    for e in found:  # a parent seen only before the range is still a node of its edge
        for name in (e["parent"], e["child"]):
            nodes.setdefault(name, {"name": name, "spans": 0, "errors": 0})
    return {"start_us": start_us, "end_us": end_us, "nodes": sorted(nodes.values(), key=lambda n: n["name"]),
            "edges": found}
