"""TLS from configtls settings for grpc and aiohttp, with upstream's checks and certificate reload.

Servers reload their certificate and key when ``reload_interval`` is set and their client CA when
``client_ca_file_reload`` is true, as upstream does; without those settings the files are read once.
A background task looks at the files' stat (in a worker thread) once per interval and builds new
material only when something changed, so handshakes never touch the disk: aiohttp gets a context whose
``wrap_bio`` delegates to the newest inner context, grpc gets dynamic server credentials whose fetcher
hands over the newest certificate configuration.
"""

from __future__ import annotations

import asyncio
import logging
import os
import ssl
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import grpc
from pydantic import model_validator

from otelflow.config.settings import TLSClientSettings, TLSServerSettings, _TLSCommon

log = logging.getLogger("otelflow.tls")

_VERSIONS = {"1.0": ssl.TLSVersion.TLSv1, "1.1": ssl.TLSVersion.TLSv1_1, "1.2": ssl.TLSVersion.TLSv1_2, "1.3": ssl.TLSVersion.TLSv1_3}
_ORDER = list(_VERSIONS)

# Go's cipher suite names (crypto/tls CipherSuites) and OpenSSL's names for the TLS 1.2 ones.
# Go ignores the list for TLS 1.3, and so does OpenSSL's set_ciphers; those map to None.
_CIPHERS = {
    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256": "ECDHE-ECDSA-AES128-GCM-SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384": "ECDHE-ECDSA-AES256-GCM-SHA384",
    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256": "ECDHE-RSA-AES128-GCM-SHA256",
    "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384": "ECDHE-RSA-AES256-GCM-SHA384",
    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256": "ECDHE-ECDSA-CHACHA20-POLY1305",
    "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256": "ECDHE-RSA-CHACHA20-POLY1305",
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA": "ECDHE-ECDSA-AES128-SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA": "ECDHE-ECDSA-AES256-SHA",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA": "ECDHE-RSA-AES128-SHA",
    "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA": "ECDHE-RSA-AES256-SHA",
    "TLS_AES_128_GCM_SHA256": None,
    "TLS_AES_256_GCM_SHA384": None,
    "TLS_CHACHA20_POLY1305_SHA256": None,
}
_INSECURE_CIPHERS = {
    "TLS_RSA_WITH_AES_128_GCM_SHA256": "AES128-GCM-SHA256",
    "TLS_RSA_WITH_AES_256_GCM_SHA384": "AES256-GCM-SHA384",
    "TLS_RSA_WITH_AES_128_CBC_SHA": "AES128-SHA",
    "TLS_RSA_WITH_AES_256_CBC_SHA": "AES256-SHA",
    "TLS_RSA_WITH_AES_128_CBC_SHA256": "AES128-SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256": "ECDHE-ECDSA-AES128-SHA256",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256": "ECDHE-RSA-AES128-SHA256",
    "TLS_RSA_WITH_3DES_EDE_CBC_SHA": "DES-CBC3-SHA",
    "TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA": "ECDHE-RSA-DES-CBC3-SHA",
}
_CURVES = ("P256", "P384", "P521", "X25519", "X25519MLKEM768")

_CLIENT_CA_CHECK = 1.0  # seconds between client CA file checks, as upstream's reloader


# -- validation (upstream's configtls Validate messages) ---------------------------------------------


def _version(value: str, which: str) -> int:
    if not value:
        return -1
    if value not in _VERSIONS:
        raise ValueError(f'invalid TLS {which}: unsupported TLS version: "{value}"')
    return _ORDER.index(value)


def check_common(tls: _TLSCommon) -> None:
    """Raise ValueError with upstream's message when the settings cannot work."""
    if tls.ca_file and tls.ca_pem:
        raise ValueError("provide either a CA file or the PEM-encoded string, but not both")
    if tls.cert_file and tls.cert_pem:
        raise ValueError("provide either certificate file or PEM, but not both")
    if tls.key_file and tls.key_pem:
        raise ValueError("provide either key file or PEM, but not both")
    if bool(tls.cert_file or tls.cert_pem) != bool(tls.key_file or tls.key_pem):
        raise ValueError("TLS configuration must include both certificate and key (CertFile/CertPem and KeyFile/KeyPem)")
    low, high = _version(tls.min_version, "min_version"), _version(tls.max_version, "max_version")
    if high >= 0 and high < (low if low >= 0 else _ORDER.index("1.2")):
        raise ValueError("invalid TLS configuration: min_version cannot be greater than max_version")
    _openssl_ciphers(tls)
    for curve in tls.curve_preferences:
        if curve not in _CURVES:
            raise ValueError(f"invalid curve type: {curve}. Expected values are {list(_CURVES)}")


def check_server(tls: TLSServerSettings) -> None:
    check_common(tls)
    if not (tls.cert_file or tls.cert_pem) and not (tls.key_file or tls.key_pem):
        raise ValueError("TLS configuration must include both certificate and key for server connections")


class CheckedServerTLS(TLSServerSettings):
    """Server ``tls:`` settings checked when the config is read, as upstream's Validate does."""

    @model_validator(mode="after")
    def _check(self) -> "CheckedServerTLS":
        check_server(self)
        return self


class CheckedClientTLS(TLSClientSettings):
    """Client ``tls:`` settings checked when the config is read."""

    @model_validator(mode="after")
    def _check(self) -> "CheckedClientTLS":
        check_common(self)
        return self


def _openssl_ciphers(tls: _TLSCommon) -> str:
    known = dict(_CIPHERS)
    if tls.include_insecure_cipher_suites:
        known.update(_INSECURE_CIPHERS)
    bad = [f'invalid TLS cipher suite: "{name}"' for name in tls.cipher_suites if name not in known]
    if bad:
        raise ValueError("\n".join(bad))
    return ":".join(known[name] for name in tls.cipher_suites if known[name])


# -- material ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Material:
    """One consistent snapshot of the PEM bytes a TLS endpoint uses."""

    cert: bytes | None
    key: bytes | None
    ca: bytes | None  # the client CA for a server, the root CA for a client


def _read(path: str, pem: str) -> bytes | None:
    if pem:
        return pem.encode()
    return Path(path).read_bytes() if path else None


def _system_roots() -> bytes:
    cafile = ssl.get_default_verify_paths().cafile
    return Path(cafile).read_bytes() if cafile and os.path.exists(cafile) else b""


def load_server_material(tls: TLSServerSettings) -> Material:
    """Read the files (blocking: call from a worker thread)."""
    try:
        cert, key = _read(tls.cert_file, tls.cert_pem), _read(tls.key_file, tls.key_pem)
    except OSError as exc:
        raise ValueError(f"failed to load TLS config: failed to load TLS cert and key: {exc}") from None
    ca = None
    if tls.client_ca_file:
        try:
            ca = Path(tls.client_ca_file).read_bytes()
        except OSError as exc:
            raise ValueError(f"failed to load client CA CertPool: failed to load CA {tls.client_ca_file}: {exc}") from None
        if tls.include_system_ca_certs_pool:
            ca = _system_roots() + b"\n" + ca
    return Material(cert, key, ca)


def load_client_material(tls: TLSClientSettings) -> Material:
    try:
        ca = _read(tls.ca_file, tls.ca_pem)
        cert, key = _read(tls.cert_file, tls.cert_pem), _read(tls.key_file, tls.key_pem)
    except OSError as exc:
        raise ValueError(f"failed to load TLS config: {exc}") from None
    if ca is not None and tls.include_system_ca_certs_pool:
        ca = _system_roots() + b"\n" + ca
    return Material(cert, key, ca)


def _load_chain(ctx: ssl.SSLContext, cert: bytes, key: bytes) -> None:
    """ssl only loads a chain from files: write the snapshot to a private directory for the call."""
    with tempfile.TemporaryDirectory(prefix="otelflow-tls-") as tmp:
        cert_path, key_path = os.path.join(tmp, "cert.pem"), os.path.join(tmp, "key.pem")
        for path, data in ((cert_path, cert), (key_path, key)):
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
        try:
            ctx.load_cert_chain(cert_path, key_path)
        except ssl.SSLError as exc:
            raise ValueError(f"failed to load TLS cert and key PEMs: {exc}") from None


def _apply_common(ctx: ssl.SSLContext, tls: _TLSCommon) -> None:
    ctx.minimum_version = _VERSIONS.get(tls.min_version or "1.2")
    if tls.max_version:
        ctx.maximum_version = _VERSIONS[tls.max_version]
    ciphers = _openssl_ciphers(tls)
    if ciphers:
        ctx.set_ciphers(ciphers)


def build_server_context(tls: TLSServerSettings, material: Material) -> ssl.SSLContext:
    """An SSLContext for aiohttp (blocking: call from a worker thread)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    _apply_common(ctx, tls)
    _load_chain(ctx, material.cert, material.key)
    if material.ca is not None:
        try:
            ctx.load_verify_locations(cadata=material.ca.decode())
        except (ssl.SSLError, UnicodeDecodeError) as exc:
            raise ValueError(f"failed to load client CA CertPool: failed to parse CA {tls.client_ca_file}: {exc}") from None
        ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.set_alpn_protocols(["http/1.1"])
    return ctx


def _grpc_config(material: Material) -> grpc.ServerCertificateConfiguration:
    return grpc.ssl_server_certificate_configuration([(material.key, material.cert)], root_certificates=material.ca)


class _SwappableContext(ssl.SSLContext):
    """An SSLContext that hands each new connection to the newest inner context (aiohttp, asyncio)."""

    current: ssl.SSLContext

    def wrap_bio(self, incoming, outgoing, server_side=False, server_hostname=None, session=None):
        return self.current.wrap_bio(incoming, outgoing, server_side=server_side, server_hostname=server_hostname, session=session)

    def wrap_socket(self, sock, *args, **kwargs):
        return self.current.wrap_socket(sock, *args, **kwargs)


def _stat(path: str) -> tuple | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size, st.st_ino)


class ServerTLS:
    """The TLS side of one server: current material, and the task that reloads it when files change."""

    def __init__(self, tls: TLSServerSettings, logger: logging.Logger | None = None):
        check_server(tls)
        self.tls = tls
        self.log = logger or log
        self.material: Material | None = None
        self._ctx: _SwappableContext | None = None
        self._pending_grpc: grpc.ServerCertificateConfiguration | None = None
        self._pending_lock = threading.Lock()  # grpc calls the fetcher from its own threads
        self._task: asyncio.Task | None = None
        self._seen: dict[str, tuple | None] = {}
        self._grpc_versions_warned = False
        self.reloads = 0

    def _watched(self) -> list[tuple[list[str], float]]:
        """(files, check interval) for each group that upstream reloads."""
        groups = []
        if self.tls.reload_interval > 0:
            files = [p for p in (self.tls.cert_file, self.tls.key_file) if p]
            if files:
                groups.append((files, self.tls.reload_interval))
        if self.tls.client_ca_file and self.tls.client_ca_file_reload:
            groups.append(([self.tls.client_ca_file], _CLIENT_CA_CHECK))
        return groups

    async def start(self) -> None:
        files = [p for files, _ in self._watched() for p in files]
        self._seen = await asyncio.to_thread(lambda: {p: _stat(p) for p in files})
        self.material = await asyncio.to_thread(load_server_material, self.tls)
        if self._watched():
            self._task = asyncio.create_task(self._watch(), name="otelflow-tls-reload")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    # aiohttp
    async def ssl_context(self) -> ssl.SSLContext:
        inner = await asyncio.to_thread(build_server_context, self.tls, self.material)
        ctx = _SwappableContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.current = inner
        self._ctx = ctx
        return ctx

    # grpc
    def grpc_credentials(self) -> grpc.ServerCredentials:
        self._warn_grpc_limits()
        require_client = self.material.ca is not None
        if not self._watched():
            return grpc.ssl_server_credentials(
                [(self.material.key, self.material.cert)], root_certificates=self.material.ca, require_client_auth=require_client
            )
        return grpc.dynamic_ssl_server_credentials(_grpc_config(self.material), self._fetch_grpc, require_client)

    def _fetch_grpc(self) -> grpc.ServerCertificateConfiguration | None:
        # Called by grpc before each handshake: hand over new material once, never block.
        with self._pending_lock:
            config, self._pending_grpc = self._pending_grpc, None
        return config

    def _warn_grpc_limits(self) -> None:
        t = self.tls
        ignored = []
        if t.min_version not in ("", "1.0", "1.1", "1.2") or t.max_version not in ("", "1.3"):
            ignored.append("min_version/max_version (grpcio serves TLS 1.2 and 1.3)")
        if t.cipher_suites:
            ignored.append("cipher_suites")
        if t.curve_preferences:
            ignored.append("curve_preferences")
        if ignored:
            self.log.warning("grpcio cannot apply these TLS settings on the gRPC server; they are ignored: %s", ", ".join(ignored))

    async def _watch(self) -> None:
        groups = self._watched()
        period = min(interval for _, interval in groups)
        loop = asyncio.get_running_loop()
        due = [loop.time() + interval for _, interval in groups]
        while True:
            await asyncio.sleep(period)
            now = loop.time()
            files = []
            for i, (paths, interval) in enumerate(groups):
                if now + 1e-3 >= due[i]:
                    due[i] = now + interval
                    files.extend(paths)
            if files:
                await self._reload_if_changed(files)

    async def _reload_if_changed(self, files: list[str]) -> None:
        seen = await asyncio.to_thread(lambda: {p: _stat(p) for p in files})
        if all(self._seen.get(p) == s for p, s in seen.items()):
            return
        try:
            material = await asyncio.to_thread(load_server_material, self.tls)
            inner = await asyncio.to_thread(build_server_context, self.tls, material) if self._ctx is not None else None
        except (ValueError, OSError) as exc:
            # A half-written pair fails to load: keep serving the old material and try again next time.
            self.log.warning("TLS material changed but could not be loaded; keeping the previous one: %s", exc)
            return
        self._seen.update(seen)
        self.material = material
        if inner is not None:
            self._ctx.current = inner
        with self._pending_lock:
            self._pending_grpc = _grpc_config(material)
        self.reloads += 1
        self.log.info("reloaded TLS certificate material from %s", ", ".join(files))


# -- compatibility helpers (no reload) ---------------------------------------------------------------


def server_ssl_context(tls: TLSServerSettings) -> ssl.SSLContext:
    """A fixed server SSLContext, read now (blocking)."""
    check_server(tls)
    return build_server_context(tls, load_server_material(tls))


def server_credentials(tls: TLSServerSettings) -> grpc.ServerCredentials:
    check_server(tls)
    m = load_server_material(tls)
    return grpc.ssl_server_credentials([(m.key, m.cert)], root_certificates=m.ca, require_client_auth=m.ca is not None)


# -- clients -----------------------------------------------------------------------------------------


def build_client_context(tls: TLSClientSettings, material: Material) -> ssl.SSLContext:
    """An SSLContext for aiohttp clients (blocking: call from a worker thread)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    _apply_common(ctx, tls)
    if material.ca is not None:
        try:
            ctx.load_verify_locations(cadata=material.ca.decode())
        except (ssl.SSLError, UnicodeDecodeError) as exc:
            raise ValueError(f"failed to load TLS config: failed to load CA CertPool: {exc}") from None
    else:
        ctx.load_default_certs()
    if tls.insecure_skip_verify:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    if material.cert and material.key:
        _load_chain(ctx, material.cert, material.key)
    return ctx


def client_ssl_context(tls: TLSClientSettings) -> ssl.SSLContext:
    check_common(tls)
    return build_client_context(tls, load_client_material(tls))


def channel_credentials(tls: TLSClientSettings, warn: Callable[[str], None] | None = None) -> grpc.ChannelCredentials:
    """grpc channel credentials (blocking: reads files)."""
    check_common(tls)
    m = load_client_material(tls)
    if warn is not None:
        if tls.insecure_skip_verify:
            warn("insecure_skip_verify is not available with grpcio; the server certificate is still verified")
        if tls.min_version not in ("", "1.0", "1.1", "1.2") or tls.max_version not in ("", "1.3") or tls.cipher_suites:
            warn("grpcio cannot apply min_version/max_version/cipher_suites on a channel; they are ignored")
    return grpc.ssl_channel_credentials(root_certificates=m.ca, private_key=m.key, certificate_chain=m.cert)
