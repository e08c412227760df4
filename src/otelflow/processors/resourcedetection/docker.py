"""The ``docker`` detector: host name and OS type from the Docker daemon's /info, and (when enabled)
the name and image of the container whose ID is this host's name. Without a reachable daemon it
logs at debug and returns nothing, as upstream does unless ``fail_on_missing_metadata`` is set."""

from __future__ import annotations

import json
import logging
import os
import socket

import aiohttp

from otelflow.config.model import Model
from otelflow.processors.resourcedetection.base import SCHEMA_URL, Builder, DetectError, enabled_set, toggles

DEFAULTS = {"container.image.name": False, "container.name": False, "host.name": True, "os.type": True}
DEFAULT_HOST = "unix:///var/run/docker.sock"


class Config(Model):
    resource_attributes: toggles(DEFAULTS) = {}


def _session_and_base() -> tuple[aiohttp.ClientSession, str]:
    host = os.environ.get("DOCKER_HOST", "").strip() or DEFAULT_HOST
    if host.startswith("unix://"):
        return aiohttp.ClientSession(connector=aiohttp.UnixConnector(path=host[len("unix://"):])), "http://docker"
    if host.startswith("tcp://"):
        return aiohttp.ClientSession(), "http://" + host[len("tcp://"):]
    return aiohttp.ClientSession(), host.rstrip("/")


class DockerDetector:
    def __init__(self, config: Config, logger: logging.Logger, fail_on_missing: bool = False, **_):
        self.enabled = enabled_set(DEFAULTS, config.resource_attributes)
        self.logger = logger
        self.fail_on_missing = fail_on_missing

    async def _get(self, session: aiohttp.ClientSession, url: str, what: str) -> dict:
        try:
            async with session.get(url) as resp:
                body = await resp.read()
                if resp.status != 200:
                    raise DetectError(f"{what}: Error response from daemon: {body.decode(errors='replace').strip()}")
                return json.loads(body)
        except (aiohttp.ClientError, OSError, ValueError) as exc:
            raise DetectError(f"{what}: Cannot connect to the Docker daemon: {exc}") from None

    async def detect(self) -> tuple[dict, str]:
        b = Builder(self.enabled)
        session, base = _session_and_base()
        try:
            async with session:
                if b.on("os.type") or b.on("host.name"):
                    info = await self._get(session, f"{base}/info", "failed to fetch Docker information")
                    b.set("os.type", {"dragonfly": "dragonflybsd", "zos": "z_os"}.get(info.get("OSType", ""), info.get("OSType", "")))
                    b.set("host.name", info.get("Name", ""))
                if b.on("container.name") or b.on("container.image.name"):
                    inspect = await self._get(session, f"{base}/containers/{socket.gethostname()}/json",
                                              "failed to fetch container information")
                    b.set("container.name", inspect.get("Name", ""))
                    b.set("container.image.name", inspect.get("Image", ""))
        except DetectError as exc:
            if self.fail_on_missing:
                raise DetectError(f"docker metadata unavailable: {exc}") from None
            self.logger.debug("docker metadata unavailable: %s", exc)
            return {}, ""
        return b.attrs, SCHEMA_URL
