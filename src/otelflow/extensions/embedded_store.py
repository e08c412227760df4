"""embedded_store: owns the DuckDB database that the embedded_store exporter writes and web_ui reads.

It is an extension, not part of the exporter, because one database serves all three signals'
exporters and the UI, and it must open before them and close after them.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import Field, field_validator

from otelflow.config.model import Duration, Model
from otelflow.core.component import Component, Factory, Host, Kind, Settings
from otelflow.store.database import Retention, Store


def default_directory() -> str:
    """``$OTELFLOW_DATA_DIR``, else the XDG data directory (``~/.local/share/otelflow``)."""
    explicit = os.environ.get("OTELFLOW_DATA_DIR")
    if explicit:
        return explicit
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return os.path.join(base, "otelflow")


class RetentionConfig(Model):
    max_age: Duration = 72 * 3600.0
    max_size_mib: int = Field(default=1024, ge=0)
    check_interval: Duration = 60.0

    @field_validator("max_age", "check_interval")
    @classmethod
    def _not_negative(cls, v: float) -> float:
        if v < 0:
            raise ValueError("must not be negative")
        return v


class Config(Model):
    directory: str = ""  # empty: default_directory()
    retention: RetentionConfig = RetentionConfig()
    # rows are committed in groups: at least this often, and sooner once commit_rows are waiting
    commit_interval: Duration = 1.0
    commit_rows: int = Field(default=100_000, ge=1)
    # uncommitted rows beyond this are refused with a retryable error (back-pressure)
    max_pending_rows: int = Field(default=1_000_000, ge=1)

    def upstream_incompatibilities(self) -> list[str]:
        return ["embedded_store is an otelflow extension; otelcol has no such component"]


class EmbeddedStore(Component):
    def __init__(self, settings: Settings, config: Config):
        self.settings = settings
        self.config = config
        r = config.retention
        directory = Path(config.directory or default_directory()).expanduser()
        self.store = Store(
            directory,
            Retention(max_age=r.max_age, max_size_bytes=r.max_size_mib << 20, check_interval=max(r.check_interval, 1.0)),
            commit_interval=config.commit_interval, commit_rows=config.commit_rows, max_pending_rows=config.max_pending_rows,
        )

    async def start(self, host: Host) -> None:
        await self.store.start()

    async def shutdown(self) -> None:
        await self.store.close()


def create(settings: Settings, config: Config, **_: Any) -> EmbeddedStore:
    return EmbeddedStore(settings, config)


factory = Factory(type="embedded_store", kind=Kind.EXTENSION, config=Config, create=create, stability="alpha", one_instance=True)
