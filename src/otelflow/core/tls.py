"""TLS material from configtls settings, for grpc and aiohttp."""

from __future__ import annotations

import ssl
from pathlib import Path

import grpc

from otelflow.config.settings import TLSClientSettings, TLSServerSettings

_VERSIONS = {"1.0": ssl.TLSVersion.TLSv1, "1.1": ssl.TLSVersion.TLSv1_1, "1.2": ssl.TLSVersion.TLSv1_2, "1.3": ssl.TLSVersion.TLSv1_3}


def _read(path: str, pem: str) -> bytes | None:
    if pem:
        return pem.encode()
    return Path(path).read_bytes() if path else None


def server_credentials(tls: TLSServerSettings) -> grpc.ServerCredentials:
    key, cert = _read(tls.key_file, tls.key_pem), _read(tls.cert_file, tls.cert_pem)
    if not key or not cert:
        raise ValueError("tls needs cert_file and key_file")
    client_ca = _read(tls.client_ca_file, "")
    return grpc.ssl_server_credentials([(key, cert)], root_certificates=client_ca, require_client_auth=client_ca is not None)


def server_ssl_context(tls: TLSServerSettings) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = _VERSIONS.get(tls.min_version or "1.2", ssl.TLSVersion.TLSv1_2)
    ctx.load_cert_chain(tls.cert_file, tls.key_file)
    if tls.client_ca_file:
        ctx.load_verify_locations(tls.client_ca_file)
        ctx.verify_mode = ssl.CERT_REQUIRED
    return ctx


def client_ssl_context(tls: TLSClientSettings) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=tls.ca_file or None)
    ctx.minimum_version = _VERSIONS.get(tls.min_version or "1.2", ssl.TLSVersion.TLSv1_2)
    if tls.insecure_skip_verify:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    if tls.cert_file and tls.key_file:
        ctx.load_cert_chain(tls.cert_file, tls.key_file)
    return ctx


def channel_credentials(tls: TLSClientSettings) -> grpc.ChannelCredentials:
    cert, key = _read(tls.cert_file, tls.cert_pem), _read(tls.key_file, tls.key_pem)
    return grpc.ssl_channel_credentials(root_certificates=_read(tls.ca_file, tls.ca_pem), private_key=key, certificate_chain=cert)
