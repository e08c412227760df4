"""TLS and mTLS on the otlp receiver and exporters, certificate reload, and tokens over TLS, with real
certificates, the real SDK and real backends on 127.0.0.1."""

from __future__ import annotations

import asyncio
import ssl

import aiohttp
import grpc
import pytest

from otelflow.core.component import Signal, STABLE_SIGNALS
from otelflow.receivers.otlp.grpc import SERVICES
from tests.backends import GRPCBackend, HTTPBackend, Recorded, free_port
from tests.certs import CA, served_serial
from tests.conftest import running
from tests.otlpclient import grpc_export, http_post, sdk_export


async def wait_for(predicate, timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.1)


@pytest.fixture
def pki(tmp_path):
    """A server CA with a server certificate, a client CA with a client certificate, and a stranger CA."""
    server_ca, client_ca, stranger = CA("server CA"), CA("client CA"), CA("stranger CA")
    out = {
        "dir": tmp_path,
        "server_ca": server_ca,
        "ca_file": server_ca.write(tmp_path, "server-ca"),
        "client_ca_file": client_ca.write(tmp_path, "client-ca"),
        "server": server_ca.issue("otelflow"),
        "client": client_ca.issue("good-client", client=True).write(tmp_path, "client"),
        "stranger": stranger.issue("bad-client", client=True).write(tmp_path, "stranger"),
    }
    out["cert_file"], out["key_file"] = out["server"].write(tmp_path, "server")
    return out


def receiver_config(gp: int, hp: int, backend: str, tls: str) -> str:
    return f"""
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:{gp}
        tls: {tls}
      http:
        endpoint: 127.0.0.1:{hp}
        tls: {tls}
exporters:
  otlphttp: {{endpoint: "{backend}", retry_on_failure: {{enabled: false}}, sending_queue: {{enabled: false}}}}
service:
  pipelines:
    traces: {{receivers: [otlp], exporters: [otlphttp]}}
"""


def client_context(pki, cert: tuple[str, str] | None) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=pki["ca_file"])
    if cert:
        ctx.load_cert_chain(*cert)
    return ctx


def grpc_creds(pki, cert: tuple[str, str] | None) -> grpc.ChannelCredentials:
    chain, key = (open(p, "rb").read() for p in cert) if cert else (None, None)
    return grpc.ssl_channel_credentials(open(pki["ca_file"], "rb").read(), private_key=key, certificate_chain=chain)


async def test_tls_receiver_serves_good_clients_and_refuses_plain_text(pki):
    backend = await HTTPBackend().start()
    gp, hp = free_port(), free_port()
    tls = f'{{cert_file: "{pki["cert_file"]}", key_file: "{pki["key_file"]}"}}'
    try:
        async with running(receiver_config(gp, hp, backend.endpoint, tls)):
            assert await sdk_export("grpc", f"127.0.0.1:{gp}", ca=pki["ca_file"])
            assert await sdk_export("http", f"https://127.0.0.1:{hp}", ca=pki["ca_file"])
            assert len(backend.messages(Signal.TRACES)) == 2

            # plain text to the TLS ports gets no answer from the pipeline
            code, _ = await grpc_export(f"127.0.0.1:{gp}", timeout=3)
            assert code is grpc.StatusCode.UNAVAILABLE
            with pytest.raises(aiohttp.ClientError):
                await http_post(f"http://127.0.0.1:{hp}/v1/traces")
            # TLS whose server certificate the client does not trust is refused by the client
            stranger_ca = CA("unknown").write(pki["dir"], "unknown-ca")
            assert not await sdk_export("http", f"https://127.0.0.1:{hp}", ca=stranger_ca)
            assert len(backend.messages(Signal.TRACES)) == 2
    finally:
        await backend.stop()


async def test_mtls_accepts_the_client_ca_and_refuses_others(pki):
    backend = await HTTPBackend().start()
    gp, hp = free_port(), free_port()
    tls = f'{{cert_file: "{pki["cert_file"]}", key_file: "{pki["key_file"]}", client_ca_file: "{pki["client_ca_file"]}"}}'
    try:
        async with running(receiver_config(gp, hp, backend.endpoint, tls)):
            assert await sdk_export("grpc", f"127.0.0.1:{gp}", ca=pki["ca_file"], client=pki["client"])
            assert await sdk_export("http", f"https://127.0.0.1:{hp}", ca=pki["ca_file"], client=pki["client"])
            assert len(backend.messages(Signal.TRACES)) == 2

            for cert in (pki["stranger"], None):  # a certificate from the wrong CA, and none at all
                code, _ = await grpc_export(f"127.0.0.1:{gp}", credentials=grpc_creds(pki, cert), timeout=3)
                assert code is grpc.StatusCode.UNAVAILABLE
                with pytest.raises((aiohttp.ClientError, ssl.SSLError)):
                    await http_post(f"https://127.0.0.1:{hp}/v1/traces", ssl_context=client_context(pki, cert))
            assert len(backend.messages(Signal.TRACES)) == 2
    finally:
        await backend.stop()


async def test_certificates_reload_when_files_change(pki):
    backend = await HTTPBackend().start()
    gp, hp = free_port(), free_port()
    tls = f'{{cert_file: "{pki["cert_file"]}", key_file: "{pki["key_file"]}", reload_interval: 200ms}}'
    try:
        async with running(receiver_config(gp, hp, backend.endpoint, tls)):
            first = pki["server"].serial
            assert await asyncio.to_thread(served_serial, gp, "h2") == first
            assert await asyncio.to_thread(served_serial, hp) == first

            renewed = pki["server_ca"].issue("otelflow renewed")
            renewed.write(pki["dir"], "server")  # same paths, new certificate and key

            async def both_serve_renewed() -> bool:
                serials = [await asyncio.to_thread(served_serial, p, a) for p, a in ((gp, "h2"), (hp, None))]
                return serials == [renewed.serial, renewed.serial]

            await wait_for(both_serve_renewed)
            # clients that trust the CA keep working over the new certificate
            assert await sdk_export("grpc", f"127.0.0.1:{gp}", ca=pki["ca_file"])
            assert await sdk_export("http", f"https://127.0.0.1:{hp}", ca=pki["ca_file"])
            assert len(backend.messages(Signal.TRACES)) == 2
    finally:
        await backend.stop()


async def test_certificates_stay_without_reload_interval(pki):
    backend = await HTTPBackend().start()
    gp, hp = free_port(), free_port()
    tls = f'{{cert_file: "{pki["cert_file"]}", key_file: "{pki["key_file"]}"}}'
    try:
        async with running(receiver_config(gp, hp, backend.endpoint, tls)):
            pki["server_ca"].issue("replacement").write(pki["dir"], "server")
            await asyncio.sleep(1.5)
            assert await asyncio.to_thread(served_serial, hp) == pki["server"].serial
            assert await asyncio.to_thread(served_serial, gp, "h2") == pki["server"].serial
    finally:
        await backend.stop()


class TLSGRPCBackend(GRPCBackend):
    """The OTLP/gRPC backend of tests.backends, served over TLS."""

    def __init__(self, cert: bytes, key: bytes):
        super().__init__()
        self.credentials = grpc.ssl_server_credentials([(key, cert)])

    async def start(self) -> "TLSGRPCBackend":
        self.server = grpc.aio.server()
        for signal in [s for s in Signal if s in STABLE_SIGNALS]:
            self.server.add_generic_rpc_handlers(
                (grpc.method_handlers_generic_handler(SERVICES[signal], {"Export": self._handler(signal)}),)
            )
        self.server.add_secure_port(self.endpoint, self.credentials)
        await self.server.start()
        return self


async def test_exporters_send_the_bearer_token_over_tls(pki):
    grpc_backend = await TLSGRPCBackend(pki["server"].cert, pki["server"].key).start()
    http_backend = await HTTPBackend().start()
    port = free_port()
    config = f"""
extensions:
  bearertokenauth/out:
    token: s3cr3t
receivers:
  otlp:
    protocols:
      http: {{endpoint: "127.0.0.1:{port}"}}
exporters:
  otlp:
    endpoint: "127.0.0.1:{grpc_backend.port}"
    tls: {{ca_file: "{pki["ca_file"]}"}}
    auth: {{authenticator: bearertokenauth/out}}
  otlphttp:
    endpoint: "{http_backend.endpoint}"
    headers: {{authorization: "configured value is replaced"}}
    auth: {{authenticator: bearertokenauth/out}}
service:
  extensions: [bearertokenauth/out]
  pipelines:
    traces: {{receivers: [otlp], exporters: [otlp, otlphttp]}}
"""
    try:
        async with running(config):
            assert await sdk_export("http", f"http://127.0.0.1:{port}")

            async def delivered() -> bool:
                return bool(grpc_backend.received and http_backend.received)

            await wait_for(delivered)
        grpc_seen: Recorded = grpc_backend.received[0]
        assert grpc_seen.headers["authorization"] == "Bearer s3cr3t"
        http_headers = http_backend.received[0].headers
        assert [v for k, v in http_headers.items() if k.lower() == "authorization"] == ["Bearer s3cr3t"]
    finally:
        await grpc_backend.stop()
        await http_backend.stop()


async def test_grpc_exporter_keeps_tokens_off_plain_text(pki):
    backend = GRPCBackend()
    await backend.start()
    port = free_port()
    config = f"""
extensions:
  bearertokenauth: {{token: s3cr3t}}
receivers:
  otlp:
    protocols:
      grpc: {{endpoint: "127.0.0.1:{port}"}}
exporters:
  otlp:
    endpoint: "{backend.endpoint}"
    tls: {{insecure: true}}
    auth: {{authenticator: bearertokenauth}}
    sending_queue: {{enabled: false}}
    retry_on_failure: {{enabled: false}}
service:
  extensions: [bearertokenauth]
  pipelines:
    traces: {{receivers: [otlp], exporters: [otlp]}}
"""
    try:
        async with running(config):
            code, details = await grpc_export(f"127.0.0.1:{port}")
        assert code is grpc.StatusCode.UNAVAILABLE and "transport level security" in details
        assert backend.attempts == 0  # the token never left the process
    finally:
        await backend.stop()


async def test_exporters_present_client_certificates_to_an_mtls_receiver(pki):
    """Collector A's otlp and otlphttp exporters reach collector B's mTLS receiver with A's client cert."""
    backend = await HTTPBackend().start()
    b_grpc, b_http, a_port = free_port(), free_port(), free_port()
    tls = f'{{cert_file: "{pki["cert_file"]}", key_file: "{pki["key_file"]}", client_ca_file: "{pki["client_ca_file"]}"}}'
    cert, key = pki["client"]
    exporter_tls = f'{{ca_file: "{pki["ca_file"]}", cert_file: "{cert}", key_file: "{key}", min_version: "1.3"}}'
    client = f"""
receivers:
  otlp:
    protocols:
      grpc: {{endpoint: "127.0.0.1:{a_port}"}}
exporters:
  otlp:
    endpoint: "127.0.0.1:{b_grpc}"
    tls: {exporter_tls}
    sending_queue: {{enabled: false}}
  otlphttp:
    endpoint: "https://localhost:{b_http}"
    tls: {exporter_tls}
    sending_queue: {{enabled: false}}
service:
  pipelines:
    traces: {{receivers: [otlp], exporters: [otlp, otlphttp]}}
"""
    try:
        async with running(receiver_config(b_grpc, b_http, backend.endpoint, tls)), running(client):
            assert await sdk_export("grpc", f"127.0.0.1:{a_port}")
            assert len(backend.messages(Signal.TRACES)) == 2  # one through each exporter
    finally:
        await backend.stop()


def test_tls_settings_are_checked_when_the_config_is_read(pki):
    from otelflow.config import collector, loader
    from otelflow.config.errors import ConfigError
    from otelflow.core.registry import default_registry

    cases = {
        f'{{cert_file: "{pki["cert_file"]}"}}':
            "TLS configuration must include both certificate and key (CertFile/CertPem and KeyFile/KeyPem)",
        "{}": "TLS configuration must include both certificate and key for server connections",
        f'{{cert_file: a, key_file: b, min_version: "1.4"}}': 'invalid TLS min_version: unsupported TLS version: "1.4"',
        f'{{cert_file: a, key_file: b, min_version: "1.3", max_version: "1.2"}}':
            "invalid TLS configuration: min_version cannot be greater than max_version",
        "{cert_file: a, key_file: b, cipher_suites: [TLS_NOPE]}": 'invalid TLS cipher suite: "TLS_NOPE"',
    }
    for tls, message in cases.items():
        yaml = f"""
receivers:
  otlp: {{protocols: {{grpc: {{tls: {tls}}}}}}}
exporters:
  debug: {{}}
service:
  pipelines: {{traces: {{receivers: [otlp], exporters: [debug]}}}}
"""
        with pytest.raises(ConfigError) as info:
            collector.parse(loader.load([f"yaml:{yaml}"]), default_registry)
        assert message in str(info.value) and "receivers::otlp::protocols::grpc::tls" in str(info.value), str(info.value)


async def test_client_ca_file_reload_lets_a_new_ca_in(pki):
    backend = await HTTPBackend().start()
    gp, hp = free_port(), free_port()
    tls = (f'{{cert_file: "{pki["cert_file"]}", key_file: "{pki["key_file"]}", '
           f'client_ca_file: "{pki["client_ca_file"]}", client_ca_file_reload: true}}')
    newcomer_ca = CA("newcomer CA")
    newcomer = newcomer_ca.issue("newcomer", client=True).write(pki["dir"], "newcomer")
    try:
        async with running(receiver_config(gp, hp, backend.endpoint, tls)):
            with pytest.raises((aiohttp.ClientError, ssl.SSLError)):
                await http_post(f"https://127.0.0.1:{hp}/v1/traces", ssl_context=client_context(pki, newcomer))
            newcomer_ca.write(pki["dir"], "client-ca")  # replace the client CA file

            async def accepted() -> bool:
                code, _ = await grpc_export(f"127.0.0.1:{gp}", credentials=grpc_creds(pki, newcomer), timeout=3)
                return code is grpc.StatusCode.OK

            await wait_for(accepted)
            status, _, _ = await http_post(f"https://127.0.0.1:{hp}/v1/traces", ssl_context=client_context(pki, newcomer))
            assert status == 200
            assert len(backend.messages(Signal.TRACES)) == 2
    finally:
        await backend.stop()
