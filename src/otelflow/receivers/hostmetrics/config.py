"""Config of the ``host_metrics`` receiver: the scraper controller's keys, ``root_path`` and ``scrapers``.

Each scraper has upstream's keys and defaults; its ``metrics`` and ``resource_attributes`` sections
come from ``builder`` (built from upstream's metadata). Filters (``include``/``exclude`` and the
filesystem's ``include_*``/``exclude_*``) are compiled while the config is validated, so a bad
``match_type`` or regexp is reported with upstream's message before anything starts.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import Field, PrivateAttr, create_model, model_validator

from otelflow.config.model import Duration, Model
from otelflow.processors.filtermatch import RegexpConfig, create_filterset
from otelflow.receivers.hostmetrics import hostfs
from otelflow.receivers.hostmetrics.builder import ScraperBase, scraper_fields

SCRAPER_NAMES = ("cpu", "disk", "filesystem", "load", "memory", "network", "nfs", "paging", "processes", "process",
                 "system")


class _Match(Model):
    """filterset.Config plus the list the scraper filters on."""

    match_type: str = ""
    regexp: RegexpConfig | None = None
    _set: Any = PrivateAttr(default=None)
    ITEMS: ClassVar[str] = ""

    def compile(self, what: str) -> None:
        items = getattr(self, self.ITEMS)
        if items:
            try:
                self._set = create_filterset(items, self.match_type, self.regexp)
            except ValueError as exc:
                raise ValueError(f"error creating {what}: {exc}") from None

    @property
    def filterset(self):
        return self._set


class DeviceMatch(_Match):
    ITEMS: ClassVar[str] = "devices"
    devices: list[str] = []


class FSTypeMatch(_Match):
    ITEMS: ClassVar[str] = "fs_types"
    fs_types: list[str] = []


class MountPointMatch(_Match):
    ITEMS: ClassVar[str] = "mount_points"
    mount_points: list[str] = []


class InterfaceMatch(_Match):
    ITEMS: ClassVar[str] = "interfaces"
    interfaces: list[str] = []


class NameMatch(_Match):
    ITEMS: ClassVar[str] = "names"
    names: list[str] = []


def included(value: str, include: _Match, exclude: _Match) -> bool:
    inc, exc = include.filterset, exclude.filterset
    return (inc is None or inc.matches(value)) and (exc is None or not exc.matches(value))


def _scraper(scraper: str, **extra: Any) -> type[ScraperBase]:
    return create_model(f"{scraper.capitalize()}Config", __base__=ScraperBase, **scraper_fields(scraper), **extra)


_CPU = _scraper("cpu")
_Memory = _scraper("memory")
_Paging = _scraper("paging")
_Processes = _scraper("processes")
_System = _scraper("system")
_NFS = _scraper("nfs")
_Load = _scraper("load", cpu_average=(bool, False))
_Disk = _scraper("disk", include=(DeviceMatch, Field(default_factory=DeviceMatch)),
                 exclude=(DeviceMatch, Field(default_factory=DeviceMatch)))
_Network = _scraper("network", include=(InterfaceMatch, Field(default_factory=InterfaceMatch)),
                    exclude=(InterfaceMatch, Field(default_factory=InterfaceMatch)))
_Filesystem = _scraper(
    "filesystem",
    include_virtual_filesystems=(bool, False),
    include_devices=(DeviceMatch, Field(default_factory=DeviceMatch)),
    exclude_devices=(DeviceMatch, Field(default_factory=DeviceMatch)),
    include_fs_types=(FSTypeMatch, Field(default_factory=FSTypeMatch)),
    exclude_fs_types=(FSTypeMatch, Field(default_factory=FSTypeMatch)),
    include_mount_points=(MountPointMatch, Field(default_factory=MountPointMatch)),
    exclude_mount_points=(MountPointMatch, Field(default_factory=MountPointMatch)),
)
_Process = _scraper(
    "process",
    include=(NameMatch, Field(default_factory=NameMatch)),
    exclude=(NameMatch, Field(default_factory=NameMatch)),
    mute_process_all_errors=(bool, False),
    mute_process_name_error=(bool, False),
    mute_process_io_error=(bool, False),
    mute_process_cgroup_error=(bool, False),
    mute_process_exe_error=(bool, False),
    mute_process_user_error=(bool, False),
    scrape_process_delay=(Duration, 0.0),
)


class DiskConfig(_Disk):
    @model_validator(mode="after")
    def _filters(self):
        self.include.compile("device include filters")
        self.exclude.compile("device exclude filters")
        return self


class NetworkConfig(_Network):
    @model_validator(mode="after")
    def _filters(self):
        self.include.compile("network interface include filters")
        self.exclude.compile("network interface exclude filters")
        return self


class FilesystemConfig(_Filesystem):
    @model_validator(mode="after")
    def _filters(self):
        for key in ("include_devices", "exclude_devices", "include_fs_types", "exclude_fs_types",
                    "include_mount_points", "exclude_mount_points"):
            getattr(self, key).compile(f"{key} filter")
        return self

    def filters_exist(self) -> bool:
        return any(getattr(self, k).filterset is not None for k in (
            "include_devices", "exclude_devices", "include_fs_types", "exclude_fs_types", "include_mount_points",
            "exclude_mount_points"))


class ProcessConfig(_Process):
    @model_validator(mode="after")
    def _filters(self):
        self.include.compile("process include filters")
        self.exclude.compile("process exclude filters")
        return self


MODELS: dict[str, type[ScraperBase]] = {
    "cpu": _CPU, "disk": DiskConfig, "filesystem": FilesystemConfig, "load": _Load, "memory": _Memory,
    "network": NetworkConfig, "nfs": _NFS, "paging": _Paging, "processes": _Processes, "process": ProcessConfig,
    "system": _System,
}


class Scrapers(Model):
    cpu: MODELS["cpu"] | None = None  # type: ignore[valid-type]
    disk: DiskConfig | None = None
    filesystem: FilesystemConfig | None = None
    load: MODELS["load"] | None = None  # type: ignore[valid-type]
    memory: MODELS["memory"] | None = None  # type: ignore[valid-type]
    network: NetworkConfig | None = None
    nfs: MODELS["nfs"] | None = None  # type: ignore[valid-type]
    paging: MODELS["paging"] | None = None  # type: ignore[valid-type]
    processes: MODELS["processes"] | None = None  # type: ignore[valid-type]
    process: ProcessConfig | None = None
    system: MODELS["system"] | None = None  # type: ignore[valid-type]

    @model_validator(mode="before")
    @classmethod
    def _keys(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        for key in data:
            if str(key) not in SCRAPER_NAMES:
                raise ValueError(f"invalid scraper key: {key}")
        # "cpu:" with nothing under it is a scraper with its defaults
        return {k: ({} if v is None else v) for k, v in data.items()}

    def configured(self) -> dict[str, ScraperBase]:
        return {name: getattr(self, name) for name in SCRAPER_NAMES if getattr(self, name) is not None}


class Config(Model):
    collection_interval: Duration = 60.0
    initial_delay: Duration = 1.0
    timeout: Duration = 0.0
    root_path: str = ""
    metadata_collection_interval: Duration = 300.0
    scrapers: Scrapers | None = None

    @model_validator(mode="after")
    def _check(self) -> "Config":
        problems = []
        if self.collection_interval <= 0:
            problems.append('"collection_interval": requires positive value')
        if self.timeout < 0:
            problems.append('"timeout": requires positive value')
        if self.scrapers is None or not self.scrapers.configured():
            problems.append("must specify at least one scraper when using host_metrics receiver")
        bad_root = hostfs.validate_root_path(self.root_path)
        if bad_root:
            problems.append(bad_root)
        if problems:
            raise ValueError("; ".join(problems))
        return self
