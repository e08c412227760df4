"""Rules about sampling: where tail_sampling gets its spans from, how long it waits, what it holds, and
metrics computed from already-sampled spans."""

from __future__ import annotations

from typing import Iterator

from otelflow.core.component import Kind, Signal
from otelflow.doctor.context import LintContext
from otelflow.doctor.findings import Severity
from otelflow.doctor.rules import Hit, rule

DECISION_WAIT_MIN = 5.0
NUM_TRACES_MIN = 1000


def _tail_samplers_in_use(ctx: LintContext) -> list:
    return [cid for cid, _ in ctx.in_use(Kind.PROCESSOR, "tail_sampling")]


@rule("loadbalancing-not-by-trace-id", Severity.ERROR,
      why="tail sampling needs every span of a trace on the same collector; routing by service, resource "
          "or attributes spreads one trace over several backends, each deciding on a fragment, so traces "
          "come out broken and error/latency policies miss what they should keep",
      fix="set routing_key: traceID (the default for traces) on the loadbalancing exporter that feeds the "
          "tail-sampling tier; route by service in a separate exporter for spanmetrics if needed")
def loadbalancing_not_by_trace_id(ctx: LintContext) -> Iterator[Hit]:
    samplers = _tail_samplers_in_use(ctx)
    for cid, model in ctx.of_type(Kind.EXPORTER, "loadbalancing"):
        traces = [pid for pid, p in ctx.pipelines.items() if pid.signal is Signal.TRACES and cid in p.exporters]
        key = model.routing_key or "traceID"
        if not traces or key == "traceID":
            continue
        hosts = [t.address.host for t in ctx.targets if t.id == cid]
        named = [n for n in (str(cid), *hosts) if "sampl" in n.lower()]
        if samplers:
            reason = f"this config runs {', '.join(map(str, samplers))}"
        elif named:
            reason = f'its name or backend ("{named[0]}") says it feeds a sampling tier'
        else:
            continue  # routing by service for spanmetrics is a legitimate use
        yield Hit(ctx.path(Kind.EXPORTER, cid, "routing_key"), f'traces are routed by "{key}", not traceID, while {reason}')


@rule("tail-sampling-decision-wait", Severity.WARNING,
      why="tail_sampling decides decision_wait after a trace's first span arrives; spans of longer traces "
          "(the root span ends last) arrive after the decision and are decided apart from their trace",
      fix=f"set decision_wait longer than your slowest traces (at least {DECISION_WAIT_MIN:g}s; upstream's default is 30s)")
def tail_sampling_decision_wait(ctx: LintContext) -> Iterator[Hit]:
    for cid, model in ctx.of_type(Kind.PROCESSOR, "tail_sampling"):
        wait = model.decision_wait
        path = ctx.path(Kind.PROCESSOR, cid, "decision_wait")
        slowest = max((p.latency.threshold_ms for p in _policies(model.policies) if p.type == "latency"), default=0)
        if slowest and slowest / 1000 >= wait:
            yield Hit(path, f"decision_wait is {wait:g}s but a latency policy waits for traces over {slowest} ms: "
                            "such traces are never complete when they are decided")
        elif wait < DECISION_WAIT_MIN:
            yield Hit(path, f"decision_wait is {wait:g}s (less than {DECISION_WAIT_MIN:g}s)")


@rule("tail-sampling-num-traces", Severity.WARNING,
      why="tail_sampling holds at most num_traces traces; when more arrive within decision_wait the oldest "
          "are dropped before any policy sees them (otelcol_processor_tail_sampling_sampling_trace_dropped_too_early)",
      fix="set num_traces to at least expected new traces per second x decision_wait, with headroom")
def tail_sampling_num_traces(ctx: LintContext) -> Iterator[Hit]:
    for cid, model in ctx.of_type(Kind.PROCESSOR, "tail_sampling"):
        path = ctx.path(Kind.PROCESSOR, cid, "num_traces")
        needed = model.expected_new_traces_per_sec * model.decision_wait
        if needed > model.num_traces:
            yield Hit(path, f"num_traces is {model.num_traces} but expected_new_traces_per_sec x decision_wait is {needed:g}")
        elif model.num_traces < NUM_TRACES_MIN:
            yield Hit(path, f"num_traces is {model.num_traces} (less than {NUM_TRACES_MIN})")


@rule("spanmetrics-after-sampling", Severity.ERROR,
      why="span metrics computed after sampling count only the kept spans: request rates and error rates "
          "come out too low by the sampling ratio and latency percentiles lean to what the policies keep",
      fix="feed spanmetrics from a pipeline without samplers (fan the receiver out to two pipelines: one to "
          "spanmetrics, one that samples and exports)")
def spanmetrics_after_sampling(ctx: LintContext) -> Iterator[Hit]:
    for pid, pipe in ctx.pipelines.items():
        samplers = [str(c) for c, t in zip(pipe.processors, ctx.processor_types(pipe)) if t in ("tail_sampling", "probabilistic_sampler")]
        if not samplers:
            continue
        for qid in sorted(ctx.downstream(pid), key=str):
            for cid in ctx.pipelines[qid].exporters:
                if ctx.is_connector(cid) and ctx.type_of(Kind.CONNECTOR, cid) == "spanmetrics":
                    yield Hit(ctx.pipeline_path(qid, "exporters"),
                              f"{cid} gets spans already sampled by {', '.join(samplers)} in pipeline {pid}")


def _policies(policies) -> Iterator:
    """Top-level policies and the sub-policies of ``and`` and ``composite``."""
    for p in policies:
        yield p
        yield from getattr(getattr(p, "and_", None), "and_sub_policy", [])
        yield from getattr(getattr(p, "composite", None), "composite_sub_policy", [])
