"""The ``redis`` receiver: a Redis server's ``INFO all`` as upstream's ``redis.*`` metrics."""

from otelflow.core.component import Factory, Kind, Signal
from otelflow.receivers.redis.config import Config
from otelflow.receivers.redis.receiver import RedisReceiver

factory = Factory(type="redis", kind=Kind.RECEIVER, config=Config, create=RedisReceiver,
                  signals=frozenset({Signal.METRICS}), stability="beta", one_instance=True)

__all__ = ["Config", "RedisReceiver", "factory"]
