"""The scale demo (examples/scale): every config validates, and the loadbalancing topology runs end
to end with real processes — two agents (loadbalancing exporter, static resolver) and two gateways
running the seed's tail sampling, fed by the real OpenTelemetry Python SDK."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

from otelflow.exporters.loadbalancing.ring import HashRing

ROOT = Path(__file__).resolve().parents[2]
SCALE = ROOT / "examples" / "scale"
CONFIGS = sorted(SCALE.glob("*.yaml"))


def _demo():
    spec = importlib.util.spec_from_file_location("scale_demo", SCALE / "run-demo.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_the_example_has_both_topologies():
    assert {p.name for p in CONFIGS} >= {"agent-loadbalancing.yaml", "gateway.yaml", "agent-kafka.yaml", "gateway-kafka.yaml"}


@pytest.mark.parametrize("config", CONFIGS, ids=[p.name for p in CONFIGS])
def test_config_validates(config):
    out = subprocess.run([sys.executable, "-m", "otelflow", "validate", "--config", str(config)],
                         capture_output=True, text=True, env={"PYTHONPATH": str(ROOT / "src"), "PATH": "/usr/bin:/bin"},
                         timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "configuration is valid" in out.stdout


OTELCOL_REF = ROOT / "bench" / ".build" / "bin" / "otelcol-ref"


@pytest.mark.skipif(not OTELCOL_REF.exists(), reason="bench/.build/bin/otelcol-ref is not built")
@pytest.mark.parametrize("config", CONFIGS, ids=[p.name for p in CONFIGS])
def test_config_validates_in_otelcol_ref(config):
    """The configs use upstream's keys: otelcol v0.161.0 accepts them as they are."""
    out = subprocess.run([str(OTELCOL_REF), "validate", "--config", str(config)], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr


def test_loadbalancing_demo_keeps_traces_and_decisions_whole(tmp_path):
    demo = _demo()
    result = demo.run_loadbalancing(tmp_path, traces=300)
    print(demo.report(result))
    assert result.ok, result.problems
    # every trace sent reached a gateway, whole, and the gateway is the one the ring names
    ring = HashRing(result.endpoints.values())
    seen = {}
    for gw, counts in result.received.items():
        for tid, spans in counts.items():
            assert tid not in seen, f"trace {tid} on {seen[tid]} and {gw}"
            seen[tid] = gw
            assert spans == demo.SPANS_PER_TRACE
            assert ring.endpoint_for(bytes.fromhex(tid)) == result.endpoints[gw]
    assert set(seen) == set(result.sent)
    assert all(result.received[gw] for gw in result.received), "one gateway got nothing"
    # decisions: each trace fully kept or fully dropped, exactly as the seed's policies say
    kept = {}
    for gw, counts in result.sampled.items():
        for tid, spans in counts.items():
            assert spans == demo.SPANS_PER_TRACE, f"trace {tid} kept in part on {gw}"
            assert seen[tid] == gw
            kept[tid] = gw
    for tid, trace in result.sent.items():
        assert (tid in kept) == demo.expected_kept(tid, trace), f"{trace.kind} trace {tid}"
    kinds = {result.sent[t].kind for t in kept}
    assert {"error", "slow"} <= kinds
    assert len(kept) < len(result.sent)  # something was dropped, so both outcomes were exercised


def test_kafka_demo_keeps_traces_and_decisions_whole(tmp_path):
    """agents -> kafka exporter (key = trace ID) -> a real broker -> two gateways in one consumer
    group: each trace on one gateway, decided whole."""
    from tests.kafka_broker import running_broker

    demo = _demo()
    with running_broker() as broker:
        result = demo.run_kafka(tmp_path, traces=200, broker=broker.bootstrap)
    print(demo.report(result))
    assert result.ok, result.problems
    assert set(result.received) == {"gateway-1", "gateway-2"} and all(result.received.values())
    assert {t for c in result.received.values() for t in c} == set(result.sent)
