"""Rules about exporters: resilience (retry, queue), transport security, loops back into the collector,
endpoints that cannot work, and the debug exporter left talkative."""

from __future__ import annotations

from typing import Any, Iterator
from urllib.parse import urlsplit

from otelflow.core.component import ComponentID, Kind
from otelflow.doctor.context import LintContext
from otelflow.doctor.findings import Severity
from otelflow.doctor.rules import Hit, rule


def _resilience(ctx: LintContext, cid: ComponentID, model: Any) -> tuple[tuple[str, ...], Any]:
    """Where an exporter's retry and queue settings live: the loadbalancing exporter keeps its
    resilience off on purpose and relies on the per-backend otlp exporters it builds."""
    if ctx.type_of(Kind.EXPORTER, cid) == "loadbalancing":
        return ("protocol", "otlp"), model.protocol.otlp
    return (), model


def _network_exporters(ctx: LintContext) -> Iterator[tuple[ComponentID, Any]]:
    for cid, model in ctx.cfg.components.get(Kind.EXPORTER, {}).items():
        if ctx.network_exporter(cid) and ctx.used(Kind.EXPORTER, cid):
            yield cid, model


@rule("exporter-retry-disabled", Severity.WARNING,
      why="with retry_on_failure off, any transient backend error (a restart, a 503, a network blip) "
          "drops the batch at once",
      fix="remove retry_on_failure::enabled: false (retry is on by default), and bound it with max_elapsed_time")
def exporter_retry_disabled(ctx: LintContext) -> Iterator[Hit]:
    for cid, model in _network_exporters(ctx):
        rel, settings = _resilience(ctx, cid, model)
        retry = getattr(settings, "retry_on_failure", None)
        if retry is not None and not retry.enabled:
            yield Hit(ctx.path(Kind.EXPORTER, cid, *rel, "retry_on_failure", "enabled"), f"{cid} does not retry failed exports")


@rule("exporter-queue-disabled", Severity.WARNING,
      why="with the sending queue off, each export runs in the pipeline's call: a slow backend blocks the "
          "receivers and there is no buffer to ride out an outage",
      fix="remove sending_queue::enabled: false (the queue is on by default); add storage: file_storage to keep it across restarts")
def exporter_queue_disabled(ctx: LintContext) -> Iterator[Hit]:
    for cid, model in _network_exporters(ctx):
        rel, settings = _resilience(ctx, cid, model)
        for key in ("sending_queue", "remote_write_queue"):
            queue = getattr(settings, key, None)
            if queue is not None and not queue.enabled:
                yield Hit(ctx.path(Kind.EXPORTER, cid, *rel, key, "enabled"), f"{cid} has its {key} disabled")


@rule("exporter-insecure", Severity.WARNING,
      why="telemetry carries URLs, headers, user data and credentials; sent in plaintext (or over TLS that "
          "does not verify the server) to another machine it can be read or altered on the way",
      fix="use TLS to remote backends: an https:// endpoint, drop tls::insecure / insecure_skip_verify, "
          "set tls::ca_file if the backend uses a private CA")
def exporter_insecure(ctx: LintContext) -> Iterator[Hit]:
    for target in ctx.targets_in_use:
        if not target.address.remote:
            continue
        host = target.address.host or "(all interfaces)"
        if target.plaintext:
            yield Hit(target.path, f"{target.id} sends in plaintext to {host}")
        elif target.unverified:
            yield Hit(target.path, f"{target.id} does not verify the TLS certificate of {host}")


@rule("exporter-loop", Severity.ERROR,
      why="the exporter sends to this collector's own receiver, which feeds the same pipeline again: every "
          "item goes round for ever, multiplying load until the collector falls over",
      fix="point the exporter at the real backend, or send into a receiver whose pipelines do not lead back to this exporter")
def exporter_loop(ctx: LintContext) -> Iterator[Hit]:
    for target in ctx.targets:
        for server in ctx.servers:
            if not _same_socket(target.address, server.address):
                continue
            into = [pid for pid, p in ctx.pipelines.items() if server.id in p.receivers]
            reached = {q for pid in into for q in ctx.downstream(pid)}
            if any(target.id in ctx.pipelines[q].exporters for q in reached):
                yield Hit(target.path, f"{target.id} sends to {target.address.host}:{target.address.port}, this collector's "
                                       f"own receiver {server.id} ({server.path}), whose pipelines lead back to {target.id}")


@rule("debug-exporter-detailed", Severity.WARNING,
      why="verbosity: detailed prints every span, point and record with all attributes: in production that "
          "costs CPU and log volume per item and copies user data into the collector's logs",
      fix="use verbosity: basic (or normal with sampling_initial/sampling_thereafter), or remove the debug exporter")
def debug_exporter_detailed(ctx: LintContext) -> Iterator[Hit]:
    if not ctx.production_looking:
        return
    for cid, model in ctx.in_use(Kind.EXPORTER, "debug"):
        if model.verbosity.value == "detailed":
            yield Hit(ctx.path(Kind.EXPORTER, cid, "verbosity"), f"{cid} prints every item in full in a production-looking config")


def _same_socket(target, server) -> bool:
    if target.port is None or target.port != server.port:
        return False
    if target.loopback:
        return server.all_interfaces or server.loopback
    return bool(target.host) and target.host == server.host


_SIGNAL_PATHS = {"traces": "/v1/traces", "metrics": "/v1/metrics", "logs": "/v1/logs"}
GRPC_PORT, HTTP_PORT = 4317, 4318


@rule("otlphttp-signal-path-in-endpoint", Severity.ERROR,
      why="otlphttp appends /v1/traces, /v1/metrics or /v1/logs to endpoint; an endpoint that already ends "
          "in such a path posts to /v1/traces/v1/traces, which the backend answers with 404 and every "
          "export is dropped as a permanent error",
      fix="give the base URL as endpoint (https://host:4318), or the full URL as traces_endpoint / "
          "metrics_endpoint / logs_endpoint")
def otlphttp_signal_path(ctx: LintContext) -> Iterator[Hit]:
    for cid, model in ctx.of_type(Kind.EXPORTER, "otlphttp"):
        path = urlsplit(model.endpoint).path.rstrip("/") if "://" in model.endpoint else ""
        suffix = next((p for p in _SIGNAL_PATHS.values() if path.endswith(p)), None)
        if suffix is None:
            continue
        signals = sorted({pid.signal.value for pid, p in ctx.pipelines.items() if cid in p.exporters})
        affected = [s for s in signals if not getattr(model, f"{s}_endpoint", "")]
        if affected:
            yield Hit(ctx.path(Kind.EXPORTER, cid, "endpoint"),
                      f'{cid} posts {", ".join(affected)} to {model.endpoint.rstrip("/")}{_SIGNAL_PATHS[affected[0]]}')


@rule("exporter-port-mismatch", Severity.WARNING,
      why="4317 is OTLP/gRPC's port and 4318 OTLP/HTTP's: an HTTP exporter aimed at 4317 (or a gRPC one at "
          "4318) speaks the wrong protocol to the receiver there and every export fails",
      fix="use the otlp exporter for port 4317 and otlphttp for port 4318 (or change the port)")
def exporter_port_mismatch(ctx: LintContext) -> Iterator[Hit]:
    grpc_types = ("otlp", "loadbalancing")
    for target in ctx.targets_in_use:
        type_ = ctx.type_of(Kind.EXPORTER, target.id)
        port = target.address.port
        if type_ in grpc_types and port == HTTP_PORT:
            yield Hit(target.path, f"{target.id} speaks OTLP/gRPC to port {HTTP_PORT}, OTLP/HTTP's port")
        elif type_ == "otlphttp" and port == GRPC_PORT:
            yield Hit(target.path, f"{target.id} speaks OTLP/HTTP to port {GRPC_PORT}, OTLP/gRPC's port")
