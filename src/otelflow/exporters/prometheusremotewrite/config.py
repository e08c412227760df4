"""The ``prometheus_remote_write`` exporter's config: upstream v0.161.0's keys, defaults and checks.

Upstream decodes this config with its own ``Unmarshal``, which does not refuse unknown keys (a key
removed in an earlier release, such as ``export_created_metric``, is still accepted and ignored);
otelflow accepts them too and logs them once. The HTTP client settings may sit at the top level
(deprecated) or under ``http``, which wins when present. ``timeout`` is read by both upstream's
exporterhelper timeout and its HTTP client, so it bounds the whole push.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from pydantic import ConfigDict, Field, field_validator, model_validator

from otelflow.config.model import Duration, Model
from otelflow.config.settings import AuthRef, CompressionParams, RetrySettings
from otelflow.core import featuregates
from otelflow.core.tls import CheckedClientTLS
from otelflow.exporters.prometheus.config import STRATEGIES, ResourceLabels
from otelflow.pdata import prometheus_names as names

V1 = "prometheus.WriteRequest"
V2 = "io.prometheus.write.v2.Request"
RESERVED_HEADERS = {"content-encoding", "content-type", "user-agent", "x-prometheus-remote-write-version"}
DEFAULT_ENDPOINT = "http://some.url:9411/api/prom/push"

# upstream's feature gates for this exporter (registered in otelflow.core.featuregates)
GATE_RETRY_429 = featuregates.PRW_RETRY_ON_429
GATE_MULTIPLE_WORKERS = featuregates.PRW_MULTIPLE_WORKERS
GATE_RW2 = featuregates.PRW_SEND_RW2
GATE_NO_TOP_LEVEL_HTTP = featuregates.PRW_REMOVE_TOP_LEVEL_HTTP
GATE_NO_RESOURCE_TO_TELEMETRY = featuregates.PRW_DISABLE_RESOURCE_TO_TELEMETRY

_IGNORE = ConfigDict(extra="ignore")


class _Lenient(Model):
    model_config = _IGNORE


class TLS(CheckedClientTLS):
    model_config = _IGNORE


class Retry(RetrySettings):
    """configretry with this exporter's default initial interval (50ms)."""

    model_config = _IGNORE
    initial_interval: Duration = 0.05


class RemoteWriteQueue(_Lenient):
    enabled: bool = True
    queue_size: int = 10000
    num_consumers: int = 5


class TargetInfo(_Lenient):
    enabled: bool = True


class Labels(ResourceLabels):
    model_config = _IGNORE


class WAL(Model):
    """Accepted as upstream reads it (its keys are checked); otelflow has no WAL, see the docs."""

    directory: str = ""
    buffer_size: int = 300
    truncate_frequency: Duration = 60.0
    lag_record_frequency: Duration = 0.0


class HTTPClient(_Lenient):
    """confighttp.ClientConfig as this exporter defaults it."""

    endpoint: str = DEFAULT_ENDPOINT
    proxy_url: str = ""
    tls: TLS = TLS()
    read_buffer_size: int = 0
    write_buffer_size: int = 512 * 1024
    timeout: Duration = 5.0
    headers: dict[str, str] = {}
    auth: AuthRef | None = None
    compression: str = ""
    compression_params: CompressionParams | None = None
    max_idle_conns: int = 100
    max_idle_conns_per_host: int = 0
    max_conns_per_host: int = 0
    idle_conn_timeout: Duration = 90.0
    disable_keep_alives: bool = False
    http2_read_idle_timeout: Duration = 0.0
    http2_ping_timeout: Duration = 0.0

    @field_validator("headers", mode="before")
    @classmethod
    def _headers(cls, value: Any) -> Any:
        return {} if value is None else value


_HTTP_KEYS = [name for name in HTTPClient.model_fields if name != "timeout"]
_TOP_LEVEL_HTTP_KEYS = _HTTP_KEYS + ["cookies", "middlewares", "force_attempt_http2"]


class Config(Model):
    model_config = _IGNORE

    timeout: Duration = Field(default=5.0)
    retry_on_failure: Retry = Retry()
    namespace: str = ""
    remote_write_queue: RemoteWriteQueue = RemoteWriteQueue()
    external_labels: dict[str, str] = {}
    http: HTTPClient | None = None
    max_batch_size_bytes: int = 3000000
    max_batch_request_parallelism: int | None = None
    resource_to_telemetry_conversion: Labels = Labels()
    resource_constant_labels: Labels = Labels()
    wal: WAL | None = None
    target_info: TargetInfo = TargetInfo()
    disable_scope_info: bool = False
    add_metric_suffixes: bool = True
    translation_strategy: str = ""
    send_metadata: bool = False
    protobuf_message: str = V1
    include_metadata_keys: list[str] = []
    convert_explicit_histograms_to_nhcb: bool = False
    keep_classic_histograms: bool = False

    # the client settings actually used (top-level keys, or the ``http`` block)
    client: HTTPClient = HTTPClient()
    ignored_keys: list[str] = []

    @model_validator(mode="before")
    @classmethod
    def _split(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        data = dict(data)
        known = set(cls.model_fields) - {"client", "ignored_keys"}
        top = {k: data[k] for k in _HTTP_KEYS if k in data}
        if featuregates.REGISTRY.is_enabled(GATE_NO_TOP_LEVEL_HTTP) and any(k in data for k in _TOP_LEVEL_HTTP_KEYS):
            raise ValueError(
                "top-level HTTP client settings are not allowed when feature gate "
                f"{GATE_NO_TOP_LEVEL_HTTP} is enabled; move them under the 'http' block"
            )
        if "timeout" in data:
            top["timeout"] = data["timeout"]
        if data.get("http") is None:
            data["client"] = top
            data.pop("http", None)
        else:
            data["client"] = data["http"]
        data["ignored_keys"] = sorted(k for k in data if k not in known and k not in _TOP_LEVEL_HTTP_KEYS and k != "client")
        return data

    @field_validator("external_labels", "resource_to_telemetry_conversion", "resource_constant_labels",
                     "remote_write_queue", "target_info", "retry_on_failure", mode="before")
    @classmethod
    def _present(cls, value: Any, info) -> Any:
        return {} if value is None else value

    @field_validator("include_metadata_keys", mode="before")
    @classmethod
    def _list(cls, value: Any) -> Any:
        return [] if value is None else value

    @model_validator(mode="after")
    def _validate(self) -> "Config":
        # upstream's Config.Validate, in its order and words
        if self.timeout < 0:
            raise ValueError("timeout value must be greater than or equal to 0")
        rcl, rtc = self.resource_constant_labels, self.resource_to_telemetry_conversion
        if rcl.enabled or rcl.exclude_service_attributes:
            raise ValueError(
                "enabled and exclude_service_attributes are not supported under resource_constant_labels; "
                "use included and excluded instead"
            )
        if featuregates.REGISTRY.is_enabled(GATE_NO_RESOURCE_TO_TELEMETRY):
            if not rtc.is_empty():
                raise ValueError(
                    "resource_to_telemetry_conversion is disabled by the "
                    f"{GATE_NO_RESOURCE_TO_TELEMETRY} feature gate; use resource_constant_labels instead"
                )
        elif not rtc.is_empty() and not rcl.is_empty():
            raise ValueError(
                "cannot configure both resource_to_telemetry_conversion and resource_constant_labels; "
                "resource_to_telemetry_conversion is deprecated"
            )
        if self.max_batch_request_parallelism is not None and self.max_batch_request_parallelism < 1:
            raise ValueError("max_batch_request_parallelism can't be set to below 1")
        q = self.remote_write_queue
        if q.queue_size < 0:
            raise ValueError("remote write queue size can't be negative")
        if q.enabled and q.queue_size == 0:
            raise ValueError("a 0 size queue will drop all the data")
        if q.num_consumers < 0:
            raise ValueError("remote write consumer number can't be negative")
        if self.max_batch_size_bytes < 0:
            raise ValueError("max_batch_size_bytes must be greater than 0")
        if self.max_batch_size_bytes == 0:
            self.max_batch_size_bytes = 3000000
        if self.client.compression and self.client.compression != "snappy":
            raise ValueError("compression type must be snappy")
        if self.protobuf_message not in (V1, V2):
            raise ValueError(
                f"unknown type for remote write protobuf message {self.protobuf_message}, supported: {V1}, {V2}"
            )
        if self.protobuf_message == V2 and not featuregates.REGISTRY.is_enabled(GATE_RW2):
            raise ValueError(f"remote write v2 is only supported with the feature gate {GATE_RW2}")
        if self.translation_strategy:
            if self.translation_strategy not in STRATEGIES:
                raise ValueError(f"invalid translation_strategy: {self.translation_strategy}")
            if self.protobuf_message == V1 and STRATEGIES[self.translation_strategy][1]:
                raise ValueError(
                    f"translation strategy {self.translation_strategy} requires Prometheus Remote Write 2.0 (UTF-8 support)"
                )
        for key in self.include_metadata_keys:
            if key.lower() in RESERVED_HEADERS:
                raise ValueError(f'include_metadata_keys entry "{key}" collides with a reserved remote write header')
        if self.protobuf_message == V2:
            raise ValueError("otelflow does not send Remote-Write 2.0 yet; use protobuf_message: prometheus.WriteRequest")
        return self

    # -- what the exporter derives when it is built (upstream's newPRWExporter errors) -------------

    def naming(self) -> tuple[bool, bool]:
        """(add suffixes, UTF-8 allowed): the translation strategy wins over ``add_metric_suffixes``."""
        if self.translation_strategy:
            return STRATEGIES[self.translation_strategy]
        return self.add_metric_suffixes, False

    def sanitized_external_labels(self) -> dict[str, str]:
        out: dict[str, str] = {}
        utf8 = self.naming()[1]
        for key, value in self.external_labels.items():
            if key == "" or value == "":
                raise ValueError("prometheus remote write: external labels configuration contains an empty key or value")
            out[names.label_name(key, utf8=utf8)] = value
        return out

    def endpoint_url(self) -> str:
        """Go's url.ParseRequestURI: an absolute URL or an absolute path, nothing else."""
        url = self.client.endpoint
        if not url or any(c in url for c in " \t\n\x7f") or url.startswith("//"):
            raise ValueError("invalid endpoint")
        if url.startswith("/"):
            return url
        scheme, sep, _ = url.partition(":")
        if not sep or not scheme or not (scheme[0].isalpha() and all(c.isalnum() or c in "+-." for c in scheme)):
            raise ValueError("invalid endpoint")
        try:
            urlsplit(url)
        except ValueError:
            raise ValueError("invalid endpoint") from None
        return url

    def resource_labels(self) -> Labels | None:
        if not self.resource_constant_labels.is_empty():
            return self.resource_constant_labels
        if not featuregates.REGISTRY.is_enabled(GATE_NO_RESOURCE_TO_TELEMETRY) and not self.resource_to_telemetry_conversion.is_empty():
            return self.resource_to_telemetry_conversion
        return None

    def concurrency(self) -> int:
        """How many requests of one push are sent at once (upstream's concurrency)."""
        n = 5 if featuregates.REGISTRY.is_enabled(GATE_MULTIPLE_WORKERS) else self.remote_write_queue.num_consumers
        if self.max_batch_request_parallelism is not None:
            n = self.max_batch_request_parallelism
        return max(1, n)
