"""The ``nop`` receiver: it produces nothing, for every signal, as otelcol-ref's does."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from otelflow.config import collector
from otelflow.config.errors import ConfigError
from otelflow.core.component import Kind, Signal
from otelflow.core.registry import default_registry
from otelflow.receivers import nop
from tests.backends import free_port
from tests.conftest import running
from tests.sdk import SDKApp, flatten
from tests.test_end_to_end import read_file_output

REPO = Path(__file__).resolve().parents[2]
OTELCOL_REF = REPO / "bench" / ".build" / "bin" / "otelcol-ref"


def _nop_only(out: Path) -> str:
    return f"""
receivers:
  nop:
exporters:
  file: {{path: {out}}}
service:
  telemetry: {{metrics: {{level: none}}}}
  pipelines:
    traces: {{receivers: [nop], exporters: [file]}}
    metrics: {{receivers: [nop], exporters: [file]}}
    logs: {{receivers: [nop], exporters: [file]}}
"""


def test_factory_and_config() -> None:
    assert default_registry.get(Kind.RECEIVER, "nop") is nop.factory
    assert nop.factory.signals == frozenset(Signal)
    tree = {"receivers": {"nop": {"endpoint": "127.0.0.1:4317"}}, "exporters": {"nop": None},
            "service": {"pipelines": {"traces": {"receivers": ["nop"], "exporters": ["nop"]}}}}
    with pytest.raises(ConfigError) as err:
        collector.parse(tree, default_registry)
    assert [i.path for i in err.value.issues] == ["receivers::nop::endpoint"]


async def test_nop_only_pipelines_run_and_produce_nothing(tmp_path: Path) -> None:
    out = tmp_path / "out.json"
    async with running(_nop_only(out)) as service:
        receiver = service.component(Kind.RECEIVER, "nop")
        assert isinstance(receiver, nop.NopReceiver)
        await asyncio.sleep(1.0)
    assert not out.exists() or out.read_bytes() == b""


async def test_nop_beside_otlp_adds_nothing(tmp_path: Path) -> None:
    """A pipeline fed by nop and otlp holds exactly what the SDK sent to otlp."""
    out, port = tmp_path / "out.json", free_port()
    text = _nop_only(out).replace("receivers:\n  nop:\n", f"receivers:\n  nop:\n  otlp:\n    protocols: {{http: {{endpoint: \"127.0.0.1:{port}\"}}}}\n")
    text = text.replace("receivers: [nop]", "receivers: [nop, otlp]")
    async with running(text):
        app = SDKApp("http", f"http://127.0.0.1:{port}")
        await asyncio.to_thread(app.emit, 3)
        await asyncio.to_thread(app.shutdown)
        sent = app.sent()
    got = read_file_output(out)
    for sig, message in sent.items():
        assert sorted(x for m in got[sig] for x in flatten(m)) == flatten(message), sig


@pytest.mark.skipif(not OTELCOL_REF.exists(), reason="otelcol-ref is not built (bench/README.md)")
def test_otelcol_ref_nop_receiver_also_produces_nothing(tmp_path: Path) -> None:
    out = tmp_path / "ref.json"
    path = tmp_path / "config.yaml"
    path.write_text(_nop_only(out))
    proc = subprocess.Popen([str(OTELCOL_REF), "--config", str(path)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 20
        log = b""
        while b"Everything is ready" not in log:
            assert proc.poll() is None and time.monotonic() < deadline, log.decode(errors="replace")
            log += os.read(proc.stdout.fileno(), 65536)
        time.sleep(1.0)
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
    assert not out.exists() or out.read_bytes() == b""
