"""The batch processor's settings and the client metadata it shards by (see the package docstring)."""

from __future__ import annotations

from pydantic import model_validator

from otelflow.config.model import Duration, Model, UInt32
from otelflow.core.client import client_metadata  # noqa: F401 - client metadata shards read (see package docstring)


class Config(Model):
    timeout: Duration = 0.2
    send_batch_size: UInt32 = 8192
    send_batch_max_size: UInt32 = 0
    metadata_keys: list[str] = []
    metadata_cardinality_limit: UInt32 = 1000

    @model_validator(mode="after")
    def _check(self) -> "Config":
        if self.send_batch_max_size > 0 and self.send_batch_max_size < self.send_batch_size:
            raise ValueError("send_batch_max_size must be greater or equal to send_batch_size")
        seen: set[str] = set()
        for key in self.metadata_keys:
            low = key.lower()
            if low in seen:
                raise ValueError(f'duplicate entry in metadata_keys: "{low}" (case-insensitive)')
            seen.add(low)
        if self.timeout < 0:
            raise ValueError("timeout must be greater or equal to 0")
        return self


TOO_MANY_BATCHERS = "too many batcher metadata-value combinations"
