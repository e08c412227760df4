"""basicauth: htpasswd on the otlp receiver (every hash format upstream reads) and client_auth on exporters."""

from __future__ import annotations

import asyncio
import base64

import grpc
import pytest

from otelflow.config import collector, loader
from otelflow.config.errors import ConfigError
from otelflow.core.component import Signal
from otelflow.core.registry import default_registry
from otelflow.core.service import StartError
from tests.backends import free_port
from tests.conftest import running
from tests.otlpclient import authenticated_receiver, grpc_export, http_post, sdk_export, status_of

# Hashes made by other tools: bcrypt (python bcrypt), $6$ (glibc crypt), $apr1$/$1$ (openssl passwd).
HTPASSWD = """
plain:plain-pw
nginx:{PLAIN}nginx-pw
bcrypt:$2b$04$o.oCP..Dquu2eF.aZr7VEev1qbIhsrmjVr3LjS/Zd9CuYQ0xFG9Mu
sha512:$6$rounds=5000$saltsalt$LaBijBidsGBgEFftsdvtqfLIJRgOJWHllC.XJRPI3eoVRBynakB9C1EkLhGwjHMC6sEClNvysvw6gPoTOg2Bl.
sha:{SHA}O/MvdjOwOQpt8I9HBSVZugThPMw=
ssha:{SSHA}7Cfv2NX612NkygtSLv0/8/+AdSRzYWx0
apr1:$apr1$s4lt$Ww7kfk.xAp3AioeIuzWmJ0
md5:$1$s4lt$pdilUo1ZMq9X8rZHFZcIu1
this line has no colon
"""
GOOD = {"plain": "plain-pw", "nginx": "nginx-pw", "bcrypt": "bcrypt-pw", "sha512": "sha512-pw", "sha": "sha-pw",
        "ssha": "ssha-pw", "apr1": "apr1-pw", "md5": "md5-pw"}


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def server_config(gp: int, hp: int, htpasswd: str, backend: str) -> str:
    return authenticated_receiver("basicauth/server", "    htpasswd:\n" + htpasswd, gp, hp, backend)


async def test_every_htpasswd_format_accepts_its_password_only(tmp_path, backend):
    passwd = tmp_path / ".htpasswd"
    passwd.write_text(HTPASSWD)
    gp, hp = free_port(), free_port()
    async with running(server_config(gp, hp, f"      file: {passwd}", backend.endpoint)):
        for user, password in GOOD.items():
            ok = await grpc_export(f"127.0.0.1:{gp}", [("authorization", basic(user, password))])
            assert ok == (grpc.StatusCode.OK, ""), user
            bad = await grpc_export(f"127.0.0.1:{gp}", [("authorization", basic(user, password + "x"))])
            assert bad == (grpc.StatusCode.UNAUTHENTICATED, "invalid credentials"), user
        assert await sdk_export("http", f"http://127.0.0.1:{hp}", headers={"Authorization": basic("bcrypt", "bcrypt-pw")})
        assert len(backend.messages(Signal.TRACES)) == len(GOOD) + 1


@pytest.mark.parametrize("header, message", [
    (None, "no basic auth provided"),
    ("Bearer abc", "invalid authorization scheme prefix"),
    ("Basic not*base64", "invalid authorization format"),
    ("Basic " + base64.b64encode(b"no-colon").decode(), "invalid authorization format"),
    (basic("nobody", "plain-pw"), "invalid credentials"),
])
async def test_refusals_carry_upstream_messages(header, message):
    gp, hp = free_port(), free_port()
    async with running(server_config(gp, hp, "      inline: 'plain:plain-pw'", "http://127.0.0.1:9")):
        metadata = [("authorization", header)] if header else []
        assert await grpc_export(f"127.0.0.1:{gp}", metadata) == (grpc.StatusCode.UNAUTHENTICATED, message)
        status, ctype, body = await http_post(f"http://127.0.0.1:{hp}/v1/traces", {"Authorization": header} if header else {})
        assert status == 401 and status_of(ctype, body).message == message


async def test_inline_users_override_the_file(tmp_path, backend):
    passwd = tmp_path / ".htpasswd"
    passwd.write_text("alice:from-file\nbob:bob-pw\n")
    gp, hp = free_port(), free_port()
    htpasswd = f"      file: {passwd}\n      inline: 'alice:from-inline'"
    async with running(server_config(gp, hp, htpasswd, backend.endpoint)):
        assert await sdk_export("grpc", f"127.0.0.1:{gp}", headers={"authorization": basic("alice", "from-inline")})
        assert await sdk_export("grpc", f"127.0.0.1:{gp}", headers={"authorization": basic("bob", "bob-pw")})
        assert not await sdk_export("grpc", f"127.0.0.1:{gp}", headers={"authorization": basic("alice", "from-file")})


async def test_client_auth_reaches_a_basicauth_receiver_and_follows_password_file(tmp_path, backend):
    """Collector A's otlphttp exporter sends client_auth credentials to collector B's receiver."""
    password_file = tmp_path / "password"
    password_file.write_text("first-pw\n")
    b_grpc, b_http, a_port = free_port(), free_port(), free_port()
    server = server_config(b_grpc, b_http, "      inline: |\n        agent:first-pw\n        agent2:second-pw", backend.endpoint)
    client = f"""
extensions:
  basicauth/client:
    client_auth: {{username: agent, password_file: "{password_file}"}}
receivers:
  otlp:
    protocols:
      grpc: {{endpoint: "127.0.0.1:{a_port}"}}
exporters:
  otlphttp:
    endpoint: "http://127.0.0.1:{b_http}"
    auth: {{authenticator: basicauth/client}}
    sending_queue: {{enabled: false}}
    retry_on_failure: {{enabled: false}}
service:
  extensions: [basicauth/client]
  pipelines:
    traces: {{receivers: [otlp], exporters: [otlphttp]}}
"""
    async with running(server), running(client):
        assert await sdk_export("grpc", f"127.0.0.1:{a_port}")
        assert len(backend.messages(Signal.TRACES)) == 1
        # a rotated password that B does not know makes A's exports fail with B's 401
        await asyncio.to_thread(password_file.write_text, "second-pw")
        deadline = asyncio.get_running_loop().time() + 10
        while await sdk_export("grpc", f"127.0.0.1:{a_port}"):
            assert asyncio.get_running_loop().time() < deadline, "rotated password never used"
            await asyncio.sleep(0.2)
        code, details = await grpc_export(f"127.0.0.1:{a_port}")
        assert code is grpc.StatusCode.INVALID_ARGUMENT and "HTTP Status Code 401" in details


@pytest.mark.parametrize("body, message", [
    ("{htpasswd: {inline: 'a:b'}, client_auth: {username: a}}", "only one of `htpasswd` or `client_auth` can be specified"),
    ("{}", "no credential source provided"),
])
def test_config_errors(body, message):
    yaml = f"""
extensions:
  basicauth: {body}
receivers:
  otlp: {{protocols: {{http: {{}}}}}}
exporters:
  debug: {{}}
service:
  extensions: [basicauth]
  pipelines: {{traces: {{receivers: [otlp], exporters: [debug]}}}}
"""
    with pytest.raises(ConfigError, match=message):
        collector.parse(loader.load([f"yaml:{yaml}"]), default_registry)


async def test_sides_cannot_be_swapped():
    port = free_port()
    yaml = f"""
extensions:
  basicauth/client: {{client_auth: {{username: a, password: b}}}}
receivers:
  otlp:
    protocols:
      http: {{endpoint: "127.0.0.1:{port}", auth: {{authenticator: basicauth/client}}}}
exporters:
  debug: {{}}
service:
  extensions: [basicauth/client]
  pipelines: {{traces: {{receivers: [otlp], exporters: [debug]}}}}
"""
    with pytest.raises(StartError, match="requested authenticator is not a server authenticator"):
        async with running(yaml):
            pass
    colon = yaml.replace("username: a", "username: 'a:b'").replace(
        'http: {endpoint: "127.0.0.1:%d", auth: {authenticator: basicauth/client}}' % port, 'http: {endpoint: "127.0.0.1:%d"}' % port
    ).replace("exporters:\n  debug: {}", "exporters:\n  otlphttp: {endpoint: 'http://127.0.0.1:9', auth: {authenticator: basicauth/client}}").replace(
        "exporters: [debug]", "exporters: [otlphttp]")
    with pytest.raises(StartError, match="invalid authorization format"):
        async with running(colon):
            pass
