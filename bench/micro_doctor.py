#!/usr/bin/env python3
"""CPU cost of the doctor extension's ``observe`` per span and per metric point, next to parsing.

Traces: 512-span requests (4 services of 128 spans, 10 attributes each), observed with
``trace_sampling`` 1.0 and 0.1, against ``ExportTraceServiceRequest.FromString`` of the same bytes.
Metrics: one metric of 2000 points with 3 labels (one distinct per point). CPU time, best of 7.
Also times one trace-shape analysis of a full 20 000-span buffer.

    python bench/micro_doctor.py
"""

from __future__ import annotations

import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src"))

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest  # noqa: E402
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest  # noqa: E402

from otelflow.core.component import ComponentID, Kind, Settings, Signal  # noqa: E402
from otelflow.core.telemetry import Telemetry  # noqa: E402
from otelflow.extensions.doctor import Config, Doctor  # noqa: E402

ROUNDS, REPEAT = 7, 100


def traces() -> ExportTraceServiceRequest:
    req = ExportTraceServiceRequest()
    for r in range(4):
        rs = req.resource_spans.add()
        for key, value in (("service.name", f"svc{r}"), ("service.version", "1"), ("deployment.environment.name", "p")):
            rs.resource.attributes.add(key=key).value.string_value = value
        scope = rs.scope_spans.add()
        for _ in range(128):
            span = scope.spans.add(trace_id=os.urandom(16), span_id=os.urandom(8), parent_span_id=os.urandom(8),
                                   name="op", kind=2, start_time_unix_nano=1, end_time_unix_nano=2)
            for j in range(10):
                span.attributes.add(key=f"k{j}").value.string_value = "v"
    return req


def metrics() -> ExportMetricsServiceRequest:
    req = ExportMetricsServiceRequest()
    rm = req.resource_metrics.add()
    rm.resource.attributes.add(key="service.name").value.string_value = "m"
    metric = rm.scope_metrics.add().metrics.add(name="orders")
    for i in range(2000):
        point = metric.sum.data_points.add(as_int=1)
        for key, value in (("user_id", f"u{i}"), ("region", "eu"), ("route", "/x")):
            point.attributes.add(key=key).value.string_value = value
    return req


def doctor(**config) -> Doctor:
    return Doctor(Settings(ComponentID("doctor"), Kind.EXTENSION, Telemetry()), Config(**config))


def best(fn, units: int) -> float:
    """Best CPU time per unit in microseconds."""
    times = []
    for _ in range(ROUNDS):
        t = time.process_time()
        for _ in range(REPEAT):
            fn()
        times.append(time.process_time() - t)
    return min(times) / (REPEAT * units) * 1e6


def main() -> None:
    req = traces()
    body = req.SerializeToString()
    print(f"parse (FromString)          {best(lambda: ExportTraceServiceRequest.FromString(body), 512):.2f} us/span")
    for sampling in (1.0, 0.1):
        d = doctor(trace_sampling=sampling)
        print(f"observe trace_sampling={sampling}  {best(lambda: d.observe(Signal.TRACES, req), 512):.2f} us/span")
    d, m = doctor(), metrics()
    print(f"observe metrics             {best(lambda: d.observe(Signal.METRICS, m), 2000):.2f} us/point (3 labels)")
    d = doctor()
    for _ in range(40):
        d.observe(Signal.TRACES, traces())
    spans = d.tracked.snapshot()
    d.structure.decided_until, d.structure.window = 0.0, -10.0  # judge every span now
    t = time.process_time()
    d.structure.analyze([(spans, 0.0, time.time(), [(0.0, 256)])], time.time())
    print(f"analysis of {len(spans)} spans     {(time.process_time() - t) * 1000:.0f} ms CPU")


if __name__ == "__main__":
    main()
