"""Config of the ``redis`` receiver: upstream's keys and defaults (confignet address, credentials, TLS)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, create_model

from otelflow.config.model import Duration, Model
from otelflow.config.settings import TLSClientSettings
from otelflow.receivers.redis.metadata import METADATA
from otelflow.receivers.scraperhelper import ControllerConfig, metrics_fields


class Dialer(Model):
    timeout: Duration = 0.0


class Config(create_model("RedisBase", __base__=ControllerConfig, **metrics_fields("redis", METADATA))):
    collection_interval: Duration = 10.0
    endpoint: str = ""
    transport: Literal["tcp", "tcp4", "tcp6", "unix"] = "tcp"
    dialer: Dialer = Field(default_factory=Dialer)
    username: str = ""
    password: str = ""
    tls: TLSClientSettings = Field(default_factory=lambda: TLSClientSettings(insecure=True))
