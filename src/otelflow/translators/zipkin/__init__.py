"""Zipkin v1 JSON and v2 JSON/protobuf to and from OTLP, following upstream's pkg/translator/zipkin."""

from otelflow.translators.zipkin.from_otlp import TranslationError, from_otlp, to_json, to_proto
from otelflow.translators.zipkin.model import ZipkinError, spans_from_json, spans_from_proto
from otelflow.translators.zipkin.to_otlp import to_otlp
from otelflow.translators.zipkin.v1 import v1_json_to_otlp

__all__ = ["TranslationError", "ZipkinError", "from_otlp", "spans_from_json", "spans_from_proto", "to_json",
           "to_otlp", "to_proto", "v1_json_to_otlp"]
