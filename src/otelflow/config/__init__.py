"""Configuration: loading YAML like upstream's confmap, and validating it into typed models."""

from otelflow.config.errors import ConfigError, ConfigIssue

__all__ = ["ConfigError", "ConfigIssue"]
