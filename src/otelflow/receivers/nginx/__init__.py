"""The ``nginx`` receiver: NGINX's ``stub_status`` page as upstream's ``nginx.*`` metrics."""

from otelflow.core.component import Factory, Kind, Signal
from otelflow.receivers.nginx.config import Config
from otelflow.receivers.nginx.receiver import NginxReceiver

factory = Factory(type="nginx", kind=Kind.RECEIVER, config=Config, create=NginxReceiver,
                  signals=frozenset({Signal.METRICS}), stability="beta", one_instance=True)

__all__ = ["Config", "NginxReceiver", "factory"]
