"""The scraper controller's ticker, shared by host_metrics and the receivers built on scraperhelper."""

from __future__ import annotations

import asyncio
import time


class Ticker:
    """Calls ``scrape_once`` after ``config.initial_delay`` and then every
    ``config.collection_interval``, as upstream's ticker: ticks a slow scrape missed are dropped,
    not caught up. Stops when ``_stop`` is set."""

    config: object
    _stop: asyncio.Event
    _task: asyncio.Task | None

    async def scrape_once(self) -> None:
        raise NotImplementedError

    def start_ticking(self) -> None:
        self._stop = asyncio.Event()
        self._task = asyncio.create_task(self._run())

    async def stop_ticking(self) -> None:
        """Lets a scrape in progress finish (up to 5 s), then cancels it."""
        self._stop.set()
        if self._task is not None:
            try:
                await asyncio.wait_for(self._task, timeout=5)
            except (asyncio.TimeoutError, asyncio.CancelledError):
                self._task.cancel()

    async def _run(self) -> None:
        if self.config.initial_delay > 0 and await self._wait(self.config.initial_delay):
            return
        interval = self.config.collection_interval
        next_tick = time.monotonic() + interval
        while True:
            await self.scrape_once()
            now = time.monotonic()
            while next_tick <= now:
                next_tick += interval
            if await self._wait(next_tick - now):
                return

    async def _wait(self, seconds: float) -> bool:
        """True when stopped within ``seconds``."""
        try:
            await asyncio.wait_for(self._stop.wait(), timeout=seconds)
            return True
        except asyncio.TimeoutError:
            return False
