"""The ``nginx`` scraper: GET the ``stub_status`` page, parse its four lines, record upstream's metrics.

The page (ngx_http_stub_status_module)::

    Active connections: 2
    server accepts handled requests
     16 16 31
    Reading: 0 Writing: 1 Waiting: 1

A non-200 answer, a page that does not parse, a refused connection or a timeout fails the scrape
with the words upstream's client uses; it is counted and logged once per distinct error.
"""

from __future__ import annotations

import asyncio
import re
import time

import aiohttp

from otelflow.core.component import Host
from otelflow.core.tls import client_ssl_context
from otelflow.receivers.httpcheck.receiver import go_error
from otelflow.receivers.nginx.config import Config
from otelflow.receivers.nginx.metadata import METADATA
from otelflow.receivers.scraperhelper import ScraperReceiver, new_builder

STUB_STATUS = re.compile(
    rb"\AActive connections: (\d+) \s*\nserver accepts handled requests\s*\n (\d+) (\d+) (\d+) \s*\n"
    rb"Reading: (\d+) Writing: (\d+) Waiting: (\d+) ")


class StubStatusError(ValueError):
    pass


def parse(body: bytes) -> dict[str, int]:
    m = STUB_STATUS.match(body)
    if m is None:
        raise StubStatusError(f"failed to parse response body {body.decode('utf-8', 'replace')!r}: "
                              "failed to scan template metrics: input does not match format")
    keys = ("active", "accepted", "handled", "requests", "reading", "writing", "waiting")
    return dict(zip(keys, (int(g) for g in m.groups())))


class NginxReceiver(ScraperReceiver):
    scraper_name = "nginx"

    def __init__(self, settings, config: Config, consumers):
        super().__init__(settings, config, consumers)
        self.mb = new_builder("nginx", config, METADATA, settings)
        self.session: aiohttp.ClientSession | None = None
        self.ssl = None

    async def start_scraper(self, host: Host) -> None:
        if self.config.endpoint.startswith("https:"):
            self.ssl = await asyncio.to_thread(client_ssl_context, self.config.tls)
        self.session = aiohttp.ClientSession(headers=dict(self.config.headers),
                                             timeout=aiohttp.ClientTimeout(total=self.config.timeout or None))

    async def close_scraper(self) -> None:
        if self.session is not None:
            await self.session.close()

    async def scrape(self):
        assert self.session is not None
        endpoint = self.config.endpoint
        try:
            async with self.session.get(endpoint, ssl=self.ssl if self.ssl is not None else True) as resp:
                if resp.status != 200:
                    raise RuntimeError(f"expected 200 response, got {resp.status}")
                body = await resp.read()
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
            raise RuntimeError(f"failed to get {endpoint}: {go_error('GET', endpoint, exc)}") from None
        stats = parse(body)
        now, mb = time.time_ns(), self.mb
        mb.record("nginx.requests", now, stats["requests"])
        mb.record("nginx.connections_accepted", now, stats["accepted"])
        mb.record("nginx.connections_handled", now, stats["handled"])
        for state in ("active", "reading", "writing", "waiting"):
            mb.record("nginx.connections_current", now, stats[state], state=state)
        return mb.emit()
