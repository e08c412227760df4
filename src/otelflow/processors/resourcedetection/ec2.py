"""The ``ec2`` detector: cloud and host attributes from the instance metadata service. Off EC2 the
first IMDS call fails within about a second; the detector then logs at debug and returns nothing
(an error only with ``fail_on_missing_metadata``), as upstream does.

Tags (``tags`` regexes) come from IMDS when ``tags_from_imds`` is set. Upstream otherwise calls the
EC2 DescribeTags API with AWS credentials; otelflow does not sign AWS API calls, so it logs that
tags could not be fetched (as upstream logs any failure there) and keeps the other attributes."""

from __future__ import annotations

import logging

import aiohttp

from otelflow.config.model import Duration, Model
from otelflow.processors.resourcedetection.base import (
    SCHEMA_URL, Builder, DetectError, any_match, compile_regexes, enabled_set, toggles,
)
from otelflow.processors.resourcedetection.imds import IMDS

DEFAULTS = {name: True for name in (
    "cloud.account.id", "cloud.availability_zone", "cloud.platform", "cloud.provider", "cloud.region",
    "host.id", "host.image.id", "host.name", "host.type")}
TAG_PREFIX = "ec2.tag."


class Config(Model):
    tags: list[str] = []
    resource_attributes: toggles(DEFAULTS) = {}
    max_attempts: int = 3
    max_backoff: Duration = 20.0
    fail_on_missing_metadata: bool = False
    tags_from_imds: bool = False


class EC2Detector:
    def __init__(self, config: Config, logger: logging.Logger, fail_on_missing: bool = False, **_):
        self.config = config
        self.enabled = enabled_set(DEFAULTS, config.resource_attributes)
        self.tag_regexes = compile_regexes(config.tags)
        self.logger = logger
        self.fail_on_missing = fail_on_missing or config.fail_on_missing_metadata

    async def detect(self) -> tuple[dict, str]:
        async with aiohttp.ClientSession() as session:
            imds = IMDS(session, self.config.max_attempts, self.config.max_backoff)
            try:
                await imds.metadata("instance-id")
            except DetectError as exc:
                self.logger.debug("EC2 metadata unavailable: %s", exc)
                if self.fail_on_missing:
                    raise
                return {}, ""
            doc = await imds.identity()
            try:
                hostname = await imds.metadata("hostname")
            except DetectError as exc:
                raise DetectError(f"failed getting hostname: {exc}") from None
            b = Builder(self.enabled)
            b.set("cloud.provider", "aws")
            b.set("cloud.platform", "aws_ec2")
            b.set("cloud.region", doc.get("region", ""))
            b.set("cloud.account.id", doc.get("accountId", ""))
            b.set("cloud.availability_zone", doc.get("availabilityZone", ""))
            b.set("host.id", doc.get("instanceId", ""))
            b.set("host.image.id", doc.get("imageId", ""))
            b.set("host.type", doc.get("instanceType", ""))
            b.set("host.name", hostname)
            attrs = b.attrs
            if self.tag_regexes:
                if self.config.tags_from_imds:
                    attrs.update(await self._imds_tags(imds))
                else:
                    self.logger.warning("failed fetching ec2 instance tags: the EC2 DescribeTags API is not "
                                        "supported by otelflow; set tags_from_imds: true")
            return attrs, SCHEMA_URL

    async def _imds_tags(self, imds: IMDS) -> dict[str, str]:
        try:
            keys = [k.strip() for k in (await imds.metadata("tags/instance")).split("\n") if k.strip()]
        except DetectError as exc:
            self.logger.warning("failed to fetch tags from IMDS: failed to list tag keys from IMDS: %s", exc)
            return {}
        out, errors = {}, []
        for key in keys:
            if not any_match(self.tag_regexes, key):
                continue
            try:
                out[TAG_PREFIX + key] = await imds.metadata("tags/instance/" + key)
            except DetectError as exc:
                errors.append(f'failed to get tag value for key "{key}": {exc}')
        if errors:
            self.logger.warning("failed to fetch tags from IMDS: %s", "; ".join(errors))
        return out
