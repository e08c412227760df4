"""The ``resource_detection`` processor (alias ``resourcedetection``): detects resource attributes
of the host or cloud once at start (and every ``refresh_interval`` if set), then merges them into the
resource of every span, metric and log record, as upstream's resourcedetectionprocessor (v0.161.0).

Detection runs while the processor starts, before receivers accept data, and is bounded by
``timeout`` (default 5 s) or ``retry.max_elapsed_time``; a detector that keeps failing makes the
start fail, as upstream's does. Detectors live one per module (env, system, docker, ec2, ecs, eks,
lambda, gcp, azure); see docs/processors/resourcedetection.md.
"""

from __future__ import annotations

import asyncio
from typing import Any, Optional

from google.protobuf.message import Message
from opentelemetry.proto.common.v1.common_pb2 import KeyValue
from pydantic import Field, model_validator

from otelflow.config.model import Duration
from otelflow.config.settings import HTTPClientSettings, RetrySettings
from otelflow.core.component import Component, Factory, Host, Kind, Settings, Signal, STABLE_SIGNALS
from otelflow.processors.attraction import value_from_raw
from otelflow.processors.resourcedetection import azure as _azure
from otelflow.processors.resourcedetection import docker as _docker
from otelflow.processors.resourcedetection import ec2 as _ec2
from otelflow.processors.resourcedetection import ecs as _ecs
from otelflow.processors.resourcedetection import eks as _eks
from otelflow.processors.resourcedetection import gcp as _gcp
from otelflow.processors.resourcedetection import aks as _aks
from otelflow.processors.resourcedetection import heroku as _heroku
from otelflow.processors.resourcedetection import lambda_ as _lambda
from otelflow.processors.resourcedetection import system as _system
from otelflow.processors.resourcedetection.base import compile_regexes
from otelflow.processors.resourcedetection.detectors import (
    DEPRECATED_FAIL_FLAG, IMPLEMENTED, NOT_IMPLEMENTED, detector_class,
)
from otelflow.processors.resourcedetection.provider import Provider, merge_schema_url

_Section = Optional[dict[str, Any]]


class Retry(RetrySettings):
    initial_interval: Duration = 1.0
    multiplier: float = Field(default=2.0, gt=0)
    max_interval: Duration = 30.0
    max_elapsed_time: Duration = 0.0


class Config(HTTPClientSettings):
    detectors: list[str] = ["env"]
    override: bool = True
    timeout: Duration = 5.0
    compression: str = ""
    refresh_interval: Duration = 0.0
    fail_on_missing_metadata: bool = False
    retry: Retry = Retry()
    # the detectors otelflow implements
    system: _system.Config = _system.Config()
    docker: _docker.Config = _docker.Config()
    ec2: _ec2.Config = _ec2.Config()
    ecs: _ecs.Config = _ecs.Config()
    eks: _eks.Config = _eks.Config()
    lambda_: _lambda.Config = Field(default=_lambda.Config(), alias="lambda")
    gcp: _gcp.Config = _gcp.Config()
    azure: _azure.Config = _azure.Config()
    heroku: _heroku.Config = _heroku.Config()
    aks: _aks.Config = _aks.Config()
    # upstream's other detectors' sections: accepted, not interpreted
    alibaba_ecs: _Section = None
    elasticbeanstalk: _Section = None
    azureappservice: _Section = None
    azurecontainerapps: _Section = None
    consul: _Section = None
    digitalocean: _Section = None
    hetzner: _Section = None
    ibmcloud_classic: _Section = None
    ibmcloud_vpc: _Section = None
    openshift: _Section = None
    nova: _Section = None
    oraclecloud: _Section = None
    k8s_api: _Section = None
    k8snode: _Section = None
    kubeadm: _Section = None
    akamai: _Section = None
    scaleway: _Section = None
    tencent_cvm: _Section = None
    upcloud: _Section = None
    vultr: _Section = None

    @model_validator(mode="after")
    def _check(self) -> "Config":
        if self.retry.enabled and self.timeout == 0 and self.retry.max_elapsed_time == 0:
            raise ValueError("retry.enabled requires either timeout > 0 or retry.max_elapsed_time > 0 to bound detection")
        for name in self.detectors:
            key = name.strip()
            if key in NOT_IMPLEMENTED:
                raise ValueError(f'detector "{key}" is not supported by otelflow '
                                 f"(supported: {', '.join(sorted(IMPLEMENTED))})")
            if key not in IMPLEMENTED:
                raise ValueError(f"invalid detector key: {key}")
        for regexes in (self.ec2.tags, self.gcp.labels, self.azure.tags):
            compile_regexes(regexes)
        return self

    def section(self, name: str) -> Any:
        return self.lambda_ if name == "lambda" else getattr(self, name, None)


class Shared:
    """One detection per processor ID, whichever signal's instance starts first."""

    def __init__(self, settings: Settings, config: Config):
        logger = settings.logger
        flagged = [n for n in DEPRECATED_FAIL_FLAG if _fail_flag(config, n)]
        if flagged:
            logger.warning("per-detector fail_on_missing_metadata fields are deprecated; use the top-level "
                           "fail_on_missing_metadata instead: affected_detectors=%s", flagged)
        detectors = []
        for raw in config.detectors:
            name = raw.strip()
            try:
                det = detector_class(name)(config=config.section(name), logger=logger,
                                           fail_on_missing=config.fail_on_missing_metadata)
            except ValueError as exc:
                raise ValueError(f'failed creating detector type "{name}": {exc}') from None
            detectors.append((name, det))
        self.provider = Provider(detectors, config.retry, config.timeout, logger, settings.telemetry)
        self.refresh_interval = config.refresh_interval
        self.logger = logger
        self.started: asyncio.Task | None = None
        self.refresher: asyncio.Task | None = None
        self.users = 0
        self.values: list[tuple[str, Any]] = []

    async def start(self) -> None:
        self.users += 1
        if self.started is None:
            self.started = asyncio.ensure_future(self.provider.refresh())
        await asyncio.shield(self.started)
        self._snapshot()
        if self.refresh_interval > 0 and self.refresher is None:
            self.refresher = asyncio.create_task(self._refresh_loop())

    def _snapshot(self) -> None:
        self.values = [(k, value_from_raw(v)) for k, v in self.provider.attrs.items()]

    async def _refresh_loop(self) -> None:
        while True:
            await asyncio.sleep(self.refresh_interval)
            try:
                await self.provider.refresh()
            except Exception as exc:  # keep serving the last snapshot
                self.logger.warning("resource refresh failed: %s", exc)
            self._snapshot()

    async def stop(self) -> None:
        self.users -= 1
        if self.users <= 0 and self.refresher is not None:
            self.refresher.cancel()
            self.refresher = None


def _fail_flag(config: Config, name: str) -> bool:
    section = getattr(config, name)
    if isinstance(section, dict):
        return bool(section.get("fail_on_missing_metadata"))
    return bool(getattr(section, "fail_on_missing_metadata", False))


_RESOURCE_LISTS = {Signal.TRACES: "resource_spans", Signal.METRICS: "resource_metrics", Signal.LOGS: "resource_logs"}


def merge_resource(attributes, values: list[tuple[str, Any]], override: bool) -> None:
    """upstream's MergeResource over a repeated KeyValue: existing keys keep their place."""
    if not values:
        return
    index: dict[str, int] = {}
    for i, kv in enumerate(attributes):
        index.setdefault(kv.key, i)
    for key, value in values:
        at = index.get(key)
        if at is None:
            index[key] = len(attributes)
            attributes.append(KeyValue(key=key, value=value))
        elif override:
            attributes[at].value.CopyFrom(value)


class ResourceDetectionProcessor(Component):
    mutates_data = True

    def __init__(self, settings: Settings, config: Config, next):
        self.next = next
        self.override = config.override
        self.field = _RESOURCE_LISTS[settings.signal]
        if "resourcedetection" not in settings.shared:
            settings.shared["resourcedetection"] = Shared(settings, config)
        self.shared: Shared = settings.shared["resourcedetection"]

    async def start(self, host: Host) -> None:
        await self.shared.start()

    async def shutdown(self) -> None:
        await self.shared.stop()

    async def consume(self, data: Message) -> None:
        values, schema_url = self.shared.values, self.shared.provider.schema_url
        for item in getattr(data, self.field):
            item.schema_url = merge_schema_url(item.schema_url, schema_url)
            merge_resource(item.resource.attributes, values, self.override)
        await self.next.consume(data)


def create(settings: Settings, config: Config, next) -> ResourceDetectionProcessor:
    return ResourceDetectionProcessor(settings, config, next)


factory = Factory(type="resource_detection", kind=Kind.PROCESSOR, config=Config, create=create,
                  signals=STABLE_SIGNALS, stability="beta")
