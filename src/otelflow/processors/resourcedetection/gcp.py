"""The ``gcp`` detector: which Google Cloud platform this is (Bare Metal Solution, GKE, Cloud
Functions, Cloud Run services and jobs, App Engine, GCE) from environment variables and the metadata
server, then that platform's attributes, as upstream (via GoogleCloudPlatform's detector) does.

Off Google Cloud it asks whether it is on GCE as the Go metadata client does: GCE_METADATA_HOST set
means yes; otherwise an HTTP probe of the link-local address and a DNS lookup of
metadata.google.internal race and the first answer wins (unless the DMI product name says Google).
Then it returns nothing, quietly. GCE instance labels (``labels``) need the Compute API with Google
credentials, which otelflow does not call; it logs that they could not be fetched."""

from __future__ import annotations

import asyncio
import logging
import os
import re
import socket

import aiohttp

from otelflow.config.model import Model
from otelflow.processors.resourcedetection.base import (
    SCHEMA_URL, Builder, DetectError, bounded, compile_regexes, enabled_set, link_local_overridden, metadata_host,
    remaining, toggles,
)

_ON = ("cloud.account.id", "cloud.availability_zone", "cloud.platform", "cloud.provider", "cloud.region",
       "faas.instance", "faas.name", "faas.version", "gcp.cloud_run.job.execution", "gcp.cloud_run.job.task_index",
       "gcp.gce.instance_group_manager.name", "gcp.gce.instance_group_manager.region",
       "gcp.gce.instance_group_manager.zone", "host.id", "host.name", "host.type", "k8s.cluster.name")
DEFAULTS = {**{n: True for n in _ON}, "gcp.gce.instance.hostname": False, "gcp.gce.instance.name": False}
_MIG = re.compile(r"^projects/[^/]+/(zones|regions)/([^/]+)/instanceGroupManagers/([^/]+)$")


class Config(Model):
    labels: list[str] = []
    resource_attributes: toggles(DEFAULTS) = {}


class NotDefined(DetectError):
    pass


class Metadata:
    """GETs under /computeMetadata/v1/ with the Metadata-Flavor header; 404 is NotDefined."""

    def __init__(self, session: aiohttp.ClientSession):
        self.session = session
        self.host = os.environ.get("GCE_METADATA_HOST", "").strip() or metadata_host()
        self.cache: dict[str, str | DetectError] = {}

    async def get(self, suffix: str) -> str:
        if suffix not in self.cache:
            self.cache[suffix] = await self._fetch(suffix)
        value = self.cache[suffix]
        if isinstance(value, DetectError):
            raise value
        return value

    async def _fetch(self, suffix: str) -> str | DetectError:
        url = f"http://{self.host}/computeMetadata/v1/{suffix}"
        timeout = bounded(aiohttp.ClientTimeout(sock_connect=2, sock_read=5))
        last: DetectError = DetectError(f'metadata: GET "{url}" failed')
        for attempt in range(5):  # the Go client retries 5xx and transient network errors
            if attempt:
                await asyncio.sleep(0.1 * 2 ** attempt)
            try:
                async with self.session.get(url, headers={"Metadata-Flavor": "Google"}, timeout=timeout) as resp:
                    body = (await resp.read()).decode(errors="replace")
                    if resp.status == 404:
                        return NotDefined(f'metadata: GCE metadata "{suffix}" not defined')
                    if resp.status == 200:
                        return body
                    last = DetectError(f'metadata: GCE metadata "{suffix}" returned status {resp.status}')
                    if resp.status < 500:
                        return last
            except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                return DetectError(f'Get "{url}": {exc or type(exc).__name__}')
        return last

    async def trimmed(self, suffix: str) -> str:
        return (await self.get(suffix)).strip()

    async def zone(self) -> str:
        z = await self.trimmed("instance/zone")
        return z[z.rfind("/") + 1:]


async def on_gce(session: aiohttp.ClientSession) -> bool:
    if os.environ.get("GCE_METADATA_HOST", "").strip():
        return True

    async def probe_http() -> bool:
        try:
            async with session.get(f"http://{metadata_host()}", timeout=bounded(aiohttp.ClientTimeout(sock_connect=2, sock_read=2))) as resp:
                return resp.headers.get("Metadata-Flavor") == "Google"
        except (aiohttp.ClientError, OSError, TimeoutError):
            return False

    async def probe_dns() -> bool:
        if link_local_overridden():  # tests: never ask a real resolver
            await asyncio.sleep(3600)
        try:
            infos = await asyncio.get_running_loop().getaddrinfo("metadata.google.internal.", None, type=socket.SOCK_STREAM)
        except OSError:
            return False
        return any(info[4][0] == "169.254.169.254" for info in infos)

    try_harder = _dmi_says_google()
    tasks = [asyncio.ensure_future(probe_http()), asyncio.ensure_future(probe_dns())]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED, timeout=remaining())
        if not done:
            return False
        first = next(iter(done)).result()
        if first or not try_harder:
            return first
        rest = [t for t in tasks if t not in done]
        done, _ = await asyncio.wait(rest, timeout=5)
        return bool(done) and next(iter(done)).result()
    finally:
        for t in tasks:
            t.cancel()


def _dmi_says_google() -> bool:
    try:
        with open("/sys/class/dmi/id/product_name", encoding="utf-8", errors="replace") as f:
            return f.read().strip() in ("Google", "Google Compute Engine")
    except OSError:
        return False


class GCPDetector:
    def __init__(self, config: Config, logger: logging.Logger, fail_on_missing: bool = False, **_):
        self.enabled = enabled_set(DEFAULTS, config.resource_attributes)
        self.labels = compile_regexes(config.labels)
        self.logger = logger
        self.fail_on_missing = fail_on_missing

    async def detect(self) -> tuple[dict, str]:
        env = os.environ
        b = Builder(self.enabled)
        errors: list[str] = []
        if all(env.get(k) for k in ("BMS_PROJECT_ID", "BMS_REGION", "BMS_INSTANCE_ID")):
            b.set("cloud.provider", "gcp")
            b.set("cloud.account.id", env["BMS_PROJECT_ID"])
            b.set("cloud.platform", "gcp_bare_metal_solution")
            b.set("host.name", env["BMS_INSTANCE_ID"])
            b.set("cloud.region", env["BMS_REGION"])
            return b.attrs, SCHEMA_URL
        async with aiohttp.ClientSession() as session:
            if not await on_gce(session):
                self.logger.debug("GCP metadata server not detected: not on Google Cloud")
                return {}, ""
            md = Metadata(session)

            async def put(name: str, getter) -> None:
                try:
                    value = await getter() if callable(getter) else getter
                except DetectError as exc:
                    errors.append(str(exc))
                    return
                b.set(name, value)

            b.set("cloud.provider", "gcp")
            await put("cloud.account.id", lambda: md.trimmed("project/project-id"))
            platform = await self._platform(md)
            if platform == "gke":
                await self._gke(md, b, put, errors)
            elif platform in ("cloud_run", "cloud_run_worker_pool", "cloud_run_job", "cloud_functions"):
                await self._faas(md, b, put, platform)
            elif platform in ("app_engine_flex", "app_engine_standard"):
                await self._app_engine(md, b, put, platform, errors)
            elif platform == "gce":
                await self._gce(md, b, put, errors)
            if errors and self.fail_on_missing:
                raise DetectError("; ".join(errors))
            return b.attrs, SCHEMA_URL

    async def _platform(self, md: Metadata) -> str:
        env = os.environ
        if "KUBERNETES_SERVICE_HOST" in env:
            try:
                await md.get("instance/attributes/cluster-location")
                return "gke"
            except DetectError:
                pass
        for var, name in (("FUNCTION_TARGET", "cloud_functions"), ("K_CONFIGURATION", "cloud_run"),
                          ("CLOUD_RUN_JOB", "cloud_run_job"), ("CLOUD_RUN_WORKER_POOL", "cloud_run_worker_pool")):
            if var in env:
                return name
        if env.get("GAE_ENV") == "standard":
            return "app_engine_standard"
        if "GAE_SERVICE" in env:
            return "app_engine_flex"
        try:
            await md.get("instance/machine-type")
            return "gce"
        except DetectError:
            return "unknown"

    async def _gke(self, md, b, put, errors) -> None:
        b.set("cloud.platform", "gcp_kubernetes_engine")
        try:
            location = await md.get("instance/attributes/cluster-location")
            dashes = location.count("-")
            if dashes == 2:
                b.set("cloud.availability_zone", location)
                b.set("cloud.region", location[:location.rfind("-")])
            elif dashes == 1:
                b.set("cloud.region", location)
            else:
                errors.append(f"unrecognized format for cluster location: {location}")
        except DetectError as exc:
            errors.append(str(exc))
        await put("k8s.cluster.name", lambda: md.get("instance/attributes/cluster-name"))
        await put("host.id", lambda: md.trimmed("instance/id"))
        try:
            b.set("host.name", await md.trimmed("instance/name"))
        except DetectError as exc:
            self.logger.info("Fallible detector failed. This attribute will not be available. key=host.name error=%s", exc)
        if b.on("host.type"):
            self.logger.info("Fallible detector failed. This attribute will not be available. key=host.type "
                             "error=the Compute API (instances.get) is not supported by otelflow")

    async def _faas(self, md, b, put, platform) -> None:
        env = os.environ
        b.set("cloud.platform", "gcp_cloud_functions" if platform == "cloud_functions" else "gcp_cloud_run")
        name = env.get("K_SERVICE", env.get("CLOUD_RUN_JOB", env.get("CLOUD_RUN_WORKER_POOL")))
        version = env.get("CLOUD_RUN_REVISION", env.get("K_REVISION"))

        async def region() -> str:
            r = await md.get("instance/region")
            return r[r.rfind("/") + 1:]

        await put("faas.name", _env_value(name))
        if platform == "cloud_run_job":
            await put("cloud.region", region)
            await put("faas.instance", lambda: md.trimmed("instance/id"))
            await put("gcp.cloud_run.job.execution", _env_value(env.get("CLOUD_RUN_EXECUTION")))
            await put("gcp.cloud_run.job.task_index", _env_value(env.get("CLOUD_RUN_TASK_INDEX")))
            return
        await put("faas.version", _env_value(version))
        await put("faas.instance", lambda: md.trimmed("instance/id"))
        await put("cloud.region", region)

    async def _app_engine(self, md, b, put, platform, errors) -> None:
        env = os.environ
        b.set("cloud.platform", "gcp_app_engine")
        if platform == "app_engine_flex":
            await self._zone_and_region(md, b, errors)
        await put("faas.name", _env_value(env.get("GAE_SERVICE")))
        await put("faas.version", _env_value(env.get("GAE_VERSION")))
        await put("faas.instance", _env_value(env.get("GAE_INSTANCE")))
        if platform == "app_engine_standard":
            await put("cloud.availability_zone", md.zone)

            async def region() -> str:
                r = await md.get("instance/region")
                return r[r.rfind("/") + 1:]
            await put("cloud.region", region)

    async def _zone_and_region(self, md, b, errors) -> tuple[str, str] | None:
        try:
            zone = await md.zone()
        except DetectError as exc:
            errors.append(str(exc))
            return None
        parts = zone.split("-", 2)
        if not zone:
            errors.append("no zone detected from GCE metadata server")
            return None
        if len(parts) != 3:
            errors.append(f"zone was not in the expected format: country-region-zone.  Got {zone}")
            return None
        b.set("cloud.availability_zone", zone)
        b.set("cloud.region", "-".join(parts[:2]))
        return zone, "-".join(parts[:2])

    async def _gce(self, md, b, put, errors) -> None:
        b.set("cloud.platform", "gcp_compute_engine")
        await self._zone_and_region(md, b, errors)
        await put("host.type", lambda: md.get("instance/machine-type"))
        await put("host.id", lambda: md.trimmed("instance/id"))
        await put("host.name", lambda: md.trimmed("instance/name"))
        await put("gcp.gce.instance.hostname", lambda: md.trimmed("instance/hostname"))
        await put("gcp.gce.instance.name", lambda: md.trimmed("instance/name"))
        try:
            created_by = await md.get("instance/attributes/created-by")
        except NotDefined:
            created_by = ""
        except DetectError as exc:
            errors.append(str(exc))
            created_by = ""
        m = _MIG.match(created_by)
        if m:
            b.set("gcp.gce.instance_group_manager.name", m.group(3))
            b.set("gcp.gce.instance_group_manager." + ("zone" if m.group(1) == "zones" else "region"), m.group(2))
        if self.labels and not (errors and self.fail_on_missing):
            self.logger.warning("failed to build GCE instances client: the Compute API is not supported by otelflow")


def _env_value(value: str | None):
    async def get() -> str:
        if value is None:
            raise DetectError("environment variable not found")
        return value
    return get
