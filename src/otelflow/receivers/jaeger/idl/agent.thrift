# The Jaeger agent's UDP interface (jaeger-idl thrift/agent.thrift). Only emitBatch is declared:
# emitZipkinBatch is not served by the receiver (upstream's handler panics on it), so a datagram
# calling it is dropped like any other undecodable one.

include "jaeger.thrift"

namespace py otelflow.receivers.jaeger.idl.gen.agent

service Agent {
  oneway void emitBatch(1: jaeger.Batch batch)
}
