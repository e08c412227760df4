"""embedded_store exporter: writes spans, logs and metric points into the embedded_store extension.

By default an export returns once its rows are queued for the store's next group commit (at most
``commit_interval`` later), as upstream exporters acknowledge once data is in their in-memory sending
queue; ``wait_for_commit: true`` acknowledges only committed rows, at a cost in throughput when few
requests are in flight. A store with too many uncommitted rows refuses with a retryable error.
"""

from __future__ import annotations

from typing import Any

from google.protobuf.message import Message

from otelflow.config.model import Model
from otelflow.core.component import Component, ComponentID, Factory, Host, Kind, Settings, Signal
from otelflow.core.consumer import ConsumerError
from otelflow.core.telemetry import ITEM_NAMES
from otelflow.extensions.embedded_store import EmbeddedStore
from otelflow.store import ingest
from otelflow.store.database import Store, StoreError

_CONVERT = {Signal.TRACES: ingest.spans, Signal.METRICS: ingest.metrics, Signal.LOGS: ingest.logs}


class Config(Model):
    store: str = "embedded_store"  # the ID of the embedded_store extension to write into
    wait_for_commit: bool = False

    def upstream_incompatibilities(self) -> list[str]:
        return ["embedded_store is an otelflow exporter; otelcol has no such component"]


class EmbeddedStoreExporter(Component):
    mutates_data = False

    def __init__(self, settings: Settings, config: Config):
        self.settings = settings
        self.config = config
        self.convert = _CONVERT[settings.signal]
        self.item = ITEM_NAMES[settings.signal]
        self.labels = {"exporter": str(settings.id)}
        self.store: Store | None = None

    async def start(self, host: Host) -> None:
        ext_id = ComponentID.parse(self.config.store)
        ext = host.extension(ext_id)
        if ext is None:
            raise ValueError(f'store "{ext_id}" is not an extension of this service: add it under service::extensions')
        if not isinstance(ext, EmbeddedStore):
            raise ValueError(f'extension "{ext_id}" is not an embedded_store')
        self.store = ext.store

    async def consume(self, data: Message) -> None:
        batch = self.convert(data)
        tel = self.settings.telemetry
        try:
            await self.store.write(batch, wait=self.config.wait_for_commit)
        except StoreError as exc:
            tel.add(f"otelcol_exporter_send_failed_{self.item}", batch.rows, **self.labels)
            raise ConsumerError(str(exc)) from exc
        tel.add(f"otelcol_exporter_sent_{self.item}", batch.rows, **self.labels)


def create(settings: Settings, config: Config, **_: Any) -> EmbeddedStoreExporter:
    return EmbeddedStoreExporter(settings, config)


factory = Factory(type="embedded_store", kind=Kind.EXPORTER, config=Config, create=create, stability="alpha", one_instance=True)
