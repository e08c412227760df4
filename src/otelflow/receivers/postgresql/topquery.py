"""The postgresql receiver's ``db.server.top_query`` events: the statements of ``pg_stat_statements``
that took the most execution time since the previous collection, each with its obfuscated plan.

As upstream: a collection runs on the first tick and then on the first tick at least
``top_query_collection.collection_interval`` after the last one. It reads up to ``max_rows_per_query``
statements (most called first) and turns each counter into its growth since the last value seen for
that ``queryid`` (unknown before: the whole value, so the first collection reports totals; a counter
that did not grow reports 0 and keeps its old value). Statements whose execution time did not grow are
dropped; of the rest, the ``top_n_query`` slowest become records. Times are in seconds.

Plans come from ``PREPARE`` + ``EXPLAIN (FORMAT JSON) EXECUTE`` with NULL parameters and a generic
plan, in the statement's database, for at most ``max_explain_each_interval`` statements a collection;
each plan (or the failure to get one, as an empty plan) is cached per ``queryid`` for
``query_plan_cache_ttl``, so a statement that cannot be explained is tried again only then.
"""

from __future__ import annotations

import asyncio
import math
import re
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any

from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.logs.v1 import logs_pb2

from otelflow.receivers.postgresql.client import Client
from otelflow.receivers.postgresql.config import TopQueryCollection
from otelflow.receivers.postgresql.obfuscate import ObfuscationError, obfuscate_sql
from otelflow.receivers.postgresql.plan import obfuscate_plan

# upstream's query; its own statements start with the comment the WHERE clause leaves out
TOP_QUERY_SQL = """SELECT
  calls,
  datname,
  shared_blks_dirtied, 
  shared_blks_hit,
  shared_blks_read,
  shared_blks_written,
  temp_blks_read,
  temp_blks_written,
  query,
  queryid::TEXT,
  rolname,
  rows::TEXT,
  total_exec_time,
  total_plan_time
FROM
  pg_stat_statements as pg_stat_statements
  LEFT JOIN pg_roles ON pg_stat_statements.userid = pg_roles.oid
  LEFT JOIN pg_database ON pg_stat_statements.dbid = pg_database.oid
WHERE
  query != '<insufficient privilege>'
  AND query NOT LIKE '/* otel-collector-ignore */%'
ORDER BY calls DESC
LIMIT {limit};"""
IGNORE = "/* otel-collector-ignore */ "

# counters reported as growth; the two times are milliseconds in the view, seconds in the record
COUNTERS = ("calls", "rows", "shared_blks_dirtied", "shared_blks_hit", "shared_blks_read", "shared_blks_written",
            "temp_blks_read", "temp_blks_written")
TIMES = ("total_exec_time", "total_plan_time")
EXPLAINABLE = frozenset({"SELECT", "TABLE", "DELETE", "INSERT", "UPDATE", "WITH", "MERGE", "VALUES"})
_INLINE_ROWS = 8
_INLINE_PLAN = 4096
_PARAMETER = re.compile(r"\$\d+")
_FIRST_WORD_END = re.compile(r"[ \t\n(]")


class LRU:
    """A bounded map dropping the least recently used entry; with ``ttl`` entries also expire."""

    def __init__(self, size: int, ttl: float = 0.0) -> None:
        self.size, self.ttl = max(size, 1), ttl
        self.entries: OrderedDict[str, tuple[Any, float]] = OrderedDict()

    def get(self, key: str) -> Any:
        entry = self.entries.get(key)
        if entry is None:
            return None
        if self.ttl and entry[1] <= time.monotonic():
            del self.entries[key]
            return None
        self.entries.move_to_end(key)
        return entry[0]

    def add(self, key: str, value: Any) -> None:
        self.entries[key] = (value, time.monotonic() + self.ttl)
        self.entries.move_to_end(key)
        while len(self.entries) > self.size:
            self.entries.popitem(last=False)


def explainable(query: str) -> bool:
    """A DML statement once leading comments are skipped (upstream's allow-list)."""
    text = query.strip()
    while True:
        if text.startswith("--"):
            end = text.find("\n")
            if end < 0:
                return False
            text = text[end + 1:].strip()
        elif text.startswith("/*"):
            end = text.find("*/")
            if end < 0:
                return False
            text = text[end + 2:].strip()
        else:
            break
    if not text:
        return False
    match = _FIRST_WORD_END.search(text)
    word = text[:match.start()] if match else text
    return word.upper() in EXPLAINABLE


async def explain(client: Client, query: str, queryid: str) -> str:
    """The statement's obfuscated plan, or "" when it is not a statement EXPLAIN takes."""
    if not explainable(query):
        return ""
    name = "otel_" + queryid.replace("-", "_")
    nulls = len(_PARAMETER.findall(query))
    arguments = "(" + ", ".join(["null"] * nulls) + ")" if nulls else ""
    conn = client.conn
    try:
        await conn.execute(IGNORE + "SET plan_cache_mode = force_generic_plan;")
        # the extended protocol takes one statement: the text cannot carry a second one along
        await conn.fetch(f"PREPARE {name} AS {query}")
        plan = await conn.fetchval(f"EXPLAIN(FORMAT JSON) EXECUTE {name}{arguments};")
    finally:
        if not conn.is_closed():
            try:
                await conn.execute(f"{IGNORE}DEALLOCATE PREPARE {name}")
            except Exception:  # nothing was prepared: nothing to drop
                pass
    text = plan if isinstance(plan, str) else str(plan)
    if len(text) > _INLINE_PLAN:  # the expressions' SQL obfuscation is the costly part
        return await asyncio.to_thread(obfuscate_plan, text)
    return obfuscate_plan(text)


def kv(key: str, value: str | int | float) -> KeyValue:
    if isinstance(value, str):
        return KeyValue(key=key, value=AnyValue(string_value=value))
    if isinstance(value, int):
        return KeyValue(key=key, value=AnyValue(int_value=value))
    return KeyValue(key=key, value=AnyValue(double_value=value))


class TopQueries:
    """The state of the top-query collection: last values per statement, plans, last collection time."""

    def __init__(self, config: TopQueryCollection) -> None:
        self.config = config
        self.values = LRU(config.top_n_query * 10 * 2)  # upstream's size: ten counters per statement
        self.plans = LRU(config.query_plan_cache_size, config.query_plan_cache_ttl)
        self.last: float | None = None

    def due(self, now: float) -> bool:
        if self.last is None:
            return True
        return math.ceil(now - self.last) >= self.config.collection_interval

    def _growth(self, queryid: str, column: str, value: float) -> float:
        key = queryid + column
        old = self.values.get(key)
        delta = value if old is None else value - old
        if delta > 0:
            self.values.add(key, value)
            return delta
        return 0.0

    def rows(self, raw: list[Any], problems: list[str]) -> list[dict[str, Any]]:
        """Rows with growth since the last collection, slowest first, at most ``top_n_query``."""
        grown = []
        for row in raw:
            queryid = row["queryid"] or ""
            item: dict[str, Any] = {"queryid": queryid, "query": row["query"] or "", "datname": row["datname"] or "",
                                    "rolname": row["rolname"] or ""}
            for column in COUNTERS:
                try:
                    value = float(int(row[column] or 0))
                except ValueError:
                    problems.append(f"failed to convert {column} to int")
                    value = 0.0
                item[column] = int(self._growth(queryid, column, value))
            for column in TIMES:
                item[column] = self._growth(queryid, column, float(row[column] or 0) / 1000.0)
            if item["total_exec_time"] == 0.0:
                continue
            grown.append(item)
        grown.sort(key=lambda i: i["total_exec_time"], reverse=True)
        return grown[:max(self.config.top_n_query, 0)]

    async def collect(self, client: Client, connect: Callable[[str], Awaitable[Client]],
                      problems: list[str]) -> list[logs_pb2.LogRecord]:
        now_wall = time.time()
        if not self.due(now_wall):
            return []
        try:
            raw = await client.conn.fetch(TOP_QUERY_SQL.replace("{limit}", str(int(self.config.max_rows_per_query))))
        except Exception as exc:  # a partial error upstream: nothing from this collection
            problems.append(f"getTopQuery failed getting log rows: {exc}")
            self.last = now_wall
            return []
        self.last = now_wall
        stamp = int(now_wall * 1e9)
        explained = 0
        explainers: dict[str, Client] = {}
        chosen = []
        try:
            for item in self.rows(raw, problems):
                plan = self.plans.get(item["queryid"] + "-plan")
                if plan is None:
                    plan = ""
                    if explained < self.config.max_explain_each_interval:
                        explained += 1
                        plan = await self._plan(item, connect, explainers, problems)
                chosen.append((item, plan))
        finally:
            for explainer in explainers.values():
                await explainer.close()
        if len(chosen) > _INLINE_ROWS:  # obfuscation costs ~1 ms per KiB of SQL: keep it off the event loop
            return await asyncio.to_thread(self._records, chosen, stamp, problems)
        return self._records(chosen, stamp, problems)

    def _records(self, chosen: list[tuple[dict[str, Any], str]], stamp: int,
                 problems: list[str]) -> list[logs_pb2.LogRecord]:
        return [self._record(item, plan, stamp, problems) for item, plan in chosen]

    async def _plan(self, item: dict[str, Any], connect: Callable[[str], Awaitable[Client]],
                    explainers: dict[str, Client], problems: list[str]) -> str:
        database = item["datname"]
        try:
            if database not in explainers or explainers[database].closed:
                explainers[database] = await connect(database)
        except Exception as exc:  # upstream: no plan, nothing cached, tried again next time
            problems.append(f"failed to connect to {database!r} to explain: {exc}")
            return ""
        try:
            plan = await explain(explainers[database], item["query"], item["queryid"])
        except Exception as exc:  # PlanError or the server's; logged, the empty plan cached like a plan
            problems.append(f"failed to explain query: {exc}")
            plan = ""
        self.plans.add(item["queryid"] + "-plan", plan)
        return plan

    @staticmethod
    def _record(item: dict[str, Any], plan: str, stamp: int, problems: list[str]) -> logs_pb2.LogRecord:
        try:
            text = obfuscate_sql(item["query"])
        except (ObfuscationError, RecursionError):
            problems.append("failed to obfuscate query")
            text = ""
        record = logs_pb2.LogRecord(time_unix_nano=stamp, event_name="db.server.top_query")
        record.attributes.extend([
            kv("db.system.name", "postgresql"),
            kv("db.namespace", item["datname"]),
            kv("db.query.text", text),
            *(kv("postgresql." + column, item[column]) for column in COUNTERS),
            kv("postgresql.queryid", item["queryid"]),
            kv("postgresql.rolname", item["rolname"]),
            kv("postgresql.total_exec_time", float(item["total_exec_time"])),
            kv("postgresql.total_plan_time", float(item["total_plan_time"])),
            kv("postgresql.query_plan", plan),
        ])
        return record
