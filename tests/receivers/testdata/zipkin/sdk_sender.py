"""Send a fixed set of spans with the OpenTelemetry Python SDK's own Zipkin exporters.

    python sdk_sender.py URL json_v2|json_v1|proto

Run as a subprocess. The protobuf exporter (opentelemetry-exporter-zipkin-proto-http 1.45.1) ships
generated code that only works with protobuf 3.x, so ``proto`` runs in a side venv
(``python -m venv --system-site-packages`` plus ``protobuf==3.20.3``; see capture.py).
"""

from __future__ import annotations

import sys

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import Link, SpanKind, Status, StatusCode


def exporter(url: str, encoding: str):
    if encoding == "proto":
        from opentelemetry.exporter.zipkin.proto.http import ZipkinExporter

        return ZipkinExporter(endpoint=url, local_node_ipv4="10.0.0.7", local_node_port=8080, max_tag_value_length=256)
    from opentelemetry.exporter.zipkin.encoder import Protocol
    from opentelemetry.exporter.zipkin.json import ZipkinExporter

    version = Protocol.V1 if encoding == "json_v1" else Protocol.V2
    # max_tag_value_length is given: the v1 encoder fails on its own default (None).
    return ZipkinExporter(version=version, endpoint=url, local_node_ipv4="10.0.0.7", local_node_port=8080,
                          max_tag_value_length=256)


def main(url: str, encoding: str) -> None:
    resource = Resource.create({"service.name": "checkout", "host.name": "node-1",
                                "deployment.environment": "prod", "service.version": "1.2.3"})
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(SimpleSpanProcessor(exporter(url, encoding)))
    tracer = provider.get_tracer("shop.checkout", "0.9.0")
    with tracer.start_as_current_span("GET /cart", kind=SpanKind.SERVER, attributes={
        "http.method": "GET", "http.status_code": 200, "retry.ratio": 1.5, "cache.hit": True,
        "items": ["a", "b"], "user.id": "42",
    }) as root:
        root.add_event("cache miss", {"key": "cart:42", "attempt": 2})
        root.add_event("plain")
        with tracer.start_as_current_span("SELECT cart", kind=SpanKind.CLIENT, attributes={
            "db.system": "postgresql", "net.peer.name": "db", "peer.service": "postgres",
        }) as child:
            child.set_status(Status(StatusCode.ERROR, "timeout"))
        with tracer.start_as_current_span("compute", links=[Link(root.get_span_context(), {"why": "batch"})]):
            pass
        with tracer.start_as_current_span("publish", kind=SpanKind.PRODUCER) as pub:
            pub.set_status(Status(StatusCode.OK))
    other = provider.get_tracer("shop.queue")
    with other.start_as_current_span("consume", kind=SpanKind.CONSUMER, attributes={"messaging.system": "kafka"}):
        pass
    provider.shutdown()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
