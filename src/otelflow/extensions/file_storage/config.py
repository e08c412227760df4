"""file_storage's settings, and the file name each component's store gets (upstream's naming)."""

from __future__ import annotations

import hashlib
import os
import re
import stat

from pydantic import model_validator

from otelflow.config.model import Duration, Model
from otelflow.core.component import ComponentID, Kind

DEFAULT_DIRECTORY = "/var/lib/otelcol/file_storage"
TEMP_DB_PREFIX = "tempdb"  # upstream's compaction scratch files, removed by cleanup_on_start
MIB = 1024 * 1024
_NAME_MAX = 255 - len("-wal")  # SQLite adds -wal beside the database file

class CompactionConfig(Model):
    directory: str = DEFAULT_DIRECTORY
    on_start: bool = False
    on_rebound: bool = False
    rebound_needed_threshold_mib: int = 100
    rebound_trigger_threshold_mib: int = 10
    max_transaction_size: int = 65536  # bbolt's copy batch; VACUUM has no equivalent
    check_interval: Duration = 5.0
    cleanup_on_start: bool = False


def _stat_error(path: str, exc: OSError) -> str:
    """Go's PathError text: ``stat <path>: no such file or directory``."""
    text = os.strerror(exc.errno) if exc.errno else str(exc)
    return f"stat {path}: {text[:1].lower()}{text[1:]}"


class Config(Model):
    directory: str = DEFAULT_DIRECTORY
    timeout: Duration = 1.0
    max_size: int = 0
    compaction: CompactionConfig = CompactionConfig()
    fsync: bool = False
    create_directory: bool = False
    directory_permissions: str = "0750"
    recreate: bool = False

    @model_validator(mode="after")
    def _validate(self) -> "Config":
        c = self.compaction
        dirs = [self.directory, c.directory] if (c.on_start or c.on_rebound) else [self.directory]
        for d in dirs:
            try:
                mode = os.stat(d).st_mode
            except FileNotFoundError as exc:
                if not self.create_directory:
                    raise ValueError(
                        f"directory must exist: {_stat_error(d, exc)}. You can enable the create_directory option to automatically create it"
                    ) from None
            except OSError as exc:
                raise ValueError(f"problem accessing configured directory: {d}, err: {_stat_error(d, exc)}") from None
            except ValueError:  # a NUL in the path: Go's stat fails with EINVAL
                raise ValueError(f"problem accessing configured directory: {d}, err: stat {d}: invalid argument") from None
            else:
                if not stat.S_ISDIR(mode):
                    raise ValueError(f"{d} is not a directory")
        if c.max_transaction_size < 0:
            raise ValueError("max transaction size for compaction cannot be less than 0")
        if self.max_size < 0:
            raise ValueError("max size cannot be less than 0")
        if self.max_size > 2**63 - 1:
            raise ValueError("max size is too large")
        if self.max_size > 0 and c.on_rebound:
            if c.rebound_needed_threshold_mib * MIB > self.max_size:
                raise ValueError("compaction rebound needed threshold cannot be greater than max size")
            if c.rebound_trigger_threshold_mib * MIB > self.max_size:
                raise ValueError("compaction rebound trigger threshold cannot be greater than max size")
        if c.on_rebound and c.check_interval <= 0:
            raise ValueError("compaction check interval must be positive when rebound compaction is set")
        if self.create_directory:
            self.permissions  # noqa: B018 - raises with upstream's messages
        return self

    @property
    def permissions(self) -> int:
        """``directory_permissions`` parsed as Go's ParseInt(s, 8, 32) does."""
        text = self.directory_permissions
        if not re.fullmatch(r"[+-]?[0-7]+", text) or not -(2**31) <= int(text, 8) < 2**31:
            raise ValueError("directory_permissions value must be a valid octal representation")
        perms = int(text, 8)
        if perms & 0o777 != perms:
            raise ValueError("directory_permissions contain invalid bits for file access")
        return perms


def sanitize(name: str) -> str:
    """Upstream's file-name escaping: anything but [A-Za-z0-9._-] becomes ``~XXXX`` (hex code point)."""
    return "".join(ch if (ch.isascii() and (ch.isalnum() or ch in "._-")) else f"~{ord(ch):04X}" for ch in name)


def file_name(kind: Kind, component: ComponentID, name: str) -> str:
    """``<kind>_<type>_<name>[_<storage name>]``, hashed when too long for the file system."""
    raw = f"{kind.value}_{component.type}_{component.name}" + (f"_{name}" if name else "")
    raw = sanitize(raw)
    if len(raw.encode()) > _NAME_MAX:
        return hashlib.sha256(raw.encode()).hexdigest()
    return raw


