"""Jaeger (Thrift and api_v2 protobuf) to OTLP traces, with the rules of upstream's pkg/translator/jaeger."""

from otelflow.translators.jaeger.proto import InvalidIDError, proto_to_traces
from otelflow.translators.jaeger.thrift import thrift_to_traces

__all__ = ["InvalidIDError", "proto_to_traces", "thrift_to_traces"]
