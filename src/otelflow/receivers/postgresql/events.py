"""The postgresql receiver's log events: ``db.server.query_sample`` (here), what each backend in
``pg_stat_activity`` runs or last ran, as one log record per backend, and ``db.server.top_query``
(``topquery.py``), in a logs pipeline.

Upstream runs these in a logs receiver of their own (its own schedule with the same
``collection_interval``/``initial_delay``/``timeout``, its own connection to the ``postgres``
database). Each tick reads at most ``query_sample_collection.max_rows_per_query`` backends: those
active, and those idle whose query started after the newest start seen so far, so an idle
backend's last query is reported once. The text is obfuscated (``obfuscate.py``); a W3C
``traceparent`` in the backend's ``application_name`` gives the record its trace and span IDs.
"""

from __future__ import annotations

import asyncio
import re
import time
from typing import Any

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.logs.v1 import logs_pb2

from otelflow import __version__
from otelflow.core.component import Component, Host, Settings
from otelflow.core.consumer import Consumer, ConsumerError
from otelflow.receivers.postgresql.client import DEFAULT_DATABASE, Client, ssl_argument
from otelflow.receivers.postgresql.config import Config
from otelflow.receivers.postgresql.obfuscate import ObfuscationError, obfuscate_sql
from otelflow.receivers.postgresql.topquery import TopQueries
from otelflow.receivers.postgresql.topquery import kv as _kv
from otelflow.receivers.scraperhelper import CONTRIB
from otelflow.receivers.ticker import Ticker

SCOPE = CONTRIB + "postgresqlreceiver"
INSUFFICIENT_PRIVILEGE = "<insufficient privilege>"
CONNECT_TIMEOUT = 15.0
_INLINE_ROWS = 8

# upstream's query (its text is what pg_stat_activity then shows for the receiver's own backend)
QUERY_SAMPLE_SQL = """SELECT   
    COALESCE(datname, '') AS datname,
    COALESCE(usename, '') AS usename,
    COALESCE(client_addr::TEXT, '') AS client_addr,
    COALESCE(client_hostname, '') AS client_hostname,
    COALESCE(client_port::TEXT, '') AS client_port,
    COALESCE(query_start::TEXT, '') AS query_start,
    COALESCE(wait_event_type, '') AS wait_event_type,
    COALESCE(wait_event, '') AS wait_event,
    COALESCE(query_id::TEXT, '') AS query_id,
    COALESCE(pid::TEXT, '') AS pid,
    COALESCE(application_name::TEXT, '') AS application_name,
    EXTRACT(EPOCH FROM query_start) AS _query_start_timestamp,
    state,
    query,
    CASE
    WHEN state = 'active' THEN
      EXTRACT(EPOCH FROM (clock_timestamp() - query_start)) * 1e3
    WHEN state IN ('idle','idle in transaction','idle in transaction (aborted)')
         AND state_change IS NOT NULL THEN
      EXTRACT(EPOCH FROM (state_change - query_start)) * 1e3
    ELSE
      NULL
    END AS duration_ms
FROM pg_stat_activity
WHERE     
    coalesce(
      TRIM(query), 
      ''
    ) != ''
    AND NOT (

      query_start < TO_TIMESTAMP({newest})
      AND state = 'idle'
    )
LIMIT {limit};"""

_TRACEPARENT_PART = re.compile(r"[0-9a-f]*")


def query_sample_sql(limit: int, newest: float) -> str:
    """Both values are numbers this receiver holds, never client text."""
    number = "0" if newest == 0 else repr(float(newest))
    return QUERY_SAMPLE_SQL.replace("{newest}", number).replace("{limit}", str(int(limit)))


def parse_traceparent(value: str) -> tuple[bytes, bytes] | None:
    """(trace ID, span ID) of a valid W3C traceparent, as the OpenTelemetry Go propagator reads it."""
    parts = value.split("-")
    sizes = (2, 32, 16, 2)
    if len(parts) < 4:
        return None
    for part, size in zip(parts, sizes):
        if len(part) != size or not _TRACEPARENT_PART.fullmatch(part):
            return None
    version, flags = int(parts[0], 16), int(parts[3], 16)
    if version == 0xFF:
        return None
    if version == 0 and (len(parts) > 4 or flags > 2):
        return None
    trace_id, span_id = bytes.fromhex(parts[1]), bytes.fromhex(parts[2])
    if not any(trace_id) or not any(span_id):
        return None
    return trace_id, span_id


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _number(value: Any, kind: type, what: str, problems: list[str]) -> Any:
    text = _text(value)
    if not text:
        return kind(0)
    try:
        return kind(float(text)) if kind is float else kind(text)
    except ValueError:
        problems.append(f"failed to convert {what}")
        return kind(0)


def sample_record(row: Any, now: int, problems: list[str]) -> tuple[logs_pb2.LogRecord, float]:
    """One row as upstream's record, and the row's query start (epoch seconds, 0 when unknown)."""
    pid = _number(row["pid"], int, "pid to int64", problems)
    port = _number(row["client_port"], int, "client_port to int", problems)
    started = _number(row["_query_start_timestamp"], float, "_query_start_timestamp", problems)
    duration = _number(row["duration_ms"], float, "duration", problems)
    query = _text(row["query"])
    try:
        text = obfuscate_sql(query)
    except (ObfuscationError, RecursionError):
        problems.append("failed to obfuscate query")
        text = ""
    record = logs_pb2.LogRecord(time_unix_nano=now, event_name="db.server.query_sample")
    application = _text(row["application_name"])
    ids = parse_traceparent(application) if application else None
    if ids is not None:
        record.trace_id, record.span_id = ids
    record.attributes.extend([
        _kv("db.system.name", "postgresql"),
        _kv("db.namespace", _text(row["datname"])),
        _kv("db.query.text", text),
        _kv("user.name", _text(row["usename"])),
        _kv("postgresql.state", _text(row["state"])),
        _kv("postgresql.pid", pid),
        _kv("postgresql.application_name", application),
        _kv("network.peer.address", _text(row["client_addr"])),
        _kv("network.peer.port", port),
        _kv("postgresql.client_hostname", _text(row["client_hostname"])),
        _kv("postgresql.query_start", _text(row["query_start"])),
        _kv("postgresql.wait_event", _text(row["wait_event"])),
        _kv("postgresql.wait_event_type", _text(row["wait_event_type"])),
        _kv("postgresql.query_id", _text(row["query_id"])),
        _kv("postgresql.total_exec_time", float(duration)),
    ])
    return record, started


class EventsScraper(Ticker, Component):
    """The logs half of the receiver: per tick the enabled events, ``db.server.query_sample`` (one
    record per sampled backend) and ``db.server.top_query`` (``topquery.py``), each event's records
    under a resource of their own in one request, as upstream's two scrapers of one controller."""

    def __init__(self, settings: Settings, config: Config, consumer: Consumer, instance: str, host: str, port: int):
        self.samples = config.events.db_server_query_sample.enabled
        self.top = TopQueries(config.top_query_collection) if config.events.db_server_top_query.enabled else None
        self.settings = settings
        self.config = config
        self.consumer = consumer
        self.log = settings.logger
        self.instance = instance
        self.host, self.port = host, port
        self.newest = 0.0  # the newest query start seen, in epoch seconds
        self.client: Client | None = None
        self._ssl: Any = False
        self._logged: set[str] = set()
        self._task: asyncio.Task | None = None
        self._stop = asyncio.Event()
        self.labels = {"receiver": str(settings.id), "scraper": "postgresql"}

    async def start(self, host: Host) -> None:
        self._ssl = await asyncio.to_thread(ssl_argument, self.config.tls)
        self.start_ticking()

    async def shutdown(self) -> None:
        await self.stop_ticking()
        if self.client is not None:
            await self.client.close()
            self.client = None

    def _once(self, problems: list[str], level: str = "warning") -> None:
        """Each distinct problem is logged once until a tick is free of it; each is counted."""
        for message in problems:
            if message not in self._logged:
                getattr(self.log, level)("postgresql events: %s", message)
        self._logged = set(problems)

    async def _open(self, database: str) -> Client:
        cfg = self.config
        timeout = cfg.timeout if cfg.timeout > 0 else CONNECT_TIMEOUT
        # no application_name, as upstream's driver: the receiver's own backend reads as upstream's
        return await Client.connect(host=self.host, port=self.port, user=cfg.username, password=cfg.password,
                                    database=database, ssl_arg=self._ssl, timeout=timeout, application_name="")

    async def _connect(self) -> Client:
        if self.client is None or self.client.closed:
            self.client = await self._open(DEFAULT_DATABASE)
        return self.client

    async def collect(self) -> tuple[list[list[logs_pb2.LogRecord]], list[str]]:
        """The records of each enabled event (query samples first), and the problems met."""
        client = await self._connect()
        problems: list[str] = []
        batches = []
        if self.samples:
            batches.append(await self._samples(client, problems))
        if self.top is not None:
            try:
                batches.append(await self.top.collect(client, self._open, problems))
            finally:
                if client.closed:
                    self.client = None
        return batches, problems

    async def _samples(self, client: Client, problems: list[str]) -> list[logs_pb2.LogRecord]:
        now = time.time_ns()
        limit = self.config.query_sample_collection.max_rows_per_query
        try:
            rows = await client.conn.fetch(query_sample_sql(limit, self.newest))
        except Exception as exc:  # a failing query is a partial error upstream: no samples this tick
            if client.closed:
                self.client = None
            problems.append(f"getQuerySamples failed getting log rows: {exc}")
            return []
        if len(rows) > _INLINE_ROWS:  # obfuscation costs ~1 ms per KiB of SQL: keep it off the event loop
            return await asyncio.to_thread(self._records, rows, now, problems)
        return self._records(rows, now, problems)

    def _records(self, rows: list[Any], now: int, problems: list[str]) -> list[logs_pb2.LogRecord]:
        records = []
        for row in rows:
            if row["query"] == INSUFFICIENT_PRIVILEGE:
                problems.append("skipping query sample due to insufficient privileges")
                continue
            record, started = sample_record(row, now, problems)
            self.newest = max(self.newest, started)
            records.append(record)
        return records

    async def scrape_once(self) -> None:
        try:
            call = self.collect()
            batches, problems = await (asyncio.wait_for(call, self.config.timeout) if self.config.timeout > 0
                                       else call)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # cannot connect or log in: counted, logged once, next tick retries
            self.settings.telemetry.add("otelcol_scraper_errored_log_records", 1, **self.labels)
            message = "context deadline exceeded" if isinstance(exc, asyncio.TimeoutError) else str(exc)
            self._once([f"Error scraping logs: {message or type(exc).__name__}"], "error")
            if self.client is not None and self.client.closed:
                self.client = None
            return
        for _ in problems:
            self.settings.telemetry.add("otelcol_scraper_errored_log_records", 1, **self.labels)
        self._once(problems)
        await self._send(batches)

    def _request(self, batches: list[list[logs_pb2.LogRecord]]) -> ExportLogsServiceRequest:
        request = ExportLogsServiceRequest()
        resource = self.config.resource_config().get("service.instance.id")
        for records in batches:
            if not records:
                continue
            rl = request.resource_logs.add()
            if resource is None or resource.enabled:
                rl.resource.attributes.append(_kv("service.instance.id", self.instance))
            sl = rl.scope_logs.add()
            sl.scope.name, sl.scope.version = SCOPE, __version__
            sl.log_records.extend(records)
        return request

    async def _send(self, batches: list[list[logs_pb2.LogRecord]]) -> None:
        count = sum(len(records) for records in batches)
        self.settings.telemetry.add("otelcol_scraper_scraped_log_records", count, **self.labels)
        if not count:
            return
        receiver = {"receiver": self.labels["receiver"]}
        try:
            await self.consumer.consume(self._request(batches))
        except ConsumerError as exc:
            self.settings.telemetry.add("otelcol_receiver_refused_log_records", count, transport="", **receiver)
            self.log.debug("Scrape commit failed: %s", exc)
            return
        self.settings.telemetry.add("otelcol_receiver_accepted_log_records", count, transport="", **receiver)
