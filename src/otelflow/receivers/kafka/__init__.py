"""The ``kafka`` receiver: OTLP (and, for traces, Zipkin and Jaeger) records from Kafka topics into
the pipelines, one consumer-group member per signal as upstream runs one per signal receiver."""

from __future__ import annotations

from otelflow.core.component import Component, Factory, Host, Kind, Settings, Signal
from otelflow.core.consumer import Consumer
from otelflow.receivers.kafka.config import Config
from otelflow.receivers.kafka.consumer import SignalConsumer
from otelflow.receivers.kafka.encoding import decoder


class KafkaReceiver(Component):
    def __init__(self, settings: Settings, config: Config, consumers: dict[Signal, Consumer]):
        self.settings = settings
        self.config = config
        self.members: list[SignalConsumer] = []
        for signal, next_consumer in consumers.items():
            block = config.topics_of(signal.value)
            # an unknown encoding fails here, when the pipeline is built, as upstream fails at start
            decode = decoder(signal, block.encoding)
            self.members.append(SignalConsumer(settings, config, signal, list(block.topics), decode, next_consumer,
                                               list(block.exclude_topics)))

    async def start(self, host: Host) -> None:
        started = []
        try:
            for member in self.members:
                await member.start()
                started.append(member)
        except BaseException:
            for member in started:
                await member.shutdown()
            raise

    async def shutdown(self) -> None:
        for member in self.members:
            await member.shutdown()


factory = Factory(type="kafka", kind=Kind.RECEIVER, config=Config, create=KafkaReceiver, stability="beta")

__all__ = ["Config", "KafkaReceiver", "factory"]
