"""The ``eks`` detector: on an EKS cluster, cloud and host attributes from IMDS (or, without IMDS,
from this node's providerID in the Kubernetes API). As upstream, it needs the in-cluster Kubernetes
config to be created at all: outside a cluster the processor cannot be built.

Whether the cluster is EKS is decided as upstream does: IRSA or Pod Identity token paths, then the
API server's OIDC issuer, then its version string. ``k8s.cluster.name`` and the API path's account,
image, type and host name come from the EC2 API upstream; otelflow does not sign AWS API calls, so
those stay unset (logged at debug)."""

from __future__ import annotations

import json
import logging
import os
import ssl

import aiohttp

from otelflow.config.model import Model
from otelflow.processors.resourcedetection.base import (
    SCHEMA_URL, Builder, DetectError, enabled_set, field, http_get, text, toggles,
)
from otelflow.processors.resourcedetection.imds import IMDS

DEFAULTS = {"cloud.account.id": False, "cloud.availability_zone": False, "cloud.platform": True,
            "cloud.provider": True, "cloud.region": False, "host.id": False, "host.image.id": False,
            "host.name": False, "host.type": False, "k8s.cluster.name": False}
SA_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"


class Config(Model):
    resource_attributes: toggles(DEFAULTS) = {}
    node_from_env_var: str = ""


class InCluster:
    """client-go's rest.InClusterConfig: the API server from the environment, the service account's
    token and CA from their files."""

    def __init__(self) -> None:
        host, port = os.environ.get("KUBERNETES_SERVICE_HOST", ""), os.environ.get("KUBERNETES_SERVICE_PORT", "")
        if not host or not port:
            raise ValueError("failed to initialize provider. Could not load cluster config: unable to load in-cluster "
                             "configuration, KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT must be defined")
        try:
            with open(f"{SA_DIR}/token", encoding="utf-8") as f:
                self.token = f.read().strip()
        except OSError as exc:
            raise ValueError(f"failed to initialize provider. Could not load cluster config: {exc}") from None
        self.base = f"https://{'[' + host + ']' if ':' in host else host}:{port}"
        self.ca = f"{SA_DIR}/ca.crt"

    def ssl_context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context()
        if os.path.exists(self.ca):
            ctx.load_verify_locations(self.ca)
        return ctx

    async def get_json(self, session: aiohttp.ClientSession, path: str) -> dict:
        status, body = await http_get(session, self.base + path, {"Authorization": f"Bearer {self.token}"})
        if status != 200:
            raise DetectError(f"GET {path}: status {status}")
        try:
            doc = json.loads(body)
        except ValueError as exc:
            raise DetectError(f"GET {path}: {exc}") from None
        return doc if isinstance(doc, dict) else {}


class EKSDetector:
    def __init__(self, config: Config, logger: logging.Logger, fail_on_missing: bool = False, **_):
        self.config = config
        self.enabled = enabled_set(DEFAULTS, config.resource_attributes)
        self.cluster = InCluster()
        self.node = os.environ.get(config.node_from_env_var, "") if config.node_from_env_var else ""
        self.logger = logger
        self.fail_on_missing = fail_on_missing

    async def _is_eks(self, session: aiohttp.ClientSession) -> bool:
        if not os.environ.get("KUBERNETES_SERVICE_HOST"):
            return False
        if "eks.amazonaws.com" in os.environ.get("AWS_WEB_IDENTITY_TOKEN_FILE", ""):
            return True
        if "eks-pod-identity" in os.environ.get("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", ""):
            return True
        try:
            issuer = text(await self.cluster.get_json(session, "/.well-known/openid-configuration"), "issuer")
            if "oidc.eks." in issuer:
                return True
        except DetectError:
            pass
        try:
            version = text(await self.cluster.get_json(session, "/version"), "gitVersion")
        except DetectError as exc:
            raise DetectError(f"isEks() error retrieving cluster version: failed to retrieve cluster version: {exc}") from None
        return "-eks-" in version

    async def detect(self) -> tuple[dict, str]:
        connector = aiohttp.TCPConnector(ssl=self.cluster.ssl_context())
        async with aiohttp.ClientSession(connector=connector) as session:
            try:
                eks = await self._is_eks(session)
            except DetectError as exc:
                self.logger.debug("Unable to identify EKS environment: %s", exc)
                if self.fail_on_missing:
                    raise DetectError(f"eks metadata unavailable: {exc}") from None
                return {}, ""
            if not eks:
                if self.fail_on_missing:
                    raise DetectError("eks metadata unavailable: not running on EKS")
                return {}, ""
            b = Builder(self.enabled)
            b.set("cloud.provider", "aws")
            b.set("cloud.platform", "aws_eks")
            imds = IMDS(session, max_attempts=1)
            try:
                await imds.metadata("instance-id")
            except DetectError as exc:
                self.logger.debug("EC2 Metadata service is not accessible: %s", exc)
                return await self._from_api(session, b)
            return await self._from_imds(imds, b)

    def _missing(self, b: Builder, what: str, exc: Exception) -> tuple[dict, str]:
        if self.fail_on_missing:
            raise DetectError(str(exc))
        self.logger.debug("%s unavailable: %s", what, exc)
        return b.attrs, SCHEMA_URL

    async def _from_imds(self, imds: IMDS, b: Builder) -> tuple[dict, str]:
        try:
            doc = await imds.identity()
        except DetectError as exc:
            return self._missing(b, "EKS IMDS metadata", exc)
        b.set("host.id", text(doc, "instanceId"))
        b.set("cloud.availability_zone", text(doc, "availabilityZone"))
        b.set("cloud.region", text(doc, "region"))
        b.set("cloud.account.id", text(doc, "accountId"))
        b.set("host.image.id", text(doc, "imageId"))
        b.set("host.type", text(doc, "instanceType"))
        try:
            b.set("host.name", await imds.metadata("hostname"))
        except DetectError as exc:
            return self._missing(b, "EKS IMDS hostname", exc)
        if b.on("k8s.cluster.name"):
            return self._missing(b, "EKS instance metadata", DetectError("the EC2 API is not supported by otelflow"))
        return b.attrs, SCHEMA_URL

    async def _from_api(self, session: aiohttp.ClientSession, b: Builder) -> tuple[dict, str]:
        if not self.node:
            return self._missing(b, "EKS k8s instance metadata",
                                 DetectError("can't get K8s Instance Metadata; node name is empty"))
        try:
            node = await self.cluster.get_json(session, f"/api/v1/nodes/{self.node}")
        except DetectError as exc:
            return self._missing(b, "EKS k8s instance metadata", DetectError(
                f"can't get K8s Instance Metadata; failed to retrieve k8s node {exc}"))
        provider_id = text(field(node, "spec", {}), "providerID")
        parts = provider_id.split("/")
        if len(parts) < 5 or parts[0] != "aws:" or not parts[3] or not parts[4]:
            return self._missing(b, "EKS k8s instance metadata", DetectError(
                f"failed to retrieve region or instanceId from mockProviderID: {provider_id}"))
        b.set("host.id", parts[4])
        b.set("cloud.availability_zone", parts[3])
        b.set("cloud.region", parts[3][:-1])
        return self._missing(b, "EKS instance metadata", DetectError("the EC2 API is not supported by otelflow"))
