from otelflow.config.model import validate
from otelflow.core.component import ComponentID, Host, Kind, Settings, Signal
from otelflow.core.registry import default_registry
from otelflow.core.telemetry import Telemetry


async def started_exporter(type_: str, config: dict, signal: Signal = Signal.TRACES, name: str = ""):
    factory = default_registry.get(Kind.EXPORTER, type_)
    cid = ComponentID(type_, name)
    settings = Settings(id=cid, kind=Kind.EXPORTER, telemetry=Telemetry(), signal=signal)
    exporter = factory.create(settings=settings, config=validate(factory.config, config, f"exporters::{cid}"))
    await exporter.start(Host())
    return exporter
