"""What every component shares: its ID, kind, signals, lifecycle and factory."""

from __future__ import annotations

import enum
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable

from pydantic import BaseModel

if TYPE_CHECKING:
    from otelflow.core.consumer import Consumer
    from otelflow.core.telemetry import Telemetry


class Kind(str, enum.Enum):
    RECEIVER = "receiver"
    PROCESSOR = "processor"
    EXPORTER = "exporter"
    CONNECTOR = "connector"
    EXTENSION = "extension"

    @property
    def section(self) -> str:
        return self.value + "s"


class Signal(str, enum.Enum):
    TRACES = "traces"
    METRICS = "metrics"
    LOGS = "logs"
    # Upstream's xpipeline.SignalProfiles: alpha, behind the ``service.profilesSupport`` gate. Only
    # components that declare it in ``Factory.signals`` take it; data passes through as the message.
    PROFILES = "profiles"


#: The three stable signals: what a factory takes unless it declares profiles too.
STABLE_SIGNALS = frozenset((Signal.TRACES, Signal.METRICS, Signal.LOGS))


@dataclass(frozen=True, order=True)
class ComponentID:
    """``type[/name]`` as written in the config."""

    type: str
    name: str = ""

    @classmethod
    def parse(cls, text: str) -> "ComponentID":
        text = str(text).strip()
        type_, sep, name = text.partition("/")
        if not type_ or (sep and not name):
            raise ValueError(f'"{text}" is not a valid ID: expected "type" or "type/name"')
        if not all(c.isalnum() or c == "_" for c in type_):
            raise ValueError(f'"{text}" is not a valid ID: the type may hold only letters, digits and "_"')
        return cls(type_, name)

    def __str__(self) -> str:
        return f"{self.type}/{self.name}" if self.name else self.type


@dataclass
class Settings:
    """Handed to a factory: who the component is and where it reports."""

    id: ComponentID
    kind: Kind
    telemetry: "Telemetry"
    signal: Signal | None = None
    # State every instance of this component ID in one service shares (one listener or file for
    # all signals, one memory limiter for all pipelines), so that no component keeps module globals.
    shared: dict[str, Any] = field(default_factory=dict)
    logger: logging.Logger = field(init=False)

    def __post_init__(self) -> None:
        self.logger = logging.getLogger(f"otelflow.{self.kind.value}.{self.id}")


class Host:
    """What a starting component may look up: the extensions that the service runs."""

    def __init__(self, extensions: dict[ComponentID, Any] | None = None):
        self.extensions = extensions or {}

    def extension(self, id_: ComponentID) -> Any:
        return self.extensions.get(id_)


class Component:
    """Lifecycle hooks; components that hold resources override them."""

    async def start(self, host: Host) -> None:
        return None

    async def shutdown(self) -> None:
        return None


@dataclass(frozen=True)
class Factory:
    """Registers a component type: its config model and how to build it.

    ``create`` is called with keyword arguments by kind:
    receiver ``(settings, config, consumers: dict[Signal, Consumer])``;
    processor/exporter ``(settings, config, next?)`` with ``settings.signal`` set;
    connector ``(settings, config, source: Signal, target: Signal, next)``;
    extension ``(settings, config)``.
    """

    type: str
    kind: Kind
    config: type[BaseModel]
    create: Callable[..., Component]
    signals: frozenset[Signal] = STABLE_SIGNALS
    # connectors: which (exporter-side, receiver-side) signal pairs they join
    pairs: frozenset[tuple[Signal, Signal]] = frozenset()
    stability: str = "beta"
    # With several workers (core/workers): the key this component keeps state by ("trace_id" or
    # "resource"), so each key reaches one worker; or whether it owns something that exists once
    # (a port, a file, a database) and so runs in worker 0 only.
    state_key: str | None = None
    one_instance: bool = False
