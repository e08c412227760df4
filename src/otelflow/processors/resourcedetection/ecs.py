"""The ``ecs`` detector: task and container attributes from the ECS task metadata endpoint named by
ECS_CONTAINER_METADATA_URI_V4 (else ECS_CONTAINER_METADATA_URI). Without either variable it returns
nothing, as upstream does."""

from __future__ import annotations

import json
import logging
import os
from urllib.parse import urlsplit

import aiohttp

from otelflow.config.model import Model
from otelflow.processors.resourcedetection.base import (
    SCHEMA_URL, Builder, DetectError, enabled_set, field, http_get, text, toggles,
)

DEFAULTS = {n: True for n in (
    "aws.ecs.cluster.arn", "aws.ecs.launchtype", "aws.ecs.task.arn", "aws.ecs.task.family", "aws.ecs.task.id",
    "aws.ecs.task.revision", "aws.log.group.arns", "aws.log.group.names", "aws.log.stream.arns",
    "aws.log.stream.names", "cloud.account.id", "cloud.availability_zone", "cloud.platform", "cloud.provider",
    "cloud.region")}


class Config(Model):
    resource_attributes: toggles(DEFAULTS) = {}


def endpoint_from_env() -> str | None:
    for var in ("ECS_CONTAINER_METADATA_URI_V4", "ECS_CONTAINER_METADATA_URI"):
        candidate = os.environ.get(var, "").strip()
        if candidate and (candidate.startswith("/") or urlsplit(candidate).scheme):
            return candidate
    return None


def parse_task_arn(arn: str) -> tuple[str, str, str]:
    parts = arn.split(":")
    if len(parts) >= 6:
        return parts[3], parts[4], parts[5].split("/")[-1]
    return "", "", ""


def _group_arn(region: str, account: str, group: str) -> str:
    return f"arn:aws:logs:{region}:{account}:log-group:{group}"


class ECSDetector:
    def __init__(self, config: Config, logger: logging.Logger, fail_on_missing: bool = False, **_):
        self.enabled = enabled_set(DEFAULTS, config.resource_attributes)
        self.endpoint = endpoint_from_env()
        self.logger = logger
        self.fail_on_missing = fail_on_missing

    async def _fetch(self, session: aiohttp.ClientSession, path: str, what: str) -> dict:
        url = self.endpoint + path
        status, body = await http_get(session, url, {"Content-Type": "application/json"})
        if status != 200:
            raise DetectError(f'request GET {url} failed - "{status}"')
        try:
            doc = json.loads(body)
        except ValueError as exc:
            raise DetectError(f"encountered unexpected error reading response from ECS {what} Metadata Endpoint: {exc}") from None
        return doc if isinstance(doc, dict) else {}

    async def detect(self) -> tuple[dict, str]:
        if self.endpoint is None:
            if self.fail_on_missing:
                raise DetectError("ecs metadata unavailable: no task metadata endpoint detected")
            self.logger.debug("ECS task metadata endpoint not set: not on ECS")
            return {}, ""
        async with aiohttp.ClientSession() as session:
            try:
                task = await self._fetch(session, "/task", "Task")
            except DetectError as exc:
                raise DetectError(f"unable to fetch task metadata: {exc}") from None
            b = Builder(self.enabled)
            b.set("cloud.provider", "aws")
            b.set("cloud.platform", "aws_ecs")
            arn = text(task, "TaskARN")
            b.set("aws.ecs.task.arn", arn)
            b.set("aws.ecs.task.family", text(task, "Family"))
            b.set("aws.ecs.task.revision", text(task, "Revision"))
            region, account, task_id = parse_task_arn(arn)
            if account:
                b.set("cloud.account.id", account)
            if region:
                b.set("cloud.region", region)
            if task_id:
                b.set("aws.ecs.task.id", task_id)
            cluster = text(task, "Cluster")
            b.set("aws.ecs.cluster.arn", cluster if ":" in cluster else f"arn:aws:ecs:{region}:{account}:cluster/{cluster}")
            if text(task, "AvailabilityZone"):
                b.set("cloud.availability_zone", text(task, "AvailabilityZone"))
            launch = text(task, "LaunchType").lower()
            if launch in ("ec2", "fargate"):
                b.set("aws.ecs.launchtype", launch)
            try:
                me = await self._fetch(session, "", "Container")
            except DetectError as exc:
                if self.fail_on_missing:
                    raise DetectError(f"ecs container metadata unavailable: {exc}") from None
                return b.attrs, SCHEMA_URL
            _log_attributes(b, field(task, "Containers", []), me, account)
            return b.attrs, SCHEMA_URL


def _log_attributes(b: Builder, containers, me: dict, account: str) -> None:
    groups, group_arns, streams, stream_arns = [], [], [], []
    for c in containers if isinstance(containers, list) else []:
        opts = field(c, "LogOptions", {})
        group, region, stream = text(opts, "awslogs-group"), text(opts, "awslogs-region"), text(opts, "awslogs-stream")
        if (text(c, "Type") == "NORMAL" and text(c, "KnownStatus") == "RUNNING" and text(c, "LogDriver") == "awslogs"
                and text(me, "DockerId") != text(c, "DockerId") and (group or region or stream)):
            groups.append(group)
            group_arns.append(_group_arn(region, account, group))
            streams.append(stream)
            stream_arns.append(f"{_group_arn(region, account, group)}:log-stream:{stream}")
    if groups:
        b.set("aws.log.group.names", groups)
        b.set("aws.log.group.arns", group_arns)
        b.set("aws.log.stream.names", streams)
        b.set("aws.log.stream.arns", stream_arns)
