"""health_check: config defaults, 200 while the service is ready, 503 before it is and once shutdown begins."""

from __future__ import annotations

import json

import aiohttp

from otelflow.config import collector, loader
from otelflow.core.component import Kind
from otelflow.core.registry import default_registry
from otelflow.core.service import Service
from otelflow.extensions import health_check as hc
from tests.backends import free_port


def test_defaults_and_alias():
    cfg = hc.Config()
    assert (cfg.endpoint, cfg.path, cfg.response_body) == ("localhost:13133", "/", None)
    assert default_registry.get(Kind.EXTENSION, "health_check") is hc.factory
    assert default_registry.get(Kind.EXTENSION, "healthcheck") is None  # upstream registers no such alias


def _yaml(port: int, extra: str = "") -> str:
    return f"""
extensions: {{health_check: {{endpoint: "127.0.0.1:{port}", path: /health{extra}}}}}
receivers: {{otlp: {{protocols: {{http: {{endpoint: "127.0.0.1:{free_port()}"}}}}}}}}
exporters: {{debug: {{}}}}
service:
  telemetry: {{metrics: {{level: none}}}}
  extensions: [health_check]
  pipelines: {{traces: {{receivers: [otlp], exporters: [debug]}}}}
"""


async def _get(port: int, path: str = "/health") -> tuple[int, str]:
    async with aiohttp.ClientSession() as http:
        async with http.get(f"http://127.0.0.1:{port}{path}") as resp:
            return resp.status, await resp.text()


async def test_ready_then_unavailable():
    port = free_port()
    service = Service(collector.parse(loader.load([f"yaml:{_yaml(port)}"]), default_registry))
    ext = None
    await service.start()
    try:
        ext = service.component(Kind.EXTENSION, "health_check")
        status, body = await _get(port)
        assert status == 200
        doc = json.loads(body)
        assert doc["status"] == "Server available" and doc["upSince"].endswith("Z") and doc["uptime"].endswith("s")
        assert (await _get(port, "/other"))[0] == 404
        # shutdown begins: the service withdraws readiness before stopping anything
        ext.not_ready()
        status, body = await _get(port)
        assert status == 503 and json.loads(body)["status"] == "Server not available"
    finally:
        await service.shutdown(timeout=10)
    assert ext is not None and not ext.is_ready


async def test_not_ready_before_service_is_ready():
    port = free_port()
    ext = hc.factory.create(settings=_settings(), config=hc.Config(endpoint=f"127.0.0.1:{port}"))
    await ext.start(None)
    try:
        status, body = await _get(port, "/")
        assert status == 503
        assert json.loads(body) == {"status": "Server not available", "upSince": "0001-01-01T00:00:00Z", "uptime": ""}
        ext.ready()
        assert (await _get(port, "/"))[0] == 200
    finally:
        await ext.shutdown()


async def test_custom_response_body():
    port = free_port()
    ext = hc.factory.create(settings=_settings(), config=hc.Config.model_validate(
        {"endpoint": f"127.0.0.1:{port}", "response_body": {"healthy": "ok", "unhealthy": "down"}}))
    await ext.start(None)
    try:
        assert await _get(port, "/") == (503, "down")
        ext.ready()
        assert await _get(port, "/") == (200, "ok")
    finally:
        await ext.shutdown()


def test_check_collector_pipeline_is_accepted():
    text = _yaml(free_port(), ", check_collector_pipeline: {enabled: false, interval: 5m, exporter_failure_threshold: 5}")
    collector.parse(loader.load([f"yaml:{text}"]), default_registry)


def _settings():
    from otelflow.core.component import ComponentID, Settings
    from otelflow.core.telemetry import Telemetry

    return Settings(id=ComponentID("health_check"), kind=Kind.EXTENSION, telemetry=Telemetry())


async def test_tls_endpoint(tmp_path):
    """upstream squashes confighttp's server settings, so `tls` serves the endpoint over HTTPS."""
    import ssl

    from tests.certs import CA

    ca = CA()
    cert, key = ca.issue("localhost").write(tmp_path, "server")
    port = free_port()
    config = hc.Config.model_validate({"endpoint": f"127.0.0.1:{port}", "tls": {"cert_file": cert, "key_file": key}})
    ext = hc.factory.create(settings=_settings(), config=config)
    await ext.start(None)
    try:
        ext.ready()
        trust = ssl.create_default_context(cafile=ca.write(tmp_path))
        async with aiohttp.ClientSession() as http:
            async with http.get(f"https://127.0.0.1:{port}/", ssl=trust) as resp:
                assert resp.status == 200
                assert json.loads(await resp.text())["status"] == "Server available"
            # plain HTTP on the TLS port is refused rather than answered
            try:
                async with http.get(f"http://127.0.0.1:{port}/") as resp:
                    assert resp.status == 400
            except aiohttp.ClientError:
                pass
    finally:
        await ext.shutdown()


def test_upstream_v2_keys_need_the_gate():
    import pytest

    from otelflow.config.errors import ConfigError
    from otelflow.config.model import validate

    with pytest.raises(ConfigError, match="feature gate is disabled"):
        validate(hc.Config, {"http": {"endpoint": "localhost:13133"}}, "health_check")
    cfg = validate(hc.Config, {"cors": {"allowed_origins": ["http://a"]}}, "health_check")
    assert any(line.startswith("cors:") for line in cfg.upstream_incompatibilities())
