"""The ``system`` detector: host name from the first hostname source that answers, OS and host facts,
each attribute switched by ``resource_attributes`` with upstream's defaults (host.name and os.type on)."""

from __future__ import annotations

import asyncio
import logging

from pydantic import field_validator

from otelflow.config.model import Model
from otelflow.processors.resourcedetection import hostinfo
from otelflow.processors.resourcedetection.base import SCHEMA_URL, Builder, DetectError, enabled_set, toggles

DEFAULTS = {
    "host.arch": False, "host.cpu.cache.l2.size": False, "host.cpu.family": False, "host.cpu.model.id": False,
    "host.cpu.model.name": False, "host.cpu.stepping": False, "host.cpu.vendor.id": False, "host.id": False,
    "host.interface": False, "host.ip": False, "host.mac": False, "host.name": True, "os.build.id": False,
    "os.description": False, "os.name": False, "os.type": True, "os.version": False,
}
_CPU = ("host.cpu.cache.l2.size", "host.cpu.family", "host.cpu.model.id", "host.cpu.vendor.id",
        "host.cpu.model.name", "host.cpu.stepping")


def _os_hostname() -> str:
    try:
        return hostinfo.hostname()
    except OSError as exc:
        raise OSError(f"failed getting OS hostname: {exc}") from None


def _dns() -> str:
    try:
        return hostinfo.fqdn()
    except OSError as exc:
        raise OSError(f"getFQDN failed getting FQDN: {exc}") from None


def _cname() -> str:
    try:
        return hostinfo.lookup_cname()
    except OSError as exc:
        raise OSError(f"lookupCNAME failed to get CNAME: {exc}") from None


def _lookup() -> str:
    try:
        return hostinfo.reverse_lookup()
    except OSError as exc:
        raise OSError(f"reverseLookupHost failed to lookup host: {exc}") from None


HOSTNAME_SOURCES = {"os": _os_hostname, "dns": _dns, "cname": _cname, "lookup": _lookup}


class Config(Model):
    hostname_sources: list[str] = []
    resource_attributes: toggles(DEFAULTS) = {}

    @field_validator("hostname_sources")
    @classmethod
    def _sources(cls, v: list[str]) -> list[str]:
        for source in v:
            if source not in HOSTNAME_SOURCES:
                raise ValueError(f'hostname_sources contains invalid value: "{source}"')
        return v


class SystemDetector:
    def __init__(self, config: Config, logger: logging.Logger, **_):
        self.sources = config.hostname_sources or ["dns", "os"]
        self.enabled = enabled_set(DEFAULTS, config.resource_attributes)
        self.logger = logger

    async def detect(self) -> tuple[dict, str]:
        return await asyncio.to_thread(self._detect)

    def _detect(self) -> tuple[dict, str]:
        b = Builder(self.enabled)
        os_type, arch = hostinfo.os_type(), hostinfo.host_arch()
        try:
            _, os_version = hostinfo.platform_info()
        except OSError as exc:
            raise DetectError(f"failed getting OS version: OSVersion failed to get os version: {exc}") from None
        try:
            ips = hostinfo.host_ips() if b.on("host.ip") else []
            macs = hostinfo.host_macs() if b.on("host.mac") else []
            names = hostinfo.interface_names() if b.on("host.interface") else []
        except OSError as exc:
            raise DetectError(f"failed getting host network interfaces: {exc}") from None
        description = hostinfo.os_description()
        cpu = hostinfo.cpu_info() if any(b.on(n) for n in _CPU) else None
        for source in self.sources:
            try:
                host = HOSTNAME_SOURCES[source]()
            except OSError as exc:
                self.logger.debug("%s", exc)
                continue
            b.set("host.name", host)
            b.set("os.type", os_type)
            b.set("os.version", os_version)
            if b.on("host.id"):
                try:
                    b.set("host.id", hostinfo.host_id())
                except ValueError as exc:
                    self.logger.warning("failed to get host ID: %s", exc)
            b.set("host.arch", arch)
            b.set("host.ip", ips)
            b.set("host.mac", macs)
            b.set("host.interface", names)
            b.set("os.description", description)
            if b.on("os.name"):
                b.set("os.name", hostinfo.platform_info()[0])
            if b.on("os.build.id"):
                b.set("os.build.id", hostinfo.os_build_id())
            if cpu:
                _set_cpu(b, cpu)
            return b.attrs, SCHEMA_URL
        raise DetectError("all hostname sources failed to get hostname")


def _set_cpu(b: Builder, cpu: dict[str, str]) -> None:
    b.set("host.cpu.vendor.id", cpu.get("vendor_id", ""))
    b.set("host.cpu.family", cpu.get("cpu family", ""))
    if cpu.get("model"):
        b.set("host.cpu.model.id", cpu["model"])
    b.set("host.cpu.model.name", cpu.get("model name", ""))
    b.set("host.cpu.stepping", str(_int(cpu.get("stepping", "0"))))
    b.set("host.cpu.cache.l2.size", _int(cpu.get("cache size", "0").replace("KB", "").strip()))


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        return 0
