"""The ``redis`` scraper: ``INFO all`` over redis-py's asyncio client, turned into upstream's metrics.

The start time of the cumulative sums is the server's start (now minus ``uptime_in_seconds``), reset
when the uptime goes backwards (a restart), as upstream. A server that refuses the connection or
the login fails the scrape: counted, logged once per distinct error, and retried next tick.
"""

from __future__ import annotations

import time

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import AuthenticationError, RedisError

from otelflow.core.component import Host
from otelflow.config.settings import TLSClientSettings
from otelflow.receivers.redis import info as redis_info
from otelflow.receivers.redis.config import Config
from otelflow.receivers.redis.metadata import METADATA
from otelflow.receivers.scraperhelper import ScraperReceiver, new_builder


def split_endpoint(endpoint: str) -> tuple[str, str]:
    """Go's net.SplitHostPort, as upstream fills ``server.address``/``server.port`` with it."""
    host, sep, port = endpoint.rpartition(":")
    if not sep:
        raise ValueError(f'invalid endpoint "{endpoint}": address {endpoint}: missing port in address')
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    elif ":" in host:
        raise ValueError(f'invalid endpoint "{endpoint}": address {endpoint}: too many colons in address')
    return host, port


def _tls_args(tls: TLSClientSettings) -> dict:
    """configtls client keys as redis-py's ``ssl_*`` arguments (redis-py takes no SSLContext)."""
    if tls.insecure:
        return {}
    if tls.cert_pem or tls.key_pem:
        raise ValueError("redis: tls cert_pem/key_pem are not supported by otelflow; use cert_file/key_file")
    skip = tls.insecure_skip_verify
    return {"ssl": True, "ssl_certfile": tls.cert_file or None, "ssl_keyfile": tls.key_file or None,
            "ssl_ca_certs": tls.ca_file or None, "ssl_ca_data": tls.ca_pem or None,
            "ssl_cert_reqs": "none" if skip else "required", "ssl_check_hostname": not skip and not tls.server_name_override}


class RedisReceiver(ScraperReceiver):
    scraper_name = "redis"

    def __init__(self, settings, config: Config, consumers):
        super().__init__(settings, config, consumers)
        self.address, self.port = ("", "") if config.transport == "unix" else split_endpoint(config.endpoint)
        self.mb = new_builder("redis", config, METADATA, settings)
        self.client: aioredis.Redis | None = None
        self._uptime = 0

    async def start_scraper(self, host: Host) -> None:
        cfg = self.config
        timeout = cfg.dialer.timeout or 5.0  # go-redis' dial timeout default
        common = dict(username=cfg.username or None, password=cfg.password or None, socket_connect_timeout=timeout,
                      socket_timeout=max(timeout, 3.0), decode_responses=True, retry_on_timeout=False,
                      single_connection_client=True, protocol=2,
                      retry=Retry(NoBackoff(), 0))  # one attempt per tick, as go-redis' scrape; the ticker retries
        if cfg.transport == "unix":
            self.client = aioredis.Redis(unix_socket_path=cfg.endpoint, **common)
        else:
            self.client = aioredis.Redis(host=self.address, port=int(self.port), **common, **_tls_args(cfg.tls))
        # keep INFO's raw text: upstream parses it itself (two-part lines only, Go number syntax)
        self.client.set_response_callback("INFO", lambda response, **_: response)

    async def close_scraper(self) -> None:
        if self.client is not None:
            await self.client.aclose()

    async def scrape(self):
        assert self.client is not None
        try:
            text = await self.client.execute_command("INFO", "all")
        except AuthenticationError as exc:
            raise RuntimeError(f"{exc}") from None
        except (RedisError, OSError) as exc:
            await self.client.connection_pool.disconnect()  # a fresh connection (and login) next tick
            raise RuntimeError(str(exc) or type(exc).__name__) from None
        if isinstance(text, bytes):
            text = text.decode("utf-8", "replace")
        info = redis_info.parse(text)
        now = time.time_ns()
        uptime = info.get("uptime_in_seconds")
        if uptime is None:
            raise RuntimeError("uptime_in_seconds missing from redis info")
        uptime_s = int(uptime)
        if self._uptime == 0 or self._uptime > uptime_s:
            self.mb.start_time_ns = now - uptime_s * 1_000_000_000
        self._uptime = uptime_s
        redis_info.record(self.mb, now, info, self.log)
        resource = {"redis.version": info.get("redis_version", "unknown"), "server.address": self.address,
                    "server.port": self.port}
        self.mb.emit_for_resource(resource)
        out, self.mb.out = self.mb.out, []
        return out

