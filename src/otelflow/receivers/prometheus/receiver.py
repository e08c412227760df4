"""The receiver: one scrape pool per job, kept in step with what discovery reports.

As Prometheus' scrape manager, target changes are applied on a 5 s reload tick (at once on start
when ``discovery_reload_on_startup`` is set); a pool starts a loop per new target and stops the
loops of targets that went away, which then write their end-of-run stale markers.
"""

from __future__ import annotations

import asyncio
import ssl
import time

import aiohttp

from otelflow import __version__
from otelflow.core import featuregates
from otelflow.core.component import Component, Host, Settings, Signal
from otelflow.core.consumer import Consumer, ConsumerError
from otelflow.pdata import count_data_points
from otelflow.receivers.prometheus import discovery
from otelflow.receivers.prometheus.config import Config, ScrapeConfig
from otelflow.receivers.prometheus.scrape import ScrapeLoop, basic_auth_header, offset_seed

RELOAD_INTERVAL = 5.0  # Prometheus' DiscoveryReloadInterval

IGNORE_SCOPE_INFO = featuregates.REGISTRY.register(
    "receiver.prometheusreceiver.IgnoreScopeInfoMetric", featuregates.BETA,
    "When enabled, the `otel_scope_info` metric is ignored for scope attribute extraction.")
CREATED_ZERO_INGESTION = featuregates.REGISTRY.register(
    "receiver.prometheusreceiver.EnableCreatedTimestampZeroIngestion", featuregates.ALPHA,
    "Enables the Prometheus created-timestamps-zero-injection feature (not implemented by otelflow).")


class Pool:
    def __init__(self, receiver: "PrometheusReceiver", cfg: ScrapeConfig):
        self.receiver = receiver
        self.cfg = cfg
        self.log = receiver.settings.logger
        self.rules = [r.compiled() for r in cfg.relabel_configs]
        self.groups: dict[str, list[discovery.TargetGroup]] = {"static": discovery.static_groups(cfg)}
        self.loops: dict[tuple, ScrapeLoop] = {}
        self.session: aiohttp.ClientSession | None = None
        self.ssl, self.server_hostname = _ssl_context(cfg)

    async def start(self) -> None:
        connector = aiohttp.TCPConnector(limit=0, ssl=self.ssl if self.ssl is not None else True)
        self.session = aiohttp.ClientSession(connector=connector, trust_env=self.cfg.proxy_from_environment)

    def targets(self) -> dict[tuple, discovery.Target]:
        out = {}
        for source in sorted(self.groups):
            for group in self.groups[source]:
                for target in discovery.targets_from_group(group, self.cfg, self.rules, self.log):
                    out.setdefault(target.key(self.cfg), target)
        return out

    async def sync(self) -> None:
        wanted = self.targets()
        for key in [k for k in self.loops if k not in wanted]:
            loop = self.loops.pop(key)
            self.receiver.stopping.append(asyncio.create_task(loop.stop(end_of_run=True)))
        for key, target in wanted.items():
            if key in self.loops:
                continue
            loop = ScrapeLoop(
                target, self.cfg, self.session, headers=self._headers, deliver=self.receiver.deliver,
                external_labels=self.receiver.external_labels, trim_suffixes=self.receiver.config.trim_metric_suffixes,
                version=__version__, seed=self.receiver.seed, initial_offset=self.receiver.config.initial_scrape_offset,
                log=self.log, ssl_context=self.ssl, server_hostname=self.server_hostname,
            )
            self.loops[key] = loop
            loop.start()

    async def _headers(self) -> dict[str, str]:
        cfg = self.cfg
        headers: dict[str, str] = {}
        if cfg.basic_auth is not None:
            ba = cfg.basic_auth
            user = ba.username or (await _read(ba.username_file) if ba.username_file else "")
            password = ba.password or (await _read(ba.password_file) if ba.password_file else "")
            headers["Authorization"] = basic_auth_header(user, password)
        elif cfg.authorization is not None:
            az = cfg.authorization
            creds = az.credentials or (await _read(az.credentials_file) if az.credentials_file else "")
            headers["Authorization"] = f"{az.type} {creds}".rstrip()
        elif cfg.bearer_token or cfg.bearer_token_file:
            token = cfg.bearer_token or await _read(cfg.bearer_token_file)
            headers["Authorization"] = f"Bearer {token}"
        return headers

    async def stop(self, end_of_run: bool = False) -> None:
        await asyncio.gather(*(loop.stop(end_of_run) for loop in self.loops.values()), return_exceptions=True)
        self.loops.clear()
        if self.session is not None:
            await self.session.close()


async def _read(path: str) -> str:
    def read() -> str:
        with open(path, encoding="utf-8") as fh:
            return fh.read().strip()

    return await asyncio.to_thread(read)


def _ssl_context(cfg: ScrapeConfig) -> tuple[ssl.SSLContext | None, str | None]:
    tls = cfg.tls_config
    if cfg.scheme != "https" and not (tls.ca_file or tls.cert_file or tls.insecure_skip_verify or tls.ca):
        return None, None
    ctx = ssl.create_default_context()
    if tls.ca_file:
        ctx.load_verify_locations(cafile=tls.ca_file)
    if tls.ca:
        ctx.load_verify_locations(cadata=tls.ca)
    if tls.cert_file and tls.key_file:
        ctx.load_cert_chain(tls.cert_file, tls.key_file)
    if tls.insecure_skip_verify:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    versions = {"TLS10": ssl.TLSVersion.TLSv1, "TLS11": ssl.TLSVersion.TLSv1_1, "TLS12": ssl.TLSVersion.TLSv1_2,
                "TLS13": ssl.TLSVersion.TLSv1_3}
    if tls.min_version in versions:
        ctx.minimum_version = versions[tls.min_version]
    if tls.max_version in versions:
        ctx.maximum_version = versions[tls.max_version]
    return ctx, (tls.server_name or None)


class PrometheusReceiver(Component):
    def __init__(self, settings: Settings, config: Config, consumers: dict[Signal, Consumer]):
        self.settings = settings
        self.config = config
        self.consumer = consumers[Signal.METRICS]
        prom = config.config
        self.external_labels = dict(prom.global_.external_labels) if prom else {}
        self.seed = 0
        self.pools: list[Pool] = []
        self.stopping: list[asyncio.Task] = []
        self._tasks: list[asyncio.Task] = []
        self._stop = asyncio.Event()
        self._dirty = asyncio.Event()

    async def deliver(self, request) -> None:
        if request is None:
            return
        count = count_data_points(request)
        labels = {"receiver": str(self.settings.id), "transport": "http"}
        try:
            await self.consumer.consume(request)
        except ConsumerError as exc:
            self.settings.telemetry.add("otelcol_receiver_refused_metric_points", count, **labels)
            self.settings.logger.debug("Scrape commit failed: %s", exc)
            return
        self.settings.telemetry.add("otelcol_receiver_accepted_metric_points", count, **labels)

    async def start(self, host: Host) -> None:
        self.seed = await asyncio.to_thread(offset_seed, self.external_labels)
        for sc in self.config.config.scrape_configs:
            pool = Pool(self, sc)
            await pool.start()
            self.pools.append(pool)
            for i, sd in enumerate(sc.file_sd_configs):
                self._tasks.append(asyncio.create_task(
                    discovery.watch_files(sd, self._on_change(pool, f"file/{i}"), self._stop)))
        self._tasks.append(asyncio.create_task(self._reloader()))

    def _on_change(self, pool: Pool, source: str):
        def apply(groups: list[discovery.TargetGroup]) -> None:
            pool.groups[source] = groups
            self._dirty.set()

        return apply

    async def _reloader(self) -> None:
        self._dirty.set()
        if not self.config.discovery_reload_on_startup:
            if await self._wait(RELOAD_INTERVAL):
                return
        while not self._stop.is_set():
            if self._dirty.is_set():
                self._dirty.clear()
                for pool in self.pools:
                    await pool.sync()
            if await self._wait(RELOAD_INTERVAL):
                return

    async def _wait(self, seconds: float) -> bool:
        try:
            await asyncio.wait_for(self._stop.wait(), timeout=seconds)
            return True
        except asyncio.TimeoutError:
            return False

    async def shutdown(self) -> None:
        self._stop.set()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self.config.scrape_on_shutdown:
            # a last scrape of every target, ignoring the interval (upstream's scrape_on_shutdown)
            now = time.time()
            await asyncio.gather(*(loop.scrape_and_report(now) for pool in self.pools for loop in pool.loops.values()),
                                 return_exceptions=True)
        for task in self.stopping:
            task.cancel()
        await asyncio.gather(*self.stopping, return_exceptions=True)
        await asyncio.gather(*(pool.stop() for pool in self.pools), return_exceptions=True)
        self.pools.clear()
