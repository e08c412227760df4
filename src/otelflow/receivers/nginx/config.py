"""Config of the ``nginx`` receiver: the confighttp client keys (endpoint of the stub_status page)."""

from __future__ import annotations

from pydantic import create_model

from otelflow.config.model import Duration
from otelflow.config.settings import HTTPClientSettings
from otelflow.receivers.nginx.metadata import METADATA
from otelflow.receivers.scraperhelper import ControllerConfig, metrics_fields


class Config(create_model("NginxBase", __base__=ControllerConfig, **metrics_fields("nginx", METADATA)),
             HTTPClientSettings):
    collection_interval: Duration = 10.0
    endpoint: str = "http://localhost:80/status"
    timeout: Duration = 10.0
