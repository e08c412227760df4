"""Config of the ``prometheus`` receiver: the collector's keys plus Prometheus' own config under ``config``.

The Prometheus part follows Prometheus v3 (v0.314.0, as upstream v0.161.0 embeds): strict keys, the
global defaults (1m interval, 10s timeout), per-job inheritance from ``global`` and the same
validation messages. Features the receiver refuses (remote_write, rule_files, alerting) are refused
with upstream's "unsupported features" message.
"""

from __future__ import annotations

import glob
import os
from typing import Annotated, Any

import yaml

from pydantic import BaseModel, ValidationError, BeforeValidator, ConfigDict, Field, field_validator, model_validator

from otelflow.config.model import Duration, Model
from otelflow.receivers.prometheus.promtypes import parse_base2_bytes, parse_duration_ms
from otelflow.receivers.prometheus.relabel import RelabelConfig

SCRAPE_PROTOCOLS = {
    "PrometheusProto": "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited",
    "PrometheusText0.0.4": "text/plain;version=0.0.4",
    "PrometheusText1.0.0": "text/plain;version=1.0.0",
    "OpenMetricsText0.0.1": "application/openmetrics-text;version=0.0.1",
    "OpenMetricsText1.0.0": "application/openmetrics-text;version=1.0.0",
}
DEFAULT_SCRAPE_PROTOCOLS = ["OpenMetricsText1.0.0", "OpenMetricsText0.0.1", "PrometheusText1.0.0", "PrometheusText0.0.4"]
# Service discovery mechanisms Prometheus has; otelflow runs static_configs and file_sd_configs.
OTHER_SD = (
    "azure_sd_configs", "consul_sd_configs", "digitalocean_sd_configs", "docker_sd_configs",
    "dockerswarm_sd_configs", "dns_sd_configs", "ec2_sd_configs", "eureka_sd_configs", "gce_sd_configs",
    "hetzner_sd_configs", "http_sd_configs", "ionos_sd_configs", "kubernetes_sd_configs", "kuma_sd_configs",
    "lightsail_sd_configs", "linode_sd_configs", "marathon_sd_configs", "nerve_sd_configs", "nomad_sd_configs",
    "openstack_sd_configs", "ovhcloud_sd_configs", "puppetdb_sd_configs", "scaleway_sd_configs",
    "serverset_sd_configs", "stackit_sd_configs", "triton_sd_configs", "uyuni_sd_configs", "vultr_sd_configs",
)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


#: a Prometheus duration, held in milliseconds
PromDuration = Annotated[int, BeforeValidator(parse_duration_ms)]
#: a Prometheus byte size (units.Base2Bytes)
Bytes = Annotated[int, BeforeValidator(parse_base2_bytes)]


class GlobalConfig(_Strict):
    scrape_interval: PromDuration = 60_000  # milliseconds, as Prometheus' model.Duration
    scrape_timeout: PromDuration = 0
    scrape_protocols: list[str] | None = None
    evaluation_interval: PromDuration = 60_000
    rule_query_offset: PromDuration = 0
    query_log_file: str = ""
    scrape_failure_log_file: str = ""
    external_labels: dict[str, str] = {}
    body_size_limit: Bytes = 0
    sample_limit: int = 0
    target_limit: int = 0
    label_limit: int = 0
    label_name_length_limit: int = 0
    label_value_length_limit: int = 0
    keep_dropped_targets: int = 0
    metric_name_validation_scheme: str = "utf8"
    metric_name_escaping_scheme: str = ""
    scrape_native_histograms: bool | None = None
    convert_classic_histograms_to_nhcb: bool = False
    always_scrape_classic_histograms: bool = False
    extra_scrape_metrics: bool | None = None


    @model_validator(mode="after")
    def _defaults(self) -> "GlobalConfig":
        if self.scrape_interval == 0:
            self.scrape_interval = 60_000
        if self.scrape_timeout > self.scrape_interval:
            raise ValueError("global scrape timeout greater than scrape interval")
        if self.scrape_timeout == 0:
            self.scrape_timeout = min(10_000, self.scrape_interval)
        if self.evaluation_interval == 0:
            self.evaluation_interval = 60_000
        if self.metric_name_validation_scheme == "":
            self.metric_name_validation_scheme = "utf8"
        if self.metric_name_validation_scheme not in ("utf8", "legacy"):
            raise ValueError(f"unknown global name validation method specified, must be either '', 'legacy' or "
                             f"'utf8', got {self.metric_name_validation_scheme}")
        for name, value in self.external_labels.items():
            if not name:
                raise ValueError(f'"{name}" is not a valid label name')
        for proto in self.scrape_protocols or []:
            _check_protocol(proto)
        return self


def _check_protocol(proto: str) -> None:
    if proto not in SCRAPE_PROTOCOLS:
        raise ValueError(f"unknown scrape protocol {proto}, supported: [{' '.join(sorted(SCRAPE_PROTOCOLS))}]")


class BasicAuth(_Strict):
    username: str = ""
    username_file: str = ""
    username_ref: str = ""
    password: str = ""
    password_file: str = ""
    password_ref: str = ""


class Authorization(_Strict):
    type: str = ""
    credentials: str = ""
    credentials_file: str = ""
    credentials_ref: str = ""


class TLSConfig(_Strict):
    ca: str = ""
    cert: str = ""
    key: str = ""
    ca_file: str = ""
    cert_file: str = ""
    key_file: str = ""
    ca_ref: str = ""
    cert_ref: str = ""
    key_ref: str = ""
    server_name: str = ""
    insecure_skip_verify: bool = False
    min_version: str = ""
    max_version: str = ""

    @model_validator(mode="after")
    def _check(self) -> "TLSConfig":
        # prometheus/common's TLSConfig.Validate, run when the YAML is decoded
        if sum(bool(x) for x in (self.ca, self.ca_file, self.ca_ref)) > 1:
            raise ValueError("at most one of ca, ca_file & ca_ref must be configured")
        if sum(bool(x) for x in (self.cert, self.cert_file, self.cert_ref)) > 1:
            raise ValueError("at most one of cert, cert_file & cert_ref must be configured")
        if sum(bool(x) for x in (self.key, self.key_file, self.key_ref)) > 1:
            raise ValueError("at most one of key and key_file must be configured")
        has_cert = bool(self.cert or self.cert_file or self.cert_ref)
        has_key = bool(self.key or self.key_file or self.key_ref)
        if has_cert and not has_key:
            raise ValueError("exactly one of key or key_file must be configured when a client certificate is configured")
        if has_key and not has_cert:
            raise ValueError("exactly one of cert or cert_file must be configured when a client key is configured")
        return self

    def check_files(self) -> None:
        """The receiver's own Validate: the client cert and key files must exist."""
        _check_file(self.cert_file, "client cert file")
        _check_file(self.key_file, "client key file")


def _check_file(path: str, what: str) -> None:
    """``os.Stat`` as upstream's checkFile: unset is fine, a missing file is an error naming it."""
    if not path:
        return
    try:
        os.stat(path)
    except OSError as exc:
        raise ValueError(f'error checking {what} "{path}": stat {path}: {exc.strerror.lower()}') from None


class StaticConfig(_Strict):
    targets: list[str] = []
    labels: dict[str, str] = {}


class FileSDConfig(_Strict):
    files: list[str]
    refresh_interval: PromDuration = 300_000


    @model_validator(mode="after")
    def _check(self) -> "FileSDConfig":
        if not self.files:
            raise ValueError("file service discovery config must contain at least one path name")
        return self


class ScrapeConfig(_Strict):
    job_name: str = ""
    honor_labels: bool = False
    honor_timestamps: bool = True
    track_timestamps_staleness: bool = False
    params: dict[str, list[str]] = {}
    scrape_interval: PromDuration = 0
    scrape_timeout: PromDuration = 0
    scrape_protocols: list[str] | None = None
    fallback_scrape_protocol: str = ""
    scrape_native_histograms: bool | None = None
    always_scrape_classic_histograms: bool | None = None
    convert_classic_histograms_to_nhcb: bool | None = None
    scrape_failure_log_file: str = ""
    metrics_path: str = "/metrics"
    scheme: str = "http"
    enable_compression: bool = True
    body_size_limit: Bytes = 0
    sample_limit: int = 0
    target_limit: int = 0
    label_limit: int = 0
    label_name_length_limit: int = 0
    label_value_length_limit: int = 0
    native_histogram_bucket_limit: int = 0
    native_histogram_min_bucket_factor: float = 0
    keep_dropped_targets: int = 0
    metric_name_validation_scheme: str = ""
    metric_name_escaping_scheme: str = ""
    extra_scrape_metrics: bool | None = None
    # HTTP client (prometheus/common's HTTPClientConfig, inline)
    basic_auth: BasicAuth | None = None
    authorization: Authorization | None = None
    oauth2: dict | None = None
    bearer_token: str = ""
    bearer_token_file: str = ""
    tls_config: TLSConfig = TLSConfig()
    follow_redirects: bool = True
    enable_http2: bool = True
    proxy_url: str = ""
    no_proxy: str = ""
    proxy_from_environment: bool = False
    proxy_connect_header: dict | None = None
    http_headers: dict | None = None
    # service discovery
    static_configs: list[StaticConfig] = []
    file_sd_configs: list[FileSDConfig] = []
    relabel_configs: list[RelabelConfig | None] = []
    metric_relabel_configs: list[RelabelConfig | None] = []


    @field_validator("params", mode="before")
    @classmethod
    def _params(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {k: ([v] if isinstance(v, str) else v) for k, v in value.items()}
        return value

    @field_validator("static_configs", "file_sd_configs", mode="before")
    @classmethod
    def _sd_list(cls, value: Any) -> Any:
        return [] if value is None else value

    @model_validator(mode="before")
    @classmethod
    def _unsupported_sd(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for key in OTHER_SD:
                if key in data:
                    _check_sd_tls(data[key])
                    raise ValueError(f"{key}: this service discovery is not supported by otelflow "
                                     "(static_configs and file_sd_configs are)")
        return data

    @model_validator(mode="after")
    def _check(self) -> "ScrapeConfig":
        if self.job_name == "":
            raise ValueError("job_name is empty")
        _check_http_client(self)
        if not self.relabel_configs:
            for sc in self.static_configs:
                for target in sc.targets:
                    if "/" in target:
                        raise ValueError(f'"{target}" is not a valid hostname')
        if any(r is None for r in self.relabel_configs):
            raise ValueError("empty or null target relabeling rule in scrape config")
        if any(r is None for r in self.metric_relabel_configs):
            raise ValueError("empty or null metric relabeling rule in scrape config")
        if self.scheme not in ("http", "https"):
            pass  # Prometheus accepts any scheme string here and fails at scrape time
        return self

    def inherit(self, glob: GlobalConfig) -> None:
        """ScrapeConfig.Validate: take what is unset from ``global``."""
        if self.scrape_interval == 0:
            self.scrape_interval = glob.scrape_interval
        if self.scrape_timeout > self.scrape_interval:
            raise ValueError(f'scrape timeout greater than scrape interval for scrape config with job name "{self.job_name}"')
        if self.scrape_timeout == 0:
            self.scrape_timeout = min(glob.scrape_timeout, self.scrape_interval)
        for name in ("body_size_limit", "sample_limit", "target_limit", "label_limit", "label_name_length_limit",
                     "label_value_length_limit", "keep_dropped_targets"):
            if getattr(self, name) == 0:
                setattr(self, name, getattr(glob, name))
        if self.scrape_native_histograms is None:
            self.scrape_native_histograms = glob.scrape_native_histograms
        if self.scrape_protocols is None:
            if glob.scrape_protocols is not None:
                self.scrape_protocols = glob.scrape_protocols
            elif self.scrape_native_histograms:
                self.scrape_protocols = ["PrometheusProto", *DEFAULT_SCRAPE_PROTOCOLS]
            else:
                self.scrape_protocols = list(DEFAULT_SCRAPE_PROTOCOLS)
        for proto in self.scrape_protocols:
            try:
                _check_protocol(proto)
            except ValueError as exc:
                raise ValueError(f'{exc} for scrape config with job name "{self.job_name}"') from None
        if self.fallback_scrape_protocol:
            try:
                _check_protocol(self.fallback_scrape_protocol)
            except ValueError as exc:
                raise ValueError(f'invalid fallback_scrape_protocol for scrape config with job name '
                                 f'"{self.job_name}": {exc}') from None
        else:
            # the receiver's own default, so that targets without a Content-Type still parse
            self.fallback_scrape_protocol = "PrometheusText0.0.4"
        if self.metric_name_validation_scheme == "":
            self.metric_name_validation_scheme = glob.metric_name_validation_scheme
        elif self.metric_name_validation_scheme not in ("utf8", "legacy"):
            raise ValueError("unknown scrape config name validation method specified, must be either '', 'legacy' or "
                             f"'utf8', got {self.metric_name_validation_scheme}")
        if self.metric_name_escaping_scheme == "":
            self.metric_name_escaping_scheme = glob.metric_name_escaping_scheme or (
                "underscores" if self.metric_name_validation_scheme == "legacy" else "allow-utf-8")


def _check_sd_tls(entries: Any) -> None:
    """A discovery otelflow does not run still gets its ``tls_config`` checked first, as upstream decodes it."""
    for entry in entries if isinstance(entries, list) else []:
        tls = entry.get("tls_config") if isinstance(entry, dict) else None
        if isinstance(tls, dict):
            try:
                TLSConfig.model_validate(tls)
            except ValidationError as exc:
                raise ValueError("; ".join(str(e.get("ctx", {}).get("error", e["msg"])) for e in exc.errors())) from None


def _check_http_client(c: ScrapeConfig) -> None:
    if c.bearer_token and c.bearer_token_file:
        raise ValueError("at most one of bearer_token & bearer_token_file must be configured")
    if sum(bool(x) for x in (c.basic_auth, c.oauth2, c.bearer_token or c.bearer_token_file)) > 1:
        raise ValueError("at most one of basic_auth, oauth2, bearer_token & bearer_token_file must be configured")
    if c.basic_auth is not None:
        ba = c.basic_auth
        if sum(bool(x) for x in (ba.username, ba.username_file, ba.username_ref)) > 1:
            raise ValueError("at most one of basic_auth username, username_file & username_ref must be configured")
        if sum(bool(x) for x in (ba.password, ba.password_file, ba.password_ref)) > 1:
            raise ValueError("at most one of basic_auth password, password_file & password_ref must be configured")
    if c.authorization is not None:
        az = c.authorization
        if c.bearer_token or c.bearer_token_file:
            raise ValueError("authorization is not compatible with bearer_token & bearer_token_file")
        if sum(bool(x) for x in (az.credentials, az.credentials_file, az.credentials_ref)) > 1:
            raise ValueError("at most one of authorization credentials & credentials_file must be configured")
        az.type = az.type.strip() or "Bearer"
        if az.type.lower() == "basic":
            raise ValueError('authorization type cannot be set to "basic", use "basic_auth" instead')
        if c.basic_auth is not None or c.oauth2 is not None:
            raise ValueError("at most one of basic_auth, oauth2 & authorization must be configured")
    if c.oauth2 is not None:
        raise ValueError("oauth2 is not supported by otelflow's prometheus receiver")


def _check_client_files(c: ScrapeConfig) -> None:
    """Upstream's validateHTTPClientConfig (PromConfig.Validate): referenced files must exist."""
    if c.authorization is not None:
        _check_file(c.authorization.credentials_file, "authorization credentials file")
    c.tls_config.check_files()


def _load_scrape_config_files(patterns: list[str]) -> list[ScrapeConfig]:
    """Prometheus' ``scrape_config_files``: globs of files, each holding only ``scrape_configs``. Read once
    while the config is loaded (not on the event loop); paths are relative to the working directory, as
    the receiver's config carries no file location."""
    out: list[ScrapeConfig] = []
    for pattern in patterns:
        for path in sorted(glob.glob(pattern)):
            try:
                with open(path, encoding="utf-8") as fh:
                    tree = yaml.safe_load(fh) or {}
            except (OSError, yaml.YAMLError) as exc:
                raise ValueError(f'failed to get scrape configs: error reading scrape config file "{path}": {exc}') from None
            if not isinstance(tree, dict) or set(tree) - {"scrape_configs"}:
                raise ValueError(f'failed to get scrape configs: "{path}" may hold only scrape_configs')
            try:
                out.extend(ScrapeConfig.model_validate(sc) for sc in tree.get("scrape_configs") or [])
            except ValidationError as exc:
                raise ValueError(f'failed to get scrape configs: "{path}": {exc.errors()[0]["msg"]}') from None
    return out


class PromConfig(_Strict):
    global_: GlobalConfig = Field(default_factory=GlobalConfig, alias="global")
    runtime: dict | None = None
    rule_files: list[str] | None = None
    scrape_config_files: list[str] | None = None
    scrape_configs: list[ScrapeConfig | None] = []
    storage: dict | None = None
    tracing: dict | None = None
    remote_write: list | None = None
    remote_read: list | None = None
    alerting: dict | None = None
    otlp: dict | None = None

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    @field_validator("global_", mode="before")
    @classmethod
    def _empty_global(cls, value: Any) -> Any:
        return {} if value is None else value

    @field_validator("scrape_configs", mode="before")
    @classmethod
    def _null_list(cls, value: Any) -> Any:
        return [] if value is None else value

    @model_validator(mode="after")
    def _check(self) -> "PromConfig":
        unsupported = []
        if self.remote_write:
            unsupported.append("remote_write")
        if self.remote_read:
            unsupported.append("remote_read")
        if self.rule_files:
            unsupported.append("rule_files")
        alerting = self.alerting or {}
        if alerting.get("alert_relabel_configs"):
            unsupported.append("alert_config.relabel_configs")
        if alerting.get("alertmanagers"):
            unsupported.append("alert_config.alertmanagers")
        if unsupported:
            raise ValueError("unsupported features:\n\t" + "\n\t".join(sorted(unsupported)))
        if self.scrape_config_files:
            self.scrape_configs = [*self.scrape_configs, *_load_scrape_config_files(self.scrape_config_files)]
        seen: set[str] = set()
        for sc in self.scrape_configs:
            if sc is None:
                raise ValueError("empty or null scrape config section")
            sc.inherit(self.global_)
            _check_client_files(sc)
            if sc.job_name in seen:
                raise ValueError(f'found multiple scrape configs with job name "{sc.job_name}"')
            seen.add(sc.job_name)
        return self


_TRANSPORTS = {"tcp", "tcp4", "tcp6", "udp", "udp4", "udp6", "ip", "ip4", "ip6", "unix", "unixgram", "unixpacket", "npipe", ""}


class APIServer(Model):
    """Upstream's ``api_server`` block: decoded and checked, though otelflow does not serve the API."""

    enabled: bool = False
    server_config: dict[str, Any] | None = None

    @field_validator("server_config")
    @classmethod
    def _transport(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        transport = (value or {}).get("transport", "tcp")
        if transport not in _TRANSPORTS:
            raise ValueError(f'unsupported transport type "{transport}"')
        return value


class Config(Model):
    config: PromConfig | None = None
    trim_metric_suffixes: bool = False
    target_allocator: dict | None = None
    api_server: APIServer | None = None
    scrape_on_shutdown: bool = False
    discovery_reload_on_startup: bool = False
    initial_scrape_offset: Duration = 0.0

    @model_validator(mode="after")
    def _scrape_configs(self) -> "Config":
        if self.target_allocator:
            raise ValueError("target_allocator is not supported by otelflow")
        if self.api_server is not None and self.api_server.enabled:
            raise ValueError("api_server is not supported by otelflow")
        if self.config is None or not (self.config.scrape_configs or self.config.scrape_config_files):
            raise ValueError("no Prometheus scrape_configs or target_allocator set")
        return self
