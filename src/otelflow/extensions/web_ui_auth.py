"""The web UI's login: a browser token, as Aspire's dashboard does, for a UI bound beyond loopback.

The UI shows whatever the services sent, secrets in attributes included, so a UI that other machines
can reach asks for a token on every page, asset and API. The token comes from the config, else
``$OTELFLOW_UI_TOKEN``, else is generated at start and printed once as a login URL
(``/login?t=<token>``). Visiting that URL sets an HttpOnly, SameSite=Strict cookie holding an HMAC
of the token (never the token itself); scripts send ``Authorization: Bearer <token>`` instead.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import logging
import os
import secrets
from typing import Awaitable, Callable, Literal

from aiohttp import web
from pydantic import Field

from otelflow.config.model import Model
from otelflow.core.netaddr import bind_address, split_host_port

TOKEN_ENV = "OTELFLOW_UI_TOKEN"
LOGIN_PATH = "/login"
_SESSION_LABEL = b"otelflow web_ui session v1"
_API_PREFIXES = ("/api/", "/jaeger/")
_REFUSED_JSON = b'{"error":"unauthorized: send Authorization: Bearer <token> or log in with the URL printed at start"}'
_REFUSED_PAGE = """<!doctype html>
<meta charset="utf-8"><meta name="robots" content="noindex"><title>otelflow: log in</title>
<h1>Log in to otelflow</h1>
<p id="refused">This UI needs a token: log in with the URL printed at start
(<code>/login?t=&hellip;</code> in otelflow's log), or paste the token here.</p>
<form method="get" action="/login"><input name="t" type="password" autocomplete="off" aria-label="token">
<button>Log in</button></form>
"""
# the generated token outlives a restart of the extension (a reload), so a printed URL stays valid
_generated: str | None = None


class AuthConfig(Model):
    # auto: a token only when bound beyond loopback; always: even on loopback; never: no login at all
    mode: Literal["auto", "always", "never"] = "auto"
    # empty: $OTELFLOW_UI_TOKEN, else a random one generated at start
    token: str = Field("", repr=False)


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and localhost; any other name or address may be reachable from elsewhere."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.split("%", 1)[0]).is_loopback
    except ValueError:
        return False


def resolve_token(configured: str) -> str:
    global _generated
    token = configured or os.environ.get(TOKEN_ENV, "").strip()
    if token:
        return token
    if _generated is None:
        _generated = secrets.token_urlsafe(32)
    return _generated


class Gate:
    """Decides, once per start, whether the UI needs a token; then checks every request against it."""

    def __init__(self, config: AuthConfig, endpoint: str):
        host, _ = split_host_port(bind_address(endpoint))
        self.host = host
        self.required = config.mode == "always" or (config.mode == "auto" and not is_loopback(host))
        self.mode = config.mode
        self.token = resolve_token(config.token) if self.required else ""
        self._token_bytes = self.token.encode()
        self._session = hmac.new(self._token_bytes, _SESSION_LABEL, hashlib.sha256).hexdigest().encode()
        self.port = 0  # set once bound: the cookie is named after it (cookies ignore ports)

    @property
    def cookie_name(self) -> str:
        return f"otelflow_ui_{self.port}"

    def authorized(self, request: web.Request) -> bool:
        scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(credentials.strip().encode(), self._token_bytes):
            return True
        cookie = request.cookies.get(self.cookie_name, "")
        return hmac.compare_digest(cookie.encode(), self._session)

    @web.middleware
    async def middleware(self, request: web.Request,
                         handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.StreamResponse:
        if not self.required or request.path == LOGIN_PATH or self.authorized(request):
            return await handler(request)
        return refusal(request.path)

    async def login(self, request: web.Request) -> web.StreamResponse:
        """``/login?t=<token>``: a right token sets the session cookie and goes to the UI, hiding the token."""
        if not self.required:
            return web.Response(status=303, headers={"Location": "/"})
        given = request.query.get("t", "").strip().encode()
        if not given or not hmac.compare_digest(given, self._token_bytes):
            return refusal(request.path)
        response = web.Response(status=303, headers={"Location": "/", "Cache-Control": "no-store",
                                                     "Referrer-Policy": "no-referrer"})
        response.set_cookie(self.cookie_name, self._session.decode(), path="/", httponly=True,
                            samesite="Strict", secure=request.secure or None)
        return response

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get(LOGIN_PATH, self.login)

    def log_url(self, logger: logging.Logger, shown_host: str, port: int) -> None:
        """The one log line that carries the token; nothing else logs it (the access log is off)."""
        if self.required:
            logger.info("otelflow UI: log in at http://%s:%d%s?t=%s", shown_host, port, LOGIN_PATH, self.token)
            return
        logger.info("otelflow UI: http://%s:%d/", shown_host, port)
        if not is_loopback(self.host):
            logger.warning("web_ui is bound to %s with auth::mode never: anyone who can reach it sees all "
                           "the stored telemetry", self.host)


def refusal(path: str) -> web.Response:
    """401 with nothing from the store: JSON for API paths, a login prompt for pages and assets."""
    headers = {"Cache-Control": "no-store", "WWW-Authenticate": 'Bearer realm="otelflow"'}
    if path.startswith(_API_PREFIXES):
        return web.Response(status=401, body=_REFUSED_JSON, content_type="application/json", headers=headers)
    return web.Response(status=401, text=_REFUSED_PAGE, content_type="text/html", headers=headers)
