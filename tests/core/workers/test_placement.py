"""Keyed routing between workers: each trace / resource reaches exactly one worker, verdicts travel back."""

from __future__ import annotations

import os
import random

import pytest
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from otelflow.core.consumer import ConsumerError, PermanentError
from otelflow.core.workers.context import WorkerContext
from otelflow.core.workers.exchange import Exchange
from otelflow.core.workers.placement import Forwarder, KeyRouter, split_by_resource, split_by_trace_id
from otelflow.processors.attraction import native as attraction_native


def _traces(rnd: random.Random, traces: int, services: int) -> ExportTraceServiceRequest:
    req = ExportTraceServiceRequest()
    ids = [rnd.randbytes(16) for _ in range(traces)]
    for s in range(services):
        rs = req.resource_spans.add()
        rs.resource.attributes.add(key="service.name").value.string_value = f"svc{s}"
        ss = rs.scope_spans.add()
        ss.scope.name = "lib"
        for tid in ids:
            ss.spans.add(trace_id=tid, span_id=rnd.randbytes(8), name=f"op{s}")
    return req


def _spans(req) -> list[tuple[bytes, bytes, str, str]]:
    return sorted((span.trace_id, span.span_id, rs.resource.attributes[0].value.string_value, ss.scope.name)
                  for rs in req.resource_spans for ss in rs.scope_spans for span in ss.spans)


@pytest.mark.parametrize("count", [2, 3, 5])
def test_trace_split_sends_each_trace_to_one_worker_and_loses_nothing(count):
    req = _traces(random.Random(count), traces=300, services=3)
    parts = split_by_trace_id(req, count)
    assert set(parts) == set(range(count))  # 300 random traces reach every worker
    owner_of: dict[bytes, int] = {}
    for owner, part in parts.items():
        for tid, *_ in _spans(part):
            assert owner_of.setdefault(tid, owner) == owner
    assert sorted(s for p in parts.values() for s in _spans(p)) == _spans(req)
    assert split_by_trace_id(req, count).keys() == parts.keys()  # deterministic


def test_one_owner_passes_the_request_itself_through():
    req = _traces(random.Random(1), traces=1, services=2)
    (owner, part), = split_by_trace_id(req, 4).items()
    assert part is req


def test_resource_split_keeps_each_resource_whole_and_stable():
    req = ExportLogsServiceRequest()
    for i in range(40):
        rl = req.resource_logs.add()
        rl.resource.attributes.add(key="service.name").value.string_value = f"svc{i % 10}"
        rl.scope_logs.add().log_records.add().body.string_value = str(i)
    parts = split_by_resource(req, 2)
    assert len(parts) == 2
    where = {}
    for owner, part in parts.items():
        for rl in part.resource_logs:
            assert where.setdefault(rl.resource.attributes[0].value.string_value, owner) == owner
    assert sum(len(p.resource_logs) for p in parts.values()) == 40


class _Sink:
    mutates_data = False

    def __init__(self, fail: Exception | None = None):
        self.got: list = []
        self.fail = fail

    async def consume(self, data) -> None:
        if self.fail is not None:
            raise self.fail
        self.got.append(data)


@pytest.fixture
async def pair(tmp_path):
    exchanges = [Exchange(WorkerContext(i, 2, tmp_path), dict) for i in range(2)]
    for ex in exchanges:
        await ex.start()
    yield exchanges
    for ex in exchanges:
        await ex.shutdown()


async def test_router_delivers_local_keys_here_and_the_rest_to_their_worker(pair):
    sinks = [_Sink(), _Sink()]
    for ex, sink in zip(pair, sinks):
        ex.register("processor/tail_sampling/traces", "traces", sink)
    router = KeyRouter(sinks[0], "processor/tail_sampling/traces", "trace_id", pair[0])
    req = _traces(random.Random(7), traces=200, services=2)
    await router.consume(req)
    got = [sorted(s for r in sink.got for s in _spans(r)) for sink in sinks]
    assert got[0] and got[1]
    assert sorted(got[0] + got[1]) == _spans(req)
    assert not {s[0] for s in got[0]} & {s[0] for s in got[1]}


async def test_router_cuts_the_clients_bytes_only_where_they_still_match(pair, monkeypatch):
    """A router that nothing before it changes cuts the bytes the receiver parsed; a request that is
    not the receiver's own message (a copy, or one a processor built) is encoded afresh."""
    from otelflow.core.client import received_request
    from otelflow.core.workers import placement

    sinks = [_Sink(), _Sink()]
    for ex, sink in zip(pair, sinks):
        ex.register("processor/tail_sampling/traces", "traces", sink)
    router = KeyRouter(sinks[0], "processor/tail_sampling/traces", "trace_id", pair[0])
    router.as_received = True
    cut_inputs: list[bytes] = []
    real = placement._route.split_traces

    def recording_cut(encoded, count):
        cut_inputs.append(bytes(encoded))
        return real(encoded, count)

    monkeypatch.setattr(placement, "_route", type("Cutter", (), {"split_traces": staticmethod(recording_cut)}))
    req = _traces(random.Random(9), traces=50, services=2)
    # stand-in for "the client's bytes": another request, so the sinks show which bytes were cut
    client_bytes = _traces(random.Random(10), traces=50, services=2).SerializeToString()
    token = received_request.set((req, client_bytes, None))
    try:
        await router.consume(req)
        copy = ExportTraceServiceRequest()
        copy.CopyFrom(req)
        await router.consume(copy)
        router.as_received = False  # a processor before it changes data in place
        await router.consume(req)
    finally:
        received_request.reset(token)
    assert cut_inputs[0] == client_bytes
    assert cut_inputs[1] == cut_inputs[2] == req.SerializeToString()
    got = sorted(s for sink in sinks for r in sink.got for s in _spans(r))
    client = ExportTraceServiceRequest.FromString(client_bytes)
    assert got == sorted(_spans(client) + _spans(req) * 2)


def test_the_graph_trusts_the_clients_bytes_only_before_any_mutating_processor():
    from otelflow.config import collector, loader
    from otelflow.core.graph import Graph
    from otelflow.core.registry import default_registry
    from otelflow.core.telemetry import Telemetry

    class _Exchange:
        ctx = WorkerContext(0, 2, "/nonexistent")

        def register(self, *args) -> None:
            pass

    def routers(processors: str) -> list[bool]:
        tree = loader.parse_yaml(f"""
receivers: {{otlp: {{protocols: {{grpc: {{endpoint: 127.0.0.1:0}}}}}}}}
processors: {{memory_limiter: {{check_interval: 1s, limit_mib: 100}}, attributes: {{actions: [{{key: a, value: b, action: insert}}]}},
             resource: {{attributes: [{{key: a, value: b, action: insert}}]}},
             resource/python: {{attributes: [{{pattern: ^a, action: delete}}]}},
             tail_sampling: {{policies: [{{name: all, type: always_sample}}]}}}}
exporters: {{debug: {{}}}}
service: {{pipelines: {{traces: {{receivers: [otlp], processors: [{processors}], exporters: [debug]}}}}}}
""", "test")
        graph = Graph(collector.parse(tree, default_registry), default_registry, Telemetry(), _Exchange())
        graph.build()
        return [router.as_received for router in graph.key_routers]

    assert routers("memory_limiter, tail_sampling") == [True]
    # resource and attributes whose actions the C loop runs hand on their output's bytes
    # (publishes_encoded); resource on the Python path (a pattern) changes the message in place
    c_loop = attraction_native._attrs is not None
    assert routers("resource, tail_sampling") == [c_loop]
    assert routers("resource/python, tail_sampling") == [False]
    assert routers("attributes, tail_sampling") == [True]
    assert routers("attributes, resource, tail_sampling") == [c_loop]
    assert routers("attributes, resource/python, tail_sampling") == [False]
    assert routers("tail_sampling, attributes") == [True]


async def test_the_owning_workers_verdict_reaches_the_sender(pair):
    pair[1].register("exporter/file/traces", "traces", _Sink(PermanentError("bad data")))
    with pytest.raises(PermanentError, match="bad data"):
        await Forwarder("exporter/file/traces", pair[1]).exchange.send(1, "exporter/file/traces", ExportTraceServiceRequest())
    pair[0].register("exporter/file/traces", "traces", _Sink(ConsumerError("queue full")))
    with pytest.raises(ConsumerError, match="queue full") as err:
        await Forwarder("exporter/file/traces", pair[1]).consume(ExportTraceServiceRequest())
    assert not err.value.permanent
    with pytest.raises(ConsumerError, match="no pipeline node"):
        await pair[0].send(1, "exporter/unknown/traces", ExportTraceServiceRequest())


async def test_an_unreachable_worker_is_a_retryable_error(tmp_path, monkeypatch):
    monkeypatch.setattr("otelflow.core.workers.exchange.PEER_WAIT", 0.5)  # a starting worker gets 10 s
    alone = Exchange(WorkerContext(0, 2, tmp_path), dict)
    await alone.start()
    try:
        with pytest.raises(ConsumerError, match="worker 1 is not reachable") as err:
            await alone.send(1, "exporter/file/traces", ExportTraceServiceRequest())
        assert not err.value.permanent
        await alone.wait_for_peers(5, timeout=2)  # a worker that is gone does not hold up shutdown
    finally:
        await alone.shutdown()
    assert not os.path.exists(tmp_path / "worker-0.sock")


def test_native_cut_matches_the_parsed_cut():
    from otelflow.native import _route

    rnd = random.Random(11)
    req = _traces(rnd, traces=120, services=3)
    req.resource_spans[1].schema_url = "https://opentelemetry.io/schemas/1.4.0"
    req.resource_spans[2].scope_spans[0].scope.version = "1.2"
    for count in (2, 3, 7):
        cut = _route.split_traces(req.SerializeToString(), count)
        parsed = split_by_trace_id(req, count)
        assert [i for i, part in enumerate(cut) if part is not None] == sorted(parsed)
        for owner, part in parsed.items():
            assert ExportTraceServiceRequest.FromString(cut[owner]) == part
    one = _traces(rnd, traces=1, services=2)
    assert _route.split_traces(one.SerializeToString(), 4) == next(iter(split_by_trace_id(one, 4)))
    assert _route.split_traces(b"\x0a\x05\x12", 2) is None  # truncated: left to the parsed way


def test_native_cut_per_trace_matches_the_kafka_exporters_cut():
    from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest as Logs

    from otelflow.exporters.kafka.partition import by_trace_id
    from otelflow.native import _route

    rnd = random.Random(5)
    req = _traces(rnd, traces=50, services=2)
    req.resource_spans[0].scope_spans[0].spans.add(name="no trace id")
    native = _route.by_trace_id(req.SerializeToString(), 1)
    parsed = by_trace_id(req, "resource_spans", "scope_spans", "spans")
    assert len(native) == len(parsed) == 101
    for (tid, body), (key, part) in zip(native, parsed):
        assert key == (tid.hex().encode() if tid else None)
        assert ExportTraceServiceRequest.FromString(body) == part
    logs = Logs()
    scope = logs.resource_logs.add().scope_logs.add()
    ids = [rnd.randbytes(16) for _ in range(3)]
    for i in range(9):
        scope.log_records.add(trace_id=ids[i % 3]).body.string_value = str(i)
    cut = _route.by_trace_id(logs.SerializeToString(), 9)
    assert [tid for tid, _ in cut] == ids
    assert [[r.body.string_value for r in Logs.FromString(b).resource_logs[0].scope_logs[0].log_records]
            for _, b in cut] == [["0", "3", "6"], ["1", "4", "7"], ["2", "5", "8"]]
