"""One target's scrape loop, as Prometheus' scrapeLoop: fetch, parse, relabel, stale markers, report.

Each loop waits for its jittered offset (a hash of the target and of this host, so targets spread
over the interval and restarts keep their phase), then scrapes on a ticker. A scrape that fails
(connection, HTTP status, timeout, body size, parse error, sample limit) appends nothing from the
body: the series of the previous scrape get staleness markers and ``up`` is 0. When a target goes
away its loop writes end-of-run staleness markers about two intervals later, as Prometheus does.
Parsing and conversion run in a worker thread so a 10 MB exposition does not stall the event loop.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import socket
import ssl
import time
from typing import Awaitable, Callable

import aiohttp

from otelflow.receivers.prometheus import relabel, textparse
from otelflow.receivers.prometheus.config import SCRAPE_PROTOCOLS, ScrapeConfig
from otelflow.receivers.prometheus.discovery import Target
from otelflow.receivers.prometheus.textparse import Metadata
from otelflow.receivers.prometheus.transaction import STALE_NAN, Transaction

REPORT_NAMES = ("up", "scrape_duration_seconds", "scrape_samples_scraped", "scrape_samples_post_metric_relabeling",
                "scrape_series_added")
EXTRA_REPORT_NAMES = ("scrape_timeout_seconds", "scrape_sample_limit", "scrape_body_size_bytes")


class ScrapeError(Exception):
    pass


def accept_header(protocols: list[str], escaping: str) -> str:
    """Prometheus' acceptHeader: the protocols in order with falling q weights, then */*."""
    vals = []
    weight = len(SCRAPE_PROTOCOLS) + 1
    for proto in protocols:
        val = SCRAPE_PROTOCOLS[proto]
        if proto in ("PrometheusText1.0.0", "OpenMetricsText1.0.0"):
            val += f";escaping={escaping}"
        vals.append(f"{val};q=0.{weight}")
        weight -= 1
    vals.append(f"*/*;q=0.{weight}")
    return ",".join(vals)


def _fnv64a(data: bytes) -> int:
    h = 0xCBF29CE484222325
    for b in data:
        h = ((h ^ b) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


def offset_seed(external_labels: dict[str, str]) -> int:
    labels = ", ".join(f'{k}="{v}"' for k, v in sorted(external_labels.items()))
    return _fnv64a(f"{socket.getfqdn()}{{{labels}}}".encode())


def scrape_offset(target_key: str, interval_ns: int, seed: int, now_ns: int) -> float:
    """Seconds until this target's slot in the interval (Target.offset)."""
    base = interval_ns - now_ns % interval_ns
    offset = (_fnv64a(target_key.encode()) ^ seed) % interval_ns
    nxt = base + offset
    if nxt > interval_ns:
        nxt -= interval_ns
    return nxt / 1e9


class _Entry:
    __slots__ = ("labels", "ref", "last_iter", "memo")

    def __init__(self, labels: dict[str, str], ref: tuple, last_iter: int, memo: dict):
        self.labels = labels
        self.ref = ref
        self.last_iter = last_iter
        self.memo = memo  # what the transaction derives from the labels, kept across scrapes


class Cache:
    """The scrape cache: series seen (by raw text), dropped series, metadata, and staleness sets."""

    def __init__(self) -> None:
        self.series: dict[str, _Entry] = {}
        self.dropped: dict[str, int] = {}
        self.metadata: dict[str, list] = {}  # name -> [Metadata, last_iter]
        self.cur: dict[tuple, dict[str, str]] = {}
        self.prev: dict[tuple, dict[str, str]] = {}
        self.iter = 0
        self.successful = 0

    def get_metadata(self, name: str) -> Metadata | None:
        entry = self.metadata.get(name)
        return entry[0] if entry else None

    def set_metadata(self, kind: str, name: str, text: str) -> None:
        """One TYPE/HELP/UNIT line: updates that field of the name's entry (created as unknown)."""
        entry = self.metadata.get(name)
        if entry is None:
            entry = self.metadata[name] = [Metadata(), self.iter]
        meta = entry[0]
        if kind == "TYPE":
            meta.type = text
        elif kind == "HELP":
            meta.help = text
        else:
            meta.unit = text
        entry[1] = self.iter

    def iter_done(self, flush: bool) -> None:
        count = len(self.series) + len(self.dropped) + len(self.metadata)
        if flush:
            self.successful = count
        elif count > self.successful * 2 + 1000:
            flush = True
        if flush:
            self.series = {k: e for k, e in self.series.items() if e.last_iter == self.iter}
            self.dropped = {k: i for k, i in self.dropped.items() if i == self.iter}
            self.metadata = {k: e for k, e in self.metadata.items() if self.iter - e[1] <= 10}
        self.prev, self.cur = self.cur, {}
        self.iter += 1

    def stale(self) -> list[dict[str, str]]:
        return [labels for ref, labels in self.prev.items() if ref not in self.cur]


class ScrapeLoop:
    def __init__(self, target: Target, cfg: ScrapeConfig, session: aiohttp.ClientSession, *,
                 headers: Callable[[], Awaitable[dict[str, str]]], deliver, external_labels: dict[str, str],
                 trim_suffixes: bool, version: str, seed: int, initial_offset: float, log: logging.Logger,
                 ssl_context: ssl.SSLContext | bool | None = None, server_hostname: str | None = None):
        self.target = target
        self.cfg = cfg
        self.session = session
        self.headers = headers
        self.deliver = deliver
        self.external_labels = external_labels
        self.trim_suffixes = trim_suffixes
        self.version = version
        self.seed = seed
        self.initial_offset = initial_offset
        self.log = log
        self.ssl = ssl_context
        self.server_hostname = server_hostname
        self.url = target.url(cfg)
        self.interval = target.interval_ms / 1000.0
        self.timeout = target.timeout_ms / 1000.0
        self.rules = [r.compiled() for r in cfg.metric_relabel_configs]
        self.cache = Cache()
        self.accept = accept_header(cfg.scrape_protocols or [], cfg.metric_name_escaping_scheme)
        self.fallback = SCRAPE_PROTOCOLS[cfg.fallback_scrape_protocol].split(";")[0]
        self.task: asyncio.Task | None = None
        self.last: float = 0.0  # wall time of the last scrape (0: never)
        self.last_error: Exception | None = None
        self._stopping = asyncio.Event()

    def start(self) -> None:
        self.task = asyncio.create_task(self._run(), name=f"scrape {self.url}")

    async def stop(self, end_of_run: bool) -> None:
        """Stop scraping; with ``end_of_run`` (the target went away) the loop still writes stale markers
        ~2 intervals later; without (the collector stops) it ends at once, writing nothing more."""
        if self.task is None:
            return
        if end_of_run:
            self._stopping.set()
        else:
            self.task.cancel()
        try:
            await self.task
        except asyncio.CancelledError:
            pass

    async def _sleep(self, seconds: float) -> bool:
        """Sleep unless stopped first; True when stopped."""
        try:
            await asyncio.wait_for(self._stopping.wait(), timeout=max(seconds, 0))
            return True
        except asyncio.TimeoutError:
            return False

    async def _run(self) -> None:
        key = ",".join(f"{k}={v}" for k, v in sorted(self.target.labels.items())) + self.url
        offset = scrape_offset(key, int(self.interval * 1e9), self.seed, time.time_ns()) + self.initial_offset
        if await self._sleep(offset):
            return
        mono0 = time.monotonic()
        aligned = time.time()
        tick = 0
        while not self._stopping.is_set():
            scrape_time = time.time()
            tolerance = min(self.interval / 100, 0.002)
            while scrape_time - aligned >= self.interval:
                aligned += self.interval
            if scrape_time - aligned <= tolerance:
                scrape_time = aligned
            try:
                await self.scrape_and_report(scrape_time)
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - a bad target must not end its loop
                self.log.exception("Scrape failed unexpectedly for %s", self.url)
            tick += 1
            if await self._sleep(mono0 + tick * self.interval - time.monotonic()):
                break
            while mono0 + tick * self.interval < time.monotonic():
                tick += 1  # ticks missed while a scrape ran long are skipped, as Go's ticker does
        await self._end_of_run(mono0, tick)

    async def _end_of_run(self, mono0: float, tick: int) -> None:
        if self.last == 0:
            return
        # wait for when the next scrape would have been, twice, then 10% more
        next_tick = mono0 + tick * self.interval
        await asyncio.sleep(max(next_tick - time.monotonic(), 0))
        stale_time = time.time()
        await asyncio.sleep(self.interval * 1.1)
        txn = self._transaction()
        try:
            self._append_stale(txn, int(stale_time * 1000))
            names = REPORT_NAMES + (EXTRA_REPORT_NAMES if self.cfg.extra_scrape_metrics else ())
            for name in names:
                txn.append(self._report_labels(name), int(stale_time * 1000), STALE_NAN)
        except ValueError as exc:
            self.log.warning("Stale append failed: %s", exc)
            return
        self.cache.iter_done(False)
        await self.deliver(txn.request())

    def _transaction(self) -> Transaction:
        return Transaction(self.target, self.cache.get_metadata, self.external_labels, self.trim_suffixes,
                           self.version)

    async def scrape_and_report(self, append_time: float) -> None:
        start = time.time()
        mono = time.monotonic()
        body: bytes | None = None
        content_type = ""
        scrape_err: Exception | None = None
        try:
            body, content_type = await self._fetch()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - every fetch failure is a failed scrape
            scrape_err = exc
        txn, counts, app_err = await asyncio.to_thread(self._append, body, content_type, int(append_time * 1000))
        if scrape_err is None:
            scrape_err = app_err
        self.last_error = scrape_err
        duration = time.monotonic() - mono
        ts = int(start * 1000)
        scraped, added, series_added = counts
        try:
            up = 1.0 if scrape_err is None else 0.0
            for name, value in zip(REPORT_NAMES, (up, duration, scraped, added, series_added)):
                txn.append(self._report_labels(name), ts, float(value))
            if self.cfg.extra_scrape_metrics:
                size = len(body) if body is not None else (
                    -1 if str(scrape_err) == "body size limit exceeded" else 0)
                for name, value in zip(EXTRA_REPORT_NAMES, (self.timeout, self.cfg.sample_limit, size)):
                    txn.append(self._report_labels(name), ts, float(value))
        except ValueError as exc:
            self.log.warning("Appending scrape report failed: %s", exc)
        if scrape_err is not None:
            self.log.warning("Failed to scrape Prometheus endpoint: %s (scrape_timestamp %d, target %s)",
                             scrape_err, ts, self.url)
        self.last = start
        await self.deliver(txn.request())

    async def _fetch(self) -> tuple[bytes, str]:
        headers = await self.headers()
        headers.update({
            "Accept": self.accept,
            "Accept-Encoding": "gzip" if self.cfg.enable_compression else "identity",
            "User-Agent": f"otelflow/{self.version}",
            "X-Prometheus-Scrape-Timeout-Seconds": _go_float(self.timeout),
        })
        limit = self.cfg.body_size_limit or 0
        timeout = aiohttp.ClientTimeout(total=self.timeout)
        kwargs = {}
        if self.ssl is not None:
            kwargs["ssl"] = self.ssl
        if self.server_hostname:
            kwargs["server_hostname"] = self.server_hostname
        if self.cfg.proxy_url:
            kwargs["proxy"] = self.cfg.proxy_url
        try:
            async with self.session.get(self.url, headers=headers, timeout=timeout,
                                        allow_redirects=self.cfg.follow_redirects, **kwargs) as resp:
                if resp.status != 200:
                    raise ScrapeError(f"server returned HTTP status {resp.status} {resp.reason or ''}".rstrip())
                chunks, size = [], 0
                async for chunk in resp.content.iter_chunked(1 << 16):
                    size += len(chunk)
                    if limit and size >= limit:
                        raise ScrapeError("body size limit exceeded")
                    chunks.append(chunk)
                return b"".join(chunks), resp.headers.get("Content-Type", "")
        except asyncio.TimeoutError:
            raise ScrapeError(f'Get "{self.url}": context deadline exceeded') from None
        except aiohttp.ClientError as exc:
            raise ScrapeError(f'Get "{self.url}": {exc}') from None

    # -- the append step: blocking work, run in a thread -----------------------------------------

    def _append(self, body: bytes | None, content_type: str, def_time: int
                ) -> tuple[Transaction, tuple[int, int, int], Exception | None]:
        txn = self._transaction()
        if not body:
            # a failed or empty scrape: stale markers only, cache kept
            self._append_stale(txn, def_time)
            self.cache.iter_done(False)
            return txn, (0, 0, 0), None
        counts = [0, 0, 0]  # total, added, series added: reported even when the append fails
        try:
            self._append_body(txn, body, content_type, def_time, counts)
            return txn, tuple(counts), None
        except (ValueError, UnicodeDecodeError, ScrapeError) as exc:
            # roll back: a new transaction with stale markers only
            txn = self._transaction()
            self._append_stale(txn, def_time)
            self.cache.iter_done(False)
            return txn, tuple(counts), exc

    def _append_stale(self, txn: Transaction, def_time: int) -> None:
        for labels in self.cache.stale():
            try:
                txn.append(labels, def_time, STALE_NAN)
            except ValueError:
                pass

    def _append_body(self, txn: Transaction, body: bytes, content_type: str, def_time: int, counts: list[int]) -> None:
        media, _warning = textparse.media_type(content_type, self.fallback)
        if media == textparse.PROTOBUF:
            raise ScrapeError("the Prometheus protobuf format is not supported by otelflow")
        cache = self.cache
        honor_ts = self.cfg.honor_timestamps
        track_ts_staleness = self.cfg.track_timestamps_staleness
        sample_limit = self.cfg.sample_limit
        label_limits = (self.cfg.label_limit, self.cfg.label_name_length_limit, self.cfg.label_value_length_limit)
        appended = 0
        limit_err: ScrapeError | None = None
        it = cache.iter
        for sample in textparse.parse(body.decode("utf-8"), media):
            if type(sample) is tuple:
                cache.set_metadata(*sample)
                continue
            counts[0] += 1
            ts = sample.timestamp_ms if (honor_ts and sample.timestamp_ms is not None) else None
            t = def_time if ts is None else ts
            met = sample.series
            if met in cache.dropped:
                cache.dropped[met] = it
                continue
            entry = cache.series.get(met)
            if entry is not None:
                already = entry.last_iter == it
                entry.last_iter = it
                labels = entry.labels
                ref = entry.ref
                memo = entry.memo
            else:
                memo = {}
                already = False
                labels = self._mutate(sample.labels)
                if labels is None:
                    cache.dropped[met] = it
                    continue
                if "__name__" not in labels:
                    raise ScrapeError("__name__ label is missing")
                _check_label_limits(labels, label_limits)
                ref = tuple(sorted(labels.items()))
            if already and ts is None:
                counts[1] += 1  # a duplicate sample for this timestamp: dropped, still counted
                continue
            if sample_limit and appended >= sample_limit:
                limit_err = ScrapeError("sample limit exceeded")
                counts[1] += 1
                continue
            if sample.duplicate is not None:
                raise ScrapeError(f'invalid sample: non-unique label names: "{sample.duplicate}"')
            exemplars = [(lb, v, ex_ts if ex_ts is not None else t) for lb, v, ex_ts in sample.exemplars]
            tracked = txn.append(labels, t, sample.value, exemplars, ref, memo)
            appended += 1
            if entry is None:
                cache.series[met] = entry = _Entry(labels, ref, it, memo)
                if limit_err is None:
                    counts[2] += 1
            if tracked and (ts is None or track_ts_staleness):
                cache.cur[ref] = labels
            counts[1] += 1
        if limit_err is not None:
            raise limit_err
        self._append_stale(txn, def_time)
        cache.iter_done(True)

    def _mutate(self, exposed: dict[str, str]) -> dict[str, str] | None:
        """mutateSampleLabels: target labels in (honor_labels or exported_ prefixes), then metric relabelling."""
        lb = dict(exposed)
        public = self.target.public
        if self.cfg.honor_labels:
            for k, v in public.items():
                if k not in exposed:
                    lb[k] = v
        else:
            conflicts = []
            for k, v in public.items():
                if exposed.get(k, ""):
                    conflicts.append((k, exposed[k]))
                lb[k] = v
            for name, value in sorted(conflicts, key=lambda kv: len(kv[0])):
                new = name
                while True:
                    new = "exported_" + new
                    if not lb.get(new):
                        lb[new] = value
                        break
        lb = {k: v for k, v in lb.items() if v != ""}
        return relabel.process(lb, self.rules) if self.rules else lb

    def _report_labels(self, name: str) -> dict[str, str]:
        """mutateReportSampleLabels: the report series' name and the target's public labels."""
        return {"__name__": name, **self.target.public}


def _check_label_limits(labels: dict[str, str], limits: tuple[int, int, int]) -> None:
    count_limit, name_limit, value_limit = limits
    if count_limit and len(labels) > count_limit:
        raise ScrapeError(f"label_limit exceeded (metric: {labels['__name__']}, number of labels: {len(labels)}, "
                          f"limit: {count_limit})")
    for k, v in labels.items():
        if name_limit and len(k) > name_limit:
            raise ScrapeError(f"label_name_length_limit exceeded (metric: {labels['__name__']}, label name: {k}, "
                              f"length: {len(k)}, limit: {name_limit})")
        if value_limit and len(v) > value_limit:
            raise ScrapeError(f"label_value_length_limit exceeded (metric: {labels['__name__']}, label name: {k}, "
                              f"value: {v!r}, length: {len(v)}, limit: {value_limit})")


def _go_float(seconds: float) -> str:
    """strconv.FormatFloat(s, 'f', -1, 64): "10", "0.5"."""
    text = repr(float(seconds))
    return text[:-2] if text.endswith(".0") else text


def basic_auth_header(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()

