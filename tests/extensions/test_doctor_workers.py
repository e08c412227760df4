"""The doctor's parts on requests the real SDK encoded: the label sketch, and two workers whose
summaries meet in worker 0 — a trace split across them is judged whole (no false orphan), and a
propagation break is found although caller and callee reached different workers."""

from __future__ import annotations

import time

from opentelemetry.context import Context
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, set_span_in_context

from otelflow.core.component import ComponentID, Kind, Settings, Signal
from otelflow.core.telemetry import Telemetry
from otelflow.core.workers.context import WorkerContext
from otelflow.extensions.doctor import Config, Doctor
from otelflow.extensions.doctor.hll import HyperLogLog


def test_label_sketch_counts_distinct_values_and_merges():
    whole, a, b = HyperLogLog(), HyperLogLog(), HyperLogLog()
    for i in range(10_000):
        value = f"user-{i}".encode()
        whole.add(value)
        (a if i % 2 else b).add(value)
        whole.add(value)  # repeats change nothing
    assert abs(whole.estimate() - 10_000) < 600
    a.merge(b)
    assert a.registers == whole.registers
    assert HyperLogLog.load(whole.dump()).registers == whole.registers
    small = HyperLogLog()
    for i in range(50):
        small.add(str(i).encode())
    assert 45 <= small.estimate() <= 55


def _app(name: str):
    exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": name, "service.version": "1",
                                                        "deployment.environment.name": "test"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider.get_tracer("t"), exporter


def _request(exporter: InMemorySpanExporter):
    """Everything the app finished so far, as one OTLP request (as a batch processor would send)."""
    request = encode_spans(exporter.get_finished_spans())
    exporter.clear()
    return request


def _doctor(index: int, directory) -> Doctor:
    settings = Settings(ComponentID("doctor"), Kind.EXTENSION, Telemetry())
    config = Config(window="400ms", interval="100ms", min_occurrences=2)
    return Doctor(settings, config, WorkerContext(index, 2, directory))


async def test_two_workers_judge_split_traces_together(tmp_path):
    w0, w1 = _doctor(0, tmp_path), _doctor(1, tmp_path)
    front, front_out = _app("frontend")
    back, back_out = _app("backend")
    orders, orders_out = _app("orders")
    for _ in range(3):
        with front.start_as_current_span("GET /", kind=SpanKind.SERVER):
            with front.start_as_current_span("GET /orders", kind=SpanKind.CLIENT) as call:
                time.sleep(0.001)
                # orders gets the context: its span's parent is in the other worker
                with orders.start_as_current_span("GET /orders", kind=SpanKind.SERVER, context=set_span_in_context(call)):
                    with orders.start_as_current_span("load"):
                        pass
            with front.start_as_current_span("POST /pay", kind=SpanKind.CLIENT):
                time.sleep(0.001)
                # backend does not: a new trace inside frontend's call
                with back.start_as_current_span("POST /pay", kind=SpanKind.SERVER, context=Context()):
                    time.sleep(0.001)
    w0.observe(Signal.TRACES, _request(front_out))  # frontend's connection reached worker 0
    w1.observe(Signal.TRACES, _request(back_out))  # backend's and orders' reached worker 1
    w1.observe(Signal.TRACES, _request(orders_out))

    alone = await w1.report()  # worker 1 on its own would call orders' spans orphans: nothing decided yet
    assert alone["findings"] == []
    time.sleep(0.5)
    await w1.tick()  # writes doctor-1.json
    await w0.tick()  # reads it and runs the trace checks over both workers' spans
    assert (tmp_path / "doctor-1.json").exists()
    report = await w0.report()
    found = {(f["rule"], f["service"], f["key"]) for f in report["findings"]}
    assert found == {("propagation_break", "backend", "frontend")}, report["stats"]
    assert report["workers"] == {"count": 2, "reporting": 2}
    assert {s["name"] for s in report["services"]} == {"frontend", "backend", "orders"}
    assert report["stats"]["decided_spans"] == 3 * (3 + 1 + 2)  # per call: frontend 3 spans, backend 1, orders 2
    assert report["stats"]["undecided_spans"] == 0


async def test_odd_requests_are_watched_without_failing():
    """Empty resources, spans without IDs, metrics without data, non-string labels: no exception, and
    what can be said is said (an SDK's resource without service.name is an error; a resource no SDK
    made, as hostmetrics sends, is not held to the SDK's attributes)."""
    from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
    from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    doctor = Doctor(Settings(ComponentID("doctor"), Kind.EXTENSION, Telemetry()),
                    Config(window="200ms", interval="100ms", min_occurrences=1))
    traces = ExportTraceServiceRequest()
    traces.resource_spans.add()  # no resource, no spans
    rs = traces.resource_spans.add()
    rs.resource.attributes.add(key="telemetry.sdk.name").value.string_value = "opentelemetry"
    scope = rs.scope_spans.add()
    scope.spans.add()  # no IDs at all
    scope.spans.add(trace_id=b"\x01" * 16, span_id=b"\x02" * 8, parent_span_id=b"\x02" * 8, kind=9, name="x" * 10_000)
    metrics = ExportMetricsServiceRequest()
    rm = metrics.resource_metrics.add()
    rm.scope_metrics.add().metrics.add(name="nothing")  # no data
    point = rm.scope_metrics.add().metrics.add(name="g").gauge.data_points.add()
    point.attributes.add(key="n").value.int_value = 7
    point.attributes.add(key="l").value.array_value.values.add().bool_value = True
    logs = ExportLogsServiceRequest()
    logs.resource_logs.add().scope_logs.add().log_records.add()
    for signal, data in ((Signal.TRACES, traces), (Signal.METRICS, metrics), (Signal.LOGS, logs),
                         (Signal.TRACES, ExportTraceServiceRequest())):
        doctor.observe(signal, data)
    time.sleep(0.3)
    await doctor.tick()
    report = await doctor.report()
    missing = {(f["key"], f["severity"]) for f in report["findings"] if f["rule"] == "missing_resource_attribute"}
    assert missing == {("service.name", "error"), ("service.version", "warning"), ("deployment.environment", "warning")}
    assert all(f["count"] == 1 for f in report["findings"] if f["rule"] == "missing_resource_attribute")  # the SDK's only
    assert [s["name"] for s in report["services"]] == ["unknown_service"]
    assert report["services"][0]["spans"] == 2 and report["services"][0]["points"] == 1


async def test_busy_traffic_lowers_trace_sampling_instead_of_misjudging():
    """2000 spans/s into a 200-span buffer: the sampling threshold drops so the buffer covers the
    window again; complete traces are then judged (no false lost parents) rather than left undecided."""
    doctor = Doctor(Settings(ComponentID("doctor"), Kind.EXTENSION, Telemetry()),
                    Config(max_tracked_spans=200, window="400ms", interval="100ms", min_occurrences=1))
    tracer, out = _app("busy")
    began = last_tick = time.monotonic()
    while time.monotonic() - began < 2.5:
        for _ in range(20):
            with tracer.start_as_current_span("GET /", kind=SpanKind.SERVER):
                with tracer.start_as_current_span("render"):
                    pass
        doctor.observe(Signal.TRACES, _request(out))
        time.sleep(0.02)
        if time.monotonic() - last_tick >= 0.1:
            await doctor.tick()
            last_tick = time.monotonic()
    time.sleep(0.5)
    await doctor.tick()
    report = await doctor.report()
    stats = report["stats"]
    assert report["findings"] == [], report["findings"]
    assert 0 < stats["trace_sampling_now"] < 0.25, stats
    assert stats["decided_spans"] > 20, stats
    # every span counted, far more than the buffer and what was judged
    assert report["services"][0]["spans"] > 5 * (stats["decided_spans"] + stats["undecided_spans"]), stats


def test_a_trace_is_judged_only_where_every_worker_sampled_it_all_along():
    from otelflow.extensions.doctor.structure import Thresholds

    th = Thresholds([[(0.0, 256), (10.0, 64), (20.0, 128)], [(0.0, 200)]])
    assert th.lowest(1.0, 5.0) == 200  # worker 1 kept less from the start
    assert th.lowest(5.0, 12.0) == 64  # worker 0 dropped to 64 at 10 s
    assert th.lowest(21.0, 30.0) == 128
    assert Thresholds([[(0.0, 256)], [(0.0, 256)]]).lowest(0.0, 99.0) == 256
