"""Config of the ``file`` exporter: upstream's keys, defaults and Validate rules."""

from __future__ import annotations

import re
from typing import Any

from pydantic import field_validator, model_validator

from otelflow.config.model import ComponentIDText, Duration, Model

FORMAT_JSON = "json"
FORMAT_PROTO = "proto"
COMPRESSION_ZSTD = "zstd"
DEFAULT_MAX_BACKUPS = 100
DEFAULT_MAX_MEGABYTES = 100  # what the rotating writer uses when max_megabytes is 0
DEFAULT_MAX_OPEN_FILES = 100
DEFAULT_RESOURCE_ATTRIBUTE = "fileexporter.path_segment"

# Bytes per "megabyte" of max_megabytes; a module attribute so tests can shrink it.
MEGABYTE = 1024 * 1024
# Backup names: <name>-<time>-<reason><ext>, time in this layout (Go: 2006-01-02T15-04-05.000).
BACKUP_REASON = "size"
# Write buffer of the plain (non-rotating) writer before a flush is forced.
BUFFER_SIZE = 64 * 1024
# The shortest flush period honoured (upstream accepts nanoseconds; a timer that fast would spin).
MIN_FLUSH_INTERVAL = 0.001


class Rotation(Model):
    max_megabytes: int = DEFAULT_MAX_MEGABYTES
    max_days: int = 0
    max_backups: int = DEFAULT_MAX_BACKUPS
    localtime: bool = False


class GroupBy(Model):
    enabled: bool = False
    resource_attribute: str = DEFAULT_RESOURCE_ATTRIBUTE
    max_open_files: int = DEFAULT_MAX_OPEN_FILES


class CompressionParams(Model):
    level: int = 0


class Config(Model):
    path: str = ""
    append: bool = False
    # Rotation is on only when the key is present (upstream drops it otherwise).
    rotation: Rotation | None = None
    format: str = FORMAT_JSON
    encoding: ComponentIDText | None = None
    compression: str = ""
    compression_params: CompressionParams = CompressionParams()
    flush_interval: Duration = 1.0
    group_by: GroupBy = GroupBy()
    create_directory: bool = False
    directory_permissions: str = ""

    @field_validator("rotation", "group_by", "compression_params", mode="before")
    @classmethod
    def _present_means_defaults(cls, value: Any) -> Any:
        # `rotation:` with nothing under it turns rotation on with its defaults.
        return {} if value is None else value

    @field_validator("flush_interval", mode="after")
    @classmethod
    def _flush_default(cls, value: float) -> float:
        return 1.0 if value == 0 else value

    @model_validator(mode="after")
    def _validate(self) -> "Config":
        # Same checks, order and messages as upstream's Config.Validate.
        if self.path == "":
            raise ValueError("path must be non-empty")
        if self.append and self.rotation is not None:
            raise ValueError("append and rotation enabled at the same time is not supported")
        if self.format not in (FORMAT_JSON, FORMAT_PROTO):
            raise ValueError("format type is not supported")
        if self.compression not in ("", COMPRESSION_ZSTD):
            raise ValueError("compression is not supported")
        if self.flush_interval < 0:
            raise ValueError("flush_interval must be larger than zero")
        if self.group_by.enabled:
            parts = self.path.split("*")
            if len(parts) != 2:
                raise ValueError("path must contain exactly one * when group_by is enabled")
            if parts[0] == "":
                raise ValueError("path must not start with * when group_by is enabled")
            if self.group_by.resource_attribute == "":
                raise ValueError("resource_attribute must not be empty when group_by is enabled")
        if self.create_directory:
            if self.directory_permissions == "":
                self.directory_permissions = "0755"
            # strconv.ParseInt(s, 8, 32): digits 0-7 with an optional sign, no prefix or separators
            if not re.fullmatch(r"[+-]?[0-7]+", self.directory_permissions):
                raise ValueError("directory_permissions value must be a valid octal representation")
            perms = int(self.directory_permissions, 8)
            if perms & 0o777 != perms or perms < 0:
                raise ValueError("directory_permissions contain invalid bits for file access")
        elif self.directory_permissions != "":
            raise ValueError("directory_permissions requires create_directory to be true")
        return self

    @property
    def directory_mode(self) -> int:
        return int(self.directory_permissions, 8) if self.directory_permissions else 0o755
