"""Translators between other tracing formats and OTLP."""
