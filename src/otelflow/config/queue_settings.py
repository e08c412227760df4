"""exporterhelper's settings: ``retry_on_failure`` and ``sending_queue`` (with its ``batch`` block),
with upstream's defaults and its validation messages. Behaviour: core/exporterhelper.py,
core/batch_sender.py, core/queue_batcher.py."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from otelflow.config.model import ComponentIDText, Duration, Model


class RetrySettings(Model):
    enabled: bool = True
    initial_interval: Duration = 5.0
    randomization_factor: float = Field(default=0.5, ge=0, le=1)
    multiplier: float = Field(default=1.5, gt=0)
    max_interval: Duration = 30.0
    max_elapsed_time: Duration = 300.0


class BatchPartitionSettings(Model):
    metadata_keys: list[str] = []

    @field_validator("metadata_keys")
    @classmethod
    def _unique(cls, keys: list[str]) -> list[str]:
        seen: set[str] = set()
        for key in keys:
            low = key.lower()
            if low in seen:
                raise ValueError(f'duplicate entry in metadata_keys: "{low}" (case-insensitive)')
            seen.add(low)
        return keys


class QueueBatchSettings(Model):
    """exporterhelper's ``sending_queue.batch`` (upstream's queuebatch.BatchConfig), with the
    defaults of NewDefaultQueueConfig. Behaviour: core/queue_batcher.py."""

    flush_timeout: Duration = 0.2
    min_size: int = 8192
    max_size: int = 0
    sizer: str = "items"
    partition: BatchPartitionSettings = BatchPartitionSettings()

    @field_validator("sizer", mode="before")
    @classmethod
    def _sizer(cls, value: Any) -> Any:
        if value not in ("requests", "items", "bytes"):
            raise ValueError(f'invalid sizer: "{value}"')
        return value

    @model_validator(mode="after")
    def _check(self) -> "QueueBatchSettings":
        # upstream's BatchConfig.Validate, in its order and words
        if self.sizer not in ("items", "bytes"):
            raise ValueError(f'`batch` supports only `items` or `bytes` sizer, found "{self.sizer}"')
        if self.flush_timeout <= 0:
            raise ValueError(f"`flush_timeout` must be positive, found {round(self.flush_timeout * 1e9)}")
        if self.min_size < 0:
            raise ValueError(f"`min_size` must be non-negative, found {self.min_size}")
        if self.max_size < 0:
            raise ValueError(f"`max_size` must be non-negative, found {self.max_size}")
        if 0 < self.max_size < self.min_size:
            raise ValueError(f"`max_size` ({self.max_size}) must be greater or equal to `min_size` ({self.min_size})")
        return self


def _queue_batch_gate() -> bool:
    from otelflow.core.featuregates import QUEUE_BATCH_ENABLED, REGISTRY

    return REGISTRY.is_enabled(QUEUE_BATCH_ENABLED)


class QueueSettings(Model):
    """exporterhelper's ``sending_queue`` with NewDefaultQueueConfig's defaults. ``batch`` is a
    configoptional block: absent means off (on when the ``pkg.exporterhelper.queueBatchEnabled``
    gate is on), present with no value or ``{}`` means on with the defaults, ``enabled: false`` off.
    Read the effective value with ``batch_settings``."""

    enabled: bool = True
    num_consumers: int = Field(default=10, ge=1)
    queue_size: int = Field(default=1000, ge=1)
    sizer: Literal["requests", "items", "bytes"] = "requests"
    block_on_overflow: bool = False
    blocking: bool = False  # the older name of block_on_overflow
    wait_for_result: bool = False
    storage: ComponentIDText | None = None
    batch: QueueBatchSettings | None = None

    @property
    def blocks(self) -> bool:
        return self.block_on_overflow or self.blocking

    @property
    def batch_settings(self) -> QueueBatchSettings | None:
        """The batch config in effect: as written, or (not written) the gate's default."""
        if "batch" in self.model_fields_set:
            return self.batch
        return QueueBatchSettings() if _queue_batch_gate() else None

    @model_validator(mode="before")
    @classmethod
    def _optional_batch(cls, data: Any) -> Any:
        """configoptional's reading of ``batch`` and queuebatch.Config.Unmarshal's sizer rule: a
        non-empty ``batch`` without its own ``sizer`` takes the queue's ``sizer`` when that is set."""
        if not isinstance(data, dict) or "batch" not in data:
            return data
        out = dict(data)
        block = data["batch"]
        if block is None:
            out["batch"] = {}
        elif isinstance(block, dict):
            block = dict(block)
            enabled = block.pop("enabled", True)
            if not isinstance(enabled, bool):
                raise ValueError(f"batch: unexpected type {_go_type_name(enabled)} for 'enabled': "
                                 f"got '{enabled}' value expected 'true' or 'false'")
            if not enabled:
                out["batch"] = None
            else:
                if "sizer" in data and "sizer" not in block:
                    block["sizer"] = data["sizer"]
                out["batch"] = block
        return out

    @model_validator(mode="after")
    def _queue_holds_a_batch(self) -> "QueueSettings":
        batch = self.batch_settings
        if batch is not None and batch.sizer == self.sizer and batch.min_size > self.queue_size:
            raise ValueError("`min_size` must be less than or equal to `queue_size`")
        return self


def _go_type_name(value: Any) -> str:
    return {str: "string", int: "int", float: "float64", bool: "bool", list: "[]interface {}",
            dict: "map[string]interface {}"}.get(type(value), type(value).__name__)
