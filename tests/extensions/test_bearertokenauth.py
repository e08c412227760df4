"""bearertokenauth on the otlp receiver (gRPC and HTTP) and the otlphttp exporter, with the real SDK."""

from __future__ import annotations

import asyncio

import grpc
import pytest

from otelflow.config.errors import ConfigError
from otelflow.core.component import Signal
from otelflow.core.service import StartError
from tests.backends import free_port
from tests.conftest import running
from tests.otlpclient import authenticated_receiver, grpc_export, http_post, sdk_export, status_of


def config(gp: int, hp: int, auth: str, backend: str = "http://127.0.0.1:9", http_extra: str = "") -> str:
    return authenticated_receiver("bearertokenauth/in", auth, gp, hp, backend, http_extra)


async def test_sdk_with_the_token_passes_and_others_are_refused(backend):
    gp, hp = free_port(), free_port()
    async with running(config(gp, hp, "    token: good", backend.endpoint)):
        good = {"authorization": "Bearer good"}
        assert await sdk_export("grpc", f"127.0.0.1:{gp}", headers=good)
        assert await sdk_export("http", f"http://127.0.0.1:{hp}", headers=good)
        assert len(backend.messages(Signal.TRACES)) == 2

        # gRPC: UNAUTHENTICATED with the authenticator's message
        assert await grpc_export(f"127.0.0.1:{gp}", [("authorization", "Bearer bad")]) == (
            grpc.StatusCode.UNAUTHENTICATED, "provided authorization does not match expected scheme or token")
        assert await grpc_export(f"127.0.0.1:{gp}") == (
            grpc.StatusCode.UNAUTHENTICATED, "missing or empty authorization header: Authorization")
        assert await grpc_export(f"127.0.0.1:{gp}", [("authorization", "good")]) == (
            grpc.StatusCode.UNAUTHENTICATED, "provided authorization does not match expected scheme or token")

        # HTTP: 401 with a google.rpc.Status (code 16) in the request's encoding
        status, ctype, body = await http_post(f"http://127.0.0.1:{hp}/v1/traces", {"Authorization": "Bearer bad"})
        assert (status, ctype) == (401, "application/x-protobuf")
        st = status_of(ctype, body)
        assert (st.code, st.message) == (16, "provided authorization does not match expected scheme or token")
        status, ctype, body = await http_post(f"http://127.0.0.1:{hp}/v1/traces", {"Content-Type": "application/json"}, b"{}")
        assert (status, ctype) == (401, "application/json")
        assert status_of(ctype, body).message == "missing or empty authorization header: Authorization"
        assert not await sdk_export("http", f"http://127.0.0.1:{hp}", headers={"authorization": "Bearer bad"})
        assert len(backend.messages(Signal.TRACES)) == 2


async def test_auth_comes_before_the_body_on_http_and_after_it_on_grpc():
    gp, hp = free_port(), free_port()
    async with running(config(gp, hp, "    token: good")):
        # confighttp's interceptor wraps the whole mux: no route, no decoding before auth
        status, _, _ = await http_post(f"http://127.0.0.1:{hp}/v1/traces", body=b"\xff not protobuf")
        assert status == 401
        status, _, _ = await http_post(f"http://127.0.0.1:{hp}/no/such/path")
        assert status == 401
        # an unknown content type gets upstream's fallback answer
        status, ctype, body = await http_post(f"http://127.0.0.1:{hp}/v1/traces", {"Content-Type": "text/plain"})
        assert (status, ctype) == (500, "application/json") and b"failed to marshal error message" in body
        # grpc-go decodes the message before its auth interceptor runs
        code, details = await grpc_export(f"127.0.0.1:{gp}", body=b"\xff\xff\xff")
        assert code is grpc.StatusCode.INTERNAL and details.startswith("grpc: error unmarshalling request")


async def test_tokens_list_custom_header_scheme_and_query_params(backend):
    gp, hp = free_port(), free_port()
    auth = "    header: X-Api-Key\n    scheme: Token\n    tokens: [first, second]"
    async with running(config(gp, hp, auth, backend.endpoint, ", request_params: [x-api-key]")):
        assert await sdk_export("grpc", f"127.0.0.1:{gp}", headers={"x-api-key": "Token second"})
        assert await sdk_export("http", f"http://127.0.0.1:{hp}", headers={"X-Api-Key": "Token first"})
        assert await grpc_export(f"127.0.0.1:{gp}", [("x-api-key", "Bearer first")]) == (
            grpc.StatusCode.UNAUTHENTICATED, "provided authorization does not match expected scheme or token")
        # request_params: a query parameter counts as the header
        status, _, _ = await http_post(f"http://127.0.0.1:{hp}/v1/traces?x-api-key=Token%20second")
        assert status == 200
        assert len(backend.messages(Signal.TRACES)) == 3


async def test_token_file_is_reread_when_it_changes(tmp_path, backend):
    token_file = tmp_path / "token"
    token_file.write_text("one   # the first token\n\n")
    gp, hp = free_port(), free_port()
    async with running(config(gp, hp, f"    filename: {token_file}", backend.endpoint)):
        assert await grpc_export(f"127.0.0.1:{gp}", [("authorization", "Bearer one")]) == (grpc.StatusCode.OK, "")
        await asyncio.to_thread(token_file.write_text, "two\nthree // also valid\n")
        deadline = asyncio.get_running_loop().time() + 10
        while (await grpc_export(f"127.0.0.1:{gp}", [("authorization", "Bearer two")]))[0] is not grpc.StatusCode.OK:
            assert asyncio.get_running_loop().time() < deadline, "new token never accepted"
            await asyncio.sleep(0.2)
        status, _, _ = await http_post(f"http://127.0.0.1:{hp}/v1/traces", {"Authorization": "Bearer three"})
        assert status == 200
        status, _, _ = await http_post(f"http://127.0.0.1:{hp}/v1/traces", {"Authorization": "Bearer one"})
        assert status == 401


async def test_missing_token_file_fails_start(tmp_path):
    gp, hp = free_port(), free_port()
    with pytest.raises(StartError, match="failed to read credentials file"):
        async with running(config(gp, hp, f"    filename: {tmp_path / 'absent'}")):
            pass


async def test_otlphttp_exporter_sends_the_token(tmp_path, backend):
    port = free_port()
    yaml = f"""
extensions:
  bearertokenauth/out: {{scheme: "", token: raw-token, header: X-Auth}}
receivers:
  otlp:
    protocols:
      grpc: {{endpoint: "127.0.0.1:{port}"}}
exporters:
  otlphttp:
    endpoint: "{backend.endpoint}"
    auth: {{authenticator: bearertokenauth/out}}
    sending_queue: {{enabled: false}}
service:
  extensions: [bearertokenauth/out]
  pipelines:
    traces: {{receivers: [otlp], exporters: [otlphttp]}}
"""
    async with running(yaml):
        assert await sdk_export("grpc", f"127.0.0.1:{port}")
    assert backend.received[0].headers["X-Auth"] == "raw-token"


@pytest.mark.parametrize("body, message", [
    ("{}", "no bearer token provided"),
    ("{token: a, tokens: [b]}", "either tokens or token should be provided, not both"),
    ("{filename: f, wait_for_token_file: true}", "wait_for_token_file requires retry_on_failure to be enabled"),
    ("{token: t, wait_for_token_file: true}", "requires filename to be set"),
    ("{filename: f, retry_on_failure: {enabled: true}}", "retry_on_failure.interval must be greater than 0"),
])
def test_config_errors(body, message):
    from otelflow.config import collector, loader
    from otelflow.core.registry import default_registry

    yaml = f"""
extensions:
  bearertokenauth: {body}
receivers:
  otlp: {{protocols: {{grpc: {{auth: {{authenticator: bearertokenauth}}}}}}}}
exporters:
  debug: {{}}
service:
  extensions: [bearertokenauth]
  pipelines: {{traces: {{receivers: [otlp], exporters: [debug]}}}}
"""
    with pytest.raises(ConfigError, match=message):
        collector.parse(loader.load([f"yaml:{yaml}"]), default_registry)


async def test_unknown_authenticator_fails_start():
    gp, hp = free_port(), free_port()
    yaml = config(gp, hp, "    token: good").replace("authenticator: bearertokenauth/in}", "authenticator: bearertokenauth/other}", 1)
    with pytest.raises(StartError, match='failed to resolve authenticator "bearertokenauth/other": authenticator not found'):
        async with running(yaml):
            pass


async def test_token_file_that_appears_after_start(tmp_path):
    token_file = tmp_path / "late-token"
    gp, hp = free_port(), free_port()
    auth = f"    filename: {token_file}\n    retry_on_failure: {{enabled: true, interval: 100ms}}"
    async with running(config(gp, hp, auth)):
        status, _, _ = await http_post(f"http://127.0.0.1:{hp}/v1/traces", {"Authorization": "Bearer late"})
        assert status == 401  # no token yet: nothing is accepted
        await asyncio.to_thread(token_file.write_text, "late\n")
        deadline = asyncio.get_running_loop().time() + 10
        while (await grpc_export(f"127.0.0.1:{gp}", [("authorization", "Bearer late")]))[0] is not grpc.StatusCode.UNAVAILABLE:
            # UNAVAILABLE: authenticated, then the unreachable backend refused; before that, UNAUTHENTICATED
            assert asyncio.get_running_loop().time() < deadline, "token file never picked up"
            await asyncio.sleep(0.2)
