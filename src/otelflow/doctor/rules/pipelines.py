"""Rules about what a pipeline holds and in which order: memory_limiter, batch, samplers, unused parts."""

from __future__ import annotations

from typing import Iterator

from otelflow.core.component import Kind
from otelflow.doctor.context import LintContext
from otelflow.doctor.findings import Severity
from otelflow.doctor.rules import Hit, rule

SAMPLERS = ("tail_sampling", "probabilistic_sampler")
#: Processors that accept data and send it on later: a refusal behind them cannot reach the client.
DECOUPLING = ("batch", "tail_sampling")
CHECK_INTERVAL_MAX = 5.0


@rule("memory-limiter-not-first", Severity.WARNING,
      why="memory_limiter refuses data when memory runs high so that receivers push back on clients; "
          "processors before it spend memory and CPU on data it will refuse",
      fix="move memory_limiter to the first place in the pipeline's processors")
def memory_limiter_not_first(ctx: LintContext) -> Iterator[Hit]:
    for pid, pipe in ctx.pipelines.items():
        types = ctx.processor_types(pipe)
        if "memory_limiter" not in types or types[0] == "memory_limiter":
            continue
        before = types[:types.index("memory_limiter")]
        decoupled = [t for t in before if t in DECOUPLING]
        message = f"memory_limiter comes after {', '.join(map(str, pipe.processors[:len(before)]))}"
        if decoupled:
            yield Hit(ctx.pipeline_path(pid, "processors"), message, Severity.ERROR,
                      why=f"{decoupled[0]} has already accepted the data when memory_limiter refuses it, so the "
                          "refusal never reaches the client: the data is dropped instead of retried by the sender")
        else:
            yield Hit(ctx.pipeline_path(pid, "processors"), message)


@rule("memory-limiter-missing", Severity.WARNING,
      why="without memory_limiter a traffic spike or a slow backend grows the collector's memory until the "
          "kernel kills it, losing everything it holds",
      fix="add a memory_limiter processor (check_interval: 1s, limit_percentage or limit_mib) as the first processor")
def memory_limiter_missing(ctx: LintContext) -> Iterator[Hit]:
    if not ctx.production_looking:  # a local, loopback-only setup: not worth the noise
        return
    for pid, pipe in ctx.pipelines.items():
        fed_by_receivers = any(not ctx.is_connector(cid) for cid in pipe.receivers)  # data enters here
        if fed_by_receivers and "memory_limiter" not in ctx.processor_types(pipe):
            yield Hit(ctx.pipeline_path(pid, "processors"), f"pipeline {pid} has no memory_limiter")


@rule("memory-limiter-check-interval", Severity.WARNING,
      why="memory is measured once per check_interval; a spike between two checks is not refused",
      fix="set check_interval to 1s (upstream's recommendation)")
def memory_limiter_check_interval(ctx: LintContext) -> Iterator[Hit]:
    for cid, model in ctx.of_type(Kind.PROCESSOR, "memory_limiter"):
        if model.check_interval > CHECK_INTERVAL_MAX:
            yield Hit(ctx.path(Kind.PROCESSOR, cid, "check_interval"),
                      f"check_interval is {model.check_interval:g}s (more than {CHECK_INTERVAL_MAX:g}s)")


@rule("batch-missing", Severity.WARNING,
      why="without batching every incoming request becomes its own export: many small requests, more CPU, "
          "more backend load and more throttling",
      fix="add the batch processor as the last processor (or enable sending_queue::batch on the exporter)")
def batch_missing(ctx: LintContext) -> Iterator[Hit]:
    for pid, pipe in ctx.pipelines.items():
        network = [cid for cid in pipe.exporters if ctx.network_exporter(cid)]
        if not network or "batch" in ctx.processor_types(pipe):
            continue
        queued = [cid for cid in network
                  if getattr(getattr(ctx.cfg.config_of(Kind.EXPORTER, cid), "sending_queue", None), "batch_settings", None) is not None]
        if len(queued) == len(network):
            continue
        yield Hit(ctx.pipeline_path(pid, "processors"),
                  f"pipeline {pid} exports over the network ({', '.join(map(str, network))}) without a batch processor")


@rule("batch-before-sampler", Severity.WARNING,
      why="batching before a sampler builds batches out of data the sampler then drops, and tail_sampling "
          "regroups spans by trace anyway; the batch belongs after the samplers, just before the exporters",
      fix="move batch after tail_sampling / probabilistic_sampler")
def batch_before_sampler(ctx: LintContext) -> Iterator[Hit]:
    for pid, pipe in ctx.pipelines.items():
        types = ctx.processor_types(pipe)
        if "batch" not in types:
            continue
        later = [str(cid) for cid, t in zip(pipe.processors[types.index("batch") + 1:], types[types.index("batch") + 1:])
                 if t in SAMPLERS]
        if later:
            yield Hit(ctx.pipeline_path(pid, "processors"), f"batch comes before {', '.join(later)}")


@rule("probabilistic-before-tail-sampling", Severity.WARNING,
      why="the probabilistic sampler decides before tail_sampling sees the trace, so error and slow traces "
          "are dropped at random and policies like status_code or latency can no longer keep them all",
      fix="remove probabilistic_sampler and add a probabilistic policy to tail_sampling instead")
def probabilistic_before_tail(ctx: LintContext) -> Iterator[Hit]:
    for pid, pipe in ctx.pipelines.items():
        types = ctx.processor_types(pipe)
        if "probabilistic_sampler" in types and "tail_sampling" in types[types.index("probabilistic_sampler"):]:
            yield Hit(ctx.pipeline_path(pid, "processors"), "probabilistic_sampler comes before tail_sampling")


@rule("unused-component", Severity.INFO,
      why="a component no pipeline uses is never started: data meant for it (a receiver's port, an "
          "exporter's backend) silently goes nowhere, which is usually a forgotten pipeline entry",
      fix="add it to a pipeline (or service::extensions), or delete it")
def unused_component(ctx: LintContext) -> Iterator[Hit]:
    for kind in (Kind.RECEIVER, Kind.PROCESSOR, Kind.EXPORTER, Kind.CONNECTOR, Kind.EXTENSION):
        for cid in ctx.cfg.components.get(kind, {}):
            if not ctx.used(kind, cid):
                where = "service::extensions" if kind is Kind.EXTENSION else "any pipeline"
                yield Hit(ctx.path(kind, cid), f"{kind.value} {cid} is declared but not used in {where}")


#: OTTL processors and the keys of their statement/condition groups.
_OTTL_GROUPS = {
    "transform": ("trace_statements", "metric_statements", "log_statements"),
    "filter": ("trace_conditions", "metric_conditions", "log_conditions"),
}


@rule("ottl-error-mode-propagate", Severity.WARNING,
      why="with error_mode: propagate one OTTL statement that fails on an unexpected item (a missing "
          "attribute, a value of another type) fails the whole request: the batch is dropped or refused, "
          "not just the item",
      fix="use error_mode: ignore (upstream's default) and watch the collector's logs for statement errors")
def ottl_error_mode_propagate(ctx: LintContext) -> Iterator[Hit]:
    for cid, model in ctx.of_type(Kind.PROCESSOR, *_OTTL_GROUPS):
        groups = [(key, i, g) for key in _OTTL_GROUPS[ctx.type_of(Kind.PROCESSOR, cid)]
                  for i, g in enumerate(getattr(model, key, None) or [])]
        inherit = [g for _, _, g in groups if not g.error_mode]
        if model.error_mode == "propagate" and (inherit or not groups):
            yield Hit(ctx.path(Kind.PROCESSOR, cid, "error_mode"), f"{cid} fails whole requests on a statement error")
        for key, i, group in groups:
            if group.error_mode == "propagate":
                yield Hit(ctx.path(Kind.PROCESSOR, cid, key, i, "error_mode"), f"{cid} fails whole requests on a statement error")


@rule("routing-no-default", Severity.WARNING,
      why="the routing connector drops whatever matches no route when default_pipelines is empty: new "
          "services, a renamed attribute or a typo in a condition silently lose their data",
      fix="set default_pipelines to a pipeline that keeps (or at least counts) unrouted data")
def routing_no_default(ctx: LintContext) -> Iterator[Hit]:
    for cid, model in ctx.in_use(Kind.CONNECTOR, "routing"):
        if not model.default_pipelines:
            yield Hit(ctx.path(Kind.CONNECTOR, cid, "default_pipelines"), f"{cid} has no default_pipelines")


@rule("batch-metadata-without-include-metadata", Severity.WARNING,
      why="batch groups by the client metadata named in metadata_keys, but receivers pass client metadata "
          "on only with include_metadata: true; without it every batch falls under the empty key, so the "
          "per-tenant batching (and headers forwarded from it) never happens",
      fix="set include_metadata: true on the receiver protocols that feed this pipeline")
def batch_metadata_without_include_metadata(ctx: LintContext) -> Iterator[Hit]:
    for pid, pipe in ctx.pipelines.items():
        for cid, type_ in zip(pipe.processors, ctx.processor_types(pipe)):
            if type_ != "batch" or not ctx.cfg.config_of(Kind.PROCESSOR, cid).metadata_keys:
                continue
            servers = [s for s in ctx.servers if s.id in pipe.receivers]
            if not any(getattr(s.settings, "include_metadata", False) for s in servers):
                yield Hit(ctx.path(Kind.PROCESSOR, cid, "metadata_keys"),
                          f"{cid} batches by client metadata that no receiver feeding it passes on")
