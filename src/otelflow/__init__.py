"""otelflow: an OpenTelemetry Collector in Python that runs otelcol-contrib configuration as it is."""

__version__ = "0.1.0"
