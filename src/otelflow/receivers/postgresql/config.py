"""Config of the ``postgresql`` receiver: upstream's keys, defaults and validation messages.

Upstream's TLS default is ``insecure: false`` with ``insecure_skip_verify: true`` (``sslmode=require``),
so a server without SSL needs ``tls: {insecure: true}``, as with otelcol. The log events are built
in ``events.py`` (query samples) and ``topquery.py`` (top queries, from ``pg_stat_statements``).
"""

from __future__ import annotations


from pydantic import Field, create_model, model_validator

from otelflow.config.model import Duration, Model
from otelflow.config.settings import TLSClientSettings
from otelflow.receivers.postgresql.metadata import METADATA
from otelflow.receivers.scraperhelper import ControllerConfig, metrics_fields


class ConnectionPool(Model):
    max_idle_time: Duration | None = None
    max_lifetime: Duration | None = None
    max_idle: int | None = None
    max_open: int | None = None


class QuerySampleCollection(Model):
    max_rows_per_query: int = 1000


class TopQueryCollection(Model):
    max_rows_per_query: int = 1000
    top_n_query: int = 200
    max_explain_each_interval: int = 1000
    query_plan_cache_size: int = 1000
    query_plan_cache_ttl: Duration = 3600.0
    collection_interval: Duration = 60.0


class EventToggle(Model):
    enabled: bool = False


class Events(Model):
    db_server_query_sample: EventToggle = Field(default_factory=EventToggle, alias="db.server.query_sample")
    db_server_top_query: EventToggle = Field(default_factory=EventToggle, alias="db.server.top_query")


class Config(create_model("PostgresqlBase", __base__=ControllerConfig, **metrics_fields("postgresql", METADATA))):
    collection_interval: Duration = 10.0
    endpoint: str = "localhost:5432"
    transport: str = "tcp"
    username: str = ""
    password: str = ""
    databases: list[str] = Field(default_factory=list)
    exclude_databases: list[str] = Field(default_factory=list)
    tls: TLSClientSettings = Field(default_factory=lambda: TLSClientSettings(insecure_skip_verify=True))
    connection_pool: ConnectionPool = Field(default_factory=ConnectionPool)
    events: Events = Field(default_factory=Events)
    query_sample_collection: QuerySampleCollection = Field(default_factory=QuerySampleCollection)
    top_query_collection: TopQueryCollection = Field(default_factory=TopQueryCollection)

    @model_validator(mode="after")
    def _postgresql(self) -> "Config":
        problems = []
        if not self.username:
            problems.append("invalid config: missing username")
        if not self.password:
            problems.append("invalid config: missing password")
        if self.tls.server_name_override:
            problems.append("invalid config: field 'ServerName' not supported")
        for key, name in (("max_version", "MaxVersion"), ("min_version", "MinVersion")):
            if key in self.tls.model_fields_set and getattr(self.tls, key):
                problems.append(f"invalid config: field '{name}' not supported")
        if self.transport in ("tcp", "unix"):
            if not _has_port(self.endpoint):
                problems.append("invalid config: 'endpoint' must be in the form <host>:<port> no matter what "
                                "'transport' is configured")
        else:
            problems.append("invalid config: 'transport' must be 'tcp' or 'unix'")
        if problems:
            raise ValueError("; ".join(problems))
        return self


def _has_port(endpoint: str) -> bool:
    """Go's net.SplitHostPort succeeds: one colon (or a bracketed IPv6 host) before the port."""
    host, sep, _ = endpoint.rpartition(":")
    if not sep:
        return False
    if host.startswith("["):
        return host.endswith("]")
    return ":" not in host
