"""The tail_sampling processor against upstream (contrib v0.161.0) and under real load.

* goldens: for each case in testdata/tail_sampling/ (recorded from otelcol-ref by its record.py), the
  traces otelflow keeps, span for span, equal upstream's; config errors carry upstream's words;
* Go arithmetic the decisions rest on, against values printed by Go;
* the processor's state machine: late spans, decision caches, eviction past num_traces, shutdown,
  span-ingest, the otelflow route rule;
* end to end: the real Python SDK and bulk OTLP through the in-process collector with the seed's
  policies plus its /healthz route rule (rates within binomial bounds, errors and slow traces all kept,
  whole), a trace spread over services and requests, and overload of a collector process.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
import time
from pathlib import Path

import pytest
import yaml
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from otelflow.config.errors import ConfigError
from otelflow.config.model import validate
from otelflow.core.component import ComponentID, Kind, Settings, Signal
from otelflow.core.consumer import ConsumerError
from otelflow.core.telemetry import Telemetry
from otelflow.processors.tail_sampling import Config, factory, gosem
from tests.processors.testdata.tail_sampling import golden

CASES = golden.case_dirs()


class Sink:
    """The next consumer: records what it is given; may be told to fail."""

    mutates_data = False

    def __init__(self):
        self.got: list[ExportTraceServiceRequest] = []
        self.fail = False

    async def consume(self, data):
        if self.fail:
            raise ConsumerError("backend down")
        self.got.append(data)

    def kept(self) -> dict[str, list[str]]:
        return golden.kept(self.got)


def make(cfg: dict, sink: Sink | None = None, ticker: bool = False):
    config = validate(Config, cfg, "processors::tail_sampling")
    settings = Settings(ComponentID("tail_sampling"), Kind.PROCESSOR, Telemetry(), Signal.TRACES)
    proc = factory.create(settings=settings, config=config, next=sink or Sink())
    if not ticker:
        proc.tick_interval = None
    return proc


async def decide_all(proc) -> None:
    """Tick until every trace that arrived has had its decision (decision_wait ticks and one more)."""
    for _ in range(proc.batcher.n + 1):
        await proc.tick()


# ---- conformance with otelcol-ref ----------------------------------------------------------------


@pytest.mark.parametrize("case", [c for c in CASES if "error" not in golden.expected(c)], ids=lambda c: c.name)
async def test_golden_kept_traces(case: Path):
    sink = Sink()
    proc = make(golden.config(case), sink)
    await proc.start(None)
    for request in golden.requests(case):
        await proc.consume(request)
    await decide_all(proc)
    assert sink.kept() == golden.expected(case)["kept"]
    await proc.shutdown()


@pytest.mark.parametrize("case", [c for c in CASES if "error" in golden.expected(c)], ids=lambda c: c.name)
def test_golden_config_errors(case: Path):
    upstream = golden.expected(case)["error"]
    for prefix in ('cannot start pipelines: failed to start "tail_sampling" processor: ',
                   "invalid configuration: processors::tail_sampling: "):
        upstream = upstream.removeprefix(prefix)
    with pytest.raises(ConfigError) as err:
        validate(Config, golden.config(case), "processors::tail_sampling")
    assert upstream in str(err.value)


def test_goldens_cover_the_deterministic_policies():
    types = set()
    for case in CASES:
        types |= set(yaml.safe_dump(golden.config(case)).replace(":", " ").split()) & {
            "status_code", "latency", "string_attribute", "numeric_attribute", "boolean_attribute", "and", "not",
            "composite", "drop", "probabilistic", "span_count", "trace_state", "trace_flags"}
    assert len(types) == 13


# ---- Go arithmetic (values printed by Go 1.26 with the same expressions as upstream) --------------

GO_THRESHOLDS = {0: 0, 1e-09: 18446744073, 0.0001: 1844674407370955, 0.001: 18446744073709551,
                 0.01: 184467440737095519, 0.05: 922337203685477631, 0.1: 1844674407370955263,
                 0.123456789: 2277375790844960511, 0.3: 5534023222112865279, 0.33: 6087425544324152319,
                 0.5: 9223372036854775807, 0.7: 12912720851596685311, 0.999999: 18446725626965477375,
                 1: 18446744073709551615, 1.5: 18446744073709551615, 5e-20: 0, -0.1: 0}
GO_DURATIONS_MS = [((0, 5_000_000), 5), ((5_000_000, 0), -5), ((1, 1 << 63), -9223372036854),
                   ((1 << 63, 1), 9223372036854), ((0, (1 << 64) - 1), 0), (((1 << 64) - 1, 0), 0), ((100, 2_000_099), 1)]


def test_probabilistic_threshold_and_hash_match_go():
    for ratio, want in GO_THRESHOLDS.items():
        assert gosem.probability_threshold(ratio) == want, ratio
    assert gosem.fnv1a64_state(b"default-hash-seed" + bytes(range(1, 17))) == 15838989281584434349


def test_durations_match_go():
    for (start, end), want in GO_DURATIONS_MS:
        assert gosem.duration_ms(start, end) == want


def test_tracestate_parsing_as_go_otel():
    get = gosem.tracestate_get
    assert get("", "k") == ""
    assert get("vendor=gold,other=x", "vendor") == "gold"
    assert get(" vendor=gold\t, other=x ", "other") == "x"
    assert get("vendor=gold,,other=x", "missing") == ""
    assert get("tenant@sys=v", "tenant@sys") == "v"
    for bad in ("vendor=gold,bad key=1", "Vendor=x", "a=b,a=c", "novalue", "k=", "k=a=b",
                ",".join(f"k{i}=v" for i in range(33)), "k=" + "v" * 257):
        assert get(bad, "vendor") is None, bad
    assert get(",".join(f"k{i}=v" for i in range(32)), "k31") == "v"


def test_token_bucket_as_x_time_rate():
    now = [100.0]
    bucket = gosem.TokenBucket(10, 20, clock=lambda: now[0])
    assert bucket.allow(20)  # starts full
    assert not bucket.allow(1)
    now[0] += 0.5
    assert bucket.allow(5) and not bucket.allow(1)
    assert not bucket.allow(21)  # more than the burst never passes
    now[0] += 100
    assert bucket.allow(20)
    assert not gosem.TokenBucket(0, 0).allow(1)


# ---- config -------------------------------------------------------------------------------------

SEED = """
tail_sampling:
  decision_wait: 30s
  policies:
    - { name: errors,   type: status_code, status_code: { status_codes: [ERROR] } }
    - { name: slow,     type: latency,     latency: { threshold_ms: 500 } }
    - { name: probably, type: probabilistic, probabilistic: { sampling_percentage: 5 } }
tail_sampling/per-route:
  decision_wait: 30s
  policies:
    - name: healthz
      type: string_attribute
      string_attribute: { key: http.target, values: [/healthz], invert_match: false }
      sampling: { sampling_percentage: 1 }
"""


def config_error(cfg: dict) -> str:
    with pytest.raises(ConfigError) as err:
        validate(Config, cfg, "processors::tail_sampling")
    return str(err.value)


def test_defaults_are_upstreams():
    cfg = validate(Config, None, "p")
    assert (cfg.decision_wait, cfg.num_traces, cfg.expected_new_traces_per_sec, cfg.sample_on_first_match) == (30.0, 50000, 0, False)
    assert (cfg.decision_cache.sampled_cache_size, cfg.decision_cache.non_sampled_cache_size) == (0, 0)
    assert (cfg.sampling_strategy, cfg.num_shards, cfg.block_on_overflow, cfg.policies) == ("trace-complete", 1, False, [])


def test_seed_snippets_validate_and_only_the_route_rule_is_an_extension():
    seed = yaml.safe_load(SEED)
    plain = validate(Config, seed["tail_sampling"], "processors::tail_sampling")
    routed = validate(Config, seed["tail_sampling/per-route"], "processors::tail_sampling/per-route")
    assert plain.upstream_incompatibilities() == [] and plain.extensions_used() == []
    assert routed.extensions_used() == [("policies::0::sampling", 'route rule of policy "healthz" (1%)')]


def test_strict_types_and_ranges_as_upstreams_decoder():
    assert "num_traces: cannot parse value as 'uint64': -1 overflows uint" in config_error({"num_traces": -1})
    assert "sample_on_first_match: input should be a valid boolean" in config_error({"sample_on_first_match": "true"})
    assert "threshold_ms: input should be a valid integer" in config_error(
        {"policies": [{"name": "a", "type": "latency", "latency": {"threshold_ms": "5"}}]})
    assert "values::0: input should be a valid string" in config_error(
        {"policies": [{"name": "a", "type": "string_attribute", "string_attribute": {"key": "k", "values": [200]}}]})
    assert "processors::tail_sampling::policies::0::latency::upper: unknown key" in config_error(
        {"policies": [{"name": "a", "type": "latency", "latency": {"upper": 5}}]})
    assert "tail_storage" in config_error({"tail_storage": "file_storage"})


def test_unknown_policy_keys_holding_maps_are_ignored_as_upstream():
    cfg = validate(Config, {"policies": [{"name": "a", "type": "always_sample", "typo_cfg": {"x": 1}}]}, "p")
    assert cfg.policies[0].ignored_keys() == ["typo_cfg"]
    assert "policies::0: foo: unknown key" in config_error({"policies": [{"name": "a", "type": "always_sample", "foo": 1}]})


def test_policies_otelflow_refuses_at_validation():
    numeric = config_error({"policies": [{"name": "n", "type": "numeric_attribute", "numeric_attribute": {"key": "k"}}]})
    assert 'failed to create policy evaluator for "n": at least one of min_value or max_value must be set' in numeric
    ottl = config_error({"policies": [{"name": "o", "type": "ottl_condition", "ottl_condition": {}}]})
    assert 'failed to create policy evaluator for "o": expected at least one OTTL condition to filter on' in ottl
    bad = config_error({"policies": [{"name": "o", "type": "ottl_condition", "ottl_condition": {"span": ["Nope()"]}}]})
    assert 'unable to parse OTTL condition "Nope()": undefined function "Nope"' in bad


def test_route_rule_placement():
    def policy(**kw):
        return {"policies": [{"name": "r", "sampling": {"sampling_percentage": 1}, **kw}]}

    for ok in (dict(type="string_attribute", string_attribute={"key": "k", "values": ["v"]}), dict(type="always_sample"),
               dict(type="status_code", status_code={"status_codes": ["OK"]}),
               dict(type="and", **{"and": {"and_sub_policy": [{"name": "x", "type": "latency"}]}})):
        validate(Config, policy(**ok), "p")
    for statistical in ("probabilistic", "rate_limiting", "bytes_limiting", "composite", "drop"):
        assert f"is a {statistical} policy" in config_error(policy(type=statistical))
    assert "is a and policy" in config_error(policy(type="and", **{"and": {"and_sub_policy": [{"name": "x", "type": "probabilistic"}]}}))
    assert "between 0 and 100" in config_error(policy(type="always_sample", sampling={"sampling_percentage": 101}))
    sub = {"policies": [{"name": "a", "type": "and", "and": {"and_sub_policy": [
        {"name": "x", "type": "always_sample", "sampling": {"sampling_percentage": 1}}]}}]}
    assert "route rule may be set on a top-level policy only" in config_error(sub)


def test_validate_strict_upstream_lists_extensions(tmp_path, capsys):
    from otelflow import cli

    seed = yaml.safe_load(SEED)
    base = {"receivers": {"otlp": {"protocols": {"http": {"endpoint": "127.0.0.1:0"}}}}, "exporters": {"debug": {}}}
    for name, processor, want in (("plain", "tail_sampling", 0), ("routed", "tail_sampling/per-route", 1)):
        path = tmp_path / f"{name}.yaml"
        path.write_text(yaml.safe_dump({**base, "processors": {processor: seed[processor]}, "service": {
            "pipelines": {"traces": {"receivers": ["otlp"], "processors": [processor], "exporters": ["debug"]}}}}))
        assert cli.main(["validate", "--config", str(path)]) == 0
        assert cli.main(["validate", "--strict-upstream", "--config", str(path)]) == want
        err = capsys.readouterr().err
        if want:
            assert "not portable to otelcol (1 problem)" in err
            assert "processors::tail_sampling/per-route::policies::0::sampling: otelflow extension" in err


def test_registered_for_traces_only():
    from otelflow.core.registry import default_registry

    assert default_registry.get(Kind.PROCESSOR, "tail_sampling") is factory
    assert factory.signals == frozenset({Signal.TRACES})


# ---- the processor's state machine --------------------------------------------------------------

T0 = 1_700_000_000_000_000_000
MS = 1_000_000


def tid(n: int) -> bytes:
    return hashlib.sha256(b"t%d" % n).digest()[:16]


def request(*spans: dict, resource: dict | None = None) -> ExportTraceServiceRequest:
    """One ResourceSpans; each span: trace (int), optional name, status, dur_ms, start_ms, attrs, root."""
    req = ExportTraceServiceRequest()
    rs = req.resource_spans.add()
    for k, v in (resource or {"service.name": "shop"}).items():
        kv = rs.resource.attributes.add()
        kv.key, kv.value.string_value = k, v
    ss = rs.scope_spans.add()
    ss.scope.name = "test"
    for s in spans:
        sp = ss.spans.add()
        sp.trace_id = tid(s["trace"])
        sp.span_id = random.getrandbits(64).to_bytes(8, "big")
        if not s.get("root", False):
            sp.parent_span_id = b"\x01" * 8
        sp.name = s.get("name", "op")
        sp.start_time_unix_nano = T0 + int(s.get("start_ms", 0) * MS)
        sp.end_time_unix_nano = sp.start_time_unix_nano + int(s.get("dur_ms", 1) * MS)
        sp.status.code = s.get("status", 0)
        for k, v in s.get("attrs", {}).items():
            kv = sp.attributes.add()
            kv.key, kv.value.string_value = k, v
    return req


def sent_traces(sink: Sink) -> dict[bytes, int]:
    out: dict[bytes, int] = {}
    for m in sink.got:
        for rs in m.resource_spans:
            for ss in rs.scope_spans:
                for sp in ss.spans:
                    out[sp.trace_id] = out.get(sp.trace_id, 0) + 1
    return out


ALWAYS = [{"name": "all", "type": "always_sample"}]
ERRORS = [{"name": "errors", "type": "status_code", "status_code": {"status_codes": ["ERROR"]}}]


async def test_decision_waits_whole_seconds_then_one_tick_more():
    sink = Sink()
    proc = make({"decision_wait": "2.9s", "policies": ALWAYS}, sink)  # 2 batches, as upstream's uint64(2.9)
    await proc.consume(request({"trace": 1}))
    await proc.tick()
    await proc.tick()
    await proc.consume(request({"trace": 1}))  # still undecided: joins the buffered spans
    assert sink.got == []
    await proc.tick()
    assert sent_traces(sink) == {tid(1): 2}


async def test_input_is_not_mutated_and_output_keeps_resource_and_scope():
    sink = Sink()
    proc = make({"decision_wait": "1s", "policies": ALWAYS}, sink)
    req = request({"trace": 1, "attrs": {"a": "b"}}, {"trace": 2}, {"trace": 1}, resource={"service.name": "x", "k": "v"})
    before = req.SerializeToString()
    await proc.consume(req)
    assert req.SerializeToString() == before and proc.mutates_data is False
    await decide_all(proc)
    spans = [(rs.resource, ss.scope, sp) for m in sink.got for rs in m.resource_spans for ss in rs.scope_spans for sp in ss.spans]
    assert sorted(sp.SerializeToString() for _, _, sp in spans) == sorted(
        sp.SerializeToString() for sp in req.resource_spans[0].scope_spans[0].spans)
    assert all(r == req.resource_spans[0].resource and s.name == "test" for r, s, _ in spans)


@pytest.mark.parametrize("cache", [0, 100], ids=["no_cache", "decision_cache"])
async def test_late_spans_follow_the_decision(cache):
    sink = Sink()
    proc = make({"decision_wait": "1s", "policies": ERRORS,
                 "decision_cache": {"sampled_cache_size": cache, "non_sampled_cache_size": cache}}, sink)
    await proc.consume(request({"trace": 1, "status": 2}, {"trace": 2}))
    await decide_all(proc)
    assert sent_traces(sink) == {tid(1): 1}
    # without a cache the decided traces stay held (spans released); with one they leave memory
    assert (tid(1) in proc.traces, tid(2) in proc.traces) == ((True, True) if cache == 0 else (False, False))
    await proc.consume(request({"trace": 1}, {"trace": 2, "status": 2}, {"trace": 1}))
    assert sent_traces(sink) == {tid(1): 3}  # forwarded at once, no tick needed
    await decide_all(proc)
    assert sent_traces(sink) == {tid(1): 3}


async def test_past_num_traces_the_oldest_trace_is_evicted():
    sink = Sink()
    proc = make({"decision_wait": "1s", "num_traces": 3, "policies": ALWAYS}, sink)
    for n in range(1, 6):
        await proc.consume(request({"trace": n}))
        assert len(proc.traces) <= 3
    await proc.consume(request({"trace": 5}))  # known trace: no eviction
    await decide_all(proc)
    assert sent_traces(sink) == {tid(3): 1, tid(4): 1, tid(5): 2}
    assert proc.telemetry.value("otelcol_processor_tail_sampling_sampling_trace_dropped_too_early") == 2
    # decided traces keep their slots (no cache): a new one evicts trace 3, whose late span starts anew
    await proc.consume(request({"trace": 6}))
    await proc.consume(request({"trace": 3}))
    assert tid(3) in proc.traces and proc.traces[tid(3)].decision == 0


async def test_block_on_overflow_waits_for_a_tick():
    sink = Sink()
    proc = make({"decision_wait": "1s", "num_traces": 2, "block_on_overflow": True, "policies": ALWAYS,
                 "decision_cache": {"sampled_cache_size": 10, "non_sampled_cache_size": 10}}, sink)
    await proc.consume(request({"trace": 1}, {"trace": 2}))
    blocked = asyncio.ensure_future(proc.consume(request({"trace": 3})))
    await asyncio.sleep(0.05)
    assert not blocked.done()
    await decide_all(proc)
    await asyncio.wait_for(blocked, 1)
    await decide_all(proc)
    assert sent_traces(sink) == {tid(1): 1, tid(2): 1, tid(3): 1}


@pytest.mark.parametrize("drop", [False, True])
async def test_shutdown_decides_pending_traces_unless_told_to_drop(drop):
    sink = Sink()
    proc = make({"decision_wait": "30s", "policies": ALWAYS, "drop_pending_traces_on_shutdown": drop}, sink, ticker=True)
    await proc.start(None)
    await proc.consume(request({"trace": 1}, {"trace": 2}))
    await proc.shutdown()
    assert sent_traces(sink) == ({} if drop else {tid(1): 1, tid(2): 1})


async def test_the_ticker_runs_every_second():
    sink = Sink()
    proc = make({"decision_wait": "1s", "policies": ALWAYS}, sink, ticker=True)
    proc.tick_interval = 0.05
    await proc.start(None)
    await proc.consume(request({"trace": 1}))
    await asyncio.sleep(0.3)
    assert sent_traces(sink) == {tid(1): 1}
    await proc.shutdown()
    assert make({}).tick_interval is None and type(proc).tick_interval == 1.0


async def test_maximum_trace_size_drops_a_trace_early_and_for_good():
    sink = Sink()
    proc = make({"decision_wait": "1s", "maximum_trace_size_bytes": 400, "policies": ALWAYS}, sink)
    await proc.consume(request({"trace": 1}, {"trace": 2}))
    await proc.consume(request(*[{"trace": 1, "attrs": {"blob": "x" * 50}}] * 5))
    await decide_all(proc)
    await proc.consume(request({"trace": 1}))
    assert sent_traces(sink) == {tid(2): 1}
    assert proc.telemetry.value("otelcol_processor_tail_sampling_traces_dropped_too_large") == 1


async def test_span_ingest_decides_on_arrival():
    sink = Sink()
    proc = make({"decision_wait": "1s", "sampling_strategy": "span-ingest", "policies": ERRORS}, sink)
    await proc.consume(request({"trace": 1}, {"trace": 2}))
    assert sink.got == []
    await proc.consume(request({"trace": 1, "status": 2}))
    assert sent_traces(sink) == {tid(1): 2}  # with the spans buffered before
    await decide_all(proc)  # pending trace 2 ends not sampled
    await proc.consume(request({"trace": 1}))
    assert sent_traces(sink) == {tid(1): 3} and tid(2) not in proc.traces


async def test_root_span_shortens_the_wait():
    sink = Sink()
    proc = make({"decision_wait": "5s", "decision_wait_after_root_received": "1s", "policies": ALWAYS}, sink)
    await proc.consume(request({"trace": 1}, {"trace": 2, "root": True}))
    await proc.tick()
    await proc.tick()
    assert sent_traces(sink) == {tid(2): 1}
    for _ in range(4):
        await proc.tick()
    assert sent_traces(sink) == {tid(1): 1, tid(2): 1}


async def test_next_consumer_errors_are_logged_not_returned(caplog):
    sink = Sink()
    sink.fail = True
    proc = make({"decision_wait": "1s", "policies": ALWAYS}, sink)
    await proc.consume(request({"trace": 1}))
    await decide_all(proc)  # does not raise
    assert "Error sending spans to destination: backend down" in caplog.text


async def test_rate_limiting_and_sample_on_first_match():
    sink = Sink()
    proc = make({"decision_wait": "1s", "sample_on_first_match": True, "policies": [
        {"name": "errors", "type": "status_code", "status_code": {"status_codes": ["ERROR"]}},
        {"name": "rate", "type": "rate_limiting", "rate_limiting": {"spans_per_second": 5}}]}, sink)
    await proc.consume(request(*[{"trace": n, "status": 2 if n < 3 else 0} for n in range(30)]))
    await decide_all(proc)
    kept = sent_traces(sink)
    assert {tid(0), tid(1), tid(2)} <= set(kept) and len(kept) <= 3 + 11  # burst 10, refilled at 5/s
    assert proc.telemetry.value("otelcol_processor_tail_sampling_count_traces_sampled", policy="errors") == 3


async def test_dropped_traces_stay_dropped():
    sink = Sink()
    proc = make({"decision_wait": "1s", "policies": ALWAYS + [{"name": "no-debug", "type": "drop", "drop": {"drop_sub_policy": [
        {"name": "dbg", "type": "string_attribute", "string_attribute": {"key": "env", "values": ["debug"]}}]}}]}, sink)
    await proc.consume(request({"trace": 1, "attrs": {"env": "debug"}}, {"trace": 1}, {"trace": 2}))
    await decide_all(proc)
    await proc.consume(request({"trace": 1}))
    assert sent_traces(sink) == {tid(2): 1}


# ---- the otelflow route rule ----------------------------------------------------------------------

def route_policies(*routes: dict, base: list | None = None) -> list:
    """``base`` (default: errors + probabilistic 100%) then one http.target route rule per ``routes`` item."""
    if base is None:
        base = ERRORS + [{"name": "all", "type": "probabilistic", "probabilistic": {"sampling_percentage": 100}}]
    return base + [{"name": r["name"], "type": "string_attribute",
                    "string_attribute": {"key": "http.target", "values": r["values"], "enabled_regex_matching": r.get("regex", False)},
                    "sampling": {"sampling_percentage": r["pct"]}} for r in routes]


async def test_route_replaces_statistical_policies_but_not_the_others():
    sink = Sink()
    proc = make({"decision_wait": "1s", "policies": route_policies({"name": "healthz", "values": ["/healthz"], "pct": 0})}, sink)
    await proc.consume(request({"trace": 1, "attrs": {"http.target": "/healthz"}}, {"trace": 2, "attrs": {"http.target": "/healthz"}},
                               {"trace": 2, "status": 2}, {"trace": 3, "attrs": {"http.target": "/api"}}))
    await decide_all(proc)
    assert set(sent_traces(sink)) == {tid(2), tid(3)}  # healthz error kept by "errors"; /api by the 100%
    assert proc.telemetry.value("otelcol_processor_tail_sampling_count_traces_sampled", policy="healthz") == 0


async def test_route_keeps_its_share_with_upstreams_hash():
    sink = Sink()
    proc = make({"decision_wait": "1s", "policies": route_policies({"name": "healthz", "values": ["/healthz"], "pct": 30},
                                                                  base=[{"name": "base", "type": "always_sample"}])}, sink)
    await proc.consume(request(*[{"trace": n, "attrs": {"http.target": "/healthz"}} for n in range(300)]))
    await decide_all(proc)
    threshold = gosem.probability_threshold(0.30)
    seed = gosem.fnv1a64_state(b"default-hash-seed")
    assert set(sent_traces(sink)) == {tid(n) for n in range(300) if gosem.fnv1a64_state(tid(n), seed) <= threshold}


async def test_first_matching_route_applies():
    health = {"name": "healthz", "values": ["/healthz"], "pct": 0}
    probes = {"name": "probes", "values": ["^/(healthz|livez)$"], "regex": True, "pct": 100}
    for routes, kept in (((health, probes), {2}), ((probes, health), {1, 2})):
        sink = Sink()
        proc = make({"decision_wait": "1s", "policies": route_policies(*routes)}, sink)
        await proc.consume(request({"trace": 1, "attrs": {"http.target": "/healthz"}}, {"trace": 2, "attrs": {"http.target": "/livez"}}))
        await decide_all(proc)
        assert set(sent_traces(sink)) == {tid(n) for n in kept}, [r["name"] for r in routes]


# ---- end to end: the real SDK and bulk OTLP through the in-process collector ----------------------

SEED_ROUTED = [
    {"name": "errors", "type": "status_code", "status_code": {"status_codes": ["ERROR"]}},
    {"name": "slow", "type": "latency", "latency": {"threshold_ms": 500}},
    {"name": "probably", "type": "probabilistic", "probabilistic": {"sampling_percentage": 5}},
    {"name": "healthz", "type": "string_attribute",
     "string_attribute": {"key": "http.target", "values": ["/healthz"], "invert_match": False},
     "sampling": {"sampling_percentage": 1}},
]


def collector_yaml(port: int, backend_endpoint: str, policies: list, **ts) -> str:
    return yaml.safe_dump({
        "receivers": {"otlp": {"protocols": {"http": {"endpoint": f"127.0.0.1:{port}"}}}},
        "processors": {"tail_sampling": {"decision_wait": "1s", "num_traces": 200_000, "policies": policies, **ts}},
        "exporters": {"otlphttp": {"endpoint": backend_endpoint}},
        "service": {"pipelines": {"traces": {"receivers": ["otlp"], "processors": ["tail_sampling"], "exporters": ["otlphttp"]}}},
    })


def seeded_ids(seed: int):
    """Deterministic trace and span IDs for the SDK, so that the sampled set is the same every run."""
    from opentelemetry.sdk.trace.id_generator import RandomIdGenerator

    class SeededIds(RandomIdGenerator):
        rng = random.Random(seed)

        def generate_trace_id(self) -> int:
            return self.rng.getrandbits(128) or 1

        def generate_span_id(self) -> int:
            return self.rng.getrandbits(64) or 1

    return SeededIds()


def sdk_provider(port: int, service: str, seed: int):
    """A TracerProvider exporting OTLP/HTTP to otelflow; returns it and the list of (trace, span) IDs sent."""
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter

    sent: list[tuple[bytes, bytes]] = []

    class Tee(SpanExporter):
        def __init__(self):
            self.inner = OTLPSpanExporter(endpoint=f"http://127.0.0.1:{port}/v1/traces")

        def export(self, spans):
            sent.extend((s.context.trace_id.to_bytes(16, "big"), s.context.span_id.to_bytes(8, "big")) for s in spans)
            return self.inner.export(spans)

        def shutdown(self):
            self.inner.shutdown()

    provider = TracerProvider(resource=Resource.create({"service.name": service}), id_generator=seeded_ids(seed))
    provider.add_span_processor(BatchSpanProcessor(Tee(), max_queue_size=100_000, schedule_delay_millis=100, max_export_batch_size=1000))
    return provider, sent


def sdk_traces(provider, counts: dict[str, int]) -> dict[str, list[bytes]]:
    """Emit traces with the real SDK: explicit start/end times fake the durations (nothing sleeps)."""
    from opentelemetry import trace
    from opentelemetry.trace import SpanKind, Status, StatusCode

    tracer = provider.get_tracer("shop.http", "1.0")
    out: dict[str, list[bytes]] = {k: [] for k in counts}
    t = time.time_ns()
    for kind, n in counts.items():
        for _ in range(n):
            target = "/healthz" if kind.startswith("healthz") else "/api/items"
            root = tracer.start_span(f"GET {target}", kind=SpanKind.SERVER, start_time=t,
                                     attributes={"http.method": "GET", "http.target": target, "http.status_code": 200})
            ctx = trace.set_span_in_context(root)
            if kind != "healthz":
                child = tracer.start_span("SELECT items", context=ctx, start_time=t + MS, attributes={"db.system": "postgresql"})
                if kind.endswith("error"):
                    child.set_status(Status(StatusCode.ERROR, "connection reset"))
                child.end(end_time=t + 3 * MS)
            root.end(end_time=t + (600 if kind == "slow" else 4) * MS)
            out[kind].append(root.get_span_context().trace_id.to_bytes(16, "big"))
    return out


def _ld(tag: bytes, payload: bytes) -> bytes:
    from otelflow.processors.tail_sampling.store import varint

    return tag + varint(len(payload)) + payload


def bulk_requests(rng: random.Random, counts: dict[str, int], per_request: int = 500):
    """Bulk load built on the wire (fast): returns request bodies, trace IDs per kind, span IDs per trace."""
    from opentelemetry.proto.common.v1.common_pb2 import InstrumentationScope, KeyValue
    from opentelemetry.proto.resource.v1.resource_pb2 import Resource
    from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

    def rest(name, start, dur_ms, target=None, error=False):
        s = Span(name=name, kind=2, start_time_unix_nano=start, end_time_unix_nano=start + int(dur_ms * MS))
        if target:
            s.attributes.append(KeyValue(key="http.target", value={"string_value": target}))
        if error:
            s.status.CopyFrom(Status(code=2))
        return s.SerializeToString()

    t = time.time_ns()
    shapes = {  # kind -> spans: (name, duration ms, http.target, error)
        "ordinary": [("GET /api/items", 20, "/api/items", False), ("SELECT", 5, None, False)],
        "healthz": [("GET /healthz", 2, "/healthz", False)],
        "error": [("GET /api/items", 20, "/api/items", False), ("SELECT", 5, None, False), ("charge", 5, None, True)],
        "slow": [("GET /api/items", 650, "/api/items", False), ("SELECT", 5, None, False)],
        "healthz_error": [("GET /healthz", 2, "/healthz", False), ("ping db", 1, None, True)],
    }
    rests = {k: [rest(n, t, d, tg, e) for n, d, tg, e in v] for k, v in shapes.items()}
    resource = _ld(b"\x0a", Resource(attributes=[KeyValue(key="service.name", value={"string_value": "bulk"})]).SerializeToString())
    scope = _ld(b"\x0a", InstrumentationScope(name="bulk", version="1").SerializeToString())
    traces: list[tuple[str, bytes]] = [(k, rng.getrandbits(128).to_bytes(16, "big")) for k, n in counts.items() for _ in range(n)]
    rng.shuffle(traces)
    ids: dict[str, list[bytes]] = {k: [] for k in counts}
    spans_of: dict[bytes, set[bytes]] = {}
    bodies = []
    for start in range(0, len(traces), per_request):
        parts = []
        for kind, trace_id in traces[start:start + per_request]:
            ids[kind].append(trace_id)
            root = b""
            for r in rests[kind]:
                sid = rng.getrandbits(64).to_bytes(8, "big")
                spans_of.setdefault(trace_id, set()).add(sid)
                parts.append(_ld(b"\x12", b"\x0a\x10" + trace_id + b"\x12\x08" + sid + (b"\x22\x08" + root if root else b"") + r))
                root = root or sid
        bodies.append(_ld(b"\x0a", resource + _ld(b"\x12", scope + b"".join(parts))))
    return bodies, ids, spans_of


async def post_all(port: int, bodies: list[bytes]) -> None:
    import aiohttp

    async with aiohttp.ClientSession() as session:
        for body in bodies:
            async with session.post(f"http://127.0.0.1:{port}/v1/traces", data=body,
                                    headers={"Content-Type": "application/x-protobuf"}) as resp:
                assert resp.status == 200, await resp.text()


async def wait_decided(proc, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while proc.batcher.pending() or any(t.decision == 0 for t in proc.traces.values()):
        assert time.monotonic() < deadline, "traces still undecided"
        await asyncio.sleep(0.2)


def exported(backend) -> dict[bytes, list[bytes]]:
    out: dict[bytes, list[bytes]] = {}
    for m in backend.messages(Signal.TRACES):
        for rs in m.resource_spans:
            for ss in rs.scope_spans:
                for sp in ss.spans:
                    out.setdefault(sp.trace_id, []).append(sp.span_id)
    return out


def binomial_ok(kept: int, n: int, p: float) -> tuple[bool, str]:
    half = 3.29 * (p * (1 - p) / n) ** 0.5  # two-sided 99.9%
    return abs(kept / n - p) <= half, f"{kept}/{n} = {kept / n:.4%}, want {p:.2%} ± {half:.4%}"


async def test_seed_policies_with_healthz_route_sdk_and_bulk():
    from tests.backends import HTTPBackend, free_port
    from tests.conftest import running

    backend = await HTTPBackend().start()
    port = free_port()
    try:
        async with running(collector_yaml(port, backend.endpoint, SEED_ROUTED)) as service:
            proc = service.component(Kind.PROCESSOR, "tail_sampling")
            provider, sdk_sent = sdk_provider(port, "shop", seed=11)
            sdk_ids = await asyncio.to_thread(sdk_traces, provider, {"ordinary": 2000, "healthz": 2000, "error": 150, "slow": 150,
                                                                     "healthz_error": 100})
            bodies, bulk_ids, spans_of = bulk_requests(random.Random(5), {"ordinary": 20_000, "healthz": 20_000, "error": 500,
                                                                          "slow": 500, "healthz_error": 200})
            await asyncio.gather(post_all(port, bodies), asyncio.to_thread(provider.force_flush, 60_000))
            await asyncio.to_thread(provider.shutdown)
            await wait_decided(proc)
        got = exported(backend)
    finally:
        await backend.stop()

    for trace_id, span_id in sdk_sent:
        spans_of.setdefault(trace_id, set()).add(span_id)
    ids = {k: sdk_ids[k] + bulk_ids[k] for k in bulk_ids}
    assert len(sdk_sent) == 2 * 2000 + 2000 + 2 * 150 + 2 * 150 + 2 * 100  # the SDK dropped nothing
    # whole traces only, no span twice
    for trace_id, spans in got.items():
        assert sorted(spans) == sorted(spans_of[trace_id]), "an exported trace lacks spans or repeats one"
    # errors and slow traces (also /healthz ones with an error): every one
    for kind in ("error", "slow", "healthz_error"):
        missing = [t for t in ids[kind] if t not in got]
        assert not missing, f"{len(missing)} {kind} traces not exported"
    # the statistical shares: 5% of ordinary traces, 1% (not 1% + 5%) of /healthz ones
    for kind, p in (("ordinary", 0.05), ("healthz", 0.01)):
        kept = sum(1 for t in ids[kind] if t in got)
        ok, why = binomial_ok(kept, len(ids[kind]), p)
        print(f"{kind}: {why}")
        assert ok, f"{kind}: {why}"
    # and exactly the traces upstream's hash picks
    seed = gosem.fnv1a64_state(b"default-hash-seed")
    for kind, p in (("ordinary", 0.05), ("healthz", 0.01)):
        threshold = gosem.probability_threshold(p)
        want = {t for t in ids[kind] if gosem.fnv1a64_state(t, seed) <= threshold}
        assert {t for t in ids[kind] if t in got} == want


async def test_trace_across_services_and_requests_is_decided_whole():
    """frontend and backend (two SDK providers, two resources) export one trace in separate requests;
    an error in the backend keeps the frontend's spans too; spans arriving after the decision follow it."""
    from opentelemetry import trace
    from opentelemetry.trace import NonRecordingSpan, SpanKind, Status, StatusCode

    from tests.backends import HTTPBackend, free_port
    from tests.conftest import running

    backend = await HTTPBackend().start()
    port = free_port()
    try:
        async with running(collector_yaml(port, backend.endpoint, SEED_ROUTED)) as service:
            proc = service.component(Kind.PROCESSOR, "tail_sampling")
            front, front_sent = sdk_provider(port, "frontend", seed=21)
            back, back_sent = sdk_provider(port, "backend", seed=22)
            ft, bt = front.get_tracer("frontend"), back.get_tracer("backend")
            t = time.time_ns()
            roots: dict[str, list] = {"error": [], "ordinary": [], "healthz": []}
            for kind, n in (("error", 20), ("ordinary", 200), ("healthz", 200)):
                for _ in range(n):
                    target = "/healthz" if kind == "healthz" else "/checkout"
                    root = ft.start_span(f"GET {target}", kind=SpanKind.SERVER, start_time=t, attributes={"http.target": target})
                    root.end(end_time=t + 50 * MS)
                    roots[kind].append(root.get_span_context())
            await asyncio.to_thread(front.force_flush)  # request(s) 1: the frontend's spans
            await asyncio.sleep(0.3)
            for kind, ctxs in roots.items():
                for ctx in ctxs:
                    child = bt.start_span("charge card", context=trace.set_span_in_context(NonRecordingSpan(ctx)),
                                          kind=SpanKind.SERVER, start_time=t + MS)
                    if kind == "error":
                        child.set_status(Status(StatusCode.ERROR, "declined"))
                    child.end(end_time=t + 10 * MS)
            await asyncio.to_thread(back.force_flush)  # request(s) 2: the backend's, another resource
            await wait_decided(proc)
            for ctx in roots["error"][:5] + roots["ordinary"]:  # late spans, after the decision
                bt.start_span("late audit", context=trace.set_span_in_context(NonRecordingSpan(ctx)), start_time=t).end(end_time=t + MS)
            await asyncio.to_thread(back.force_flush)
            await asyncio.sleep(0.3)
            front.shutdown()
            back.shutdown()
        messages = backend.messages(Signal.TRACES)
        got = exported(backend)
    finally:
        await backend.stop()

    sent: dict[bytes, set[bytes]] = {}
    for trace_id, span_id in front_sent + back_sent:
        sent.setdefault(trace_id, set()).add(span_id)
    seed = gosem.fnv1a64_state(b"default-hash-seed")
    for kind, p_keep in (("error", None), ("ordinary", 0.05), ("healthz", 0.01)):
        for ctx in roots[kind]:
            trace_id = ctx.trace_id.to_bytes(16, "big")
            keep = p_keep is None or gosem.fnv1a64_state(trace_id, seed) <= gosem.probability_threshold(p_keep)
            if keep:
                assert sorted(got.get(trace_id, [])) == sorted(sent[trace_id]), kind  # whole, late spans included
            else:
                assert trace_id not in got, kind
    late_errors = [c.trace_id.to_bytes(16, "big") for c in roots["error"][:5]]
    assert all(len(got[t]) == 3 for t in late_errors)
    services = {kv.value.string_value for m in messages for rs in m.resource_spans for kv in rs.resource.attributes
                if kv.key == "service.name"}
    assert services == {"frontend", "backend"}


def _rss(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmRSS:"))


def test_overload_keeps_memory_bounded_and_the_process_alive():
    """100x more traces than num_traces, as fast as one client sends them, into a collector process."""
    import urllib.request

    from tests.backends import free_port
    from tests.process import Collector

    port, sink_port = free_port(), free_port()
    cfg = yaml.safe_dump({
        "receivers": {"otlp": {"protocols": {"http": {"endpoint": f"127.0.0.1:{port}"}}}},
        "processors": {"tail_sampling": {"decision_wait": "2s", "num_traces": 2000, "policies": SEED_ROUTED}},
        "exporters": {"file": {"path": "/dev/null"}},
        "service": {"pipelines": {"traces": {"receivers": ["otlp"], "processors": ["tail_sampling"], "exporters": ["file"]}}},
    })
    bodies, ids, spans_of = bulk_requests(random.Random(9), {"ordinary": 150_000, "healthz": 50_000}, per_request=1000)
    n_spans = sum(map(len, spans_of.values()))
    del spans_of
    collector = Collector(cfg).start()
    try:
        def post(body: bytes) -> None:
            req = urllib.request.Request(f"http://127.0.0.1:{port}/v1/traces", data=body,
                                         headers={"Content-Type": "application/x-protobuf"})
            with urllib.request.urlopen(req, timeout=30) as resp:
                assert resp.status == 200

        for body in bodies[:5]:  # warm up the receive path before the first reading
            post(body)
        time.sleep(0.5)
        before = _rss(collector.proc.pid)
        for body in bodies[5:]:
            post(body)
        grown = _rss(collector.proc.pid) - before
        assert collector.proc.poll() is None
        unbounded = 300 * n_spans  # what buffering every span would take (~300 bytes a span, measured)
        print(f"overload: {n_spans:,} spans sent, RSS grew {grown / 2**20:.1f} MiB (unbounded ~{unbounded / 2**20:.0f} MiB)")
        assert grown < unbounded / 4, f"RSS grew {grown / 2**20:.0f} MiB; buffering everything would be {unbounded / 2**20:.0f} MiB"
        post(bodies[0])  # still serving
        assert collector.stop() == 0
        assert "Traceback" not in collector.output()
    finally:
        if collector.proc and collector.proc.poll() is None:
            collector.stop(timeout=10)


# ---- ottl_condition -------------------------------------------------------------------------------


def ottl_policy(**cfg) -> list:
    return [{"name": "ottl", "type": "ottl_condition", "ottl_condition": cfg}]


async def test_ottl_condition_samples_traces_with_a_matching_span_anywhere():
    sink = Sink()
    proc = make({"decision_wait": "1s", "policies": ottl_policy(
        span=['attributes["http.route"] == "/checkout"', 'resource.attributes["service.name"] == "vip"'])}, sink)
    await proc.consume(request({"trace": 1}, {"trace": 1, "attrs": {"http.route": "/checkout"}}, {"trace": 2},
                               {"trace": 3, "attrs": {"http.route": "/home"}}))
    await proc.consume(request({"trace": 4}, resource={"service.name": "vip"}))
    await decide_all(proc)
    assert sent_traces(sink) == {tid(1): 2, tid(4): 1}


async def test_ottl_condition_with_context_names_and_span_events():
    sink = Sink()
    proc = make({"decision_wait": "1s", "policies": ottl_policy(
        span=['span.name == "pay" and IsRootSpan()'], spanevent=['spanevent.name == "exception"'])}, sink)
    req = request({"trace": 1, "name": "pay", "root": True}, {"trace": 2, "name": "pay"}, {"trace": 3})
    req.resource_spans[0].scope_spans[0].spans[2].events.add(name="exception")
    await proc.consume(req)
    await decide_all(proc)
    assert sent_traces(sink) == {tid(1): 1, tid(3): 1}


@pytest.mark.parametrize("mode, sampled, errors", [("propagate", {}, 1), ("ignore", {1: 1}, 0), ("silent", {1: 1}, 0),
                                                   ("", {1: 1}, 0)])
async def test_ottl_condition_error_modes(mode, sampled, errors):
    sink = Sink()
    cfg = {"span": ['Substring(name, 5, 1) == "x"', 'name == "ok"']}
    if mode:
        cfg["error_mode"] = mode
    proc = make({"decision_wait": "1s", "policies": ottl_policy(**cfg)}, sink)
    await proc.consume(request({"trace": 1, "name": "ok"}))
    await decide_all(proc)
    assert sent_traces(sink) == {tid(k): v for k, v in sampled.items()}
    assert proc.telemetry.value("otelcol_processor_tail_sampling_sampling_policy_evaluation_error") == errors


def test_ottl_condition_error_mode_is_checked():
    assert "unknown error mode loud" in config_error({"policies": ottl_policy(span=["true"], error_mode="loud")})


def test_sdk_through_an_otelflow_process_with_an_ottl_condition_policy(tmp_path):
    import signal as signals

    from tests.backends import free_port
    from tests.process import Collector
    from tests.sdk import SDKApp
    from tests.test_end_to_end import read_file_output

    port, out = free_port(), tmp_path / "out.jsonl"
    collector = Collector(f"""
receivers:
  otlp: {{protocols: {{grpc: {{endpoint: "127.0.0.1:{port}"}}}}}}
processors:
  tail_sampling:
    decision_wait: 1s
    policies:
      - name: failed-charges
        type: ottl_condition
        ottl_condition:
          error_mode: ignore
          span: ['span.name == "charge_card" and span.status.code == STATUS_CODE_ERROR']
exporters:
  file: {{path: "{out}", flush_interval: 100ms}}
service:
  pipelines:
    traces: {{receivers: [otlp], processors: [tail_sampling], exporters: [file]}}
""").start()
    try:
        app = SDKApp("grpc", f"127.0.0.1:{port}")
        app.emit(4)  # orders 1 and 3 fail
        app.shutdown()
        sent = {}
        for m in app.spans.sent:
            for rs in m.resource_spans:
                for ss in rs.scope_spans:
                    for s in ss.spans:
                        sent.setdefault(s.trace_id, []).append((s.name, s.status.code))
        failed = {t for t, spans in sent.items() if ("charge_card", 2) in spans}
        assert len(failed) == 2
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            got = read_file_output(out)["traces"]
            kept = {s.trace_id for m in got for rs in m.resource_spans for ss in rs.scope_spans for s in ss.spans}
            if kept == failed:
                break
            time.sleep(0.2)
        assert kept == failed
        assert collector.stop() == 0, collector.output()
    finally:
        collector.stop(signals.SIGKILL)
