"""pprof: upstream's keys and defaults, the profiles on net/http/pprof's paths, one instance per
process, and save_to_file writing the run's samples on shutdown."""

from __future__ import annotations

import asyncio
import marshal
import pstats

import aiohttp
import pytest

from otelflow.config.errors import ConfigError
from otelflow.config.model import validate
from otelflow.core.component import Kind
from otelflow.core.registry import default_registry
from otelflow.extensions import pprof
from tests.backends import free_port
from tests.conftest import running


def _yaml(port: int, extra: str = "", name: str = "pprof", also: str = "") -> str:
    return f"""
extensions: {{{name}: {{endpoint: "127.0.0.1:{port}"{extra}}}{also}}}
receivers: {{otlp: {{protocols: {{http: {{endpoint: "127.0.0.1:{free_port()}"}}}}}}}}
exporters: {{debug: {{}}}}
service:
  telemetry: {{metrics: {{level: none}}}}
  extensions: [{name}{', pprof/b' if also else ''}]
  pipelines: {{traces: {{receivers: [otlp], exporters: [debug]}}}}
"""


async def _bytes(port: int, path: str) -> tuple[int, str, bytes]:
    async with aiohttp.ClientSession() as http:
        async with http.get(f"http://127.0.0.1:{port}{path}") as resp:
            return resp.status, resp.headers.get("Content-Type", ""), await resp.read()


async def _get(port: int, path: str) -> tuple[int, str, str]:
    async with aiohttp.ClientSession() as http:
        async with http.get(f"http://127.0.0.1:{port}{path}") as resp:
            return resp.status, resp.headers.get("Content-Type", ""), await resp.text()


def test_defaults_keys_and_registration():
    cfg = pprof.Config()
    assert (cfg.endpoint, cfg.block_profile_fraction, cfg.mutex_profile_fraction, cfg.save_to_file) == ("localhost:1777", 0, 0, "")
    validate(pprof.Config, {"endpoint": "127.0.0.1:1", "block_profile_fraction": 3, "mutex_profile_fraction": 5,
                            "save_to_file": "x", "dialer": {"timeout": "1s"}}, "extensions::pprof")
    with pytest.raises(ConfigError, match='"endpoint" is required when using the "pprof" extension'):
        validate(pprof.Config, {"endpoint": ""}, "extensions::pprof")
    with pytest.raises(ConfigError, match="unknown key"):
        validate(pprof.Config, {"bogus": 1}, "extensions::pprof")
    assert default_registry.get(Kind.EXTENSION, "pprof") is pprof.factory


async def test_profiles_on_the_pprof_paths():
    port = free_port()
    async with running(_yaml(port)):
        status, ctype, body = await _get(port, "/debug/pprof/")
        assert status == 200 and "text/html" in ctype
        assert all(f"/debug/pprof/{name}" in body for name in ("profile", "heap", "goroutine"))

        async def busy():
            end = asyncio.get_running_loop().time() + 0.8
            while asyncio.get_running_loop().time() < end:
                sum(i * i for i in range(2000))
                await asyncio.sleep(0)
        (status, ctype, raw), _ = await asyncio.gather(_bytes(port, "/debug/pprof/profile?seconds=1"), busy())
        assert status == 200 and ctype == "application/octet-stream"
        stats = marshal.loads(raw)
        assert any(func == "busy" for (_, _, func) in stats)
        (status, _, text), _ = await asyncio.gather(_get(port, "/debug/pprof/profile?seconds=0.5&debug=1"), busy())
        assert status == 200 and "cumulative" in text and "busy" in text
        assert (await _get(port, "/debug/pprof/profile?seconds=abc"))[0] == 400

        status, _, text = await _get(port, "/debug/pprof/goroutine")
        assert status == 200 and "MainThread" in text and "# asyncio tasks" in text and "task " in text
        first = (await _get(port, "/debug/pprof/heap"))[2]
        assert "tracemalloc" in first
        status, _, heap = await _get(port, "/debug/pprof/heap?gc=1&limit=5")
        assert status == 200 and "bytes in" in heap
        assert (await _get(port, "/debug/pprof/mutex"))[2].startswith("# not applicable")
        assert (await _get(port, "/debug/pprof/cmdline"))[0] == 200


async def test_one_pprof_extension_per_process():
    port = free_port()
    also = f', pprof/b: {{endpoint: "127.0.0.1:{free_port()}"}}'
    with pytest.raises(Exception, match="only a single pprof extension instance can be running per process"):
        async with running(_yaml(port, also=also)):
            pass
    async with running(_yaml(port)):  # the failed start released the process-wide slot
        assert (await _get(port, "/debug/pprof/"))[0] == 200


async def test_save_to_file_writes_the_runs_profile_on_shutdown(tmp_path):
    out, port = tmp_path / "cpu.pstats", free_port()
    async with running(_yaml(port, f', save_to_file: "{out}"')):
        assert out.exists()
        sum(i * i for i in range(10000))
        status, _, text = await _get(port, "/debug/pprof/profile?seconds=0.1")
        assert status == 500 and "cpu profiling already in use" in text
    stats = pstats.Stats(str(out))
    assert stats.total_calls > 0


async def test_unwritable_save_to_file_fails_start(tmp_path):
    with pytest.raises(Exception, match="No such file or directory"):
        async with running(_yaml(free_port(), f', save_to_file: "{tmp_path}/missing/dir/cpu"')):
            pass
