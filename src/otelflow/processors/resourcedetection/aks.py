"""The ``aks`` detector: on Kubernetes (KUBERNETES_SERVICE_HOST set) and Azure (the IMDS compute
document answers), the cloud attributes of an AKS node and, when enabled, the cluster name taken
from the node resource group ``MC_<group>_<cluster>_<region>``; elsewhere nothing, as upstream."""

from __future__ import annotations

import logging
import os

import aiohttp

from otelflow.config.model import Model
from otelflow.processors.resourcedetection.azure import compute_metadata
from otelflow.processors.resourcedetection.base import SCHEMA_URL, Builder, DetectError, enabled_set, toggles

DEFAULTS = {"cloud.platform": True, "cloud.provider": True, "k8s.cluster.name": False}


class Config(Model):
    resource_attributes: toggles(DEFAULTS) = {}


def cluster_name(resource_group: str) -> str:
    """The cluster's name inside AKS's node resource group name, else the group name itself."""
    parts = resource_group.split("_")
    if len(parts) == 4 and parts[0].lower() == "mc":
        return parts[2]
    return resource_group


class AKSDetector:
    def __init__(self, config: Config, logger: logging.Logger, fail_on_missing: bool = False, **_):
        self.enabled = enabled_set(DEFAULTS, config.resource_attributes)
        self.logger = logger
        self.fail_on_missing = fail_on_missing

    async def detect(self) -> tuple[dict, str]:
        if not os.environ.get("KUBERNETES_SERVICE_HOST"):
            return {}, ""
        async with aiohttp.ClientSession() as session:
            try:
                doc = await compute_metadata(session)
            except DetectError as exc:
                if self.fail_on_missing:
                    raise DetectError(f"aks metadata unavailable: {exc}") from None
                return {}, ""
        b = Builder(self.enabled)
        b.set("cloud.provider", "azure")
        b.set("cloud.platform", "azure.aks")
        group = doc.get("resourceGroupName")
        b.set("k8s.cluster.name", cluster_name(group if isinstance(group, str) else ""))
        return b.attrs, SCHEMA_URL
