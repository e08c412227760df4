"""The ``azure`` detector: VM attributes from the Azure instance metadata service's compute document
(and ``tags`` regexes over its tag list). Off Azure the request fails or times out; the detector
logs at debug and returns nothing, as upstream does unless ``fail_on_missing_metadata`` is set."""

from __future__ import annotations

import json
import logging

import aiohttp

from otelflow.config.model import Model
from otelflow.processors.resourcedetection.base import (
    SCHEMA_URL, Builder, DetectError, any_match, compile_regexes, enabled_set, field, http_get, metadata_host, text, toggles,
)

DEFAULTS = {**{n: True for n in (
    "azure.resourcegroup.name", "azure.vm.name", "azure.vm.scaleset.name", "azure.vm.size", "cloud.account.id",
    "cloud.platform", "cloud.provider", "cloud.region", "host.id", "host.name")}, "cloud.availability_zone": False}
TAG_PREFIX = "azure.tag."


class Config(Model):
    tags: list[str] = []
    resource_attributes: toggles(DEFAULTS) = {}


async def compute_metadata(session: aiohttp.ClientSession) -> dict:
    url = f"http://{metadata_host()}/metadata/instance/compute?api-version=2020-09-01&format=json"
    try:
        status, body = await http_get(session, url, {"Metadata": "true"})
    except DetectError as exc:
        raise DetectError(f"failed to query Azure IMDS: {exc}") from None
    if status != 200:
        raise DetectError(f"Azure IMDS replied with status code: {status}")
    try:
        doc = json.loads(body)
    except ValueError as exc:
        raise DetectError(f"failed to decode Azure IMDS reply: {exc}") from None
    return doc if isinstance(doc, dict) else {}


class AzureDetector:
    def __init__(self, config: Config, logger: logging.Logger, fail_on_missing: bool = False, **_):
        self.enabled = enabled_set(DEFAULTS, config.resource_attributes)
        self.tag_regexes = compile_regexes(config.tags)
        self.logger = logger
        self.fail_on_missing = fail_on_missing

    async def detect(self) -> tuple[dict, str]:
        async with aiohttp.ClientSession() as session:
            try:
                c = await compute_metadata(session)
            except DetectError as exc:
                self.logger.debug("Azure detector metadata retrieval failed: %s", exc)
                if self.fail_on_missing:
                    raise DetectError(f"azure metadata unavailable: {exc}") from None
                return {}, ""
        b = Builder(self.enabled)
        b.set("cloud.provider", "azure")
        b.set("cloud.platform", "azure.vm")
        name, computer = text(c, "name"), text(field(c, "osProfile", {}), "computerName")
        if computer or name:
            b.set("host.name", computer or name)
        b.set("cloud.region", text(c, "location"))
        b.set("host.id", text(c, "vmID"))
        b.set("cloud.account.id", text(c, "subscriptionID"))
        if text(c, "zone"):
            b.set("cloud.availability_zone", text(c, "zone"))
        b.set("azure.vm.name", name)
        b.set("azure.vm.size", text(c, "vmSize"))
        if text(c, "vmScaleSetName"):
            b.set("azure.vm.scaleset.name", text(c, "vmScaleSetName"))
        b.set("azure.resourcegroup.name", text(c, "resourceGroupName"))
        attrs = b.attrs
        if self.tag_regexes:
            tags = field(c, "tagsList", [])
            for tag in tags if isinstance(tags, list) else []:
                if any_match(self.tag_regexes, text(tag, "name")):
                    attrs[TAG_PREFIX + text(tag, "name")] = text(tag, "value")
        return attrs, SCHEMA_URL
