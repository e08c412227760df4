"""headers_setter: a client authenticator that sets request headers (HTTP) or metadata (gRPC) on the
exporters that name it in ``auth.authenticator``, as upstream's headerssetterextension.

Each entry of ``headers`` takes its value from one source: ``value`` (static), ``value_file`` (a
file, re-read when it changes), ``from_context`` (the client metadata the receiver kept with
``include_metadata: true``; see ``otelflow.core.client.client_metadata``) or ``from_attribute`` (the
server authenticator's attributes, which no otelflow authenticator records yet, so the value is
empty as upstream's for an absent attribute). ``action`` is applied in order: ``insert`` sets the
header only where it is absent, ``update`` only where present, ``upsert`` always, ``delete`` removes
it. For HTTP the entries act on the exporter's request headers (its ``headers:`` and the protocol's
own); for gRPC on a fresh metadata map (what ``additional_auth`` set, if any), as upstream's
per-RPC credentials, so there ``update`` needs ``additional_auth``.
"""

from __future__ import annotations

from typing import Any, Mapping

from pydantic import model_validator

from otelflow.config.model import Model
from otelflow.core.client import client_metadata
from otelflow.core.component import Component, ComponentID, Factory, Host, Kind, Settings
from otelflow.core.consumer import ConsumerError
from otelflow.extensions.auth import WatchedFile

_ACTIONS = ("insert", "update", "upsert", "delete")


class HeaderConfig(Model):
    key: str | None = None
    action: str = ""
    value: str | None = None
    value_file: str | None = None
    from_context: str | None = None
    from_attribute: str | None = None
    default_value: str | None = None


class Config(Model):
    headers: list[HeaderConfig] = []
    additional_auth: str | None = None

    @model_validator(mode="after")
    def _check(self) -> "Config":
        if not self.headers:
            raise ValueError("missing headers configuration")
        for h in self.headers:
            if not h.key:
                raise ValueError("missing header name")
            if h.action == "delete":
                continue
            sources = sum(s is not None for s in (h.from_context, h.from_attribute, h.value, h.value_file))
            if sources == 0:
                raise ValueError("missing header source, must be 'from_context', 'from_attribute', 'value', or 'value_file'")
            if sources > 1:
                raise ValueError("invalid header source, must be only one of 'from_context', 'from_attribute', 'value', or 'value_file'")
        if self.additional_auth is not None:
            ComponentID.parse(self.additional_auth)
        return self


class _Header:
    """One entry: where its value comes from and what it does with it."""

    def __init__(self, cfg: HeaderConfig, file: WatchedFile | None):
        self.key = cfg.key or ""
        self.lower = self.key.lower()
        self.action = cfg.action if cfg.action in _ACTIONS else "upsert"
        self.cfg = cfg
        self.file = file

    def value(self) -> str:
        c = self.cfg
        if c.value is not None:
            return c.value
        if self.file is not None:
            return self.file.value
        if c.from_context is not None:
            values = (client_metadata.get() or {}).get(c.from_context.lower()) or []
            if len(values) > 1:
                # upstream's words; the export fails (and is retried) rather than guess a tenant
                raise ConsumerError(f"failed to determine the source: {len(values)} source keys found in the context, "
                                    "can't determine which one to use")
            return values[0] if values else (c.default_value or "")
        return ""  # from_attribute: no authenticator in otelflow records attributes (upstream: absent -> "")


class HeadersSetter(Component):
    is_client = True
    is_server = False

    def __init__(self, settings: Settings, config: Config):
        self.log = settings.logger
        self.config = config
        self._headers: list[_Header] = []
        self._files: list[WatchedFile] = []
        for h in config.headers:
            file = None
            if h.action != "delete" and h.value_file is not None and h.value is None:
                file = WatchedFile(h.value_file, self.log)
                self._files.append(file)
            if h.action not in _ACTIONS:
                self.log.warning("The action was not provided, using 'upsert'. "
                                 "In future versions, we'll require this to be explicitly set")
            self._headers.append(_Header(h, file))
        self._base: Any = None
        # set by the gRPC side: whether grpc-go would refuse these credentials on a plain connection
        self.requires_tls = False

    async def start(self, host: Host) -> None:
        for f in self._files:
            await f.start()
        if self.config.additional_auth is not None:
            self._base = host.extension(ComponentID.parse(self.config.additional_auth))
            if self._base is None:
                raise ValueError(f"auth extension {self.config.additional_auth} not found")
            self.requires_tls = bool(getattr(self._base, "requires_tls", True)) and callable(getattr(self._base, "grpc_metadata", None))

    async def shutdown(self) -> None:
        for f in self._files:
            await f.stop()

    def check_client(self) -> None:
        return None

    # HTTP: act on the request's headers
    def apply_http_headers(self, headers: Mapping[str, str]) -> dict[str, str]:
        out = dict(headers)
        if self._base is not None and callable(getattr(self._base, "http_headers", None)):
            extra = self._base.http_headers()
            names = {k.lower() for k in extra}
            out = {**{k: v for k, v in out.items() if k.lower() not in names}, **extra}
        names = {k.lower(): k for k in out}
        for h in self._headers:
            present = names.get(h.lower)
            if h.action == "delete":
                if present is not None:
                    del out[present], names[h.lower]
                continue
            value = h.value()  # first, as upstream: a source error fails the request whatever the action
            has = present is not None and out[present] != ""  # Go's Header.Get: absent and empty alike
            if (h.action == "insert" and has) or (h.action == "update" and not has):
                continue
            if present is not None:
                out[present] = value
            else:
                out[h.key] = value
                names[h.lower] = h.key
        return out

    def http_headers(self) -> dict[str, str]:
        """For exporters that only add headers: what the entries set on an empty request."""
        return self.apply_http_headers({})

    # gRPC: per-RPC metadata built from what additional_auth gives
    def grpc_metadata(self) -> tuple[tuple[str, str], ...]:
        meta: dict[str, str] = {}
        if self._base is not None and callable(getattr(self._base, "grpc_metadata", None)):
            meta.update(dict(self._base.grpc_metadata()))
        for h in self._headers:
            if h.action == "delete":
                meta.pop(h.key, None)
                continue
            value = h.value()
            if h.action == "upsert" or (h.action == "insert" and h.key not in meta) or (h.action == "update" and h.key in meta):
                meta[h.key] = value
        return tuple((k.lower(), v) for k, v in meta.items())


def create(settings: Settings, config: Config, **_: Any) -> HeadersSetter:
    return HeadersSetter(settings, config)


factory = Factory(type="headers_setter", kind=Kind.EXTENSION, config=Config, create=create, stability="alpha")
