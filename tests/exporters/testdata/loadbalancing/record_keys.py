"""Record where otelcol-ref's loadbalancing exporter sends each item, for every routing key it has
besides traces by trace ID (see record.py), over several backend lists.

For each case (signal, routing_key, routing_attributes, a deterministic request from ``build``) and
each backend list in ``LISTS``, it starts one OTLP/gRPC sink per backend on its fixed address (the
address is the ring member's name), runs ``bench/.build/bin/otelcol-ref`` with otlp receiver ->
loadbalancing (static resolver), sends the request and writes ``keys/<case>_<list>.txt``: one
character per item, the index of the sink that got it, or ``-`` when otelcol-ref delivered it
nowhere. Items are numbered by their span ID or log record span ID (big-endian) or data point
``time_unix_nano``, none of which any routing key reads. Run from the repo root:
``python tests/exporters/testdata/loadbalancing/record_keys.py [otelcol-ref]``; the tests import
``CASES``, ``LISTS`` and ``build`` from here."""

from __future__ import annotations

import asyncio
import hashlib
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import grpc
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2 as ls
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2 as ms
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2 as ts
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

HERE = Path(__file__).parent
OUT = HERE / "keys"
LISTS: dict[str, list[str]] = {
    "2": ["127.0.0.1:47311", "127.0.0.1:47312"],
    "3": ["127.0.0.1:47311", "127.0.0.1:47312", "127.0.0.1:47313"],
    "5": [f"127.0.0.1:{47311 + i}" for i in range(5)],
    "4ip": [f"127.0.0.{2 + i}:{47321 + i}" for i in range(4)],  # other loopback addresses
}
RECEIVER = "127.0.0.1:47331"


@dataclass(frozen=True)
class Case:
    name: str
    signal: str  # traces, logs, metrics
    routing_key: str
    attributes: tuple[str, ...] = ()


CASES = [
    Case("traces_attributes", "traces", "attributes", ("tenant", "span.kind", "span.name", "region")),
    Case("traces_service", "traces", "service"),
    Case("logs_attributes", "logs", "attributes", ("tenant", "log.severity", "log.body", "region")),
    Case("logs_service", "logs", "service"),
    Case("logs_resource", "logs", "resource"),
    Case("logs_traceID", "logs", "traceID"),
    Case("metrics_attributes", "metrics", "attributes", ("tenant", "host", "region")),
    Case("metrics_service", "metrics", "service"),
    Case("metrics_metric", "metrics", "metric"),
    Case("metrics_resource", "metrics", "resource"),
    Case("metrics_streamID", "metrics", "streamID"),
]


# -- inputs -----------------------------------------------------------------------------------------

def _value(n: int) -> AnyValue:
    """A pool of attribute values of every kind, so keys exercise pcommon's AsString."""
    v = AnyValue()
    k = n % 16
    if k == 0:
        v.string_value = f"t{n % 13}"
    elif k == 1:
        v.string_value = ""
    elif k == 2:
        v.int_value = n % 5 - 2
    elif k == 3:
        v.double_value = 2.5
    elif k == 4:
        v.double_value = 1e16 + n
    elif k == 5:
        v.double_value = 1e-7 * (n % 3 + 1)
    elif k == 6:
        v.double_value = 0.1 * (n % 4)
    elif k == 7:
        v.bool_value = n % 2 == 0
    elif k == 8:
        v.bytes_value = bytes([n % 256, 255, 0])
    elif k == 9:
        arr = v.array_value.values
        arr.add().int_value = n % 3
        arr.add().string_value = "x<&>"
        arr.add().double_value = 2.0
    elif k == 10:
        kv = v.kvlist_value.values
        kv.add(key="b").value.int_value = n % 2
        kv.add(key="a").value.array_value.values.add().bool_value = True
        kv.add(key="c")  # an empty value
    elif k == 11:
        pass  # empty
    elif k == 12:
        v.string_value = f"ü-{n % 7}\t\"q\""
    elif k == 13:
        v.double_value = 1.0 * (n % 3)
    elif k == 14:
        v.double_value = -1e21 * (n % 2 + 1)
    else:
        v.string_value = f"tenant-{n % 6}"
    return v


def _set(attrs, key: str, value: AnyValue) -> None:
    attrs.add(key=key).value.CopyFrom(value)


def _tid(n: int) -> bytes:
    return hashlib.sha256(b"lbk-%d" % n).digest()[:16]


def _sid(n: int) -> bytes:
    return (n + 1).to_bytes(8, "big")


def _traces_attributes() -> ts.ExportTraceServiceRequest:
    req = ts.ExportTraceServiceRequest()
    item = 0
    for r in range(50):
        rs = req.resource_spans.add()
        _set(rs.resource.attributes, "service.name", AnyValue(string_value=f"svc-{r % 7}"))
        if r % 4 == 0:
            _set(rs.resource.attributes, "region", _value(r))
        ss = rs.scope_spans.add()
        ss.scope.name = "lib"
        if r % 5 == 0:
            _set(ss.scope.attributes, "tenant", _value(r + 3))
        for j in range(10):
            # in every 6th resource two consecutive spans share a trace: the first one's key decides
            shared = r % 6 == 1 and j % 2 == 1
            span = ss.spans.add(trace_id=_tid(item - 1 if shared else item), span_id=_sid(item),
                                name=f"op-{(r + j) % 3}", kind=(r + j) % 6)
            if item % 9:
                _set(span.attributes, "tenant", _value(item))
            if item % 4 == 1:
                _set(span.attributes, "region", _value(item + 5))
            item += 1
    return req


def _traces_service() -> ts.ExportTraceServiceRequest:
    req = ts.ExportTraceServiceRequest()
    for r in range(300):
        rs = req.resource_spans.add()
        ss = rs.scope_spans.add()
        span = ss.spans.add(trace_id=_tid(r), span_id=_sid(r), name="s")
        if r % 10 == 3:  # no service.name on the resource: upstream looks at the scope, then the span
            _set(span.attributes, "service.name", AnyValue(string_value=f"span-svc-{r}"))
        elif r % 10 == 7:
            _set(rs.resource.attributes, "service.name", AnyValue(int_value=r))
        elif r % 10 != 9:  # r % 10 == 9: no service.name anywhere
            _set(rs.resource.attributes, "service.name", AnyValue(string_value=f"svc-{r}"))
    return req


def _logs_attributes() -> ls.ExportLogsServiceRequest:
    req = ls.ExportLogsServiceRequest()
    item = 0
    for r in range(40):
        rl = req.resource_logs.add()
        _set(rl.resource.attributes, "service.name", AnyValue(string_value=f"svc-{r % 5}"))
        if r % 4 == 0:
            _set(rl.resource.attributes, "region", _value(r))
        if r % 13 == 0:  # every attribute on the resource: routed as a whole
            _set(rl.resource.attributes, "tenant", _value(r + 1))
            _set(rl.resource.attributes, "log.severity", AnyValue(string_value="sev"))
            _set(rl.resource.attributes, "log.body", AnyValue(string_value="body"))
        for s in range(2):
            sl = rl.scope_logs.add()
            sl.scope.name = f"lib-{s}"
            if (r + s) % 5 == 0:
                _set(sl.scope.attributes, "tenant", _value(r + s))
            for j in range(6):
                rec = sl.log_records.add(span_id=_sid(item), trace_id=_tid(item))
                rec.severity_text = ("INFO", "WARN", "", "ERROR")[item % 4]
                rec.body.CopyFrom(_value(item + 2))
                if item % 7:
                    _set(rec.attributes, "tenant", _value(item))
                if item % 3 == 0:
                    _set(rec.attributes, "region", _value(item + 1))
                item += 1
    return req


def _logs_service() -> ls.ExportLogsServiceRequest:
    req = ls.ExportLogsServiceRequest()
    for r in range(300):
        rl = req.resource_logs.add()
        n = r % 150  # each service twice, in two resources
        if n % 10 == 7:
            _set(rl.resource.attributes, "service.name", AnyValue(int_value=n))
        elif n % 10 != 9:
            _set(rl.resource.attributes, "service.name", AnyValue(string_value=f"svc-{n}"))
        rl.scope_logs.add().log_records.add(span_id=_sid(r)).body.string_value = "x"
    return req


def _resource_attrs(attrs, r: int) -> None:
    """Varied resources: empty ones, nested values, and the same attributes in another order."""
    if r % 11 == 0:
        return
    keys = [("service.name", AnyValue(string_value=f"svc-{r // 2}")), ("host", _value(r // 2)),
            ("zone", _value(r // 2 + 7))]
    if r % 2:  # an odd resource holds the even one's attributes, reversed: the same identity
        keys.reverse()
    for k, v in keys[: 1 + (r // 2) % 3]:
        _set(attrs, k, v)


def _logs_resource() -> ls.ExportLogsServiceRequest:
    req = ls.ExportLogsServiceRequest()
    item = 0
    for r in range(200):
        rl = req.resource_logs.add()
        _resource_attrs(rl.resource.attributes, r)
        for _ in range(1 + r % 2):
            rl.scope_logs.add().log_records.add(span_id=_sid(item)).body.string_value = "x"
            item += 1
    return req


def _logs_trace_id() -> ls.ExportLogsServiceRequest:
    req = ls.ExportLogsServiceRequest()
    sl = req.resource_logs.add().scope_logs.add()
    for n in range(500):
        sl.log_records.add(span_id=_sid(n), trace_id=_tid(n // 2)).body.string_value = "x"
    return req


def _point(metric, kind: str, t: int):
    if kind == "gauge":
        return metric.gauge.data_points.add(time_unix_nano=t, as_int=t)
    if kind == "sum":
        metric.sum.is_monotonic = t % 2 == 0
        metric.sum.aggregation_temporality = 1 + t % 2
        return metric.sum.data_points.add(time_unix_nano=t, as_double=1.5)
    if kind == "histogram":
        metric.histogram.aggregation_temporality = 2
        return metric.histogram.data_points.add(time_unix_nano=t, count=1, sum=2.0)
    if kind == "exponential_histogram":
        metric.exponential_histogram.aggregation_temporality = 1
        return metric.exponential_histogram.data_points.add(time_unix_nano=t, count=1)
    return metric.summary.data_points.add(time_unix_nano=t, count=1)


KINDS = ("gauge", "sum", "histogram", "exponential_histogram", "summary")


def _metrics(resources: int, scopes: int, metrics: int, points: int, attrs: bool) -> ms.ExportMetricsServiceRequest:
    req = ms.ExportMetricsServiceRequest()
    t = 1
    for r in range(resources):
        rm = req.resource_metrics.add()
        _resource_attrs(rm.resource.attributes, r)
        if attrs and r % 4 == 0:
            _set(rm.resource.attributes, "region", _value(r))
        for s in range(scopes):
            sm = rm.scope_metrics.add()
            sm.scope.name, sm.scope.version = f"lib-{s}", ("", "1.0")[(r + s) % 2]
            if (r + s) % 3 == 0:
                _set(sm.scope.attributes, "tenant" if attrs else "k", _value(r + s))
            for m in range(metrics):
                metric = sm.metrics.add(name=f"m-{(r + m) % 4}", unit=("", "ms", "By")[m % 3])
                kind = KINDS[(r + s + m) % len(KINDS)]
                for p in range(points):
                    dp = _point(metric, kind, t)
                    if (t % 5):
                        _set(dp.attributes, "host", _value(t))
                    if t % 3 == 0:
                        _set(dp.attributes, "tenant", _value(t + 1))
                    t += 1
    return req


def _metrics_service() -> ms.ExportMetricsServiceRequest:
    req = ms.ExportMetricsServiceRequest()
    for r in range(300):
        rm = req.resource_metrics.add()
        if r % 10 == 7:
            _set(rm.resource.attributes, "service.name", AnyValue(int_value=r))
        elif r % 10 != 9:  # no service.name: logged and dropped, as upstream
            _set(rm.resource.attributes, "service.name", AnyValue(string_value=f"svc-{r}"))
        rm.scope_metrics.add().metrics.add(name="m").gauge.data_points.add(time_unix_nano=r + 1, as_int=r)
    return req


def _metrics_metric() -> ms.ExportMetricsServiceRequest:
    req = ms.ExportMetricsServiceRequest()
    t = 1
    for r in range(3):
        sm = req.resource_metrics.add().scope_metrics.add()
        for n in range(200):
            name = ("", f"m-{n}", f"métrique.{n}", f"http.server.duration.{n % 50}")[n % 4]
            _point(sm.metrics.add(name=name), KINDS[n % len(KINDS)], t)
            t += 1
    return req


def build(case: Case):
    """The request of a case (deterministic)."""
    return {
        "traces_attributes": _traces_attributes,
        "traces_service": _traces_service,
        "logs_attributes": _logs_attributes,
        "logs_service": _logs_service,
        "logs_resource": _logs_resource,
        "logs_traceID": _logs_trace_id,
        "metrics_attributes": lambda: _metrics(12, 2, 3, 5, attrs=True),
        "metrics_service": _metrics_service,
        "metrics_metric": _metrics_metric,
        "metrics_resource": lambda: _metrics(60, 1, 2, 2, attrs=False),
        "metrics_streamID": lambda: _metrics(10, 3, 4, 4, attrs=False),
    }[case.name]()


# -- items ------------------------------------------------------------------------------------------



def item_ids(signal: str, request) -> list[int]:
    """The item numbers in a request (span or log record span ID, data point time)."""
    out = []
    if signal == "traces":
        for rs in request.resource_spans:
            for ss in rs.scope_spans:
                out.extend(int.from_bytes(s.span_id, "big") - 1 for s in ss.spans)
    elif signal == "logs":
        for rl in request.resource_logs:
            for sl in rl.scope_logs:
                out.extend(int.from_bytes(r.span_id, "big") - 1 for r in sl.log_records)
    else:
        for rm in request.resource_metrics:
            for sm in rm.scope_metrics:
                for m in sm.metrics:
                    data = m.WhichOneof("data")
                    if data:
                        out.extend(p.time_unix_nano - 1 for p in getattr(m, data).data_points)
    return out


_SERVICES = {
    "traces": ("opentelemetry.proto.collector.trace.v1.TraceService", ts.ExportTraceServiceRequest, ts.ExportTraceServiceResponse),
    "logs": ("opentelemetry.proto.collector.logs.v1.LogsService", ls.ExportLogsServiceRequest, ls.ExportLogsServiceResponse),
    "metrics": ("opentelemetry.proto.collector.metrics.v1.MetricsService", ms.ExportMetricsServiceRequest, ms.ExportMetricsServiceResponse),
}


class Sink:
    """An OTLP/gRPC server for all three signals recording the item numbers it receives."""

    def __init__(self, endpoint: str):
        self.endpoint = endpoint
        self.items: list[int] = []
        self.server: grpc.aio.Server | None = None

    async def start(self) -> None:
        self.server = grpc.aio.server()
        for signal, (service, req_type, resp_type) in _SERVICES.items():
            async def export(req, context, signal=signal, resp_type=resp_type):
                self.items.extend(item_ids(signal, req))
                return resp_type()
            handler = grpc.unary_unary_rpc_method_handler(export, request_deserializer=req_type.FromString,
                                                          response_serializer=resp_type.SerializeToString)
            self.server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(service, {"Export": handler}),))
        self.server.add_insecure_port(self.endpoint)
        await self.server.start()

    async def stop(self) -> None:
        if self.server is not None:
            await self.server.stop(None)


CONFIG = """receivers:
  otlp:
    protocols:
      grpc:
        endpoint: {receiver}
exporters:
  loadbalancing:
    routing_key: {key}
{attributes}    protocol:
      otlp:
        tls:
          insecure: true
    resolver:
      static:
        hostnames: [{hostnames}]
service:
  telemetry:
    metrics:
      level: none
  pipelines:
    {signal}:
      receivers: [otlp]
      exporters: [loadbalancing]
"""


async def record(case: Case, endpoints: list[str], binary: Path) -> str:
    sinks = [Sink(e) for e in endpoints]
    for s in sinks:
        await s.start()
    request = build(case)
    total = len(item_ids(case.signal, request))
    attributes = f"    routing_attributes: [{', '.join(case.attributes)}]\n" if case.attributes else ""
    with tempfile.NamedTemporaryFile("w", suffix=".yaml") as cfg:
        cfg.write(CONFIG.format(receiver=RECEIVER, key=case.routing_key, attributes=attributes,
                                hostnames=", ".join(endpoints), signal=case.signal))
        cfg.flush()
        proc = subprocess.Popen([str(binary), "--config", cfg.name], stderr=subprocess.DEVNULL)
        try:
            service, req_type, resp_type = _SERVICES[case.signal]
            async with grpc.aio.insecure_channel(RECEIVER) as channel:
                call = channel.unary_unary(f"/{service}/Export", request_serializer=req_type.SerializeToString,
                                           response_deserializer=resp_type.FromString)
                try:
                    await call(request, timeout=10, wait_for_ready=True)
                except grpc.aio.AioRpcError as exc:  # some items refused (metrics without service.name)
                    print(f"  {case.name}: {exc.code().name}: {exc.details()}")
            # wait until everything arrived, or nothing more has for 2 s (otelcol-ref dropped some)
            last, still = -1, time.monotonic()
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                got = sum(len(s.items) for s in sinks)
                if got >= total:
                    break
                if got != last:
                    last, still = got, time.monotonic()
                elif time.monotonic() - still > 2:
                    break
                await asyncio.sleep(0.1)
        finally:
            proc.terminate()
            proc.wait()
            for s in sinks:
                await s.stop()
    owner: dict[int, set[int]] = {}
    for n, s in enumerate(sinks):
        for i in s.items:
            owner.setdefault(i, set()).add(n)
    assert all(len(v) == 1 for v in owner.values()), f"{case.name}: an item reached two sinks"
    return "".join(str(next(iter(owner[i]))) if i in owner else "-" for i in range(total))


def golden(case: Case, list_name: str) -> str:
    return (OUT / f"{case.name}_{list_name}.txt").read_text().strip()


def main() -> None:
    binary = Path(sys.argv[1] if len(sys.argv) > 1 else "bench/.build/bin/otelcol-ref")
    OUT.mkdir(exist_ok=True)
    for case in CASES:
        for list_name, endpoints in LISTS.items():
            digits = asyncio.run(record(case, endpoints, binary))
            (OUT / f"{case.name}_{list_name}.txt").write_text(digits + "\n")
            print(case.name, list_name, {d: digits.count(d) for d in sorted(set(digits))})


if __name__ == "__main__":
    main()
