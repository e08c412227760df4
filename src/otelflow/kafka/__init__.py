"""What the kafka exporter and receiver share: the client settings (``configkafka.ClientConfig``)
and their librdkafka translation."""

from otelflow.kafka.client import (
    AuthConfig,
    ClientConfig,
    MetadataConfig,
    SASLConfig,
    TLSConfig,
    librdkafka_settings,
    security_protocol,
)

__all__ = ["AuthConfig", "ClientConfig", "MetadataConfig", "SASLConfig", "TLSConfig",
           "librdkafka_settings", "security_protocol"]
