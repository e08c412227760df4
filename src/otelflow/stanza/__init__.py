"""otelflow's equivalent of upstream's pkg/stanza: log entries, fields, operators, pipelines, OTLP conversion."""

from otelflow.stanza.entry import Entry
from otelflow.stanza.field import Field, parse_field
from otelflow.stanza.pipeline import Pipeline, build_pipeline

__all__ = ["Entry", "Field", "Pipeline", "build_pipeline", "parse_field"]
