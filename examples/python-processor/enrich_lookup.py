"""Add attributes from a lookup table (CSV or SQLite) keyed by one attribute.

A ``python`` processor plugin (docs/processors/python.md). The table is read once, when the
collector starts (or reloads), into a dict: nothing is read per span. With ``from: resource``
(the default) the key is a resource attribute (``service.name`` → team, owner, tier from a service
catalog) and the resource is enriched, once per resource; with ``from: item`` the key is an
attribute of each span, data point or log record, which gets the columns.

config:
  path: services.csv            # a .csv file (header row = column names) or an SQLite database
  table: services               # SQLite only: the table to read
  key: service.name             # the attribute holding the key
  column: service               # the table column matching it (default: the first column)
  prefix: "catalog."            # prepended to each added attribute name (default "")
  from: resource                # resource | item
  overwrite: false              # replace attributes that are already set (default false)
"""

from __future__ import annotations

import csv
import sqlite3
from pathlib import Path
from typing import Any, Iterable

from otelflow.processors.python.api import Attributes, LogsBatch, MetricsBatch, TracesBatch


def read_table(path: Path, table: str | None) -> tuple[list[str], list[tuple]]:
    if path.suffix.lower() == ".csv":
        with path.open(newline="", encoding="utf-8") as f:
            rows = list(csv.reader(f))
        return rows[0], [tuple(r) for r in rows[1:]]
    if not table or not table.isidentifier():
        raise ValueError('config "table" must name the SQLite table to read')
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
        cursor = db.execute(f"SELECT * FROM {table}")  # noqa: S608 - an identifier, checked above
        return [d[0] for d in cursor.description], cursor.fetchall()


class Enricher:
    def __init__(self, config: dict[str, Any]):
        path = Path(config["path"])
        header, rows = read_table(path, config.get("table"))
        column = config.get("column") or header[0]
        if column not in header:
            raise ValueError(f"{path} has no column {column!r} (it has: {', '.join(header)})")
        at = header.index(column)
        prefix = config.get("prefix", "")
        others = [(i, prefix + name) for i, name in enumerate(header) if i != at]
        # key -> the (attribute, value) pairs to add, built once
        self.table: dict[str, list[tuple[str, Any]]] = {
            str(row[at]): [(name, row[i]) for i, name in others if row[i] not in (None, "")] for row in rows}
        self.key = config.get("key", "service.name")
        self.on_resource = config.get("from", "resource") == "resource"
        self.overwrite = bool(config.get("overwrite", False))

    def enrich(self, attributes: Attributes) -> None:
        found = self.table.get(str(attributes.get(self.key)))
        if found is None:
            return
        for name, value in found:
            if self.overwrite or name not in attributes:
                attributes[name] = value

    def _run(self, resources: Iterable, items: str) -> None:
        for resource in resources:
            if self.on_resource:
                self.enrich(resource.attributes)
                continue
            for scope in resource.scopes:
                for item in getattr(scope, items):
                    if items == "metrics":
                        for point in item.data_points:
                            self.enrich(point.attributes)
                    else:
                        self.enrich(item.attributes)

    def process_traces(self, batch: TracesBatch) -> None:
        self._run(batch.resources, "spans")

    def process_metrics(self, batch: MetricsBatch) -> None:
        self._run(batch.resources, "metrics")

    def process_logs(self, batch: LogsBatch) -> None:
        self._run(batch.resources, "log_records")
