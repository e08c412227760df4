"""Metric names and metric series per time bucket.

A bucket's value depends on what the points mean: gauges average, delta sums add up, cumulative
monotonic sums become a per-second rate of increase, other cumulative sums keep their last value,
histograms and summaries give sum/count. Increases are computed per raw series (service, resource,
scope, labels) before raw series are added into the requested groups, so that two processes with
the same labels never make one counter look reset.
"""

from __future__ import annotations

import json

from otelflow.store.query import attr_filter, buckets, obj, pointer, rows

MAX_SERIES = 500
_RAW_SERIES = "service, resource, scope_name, attributes"


def metrics(cur, *, start_us: int, end_us: int) -> dict:
    found = rows(cur, """
        WITH m AS (SELECT * FROM metric_points WHERE time_ns BETWEEN ? AND ?),
        keys AS (SELECT name, list(DISTINCT k ORDER BY k) AS label_keys
                 FROM (SELECT name, unnest(json_keys(attributes)) AS k FROM (SELECT DISTINCT name, attributes FROM m))
                 GROUP BY name)
        SELECT name, arg_max(type, time_ns) AS type, arg_max(unit, time_ns) AS unit,
               arg_max(description, time_ns) AS description, list(DISTINCT service ORDER BY service) AS services,
               any_value(label_keys) AS label_keys
        FROM m LEFT JOIN keys USING (name) GROUP BY name ORDER BY name""", [start_us * 1000, end_us * 1000])
    return {"metrics": [{**r, "label_keys": r["label_keys"] or []} for r in found]}


def _increase(column: str, prev: str, lookback_ns: int) -> str:
    """Growth of a cumulative column since the previous point of its raw series. A changed start time or
    a drop is a reset (the new value is the growth); a series whose start lies in the window grew from 0."""
    return (f"CASE WHEN {prev} IS NULL THEN CASE WHEN start_ns >= {lookback_ns} THEN {column} END "
            f"WHEN ps IS DISTINCT FROM start_ns OR {column} < {prev} THEN {column} ELSE {column} - {prev} END")


def _value_sql(type_: str, temporality: int, monotonic: bool, step_s: int, lookback_ns: int) -> tuple[str, str, str]:
    """(per-point value, per-point count, per-bucket aggregate) for a metric's kind; the aggregate
    ``last`` means the last value per raw series, added across raw series."""
    cumulative = temporality != 1  # 0 (unspecified) is treated as cumulative, as gauges do not care
    if type_ == "gauge":
        return "value", "NULL", "avg(x)"
    if type_ == "sum":
        if not cumulative:
            return "value", "NULL", "sum(x)"
        if monotonic:
            return _increase("value", "pv", lookback_ns), "NULL", f"sum(x) / {int(step_s)}"
        return "value", "NULL", "last"
    if not cumulative:
        return "value", "count", "sum(x) / nullif(sum(cnt), 0)"
    return _increase("value", "pv", lookback_ns), _increase("count", "pc", lookback_ns), "sum(x) / nullif(sum(cnt), 0)"


def metric_query(cur, *, name: str, start_us: int, end_us: int, step_s: int, labels: list[tuple[str, str]] = (),
                 service: str | None = None, group_by: list[str] | None = None) -> dict:
    start_ns, end_ns, step_ns = start_us * 1000, end_us * 1000, step_s * 1_000_000_000
    n = buckets(start_us, end_us, step_s)
    meta = rows(cur, """
        SELECT arg_max(type, time_ns) AS type, arg_max(unit, time_ns) AS unit,
               arg_max(temporality, time_ns) AS temporality, arg_max(monotonic, time_ns) AS monotonic
        FROM metric_points WHERE name = ? AND time_ns BETWEEN ? AND ?""", [name, start_ns, end_ns])[0]
    out = {"name": name, "type": meta["type"], "unit": meta["unit"], "step_s": step_s, "series": [], "truncated": False}
    if meta["type"] is None:
        return out
    label_sql, label_params = attr_filter(labels)
    where = f"name = ? AND type = ?{label_sql}" + (" AND service = ?" if service is not None else "")
    where_params = [name, meta["type"], *label_params, *([service] if service is not None else [])]
    if group_by:
        group_expr = "[" + ", ".join("json_extract_string(attributes, ?)" for _ in group_by) + "]::VARCHAR[]"
        group_params = [pointer(k) for k in group_by]
    else:
        group_expr, group_params = "attributes", []
    # one bucket of look-back gives the first point in range a previous point to subtract from
    lookback_ns = max(0, start_ns - step_ns)
    x, cnt, agg = _value_sql(meta["type"], meta["temporality"] or 0, bool(meta["monotonic"]), step_s, lookback_ns)
    if agg == "last":
        per_bucket = f"""
            SELECT g, b, sum(v) AS value FROM (
                SELECT g, b, arg_max(value, time_ns) AS v FROM p WHERE time_ns >= {start_ns}
                GROUP BY g, b, {_RAW_SERIES}) GROUP BY g, b"""
    else:
        per_bucket = f"""
            SELECT g, b, {agg} AS value FROM (SELECT g, b, time_ns, {x} AS x, {cnt} AS cnt FROM p)
            WHERE time_ns >= {start_ns} GROUP BY g, b"""
    found = rows(cur, f"""
        WITH p AS (
            SELECT {group_expr} AS g, least((time_ns - {start_ns}) // {step_ns}, {n - 1}) AS b,
                   time_ns, start_ns, value, count, {_RAW_SERIES},
                   lag(value) OVER w AS pv, lag(count) OVER w AS pc, lag(start_ns) OVER w AS ps
            FROM metric_points WHERE {where} AND time_ns BETWEEN ? AND ?
            WINDOW w AS (PARTITION BY {_RAW_SERIES} ORDER BY time_ns)
        ){per_bucket}""", [*group_params, *where_params, lookback_ns, end_ns])
    series: dict[str, dict[int, float | None]] = {}
    groups: dict[str, object] = {}
    for r in found:
        key = json.dumps(r["g"]) if group_by else r["g"]
        groups[key] = r["g"]
        series.setdefault(key, {})[r["b"]] = r["value"]
    ordered = sorted(series)
    out["truncated"] = len(ordered) > MAX_SERIES
    for key in ordered[:MAX_SERIES]:
        g = groups[key]
        label_map = {k: v for k, v in zip(group_by, g) if v is not None} if group_by else obj(g)
        values = series[key]
        out["series"].append({"labels": label_map, "points": [
            {"t_us": start_us + i * step_s * 1_000_000, "value": values.get(i)} for i in range(n)]})
    return out
