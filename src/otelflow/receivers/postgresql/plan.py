"""Obfuscation of an ``EXPLAIN (FORMAT JSON)`` plan for ``postgresql.query_plan``, as upstream does
it (the DataDog agent's JSON obfuscator in its "normalize" setting, with upstream's key lists).

The plan comes back compact: whitespace between tokens is dropped, keys are kept, and every scalar
value becomes ``"?"`` unless its key is in ``KEEP`` (the whole value, nested or not, is then copied
as written) or in ``SQL_VALUES`` (a string holding an expression, such as ``Filter``, which is
replaced by its obfuscated SQL, written between quotes without JSON escaping, as upstream writes
it). Text that is not JSON gives :class:`PlanError`; upstream then reports an empty plan.
"""

from __future__ import annotations

import json
import re

from otelflow.receivers.postgresql.obfuscate import ObfuscationError, obfuscate_sql

SQL_VALUES = frozenset({
    "attached_condition", "Cache Key", "Conflict Filter", "Function Call", "Filter", "Hash Cond", "Index Cond",
    "Join Filter", "Merge Cond", "Output", "Recheck Cond", "Repeatable Seed", "Sampling Parameters", "TID Cond",
})
KEEP = frozenset({
    "Plan Rows", "Plan Width", "Startup Cost", "Total Cost", "Actual Loops", "Actual Rows", "Actual Startup Time",
    "Actual Total Time", "Alias", "Async Capable", "Average Sort Space Used", "Cache Evictions", "Cache Hits",
    "Cache Misses", "Cache Overflows", "Calls", "Command", "Conflict Arbiter Indexes", "Conflict Resolution",
    "Conflicting Tuples", "Constraint Name", "CTE Name", "Custom Plan Provider", "Deforming", "Emission",
    "Exact Heap Blocks", "Execution Time", "Expressions", "Foreign Delete", "Foreign Insert", "Foreign Update",
    "Full-sort Group", "Function Name", "Generation", "Group Count", "Grouping Sets", "Group Key",
    "HashAgg Batches", "Hash Batches", "Hash Buckets", "Heap Fetches", "I/O Read Time", "I/O Write Time",
    "Index Name", "Inlining", "Join Type", "Local Dirtied Blocks", "Local Hit Blocks", "Local Read Blocks",
    "Local Written Blocks", "Lossy Heap Blocks", "Node Type", "Optimization", "Original Hash Batches",
    "Original Hash Buckets", "Parallel Aware", "Parent Relationship", "Partial Mode", "Peak Memory Usage",
    "Peak Sort Space Used", "Planned Partitions", "Planning Time", "Pre-sorted Groups", "Presorted Key",
    "Query Identifier", "Relation Name", "Rows Removed by Conflict Filter", "Rows Removed by Filter",
    "Rows Removed by Index Recheck", "Rows Removed by Join Filter", "Sampling Method", "Scan Direction", "Schema",
    "Settings", "Shared Dirtied Blocks", "Shared Hit Blocks", "Shared Read Blocks", "Shared Written Blocks",
    "Single Copy", "Sort Key", "Sort Method", "Sort Methods Used", "Sort Space Type", "Sort Space Used",
    "Strategy", "Subplan Name", "Subplans Removed", "Target Tables", "Temp Read Blocks", "Temp Written Blocks",
    "Time", "Timing", "Total", "Trigger", "Trigger Name", "Triggers", "Tuples Inserted", "Tuplestore Name",
    "WAL Bytes", "WAL FPI", "WAL Records", "Worker", "Worker Number", "Workers", "Workers Launched",
    "Workers Planned",
})
FAILED_SQL = "Datadog-agent failed to obfuscate SQL string. Enable agent debug logs for more info."

_TOKEN = re.compile(r'\s*(?:("(?:[^"\\\x00-\x1f]|\\["\\/bfnrt]|\\u[0-9a-fA-F]{4})*")'
                    r'|(-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?)|(true|false|null)|([{}\[\]:,]))')


class PlanError(ValueError):
    pass


class _Reader:
    def __init__(self, text: str) -> None:
        self.text, self.pos = text, 0

    def next(self) -> str:
        match = _TOKEN.match(self.text, self.pos)
        if match is None:
            raise PlanError(f"invalid JSON at offset {self.pos}")
        self.pos = match.end()
        return match.group(match.lastindex)


def _sql_value(token: str) -> str:
    try:
        text = json.loads(token) if token.startswith('"') else token
    except ValueError:
        text = token
    try:
        return '"' + obfuscate_sql(str(text)) + '"'
    except (ObfuscationError, RecursionError):
        return '"' + FAILED_SQL + '"'


def _value(reader: _Reader, token: str, out: list[str], mode: str) -> None:
    """One JSON value starting at ``token``; ``mode`` is ``keep``, ``sql`` or ``hide``."""
    if token == "{":
        out.append("{")
        token = reader.next()
        if token != "}":
            while True:
                if not token.startswith('"'):
                    raise PlanError("object key expected")
                out.append(token)
                if reader.next() != ":":
                    raise PlanError("':' expected")
                out.append(":")
                key = token[1:-1]
                if mode == "keep":
                    child = "sql" if key in SQL_VALUES else "keep"
                else:
                    child = "keep" if key in KEEP else "sql" if key in SQL_VALUES else "hide"
                _value(reader, reader.next(), out, child)
                token = reader.next()
                if token == "}":
                    break
                if token != ",":
                    raise PlanError("',' or '}' expected")
                out.append(",")
                token = reader.next()
        out.append("}")
    elif token == "[":
        out.append("[")
        token = reader.next()
        inner = "keep" if mode == "keep" else "hide"  # an array under an SQL key is not SQL
        if token != "]":
            while True:
                _value(reader, token, out, inner)
                token = reader.next()
                if token == "]":
                    break
                if token != ",":
                    raise PlanError("',' or ']' expected")
                out.append(",")
                token = reader.next()
        out.append("]")
    elif token in ("}", "]", ":", ","):
        raise PlanError(f"unexpected {token!r}")
    elif mode == "keep":
        out.append(token)
    elif mode == "sql":
        out.append(_sql_value(token))
    else:
        out.append('"?"')


def obfuscate_plan(plan: str) -> str:
    reader = _Reader(plan)
    out: list[str] = []
    _value(reader, reader.next(), out, "hide")
    if plan[reader.pos:].strip():
        raise PlanError("text after the plan")
    return "".join(out)
