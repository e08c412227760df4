"""basicauth: HTTP Basic credentials, checked against htpasswd (server) or sent by exporters (client).

One instance is either a server authenticator (``htpasswd``) or a client one (``client_auth``), as
upstream requires. Client credentials may come from files, re-read when they change.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
from pathlib import Path
from typing import Any, Mapping, Optional

from pydantic import model_validator

from otelflow.config.model import Model
from otelflow.core.component import Component, Factory, Host, Kind, Settings
from otelflow.extensions import htpasswd
from otelflow.extensions.auth import AuthError, WatchedFile, first


class HtpasswdSettings(Model):
    file: str = ""
    inline: str = ""


class ClientAuthSettings(Model):
    username: str = ""
    username_file: str = ""
    password: str = ""
    password_file: str = ""


class Config(Model):
    htpasswd: Optional[HtpasswdSettings] = None
    client_auth: Optional[ClientAuthSettings] = None

    @model_validator(mode="after")
    def _one_side(self) -> "Config":
        if self.htpasswd is not None and self.client_auth is not None:
            raise ValueError("only one of `htpasswd` or `client_auth` can be specified")
        if self.htpasswd is None and self.client_auth is None:
            raise ValueError("no credential source provided")
        return self


def parse_basic(value: str) -> tuple[str, str]:
    """(username, password) from an Authorization value, with upstream's errors."""
    prefix = "basic "
    if len(value) < len(prefix) or value[: len(prefix)].lower() != prefix:
        raise AuthError("invalid authorization scheme prefix")
    try:
        decoded = base64.b64decode(value[len(prefix):], validate=True).decode()
    except (binascii.Error, ValueError):
        raise AuthError("invalid authorization format") from None
    user, sep, password = decoded.partition(":")
    if not sep:
        raise AuthError("invalid authorization format")
    return user, password


class BasicAuth(Component):
    def __init__(self, settings: Settings, config: Config):
        self.settings = settings
        self.config = config
        self.log = settings.logger
        self.is_server = config.htpasswd is not None
        self.is_client = config.client_auth is not None
        self._table: dict = {}
        self._files: list[WatchedFile] = []
        self._user_file: WatchedFile | None = None
        self._password_file: WatchedFile | None = None

    async def start(self, host: Host) -> None:
        if self.is_server:
            await self._start_server()
        else:
            await self._start_client()

    async def _start_server(self) -> None:
        h = self.config.htpasswd
        if not h.file and not h.inline:
            raise ValueError("no credential source provided")
        text = ""
        if h.file:
            try:
                text = await asyncio.to_thread(Path(h.file).read_text) + "\n"
            except OSError as exc:
                raise ValueError(f"open htpasswd file: {exc}") from None
        # inline comes last, so its users override the file's
        self._table = htpasswd.parse(text + h.inline)

    async def _start_client(self) -> None:
        c = self.config.client_auth
        if c.username_file:
            self._user_file = WatchedFile(c.username_file, self.log)
        if c.password_file:
            self._password_file = WatchedFile(c.password_file, self.log)
        for f in (self._user_file, self._password_file):
            if f is not None:
                await f.start()
                self._files.append(f)

    async def shutdown(self) -> None:
        for f in self._files:
            await f.stop()
        self._files.clear()

    # server side
    async def authenticate(self, headers: Mapping[str, list[str]]) -> None:
        value = first(headers, "authorization")
        if not value:
            raise AuthError("no basic auth provided")
        user, password = parse_basic(value)
        entry = self._table.get(user)
        if entry is None:
            raise AuthError("invalid credentials")
        check, slow = entry
        ok = await asyncio.to_thread(check, password) if slow else check(password)
        if not ok:
            raise AuthError("invalid credentials")

    # client side
    def _username(self) -> str:
        return self._user_file.value if self._user_file else self.config.client_auth.username

    def _password(self) -> str:
        return self._password_file.value if self._password_file else self.config.client_auth.password

    def check_client(self) -> None:
        if ":" in self._username():
            raise ValueError("invalid authorization format")

    def _value(self) -> str:
        raw = f"{self._username()}:{self._password()}".encode()
        return "Basic " + base64.b64encode(raw).decode()

    def http_headers(self) -> dict[str, str]:
        return {"Authorization": self._value()}

    def grpc_metadata(self) -> tuple[tuple[str, str], ...]:
        return (("authorization", self._value()),)


def create(settings: Settings, config: Config, **_: Any) -> BasicAuth:
    return BasicAuth(settings, config)


factory = Factory(type="basicauth", kind=Kind.EXTENSION, config=Config, create=create, stability="beta")
