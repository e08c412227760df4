"""The pipeline graph: fan-out isolation, fan-in, connectors, start and stop order."""

from __future__ import annotations

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from otelflow.config import collector, loader
from otelflow.config.model import Model
from otelflow.core.component import Component, Factory, Kind, Signal
from otelflow.core.consumer import ConsumerError, Fanout, PermanentError
from otelflow.core.registry import Registry
from otelflow.core.service import Service, StartError

EVENTS: list[str] = []


class TagConfig(Model):
    value: str = "x"
    fail_start: bool = False


class Tagger(Component):
    """A processor that writes an attribute on every span: it declares that it mutates data."""

    mutates_data = True

    def __init__(self, settings, config, next):
        self.id, self.value, self.next = str(settings.id), config.value, next

    async def consume(self, data):
        for rs in data.resource_spans:
            rs.resource.attributes.add(key="tag", value={"string_value": self.value})
        await self.next.consume(data)

    async def start(self, host):
        EVENTS.append(f"start processor {self.id}")

    async def shutdown(self):
        EVENTS.append(f"stop processor {self.id}")


class Recorder(Component):
    """An exporter that keeps what it was given (read-only, as a real exporter is)."""

    mutates_data = False

    def __init__(self, settings, config):
        self.id, self.seen, self.fail = str(settings.id), [], config.value

    async def consume(self, data):
        if self.fail == "permanent":
            raise PermanentError("rejected")
        if self.fail == "retryable":
            raise ConsumerError("busy")
        self.seen.append(data)

    async def start(self, host):
        if self.fail == "start":
            raise RuntimeError("port in use")
        EVENTS.append(f"start exporter {self.id}")

    async def shutdown(self):
        EVENTS.append(f"stop exporter {self.id}")


class Source(Component):
    def __init__(self, settings, config, consumers):
        self.id, self.consumers = str(settings.id), consumers

    async def start(self, host):
        EVENTS.append(f"start receiver {self.id}")

    async def shutdown(self):
        EVENTS.append(f"stop receiver {self.id}")


def registry() -> Registry:
    from otelflow.connectors.forward import factory as forward

    r = Registry({k: {} for k in Kind})
    r.register(Factory("src", Kind.RECEIVER, TagConfig, Source))
    r.register(Factory("tag", Kind.PROCESSOR, TagConfig, Tagger))
    r.register(Factory("rec", Kind.EXPORTER, TagConfig, Recorder))
    r.register(forward)
    return r


def service(yaml_text: str) -> Service:
    reg = registry()
    return Service(collector.parse(loader.load([f"yaml:{yaml_text}"]), reg), reg)


def request() -> ExportTraceServiceRequest:
    req = ExportTraceServiceRequest()
    req.resource_spans.add().scope_spans.add().spans.add(name="op", trace_id=b"\1" * 16, span_id=b"\2" * 8)
    return req


def tags(req) -> list[str]:
    return [a.value.string_value for rs in req.resource_spans for a in rs.resource.attributes if a.key == "tag"]


CONFIG = """
receivers: {src/a: {}, src/b: {}}
processors: {tag/1: {value: one}, tag/2: {value: two}}
exporters: {rec/x: {}, rec/y: {}, rec/z: {}}
service:
  pipelines:
    traces/one: {receivers: [src/a, src/b], processors: [tag/1], exporters: [rec/x]}
    traces/two: {receivers: [src/a], processors: [tag/2], exporters: [rec/y]}
    traces/plain: {receivers: [src/a], exporters: [rec/x, rec/z]}
"""


async def test_processors_in_one_pipeline_never_change_what_another_sees():
    svc = service(CONFIG)
    await svc.start()
    try:
        original = request()
        await svc.component(Kind.RECEIVER, "src/a").consumers[Signal.TRACES].consume(original)
        x, y, z = (svc.component(Kind.EXPORTER, n) for n in ("rec/x", "rec/y", "rec/z"))
        # rec/x is shared by traces/one (tagged "one") and traces/plain (untagged): one exporter instance
        assert sorted(tags(m) for m in x.seen) == [[], ["one"]]
        assert [tags(m) for m in y.seen] == [["two"]]
        assert [tags(m) for m in z.seen] == [[]]
        # the untagged copies are the very request the receiver sent: no copy for read-only paths
        assert any(m is original for m in z.seen)
        # fan-in: src/b feeds traces/one only
        await svc.component(Kind.RECEIVER, "src/b").consumers[Signal.TRACES].consume(request())
        assert len(x.seen) == 3 and len(y.seen) == 1
    finally:
        await svc.shutdown()


async def test_start_exporters_first_and_stop_receivers_first():
    EVENTS.clear()
    svc = service(CONFIG)
    await svc.start()
    await svc.shutdown()
    starts = [e for e in EVENTS if e.startswith("start")]
    stops = [e for e in EVENTS if e.startswith("stop")]
    kinds = [e.split()[1] for e in starts]
    assert kinds == sorted(kinds, key=["exporter", "processor", "receiver"].index)
    assert stops == [e.replace("start", "stop") for e in reversed(starts)]


async def test_connector_feeds_pipelines_and_is_one_node_per_signal_pair():
    svc = service("""
receivers: {src: {}}
processors: {tag: {value: fwd}}
exporters: {rec/in: {}, rec/out1: {}, rec/out2: {}}
connectors: {forward: {}}
service:
  pipelines:
    traces/in: {receivers: [src], exporters: [forward, rec/in]}
    traces/out1: {receivers: [forward], processors: [tag], exporters: [rec/out1]}
    traces/out2: {receivers: [forward], exporters: [rec/out2]}
""")
    await svc.start()
    try:
        await svc.component(Kind.RECEIVER, "src").consumers[Signal.TRACES].consume(request())
        seen = {n: svc.component(Kind.EXPORTER, n).seen for n in ("rec/in", "rec/out1", "rec/out2")}
        assert [tags(m) for m in seen["rec/in"]] == [[]]
        assert [tags(m) for m in seen["rec/out1"]] == [["fwd"]]
        assert [tags(m) for m in seen["rec/out2"]] == [[]]
        assert sum(1 for n in svc.graph.nodes if n.kind is Kind.CONNECTOR) == 1
    finally:
        await svc.shutdown()


async def test_errors_reach_the_receiver_and_permanent_wins():
    svc = service("""
receivers: {src: {}}
exporters: {rec/ok: {}, rec/busy: {value: retryable}, rec/no: {value: permanent}}
service:
  pipelines:
    traces/a: {receivers: [src], exporters: [rec/ok, rec/busy]}
    traces/b: {receivers: [src], exporters: [rec/no]}
""")
    await svc.start()
    try:
        with pytest.raises(PermanentError):
            await svc.component(Kind.RECEIVER, "src").consumers[Signal.TRACES].consume(request())
        assert len(svc.component(Kind.EXPORTER, "rec/ok").seen) == 1
    finally:
        await svc.shutdown()


async def test_component_that_fails_to_start_stops_the_started_ones():
    EVENTS.clear()
    svc = service("""
receivers: {src: {}}
exporters: {rec/good: {}, rec/bad: {value: start}}
service:
  pipelines:
    traces: {receivers: [src], exporters: [rec/good, rec/bad]}
""")
    with pytest.raises(StartError, match="exporter rec/bad .* port in use"):
        await svc.start()
    assert EVENTS == ["start exporter rec/good", "stop exporter rec/good"]


async def test_fanout_copies_only_for_mutators():
    class Keep:
        def __init__(self, mutates):
            self.mutates_data, self.got = mutates, []

        async def consume(self, data):
            self.got.append(data)

    reader, m1, m2 = Keep(False), Keep(True), Keep(True)
    data = request()
    await Fanout([m1, reader, m2]).consume(data)
    assert reader.got[0] is data and m1.got[0] is not data and m2.got[0] is not data
    only = Keep(True)
    await Fanout([only, Keep(True)]).consume(data)
    assert Fanout([reader]).mutates_data is False and Fanout([reader, m1]).mutates_data is True



class Keeper(Component):
    """A connector that keeps the ``next`` the graph built for it."""

    mutates_data = False

    def __init__(self, settings, config, source, target, next):
        self.next = next

    async def consume(self, data):
        await self.next.consume(data)


async def test_connector_next_addresses_pipelines_by_id():
    from otelflow.core.consumer import Router

    reg = registry()
    reg.register(Factory("keep", Kind.CONNECTOR, TagConfig, Keeper, pairs=frozenset({(Signal.TRACES, Signal.TRACES)})))
    cfg = collector.parse(loader.load(["yaml:" + """
receivers: {src: {}}
processors: {tag: {value: fwd}}
exporters: {rec/in: {}, rec/out1: {}, rec/out2: {}}
connectors: {keep: {}}
service:
  pipelines:
    traces/in: {receivers: [src], exporters: [keep, rec/in]}
    traces/out1: {receivers: [keep], processors: [tag], exporters: [rec/out1]}
    traces/out2: {receivers: [keep], exporters: [rec/out2]}
"""]), reg)
    svc = Service(cfg, reg)
    await svc.start()
    try:
        keeper = next(n.component for n in svc.graph.nodes if n.kind is Kind.CONNECTOR)
        r = keeper.next
        assert isinstance(r, Router)
        assert sorted(r.pipeline_ids()) == ["traces/out1", "traces/out2"]
        one = r.consumer("traces/out2")
        assert one is r.pipelines["traces/out2"]
        assert isinstance(r.consumer("traces/out1", "traces/out2"), Fanout)
        await one.consume(request())
        assert len(svc.component(Kind.EXPORTER, "rec/out2").seen) == 1
        assert svc.component(Kind.EXPORTER, "rec/out1").seen == []
        # the router as a plain consumer still feeds every pipeline, each isolated from the other
        await svc.component(Kind.RECEIVER, "src").consumers[Signal.TRACES].consume(request())
        assert [tags(m) for m in svc.component(Kind.EXPORTER, "rec/out1").seen] == [["fwd"]]
        assert [tags(m) for m in svc.component(Kind.EXPORTER, "rec/out2").seen] == [[], []]
        with pytest.raises(ValueError, match='missing consumer: "traces/nope"; missing consumer: "logs"'):
            r.consumer("traces/out1", "traces/nope", "logs")
        with pytest.raises(ValueError, match="missing consumers"):
            r.consumer()
    finally:
        await svc.shutdown()


async def test_an_observing_extension_sees_each_request_before_processors_change_it():
    """Extensions with ``observe`` watch what receivers hand on; one that raises refuses nothing."""
    from otelflow.core.consumer import Observed

    seen: list[tuple[Signal, int]] = []

    class Watcher:
        def observe(self, signal, data):
            seen.append((signal, len(data.resource_spans[0].resource.attributes)))

    class Broken:
        def observe(self, signal, data):
            raise ValueError("bug in a watcher")

    settings = type("S", (), {"id": "attributes/tag"})()
    sink = Recorder(type("S", (), {"id": "debug"})(), TagConfig(value="ok"))
    head = Observed(Tagger(settings, TagConfig(value="t"), sink), Signal.TRACES, [Broken(), Watcher()])
    req = ExportTraceServiceRequest()
    req.resource_spans.add().scope_spans.add().spans.add(name="s")
    await head.consume(req)
    await head.consume(req)
    assert seen == [(Signal.TRACES, 0), (Signal.TRACES, 1)]  # before the tagger, each time
    assert len(sink.seen) == 2 and head.mutates_data
