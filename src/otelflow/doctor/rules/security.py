"""Rules about who can reach the collector: open receivers, credentials in plaintext, CORS and exposed
admin endpoints."""

from __future__ import annotations

from typing import Iterator

from otelflow.core.component import Kind
from otelflow.doctor import addresses
from otelflow.doctor.context import LintContext
from otelflow.doctor.findings import Severity
from otelflow.doctor.rules import Hit, rule

#: Extensions that serve the collector's internals (profiles, pipelines, stored telemetry) without auth.
ADMIN_EXTENSIONS = ("pprof", "zpages", "web_ui")


def _mtls(server) -> bool:
    tls = getattr(server.settings, "tls", None)
    return bool(tls is not None and getattr(tls, "client_ca_file", ""))


@rule("receiver-open", Severity.WARNING,
      why="an endpoint on every interface with neither auth nor TLS accepts telemetry from anyone who can "
          "reach the port: forged or flooding data, and everything in clear text on the network",
      fix="bind to localhost, or to the pod/host IP (${env:MY_POD_IP}:4317) behind a network policy; "
          "otherwise add tls and an auth authenticator (basicauth, bearertokenauth)")
def receiver_open(ctx: LintContext) -> Iterator[Hit]:
    for server in ctx.servers_in_use:
        if server.address.all_interfaces and not server.auth and not server.tls:
            shown = getattr(server.settings, "endpoint", "")
            yield Hit(f"{server.path}::endpoint", f'{server.id} listens on "{shown}" (every interface) without auth or TLS')


@rule("receiver-auth-without-tls", Severity.WARNING,
      why="the receiver checks credentials that clients send in clear text: anyone on the path can read "
          "the password or token and reuse it",
      fix="add tls (cert_file, key_file) to the same protocol block")
def receiver_auth_without_tls(ctx: LintContext) -> Iterator[Hit]:
    for server in ctx.servers_in_use:
        if server.auth and not server.tls and not server.address.loopback:
            yield Hit(f"{server.path}::auth", f"{server.id} takes credentials over plaintext")


@rule("receiver-cors-wildcard", Severity.WARNING,
      why='allowed_origins "*" lets any web page a user opens post telemetry to this collector from the '
          "user's browser (and read the answers)",
      fix="list the exact origins of your web apps (https://app.example.com)")
def receiver_cors_wildcard(ctx: LintContext) -> Iterator[Hit]:
    for server in ctx.servers_in_use:
        cors = getattr(server.settings, "cors", None)
        if cors is not None and "*" in cors.allowed_origins:
            yield Hit(f"{server.path}::cors::allowed_origins", f"{server.id} accepts browser requests from any origin")


@rule("admin-endpoint-exposed", Severity.WARNING,
      why="pprof and zpages have no authentication, nor has the web UI with auth::mode never; reachable "
          "from other machines they hand out profiles, pipeline internals or the stored telemetry itself",
      fix="bind them to localhost and reach them through a port-forward or an SSH tunnel (the web UI asks "
          "for a token beyond loopback unless auth::mode is never)")
def admin_endpoint_exposed(ctx: LintContext) -> Iterator[Hit]:
    for cid, model in ctx.in_use(Kind.EXTENSION, *ADMIN_EXTENSIONS):
        auth = getattr(model, "auth", None)
        if auth is not None and getattr(auth, "mode", "never") != "never":
            continue  # the web UI's token login covers it
        address = addresses.server(getattr(model, "endpoint", "") or "")
        if address is not None and not address.loopback:
            yield Hit(ctx.path(Kind.EXTENSION, cid, "endpoint"), f'{cid} serves on "{model.endpoint}", reachable from other machines')
