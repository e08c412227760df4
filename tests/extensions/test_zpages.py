"""zpages: upstream's keys and defaults, and the servicez, pipelinez, extensionz, featurez and
expvarz pages of a running collector."""

from __future__ import annotations

import json

import aiohttp
import pytest

from otelflow.config.errors import ConfigError
from otelflow.config.model import validate
from otelflow.core import featuregates
from otelflow.core.component import Kind
from otelflow.core.registry import default_registry
from otelflow.extensions import zpages
from tests.backends import free_port
from tests.conftest import running


def _yaml(port: int, expvar: bool = False) -> str:
    return f"""
extensions:
  zpages: {{endpoint: "127.0.0.1:{port}", expvar: {{enabled: {str(expvar).lower()}}}}}
  health_check: {{endpoint: "127.0.0.1:{free_port()}"}}
receivers: {{otlp: {{protocols: {{http: {{endpoint: "127.0.0.1:{free_port()}"}}}}}}}}
processors: {{batch: {{}}}}
exporters: {{debug: {{}}}}
service:
  telemetry: {{metrics: {{level: none}}}}
  extensions: [zpages, health_check]
  pipelines:
    traces: {{receivers: [otlp], processors: [batch], exporters: [debug]}}
    logs/audit: {{receivers: [otlp], exporters: [debug]}}
"""


async def _get(port: int, path: str) -> tuple[int, str, str]:
    async with aiohttp.ClientSession() as http:
        async with http.get(f"http://127.0.0.1:{port}{path}") as resp:
            return resp.status, resp.headers.get("Content-Type", ""), await resp.text()


def test_defaults_keys_and_registration():
    cfg = zpages.Config()
    assert (cfg.endpoint, cfg.expvar.enabled) == ("localhost:55679", False)
    validate(zpages.Config, {"endpoint": "127.0.0.1:1", "expvar": {"enabled": True}, "cors": {"allowed_origins": ["*"]},
                             "max_request_body_size": 100, "include_metadata": True}, "extensions::zpages")
    with pytest.raises(ConfigError, match='"endpoint" is required when using the "zpages" extension'):
        validate(zpages.Config, {"endpoint": ""}, "extensions::zpages")
    assert default_registry.get(Kind.EXTENSION, "zpages") is zpages.factory


async def test_pages_describe_the_running_collector():
    port = free_port()
    async with running(_yaml(port)):
        status, ctype, body = await _get(port, "/debug/servicez")
        assert status == 200 and "text/html" in ctype and "Build Info" in body and "Uptime" in body
        body = (await _get(port, "/debug/pipelinez"))[2]
        assert "<td>traces</td><td>otlp</td><td>batch</td><td>debug</td>" in body
        assert "<td>logs/audit</td><td>otlp</td><td>-</td><td>debug</td>" in body
        body = (await _get(port, "/debug/extensionz"))[2]
        assert "<td>zpages</td>" in body and "<td>health_check</td>" in body
        body = (await _get(port, "/debug/featurez"))[2]
        for gate in featuregates.REGISTRY.gates():
            assert f"<td>{gate.id}</td>" in body
        assert "<td>ottl.functions.enableLambda</td><td>false</td><td>alpha</td>" in body
        assert (await _get(port, "/debug/expvarz"))[0] == 404
        assert (await _get(port, "/debug/tracez"))[0] == 404


async def test_expvar_when_enabled():
    port = free_port()
    async with running(_yaml(port, expvar=True)):
        status, ctype, body = await _get(port, "/debug/expvarz")
        assert status == 200 and "application/json" in ctype
        assert "cmdline" in json.loads(body)


async def test_response_headers_applied():
    """confighttp's response_headers, squashed into zpages' config upstream, reach every page."""
    import aiohttp

    from otelflow.extensions import zpages
    from tests.backends import free_port

    port = free_port()
    ext = zpages.factory.create(settings=_zsettings(), config=zpages.Config.model_validate(
        {"endpoint": f"127.0.0.1:{port}", "response_headers": {"X-Probe": "zp"}}))
    await ext.start(None)
    try:
        async with aiohttp.ClientSession() as http:
            async with http.get(f"http://127.0.0.1:{port}/debug/featurez") as resp:
                assert resp.status == 200 and resp.headers["X-Probe"] == "zp"
    finally:
        await ext.shutdown()


def _zsettings():
    from otelflow.core.component import ComponentID, Kind, Settings
    from otelflow.core.telemetry import Telemetry

    return Settings(id=ComponentID("zpages"), kind=Kind.EXTENSION, telemetry=Telemetry())
