"""Kafka client settings shared by the kafka exporter and receiver: upstream's ``configkafka``
``ClientConfig`` (contrib pkg/kafka/configkafka v0.162.0: keys, defaults, checks and messages), and
their translation to librdkafka properties for confluent-kafka.

Upstream's client is franz-go; otelflow's is librdkafka. Where librdkafka cannot do what a setting
asks, the config is refused with a message naming the key rather than silently weakened:
SASL mechanisms other than PLAIN / SCRAM-SHA-256 / SCRAM-SHA-512, Kerberos, ``tls::server_name_override``,
TLS versions other than the 1.2 floor, and ``tls::reload_interval`` (librdkafka reads the files once,
when the client is created). ``metadata::full`` is a no-op upstream too; ``use_leader_epoch`` and
``metadata::retry::max`` have no librdkafka counterpart (librdkafka always uses leader epochs and
retries metadata requests on its own schedule) and are accepted without effect.
"""

from __future__ import annotations

import hashlib
import os
import re
import ssl
import tempfile
from typing import Any

from pydantic import Field, field_validator, model_validator

from otelflow.config.model import Duration, Model
from otelflow.core.tls import CheckedClientTLS, _openssl_ciphers

#: Mechanisms upstream accepts, and the subset librdkafka runs for otelflow.
MECHANISMS = ("PLAIN", "AWS_MSK_IAM_OAUTHBEARER", "OAUTHBEARER", "SCRAM-SHA-256", "SCRAM-SHA-512")
SUPPORTED_MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")

# Versions franz-go v1.22 knows (kversion.FromString): v0 as 0.x.y, later ones as major.minor.
_KAFKA_VERSIONS = (
    {f"0.{v}" for v in ("8.0", "8.1", "8.2", "9.0", "10.0", "10.1", "10.2", "11.0")}
    | {"1.0", "1.1"} | {f"2.{m}" for m in range(9)} | {f"3.{m}" for m in range(10)} | {f"4.{m}" for m in range(5)}
)
_VERSION_RE = re.compile(r"^v?(?:([1-9]+\.\d+)(?:\.\d+)?|(0\.\d+\.\d+)(?:\.\d+)?)$")

# configtls curve names -> OpenSSL group names (librdkafka's ssl.curves.list)
_CURVES = {"P256": "P-256", "P384": "P-384", "P521": "P-521", "X25519": "X25519", "X25519MLKEM768": "X25519MLKEM768"}


def kafka_version(text: str) -> str | None:
    """The release ``text`` names (``"3.1.2"`` -> ``"3.1"``, ``"0.10.2.1"`` -> ``"0.10.2"``), or None."""
    m = _VERSION_RE.match(text)
    if m is None:
        return None
    version = m.group(1) or m.group(2)
    return version if version in _KAFKA_VERSIONS else None


class AWSMSKConfig(Model):
    region: str = ""


class SASLConfig(Model):
    mechanism: str = ""
    username: str = ""
    password: str = ""
    aws_msk: AWSMSKConfig = AWSMSKConfig()
    oauthbearer_token_source: str = ""

    @model_validator(mode="after")
    def _check(self) -> "SASLConfig":
        m = self.mechanism
        if m == "AWS_MSK_IAM_OAUTHBEARER" and not self.aws_msk.region:
            raise ValueError("region is required for AWS_MSK_IAM_OAUTHBEARER mechanism")
        if m in SUPPORTED_MECHANISMS:
            if not self.username:
                raise ValueError("username is required")
            if not self.password:
                raise ValueError("password is required")
        if m == "OAUTHBEARER" and not self.oauthbearer_token_source:
            raise ValueError("oauth2authclient extension is required")
        if m not in MECHANISMS:
            raise ValueError("mechanism should be one of 'PLAIN', 'AWS_MSK_IAM_OAUTHBEARER', 'OAUTHBEARER', "
                             f"'SCRAM-SHA-256' or 'SCRAM-SHA-512'. configured value {m}")
        if m not in SUPPORTED_MECHANISMS:
            raise ValueError(f"mechanism {m} is not supported by otelflow's Kafka client; "
                             f"use one of {', '.join(SUPPORTED_MECHANISMS)}")
        return self


class KerberosConfig(Model):
    service_name: str = ""
    realm: str = ""
    use_keytab: bool = False
    username: str = ""
    password: str = ""
    config_file: str = ""
    keytab_file: str = ""
    disable_fast_negotiation: bool = False


class AuthConfig(Model):
    sasl: SASLConfig | None = None
    kerberos: KerberosConfig | None = None

    @model_validator(mode="after")
    def _check(self) -> "AuthConfig":
        if self.sasl is not None and self.kerberos is not None:
            raise ValueError("only one of sasl or kerberos authentication can be configured")
        if self.kerberos is not None:
            raise ValueError("kerberos authentication is not supported by otelflow's Kafka client")
        return self


class TLSConfig(CheckedClientTLS):
    """configtls client settings, plus the limits of librdkafka's TLS."""

    @model_validator(mode="after")
    def _librdkafka(self) -> "TLSConfig":
        if self.server_name_override:
            raise ValueError("server_name_override is not supported by otelflow's Kafka client "
                             "(librdkafka verifies the broker's advertised host name)")
        if self.min_version not in ("", "1.2") or self.max_version not in ("", "1.3"):
            raise ValueError("otelflow's Kafka client uses TLS 1.2 and 1.3 only: min_version and "
                             "max_version cannot be changed")
        if self.reload_interval:
            raise ValueError("reload_interval is not supported by otelflow's Kafka client "
                             "(certificates are read when the client starts)")
        return self

    @property
    def enabled(self) -> bool:
        """As configtls' LoadTLSConfig: ``insecure`` without a CA means plaintext."""
        return not (self.insecure and not (self.ca_file or self.ca_pem))


class MetadataRetryConfig(Model):
    max: int = 20
    backoff: Duration = 0.25


class MetadataConfig(Model):
    full: bool = True  # deprecated upstream (v0.159.0) and a no-op there
    refresh_interval: Duration = 600.0
    retry: MetadataRetryConfig = MetadataRetryConfig()


class ClientConfig(Model):
    """The client keys the kafka exporter and receiver share (configkafka.ClientConfig)."""

    brokers: list[str] = Field(default_factory=lambda: ["localhost:9092"])
    protocol_version: str = ""
    client_id: str = "otel-collector"
    auth: AuthConfig = AuthConfig()
    tls: TLSConfig | None = None
    metadata: MetadataConfig = MetadataConfig()
    rack_id: str = ""
    use_leader_epoch: bool = True
    conn_idle_timeout: Duration = 540.0

    @field_validator("brokers")
    @classmethod
    def _brokers(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("brokers must be specified")
        return value

    @model_validator(mode="after")
    def _client_checks(self) -> "ClientConfig":
        if self.protocol_version and kafka_version(self.protocol_version) is None:
            raise ValueError(f'invalid protocol version: "{self.protocol_version}"')
        if self.conn_idle_timeout <= 0:
            raise ValueError(f"conn_idle_timeout ({_go(self.conn_idle_timeout)}) must be positive")
        if self.metadata.retry.max < 0:
            raise ValueError(f"metadata::retry::max ({self.metadata.retry.max}) must be non-negative")
        if self.metadata.retry.backoff < 0:
            raise ValueError(f"metadata::retry::backoff ({_go(self.metadata.retry.backoff)}) must be non-negative")
        return self


def _go(seconds: float) -> str:
    """A duration as Go prints the simple cases (for messages only)."""
    if seconds == int(seconds):
        return f"{int(seconds)}s"
    return f"{seconds * 1000:g}ms"


def _ms(seconds: float) -> int:
    return max(0, int(round(seconds * 1000)))


def security_protocol(config: ClientConfig) -> str:
    tls = config.tls is not None and config.tls.enabled
    sasl = config.auth.sasl is not None
    return {(False, False): "PLAINTEXT", (True, False): "SSL",
            (False, True): "SASL_PLAINTEXT", (True, True): "SASL_SSL"}[(tls, sasl)]


def librdkafka_settings(config: ClientConfig) -> dict[str, Any]:
    """librdkafka properties for the client part of a producer or consumer.

    Reads no file except when ``tls::include_system_ca_certs_pool`` joins the system roots to a
    configured CA (the bundle is written to a private temporary file): call it off the event loop."""
    retry_backoff = _ms(config.metadata.retry.backoff)
    conf: dict[str, Any] = {
        "bootstrap.servers": ",".join(config.brokers),
        "client.id": config.client_id,
        "security.protocol": security_protocol(config),
        "connections.max.idle.ms": _ms(config.conn_idle_timeout),
        # franz-go doubles the backoff per retry up to max(5s, backoff)
        "retry.backoff.ms": max(1, retry_backoff),
        "retry.backoff.max.ms": max(5000, retry_backoff),
        "log.connection.close": False,
    }
    if config.metadata.refresh_interval > 0:
        conf["topic.metadata.refresh.interval.ms"] = _ms(config.metadata.refresh_interval)
    if config.rack_id:
        conf["client.rack"] = config.rack_id
    if config.protocol_version:
        # librdkafka negotiates versions with ApiVersions; the fallback applies to brokers that
        # predate it (0.9 and older), as pinning the version does upstream.
        version = kafka_version(config.protocol_version)
        conf["broker.version.fallback"] = version if version.startswith("0.") else f"{version}.0"
        if version.startswith(("0.8", "0.9")):
            conf["api.version.request"] = False
    sasl = config.auth.sasl
    if sasl is not None:
        conf["sasl.mechanisms"] = sasl.mechanism
        conf["sasl.username"] = sasl.username
        conf["sasl.password"] = sasl.password
    if config.tls is not None and config.tls.enabled:
        conf.update(_tls_settings(config.tls))
    return conf


def _tls_settings(tls: TLSConfig) -> dict[str, Any]:
    conf: dict[str, Any] = {}
    if tls.ca_file or tls.ca_pem:
        if tls.include_system_ca_certs_pool:
            conf["ssl.ca.location"] = _system_plus(tls)
        elif tls.ca_file:
            conf["ssl.ca.location"] = tls.ca_file
        else:
            conf["ssl.ca.pem"] = tls.ca_pem
    if tls.cert_file:
        conf["ssl.certificate.location"] = tls.cert_file
    elif tls.cert_pem:
        conf["ssl.certificate.pem"] = tls.cert_pem
    if tls.key_file:
        conf["ssl.key.location"] = tls.key_file
    elif tls.key_pem:
        conf["ssl.key.pem"] = tls.key_pem
    if tls.insecure_skip_verify:
        conf["enable.ssl.certificate.verification"] = False
        conf["ssl.endpoint.identification.algorithm"] = "none"
    else:
        conf["ssl.endpoint.identification.algorithm"] = "https"
    ciphers = _openssl_ciphers(tls)
    if ciphers:
        conf["ssl.cipher.suites"] = ciphers
    if tls.curve_preferences:
        conf["ssl.curves.list"] = ":".join(_CURVES[c] for c in tls.curve_preferences)
    return conf


def _system_plus(tls: TLSConfig) -> str:
    """The system roots and the configured CA in one bundle file (Go's pool with both), named by
    its content so restarts reuse it instead of leaving new files behind."""
    cafile = ssl.get_default_verify_paths().cafile
    system = open(cafile, "rb").read() if cafile and os.path.exists(cafile) else b""
    ca = open(tls.ca_file, "rb").read() if tls.ca_file else tls.ca_pem.encode()
    bundle = system + b"\n" + ca
    path = os.path.join(tempfile.gettempdir(), f"otelflow-kafka-ca-{hashlib.sha256(bundle).hexdigest()[:24]}.pem")
    if not os.path.exists(path):
        fd, tmp = tempfile.mkstemp(prefix="otelflow-kafka-ca-", suffix=".tmp")
        with os.fdopen(fd, "wb") as f:
            f.write(bundle)
        os.replace(tmp, path)
    return path
