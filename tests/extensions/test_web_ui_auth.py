"""web_ui's login when bound beyond loopback: a real all-in-one otelflow process (two workers), fed by the
real SDK over OTLP, bound to this machine's non-loopback address (or 0.0.0.0 when it has none).

Every path of the OpenAPI document (and the pages, assets, Jaeger API) answers 401 with a fixed body
and nothing from the store without the token; 200 with ``Authorization: Bearer`` and with the
cookie ``/login?t=`` sets; the token is printed once, in the login line; loopback stays open.
"""

from __future__ import annotations

import http.client
import json
import logging
import re
import socket
import subprocess
import time
from dataclasses import dataclass

import pytest

from otelflow.extensions import web_ui
from otelflow.extensions.web_ui_auth import TOKEN_ENV, is_loopback
from otelflow.store import openapi
from tests.backends import free_port
from tests.process import Collector
from tests.sdk import SDKApp

SERVICE = "auth-shop"
LOGIN_LINE = re.compile(r"otelflow UI: log in at http://(\S+?):(\d+)/login\?t=(\S+)")
POLICIES = "policies:\n  - {name: all, type: always_sample}\n"


def exposed_host() -> str:
    """This machine's first non-loopback IPv4 address that can be bound, else 0.0.0.0 (also not loopback)."""
    candidates = []
    try:
        out = subprocess.run(["ip", "-4", "-o", "addr"], capture_output=True, text=True, timeout=5).stdout
        candidates += re.findall(r"inet (\d+\.\d+\.\d+\.\d+)/", out)
    except (OSError, subprocess.SubprocessError):
        pass
    try:
        candidates.append(socket.gethostbyname(socket.gethostname()))
    except OSError:
        pass
    for ip in candidates:
        if is_loopback(ip):
            continue
        try:
            with socket.socket() as s:
                s.bind((ip, 0))
            return ip
        except OSError:
            continue
    return "0.0.0.0"


def config(grpc: int, http_port: int, ui_endpoint: str, directory, auth: str = "") -> str:
    pipelines = "\n".join(f"    {s}: {{receivers: [otlp], exporters: [embedded_store]}}" for s in ("traces", "metrics", "logs"))
    return f"""
receivers:
  otlp:
    protocols:
      grpc: {{endpoint: "127.0.0.1:{grpc}"}}
      http: {{endpoint: "127.0.0.1:{http_port}"}}
exporters:
  embedded_store: {{}}
extensions:
  embedded_store: {{directory: "{directory}"}}
  web_ui: {{endpoint: "{ui_endpoint}"{auth}}}
  doctor:
service:
  extensions: [embedded_store, web_ui, doctor]
  telemetry: {{metrics: {{level: none}}}}
  pipelines:
{pipelines}
"""


@dataclass
class Answer:
    status: int
    headers: http.client.HTTPMessage
    body: bytes


def call(host: str, port: int, method: str, path: str, headers: dict | None = None, body: bytes | None = None,
         stream: bool = False) -> Answer:
    """One request; a server-sent-event stream is read up to its headers only."""
    conn = http.client.HTTPConnection(host, port, timeout=10)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        data = b"" if stream and resp.status == 200 else resp.read()
        return Answer(resp.status, resp.headers, data)
    finally:
        conn.close()


@dataclass
class UI:
    host: str  # where the test connects
    port: int
    token: str
    trace_id: str
    collector: Collector

    def get(self, path: str, **kw) -> Answer:
        return call(self.host, self.port, "GET", path, **kw)


def requests_for(trace_id: str, export: bytes = b"") -> list[tuple[str, str, dict, bytes | None, bool]]:
    """(method, path, extra headers, body, is a stream) for every operation of the OpenAPI document."""
    now_us = int(time.time() * 1e6)
    rng = f"start_us={now_us - 3_600_000_000}&end_us={now_us + 60_000_000}"
    query = {"/api/v1/operations": f"service={SERVICE}", "/api/v1/red": f"service={SERVICE}",
             "/api/v1/metrics/query": f"name=orders_total&{rng}", "/api/v1/sampling/what-if": rng,
             "/api/v1/import": "signal=traces"}
    bodies = {"/api/v1/sampling/what-if": (POLICIES.encode(), {"Content-Type": "application/yaml"}),
              "/api/v1/import": (export, {"Content-Type": "application/octet-stream"})}
    out = []
    for template, operations in openapi.PATHS.items():
        path = template.replace("{trace_id}", trace_id)
        if template in query:
            path += "?" + query[template]
        for method in operations:
            body, headers = bodies.get(template, (None, {}))
            out.append((method.upper(), path, dict(headers), body, template.startswith("/api/v1/tail/")))
    return out


@pytest.fixture(scope="module")
def ui(tmp_path_factory):
    grpc, http_port, port = free_port(), free_port(), free_port()
    bind = exposed_host()
    connect = "127.0.0.1" if bind == "0.0.0.0" else bind
    collector = Collector(config(grpc, http_port, f"{bind}:{port}", tmp_path_factory.mktemp("store")),
                          env={"OTELFLOW_WORKERS": "2", TOKEN_ENV: ""}).start(timeout=40)
    try:
        found = LOGIN_LINE.search(collector.output())
        assert found, f"no login line in the log:\n{collector.output()}"
        token = found.group(3)
        app = SDKApp("http", f"http://127.0.0.1:{http_port}", service_name=SERVICE)
        app.emit(requests=2)
        app.shutdown()  # the OTLP receiver takes data without any UI token
        trace_id = app.spans.sent[0].resource_spans[0].scope_spans[0].spans[0].trace_id.hex()
        bearer = {"Authorization": f"Bearer {token}"}
        deadline = time.monotonic() + 20
        while True:
            answer = call(connect, port, "GET", f"/api/v1/traces/{trace_id}", headers=bearer)
            if answer.status == 200 and len(json.loads(answer.body)["spans"]) >= 2:
                break
            assert time.monotonic() < deadline, f"the trace never reached the store: {answer.status} {answer.body[:200]!r}"
            time.sleep(0.2)
        yield UI(connect, port, token, trace_id, collector)
    finally:
        collector.stop()


REFUSED_API = b'{"error":"unauthorized: send Authorization: Bearer <token> or log in with the URL printed at start"}'


def assert_refused(answer: Answer, path: str) -> None:
    assert answer.status == 401, (path, answer.status, answer.body[:200])
    assert "Set-Cookie" not in answer.headers, path
    assert answer.headers["Cache-Control"] == "no-store"
    assert SERVICE.encode() not in answer.body
    if path.startswith(("/api/", "/jaeger/")):
        assert answer.body == REFUSED_API, path
        assert answer.headers["Content-Type"].startswith("application/json")
    else:
        assert b"log in with the URL printed at start" in answer.body
        assert answer.headers["Content-Type"].startswith("text/html")


def test_the_login_line_is_printed_once_and_the_token_nowhere_else(ui):
    log = ui.collector.output()
    assert len(LOGIN_LINE.findall(log)) == 1, log  # two workers, web_ui runs in worker 0 only
    assert log.count(ui.token) == 1
    assert len(ui.token) >= 40  # secrets.token_urlsafe(32)
    host, port, _ = LOGIN_LINE.search(log).groups()
    assert int(port) == ui.port and host in (ui.host, "127.0.0.1")


def test_every_path_is_refused_without_or_with_a_wrong_token(ui):
    assert ui.get("/api/v1/services").status == 401
    login = ui.get(f"/login?t={ui.token}")
    cookie_name = login.headers["Set-Cookie"].split("=", 1)[0]
    wrong = [{}, {"Authorization": f"Bearer {ui.token[:-1]}x"}, {"Authorization": "Bearer "},
             {"Authorization": f"Basic {ui.token}"}, {"Cookie": f"{cookie_name}={ui.token}"},
             {"Cookie": f"{cookie_name}=" + "0" * 64}]
    paths = [(m, p, h, b) for m, p, h, b, _ in requests_for(ui.trace_id, b"{}")]
    paths += [("GET", p, {}, None) for p in ("/", "/index.html", "/assets/app.js", "/favicon.ico", "/nothing",
                                              "/jaeger/api/services", f"/jaeger/api/traces/{ui.trace_id}",
                                              "/jaeger/api/dependencies", "/api/v1/no-such-thing")]
    paths.append(("HEAD", "/api/v1/services", {}, None))
    for headers in wrong:
        for method, path, extra, body in paths:
            answer = call(ui.host, ui.port, method, path, headers={**extra, **headers}, body=body)
            if method == "HEAD":
                assert answer.status == 401
                continue
            assert_refused(answer, path.split("?")[0])


def test_login_with_a_wrong_token_sets_no_cookie(ui):
    for query in ("", "?t=", f"?t={ui.token[:-1]}", f"?t={ui.token}x", "?token=" + ui.token):
        answer = ui.get("/login" + query)
        assert_refused(answer, "/login")
        assert b"<form" in answer.body


def test_the_bearer_token_and_the_login_cookie_open_every_path(ui):
    login = ui.get(f"/login?t={ui.token}")
    assert login.status == 303 and login.headers["Location"] == "/"
    set_cookie = login.headers["Set-Cookie"]
    name, value = set_cookie.split(";", 1)[0].split("=", 1)
    assert name == f"otelflow_ui_{ui.port}"
    assert ui.token not in set_cookie and len(value) == 64  # an HMAC of the token, not the token
    attrs = {a.strip().lower() for a in set_cookie.split(";")[1:]}
    assert {"httponly", "samesite=strict", "path=/"} <= attrs and "secure" not in attrs  # plain HTTP
    assert login.headers["Referrer-Policy"] == "no-referrer"

    export = ui.get(f"/api/v1/export/trace/{ui.trace_id}", headers={"Authorization": f"Bearer {ui.token}"})
    assert export.status == 200 and ui.trace_id.encode() in export.body.lower(), export.body[:300]
    for credentials in ({"Authorization": f"Bearer {ui.token}"}, {"authorization": f"bearer {ui.token}"},
                        {"Cookie": f"{name}={value}"}):
        for method, path, extra, body, stream in requests_for(ui.trace_id, export.body):
            answer = call(ui.host, ui.port, method, path, headers={**extra, **credentials}, body=body, stream=stream)
            assert answer.status == 200, (credentials.keys(), method, path, answer.status, answer.body[:300])
        services = json.loads(ui.get("/api/v1/services", headers=credentials).body)
        assert SERVICE in [s["name"] for s in services["services"]]
        for path in ("/jaeger/api/services", f"/jaeger/api/traces/{ui.trace_id}"):
            assert ui.get(path, headers=credentials).status == 200, path
        # pages and assets: served (the UI build is optional: 503 says how to make one)
        assert ui.get("/", headers=credentials).status in (200, 503)


def test_loopback_stays_open_and_mode_always_closes_it(tmp_path):
    port = free_port()
    open_ui = Collector(config(free_port(), free_port(), f"127.0.0.1:{port}", tmp_path / "a")).start()
    try:
        assert call("127.0.0.1", port, "GET", "/api/v1/services").status == 200
        assert call("127.0.0.1", port, "GET", "/jaeger/api/services").status == 200
        assert "log in at" not in open_ui.output() and f"otelflow UI: http://127.0.0.1:{port}/" in open_ui.output()
    finally:
        open_ui.stop()
    port = free_port()
    token = "configured-token-" + "k" * 20
    closed = Collector(config(free_port(), free_port(), f"localhost:{port}", tmp_path / "b",
                              auth=f', auth: {{mode: always, token: "{token}"}}')).start()
    try:
        assert_refused(call("127.0.0.1", port, "GET", "/api/v1/services"), "/api/v1/services")
        assert call("127.0.0.1", port, "GET", "/api/v1/services", headers={"Authorization": f"Bearer {token}"}).status == 200
        assert f"/login?t={token}" in closed.output()
    finally:
        closed.stop()


def test_config_and_loopback_rules():
    assert web_ui.Config().auth.mode == "auto"
    assert token_hidden_in_repr()
    for host in ("127.0.0.1", "127.8.9.10", "::1", "localhost", "LOCALHOST"):
        assert is_loopback(host), host
    for host in ("0.0.0.0", "::", "", "192.0.2.2", "10.0.0.1", "myhost", "::ffff:10.0.0.1"):
        assert not is_loopback(host), host
    with pytest.raises(ValueError):
        web_ui.Config(auth={"mode": "sometimes"})
    with pytest.raises(ValueError):
        web_ui.Config(auth={"tokn": "x"})


def token_hidden_in_repr() -> bool:
    return "s3cret" not in repr(web_ui.Config(auth={"token": "s3cret"}))


def test_which_binds_need_the_token_and_where_it_comes_from(monkeypatch, caplog):
    from otelflow.extensions.web_ui_auth import AuthConfig, Gate

    monkeypatch.delenv(TOKEN_ENV, raising=False)
    assert Gate(AuthConfig(), ":4380").required and Gate(AuthConfig(), "myhost:4380").required
    assert not Gate(AuthConfig(), "localhost:4380").required and not Gate(AuthConfig(), "[::1]:4380").required
    generated = Gate(AuthConfig(), "0.0.0.0:4380").token
    assert len(generated) >= 40 and Gate(AuthConfig(), "10.0.0.1:1").token == generated  # kept across a restart
    monkeypatch.setenv(TOKEN_ENV, " from-env ")
    assert Gate(AuthConfig(), "0.0.0.0:1").token == "from-env"
    assert Gate(AuthConfig(token="from-config"), "0.0.0.0:1").token == "from-config"
    assert Gate(AuthConfig(mode="always"), "127.0.0.1:1").required
    never = Gate(AuthConfig(mode="never"), "0.0.0.0:1")
    assert not never.required
    logger = logging.getLogger("test.web_ui_auth")
    with caplog.at_level(logging.INFO, logger="test.web_ui_auth"):
        never.log_url(logger, "127.0.0.1", 1)
    assert any(r.levelname == "WARNING" and "auth::mode never" in r.getMessage() for r in caplog.records)
