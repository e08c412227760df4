"""bearertokenauth: a static token that receivers demand and exporters send, as upstream's extension.

One extension serves both sides. As a server authenticator it accepts a request whose ``header``
(default ``Authorization``) equals ``"<scheme> <token>"`` for any configured token; as a client it sends
the first token. ``filename`` holds tokens one per line (the first word of each line; the rest is a
comment) and is re-read when it changes, so a rotated secret applies without a restart.
"""

from __future__ import annotations

import asyncio
import hmac
from typing import Any, Mapping

from pydantic import model_validator

from otelflow.config.model import Duration, Model
from otelflow.core.component import Component, Factory, Host, Kind, Settings
from otelflow.extensions.auth import AuthError, WatchedFile, first


class RetryOnFailure(Model):
    enabled: bool = False
    max_retries: int = 0  # 0: keep trying until the file appears
    interval: Duration = 0.0

    @model_validator(mode="after")
    def _check(self) -> "RetryOnFailure":
        # upstream checks the numbers only when retrying is on
        if self.enabled and self.max_retries < 0:
            raise ValueError("retry_on_failure.max_retries must be greater or equal to 0 when retry_on_failure.enabled is true")
        if self.enabled and self.interval <= 0:
            raise ValueError("retry_on_failure.interval must be greater than 0 when retry_on_failure.enabled is true")
        return self


class Config(Model):
    header: str = "Authorization"
    scheme: str = "Bearer"
    token: str = ""
    tokens: list[str] = []
    filename: str = ""
    retry_on_failure: RetryOnFailure = RetryOnFailure()
    wait_for_token_file: bool = False

    @model_validator(mode="after")
    def _check(self) -> "Config":
        if not self.token and not self.tokens and not self.filename:
            raise ValueError("no bearer token provided")
        if self.token and self.tokens:
            raise ValueError("either tokens or token should be provided, not both")
        if self.retry_on_failure.enabled and not self.filename:
            raise ValueError("retry_on_failure requires filename to be set")
        if self.wait_for_token_file and not self.filename:
            raise ValueError("wait_for_token_file requires filename to be set")
        if self.wait_for_token_file and not self.retry_on_failure.enabled:
            raise ValueError("wait_for_token_file requires retry_on_failure to be enabled")
        return self


def _parse_tokens(text: str) -> list[str]:
    return [line.split()[0] for line in text.splitlines() if line.split()]


class BearerTokenAuth(Component):
    def __init__(self, settings: Settings, config: Config):
        self.settings = settings
        self.config = config
        self.log = settings.logger
        self._values: list[str] = []
        self._file: WatchedFile | None = None
        self._retry: asyncio.Task | None = None
        if config.tokens:
            self._set([str(t) for t in config.tokens])
        else:
            if config.filename and config.token:
                self.log.warning("a filename is specified. Configured token(s) is ignored!")
            if not config.filename:
                self._set(_parse_tokens(config.token))

    def _set(self, tokens: list[str]) -> None:
        scheme = self.config.scheme
        self._values = [f"{scheme} {t}" if scheme else t for t in tokens]

    def _on_file(self, text: str) -> None:
        self.log.info("refresh token filename=%s", self.config.filename)
        self._set(_parse_tokens(text))

    async def start(self, host: Host) -> None:
        c = self.config
        if c.tokens or not c.filename:
            return
        self._file = WatchedFile(c.filename, self.log, self._on_file)
        if not c.retry_on_failure.enabled:
            await self._file.start()
        elif c.wait_for_token_file:
            await self._start_with_retry()
        else:
            self._retry = asyncio.create_task(self._retry_in_background(), name="otelflow-bearertoken-file")

    async def _retry_in_background(self) -> None:
        try:
            await self._start_with_retry()
        except ValueError as exc:
            self.log.error("giving up on the token file: %s", exc)

    async def _start_with_retry(self) -> None:
        r = self.config.retry_on_failure
        attempt = 0
        while True:
            try:
                await self._file.start()
                return
            except ValueError as exc:
                attempt += 1
                if r.max_retries and attempt > r.max_retries:
                    raise
                self.log.warning("token file not readable yet, retrying attempt=%d error=%s", attempt, exc)
                await asyncio.sleep(max(r.interval, 0.05))  # never spin on a zero interval

    async def shutdown(self) -> None:
        if self._retry is not None:
            self._retry.cancel()
            await asyncio.gather(self._retry, return_exceptions=True)
            self._retry = None
        if self._file is not None:
            await self._file.stop()
            self._file = None

    # server side
    async def authenticate(self, headers: Mapping[str, list[str]]) -> None:
        got = first(headers, self.config.header)
        if not got:
            raise AuthError(f"missing or empty authorization header: {self.config.header}")
        presented = got.encode()
        # compare with every value (no early exit), in constant time per value
        ok = False
        for expected in self._values:
            ok |= hmac.compare_digest(expected.encode(), presented)
        if not ok:
            raise AuthError("provided authorization does not match expected scheme or token")

    # client side
    def check_client(self) -> None:
        return None

    def _value(self) -> str:
        return self._values[0] if self._values else ""

    def http_headers(self) -> dict[str, str]:
        return {self.config.header: self._value()}

    def grpc_metadata(self) -> tuple[tuple[str, str], ...]:
        return ((self.config.header.lower(), self._value()),)


def create(settings: Settings, config: Config, **_: Any) -> BearerTokenAuth:
    return BearerTokenAuth(settings, config)


factory = Factory(type="bearertokenauth", kind=Kind.EXTENSION, config=Config, create=create, stability="beta")
