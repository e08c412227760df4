"""The loadbalancing exporter's routing keys against otelcol-ref: for every routing key of every
signal (traces by trace ID: test_loadbalancing.py) and four backend lists, each item goes to the
backend otelcol-ref v0.161.0 sent it to (goldens recorded by testdata/loadbalancing/record_keys.py)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from otelflow.core.component import Signal
from otelflow.pdata import keysplit as split
from otelflow.exporters.loadbalancing.ring import HashRing
from tests.exporters.helpers import started_exporter

DATA = Path(__file__).parent / "testdata" / "loadbalancing"
sys.path.insert(0, str(DATA))
import record_keys as rk  # noqa: E402  (cases, inputs and sinks shared with the recording script)


def route(case: rk.Case, endpoints: list[str]) -> str:
    """Where otelflow's split sends each item of the case's request, as the golden spells it."""
    ring = HashRing(endpoints)
    request = rk.build(case)
    attrs = list(case.attributes)
    if case.signal == "traces":
        parts = split.split_traces(request, case.routing_key, attrs, ring.endpoint_for)
    elif case.signal == "logs":
        parts = split.split_logs(request, case.routing_key, ring.endpoint_for, attrs)
    else:
        parts, _ = split.split_metrics(request, case.routing_key, ring.endpoint_for, attrs)
    index = {e: str(i) for i, e in enumerate(endpoints)}
    out = ["-"] * len(rk.item_ids(case.signal, request))
    for endpoint, part in parts.items():
        for item in rk.item_ids(case.signal, part):
            assert out[item] == "-", f"item {item} routed twice"
            out[item] = index[endpoint]
    return "".join(out)


@pytest.mark.parametrize("list_name", list(rk.LISTS))
@pytest.mark.parametrize("case", rk.CASES, ids=[c.name for c in rk.CASES])
def test_routing_matches_otelcol_ref(case, list_name):
    expected = rk.golden(case, list_name)
    mine = route(case, rk.LISTS[list_name])
    differ = [i for i, (a, b) in enumerate(zip(mine, expected)) if a != b]
    assert len(mine) == len(expected)
    assert not differ, f"{len(differ)}/{len(mine)} items elsewhere than otelcol-ref, first {differ[:10]}"
    assert len(set(expected) - {"-"}) == len(rk.LISTS[list_name]), "the golden should use every backend"


@pytest.mark.parametrize("case", [c for c in rk.CASES if c.name in ("metrics_streamID", "logs_resource", "traces_attributes")],
                         ids=lambda c: c.name)
async def test_exporter_delivers_where_otelcol_ref_did(case):
    """Through the exporter to real OTLP/gRPC sinks on the 127.0.0.2-5 backends."""
    endpoints = rk.LISTS["4ip"]
    sinks = [rk.Sink(e) for e in endpoints]
    for s in sinks:
        await s.start()
    config = {"routing_key": case.routing_key, "protocol": {"otlp": {"tls": {"insecure": True}}},
              "resolver": {"static": {"hostnames": endpoints}}}
    if case.attributes:
        config["routing_attributes"] = list(case.attributes)
    try:
        exp = await started_exporter("loadbalancing", config, signal=Signal(case.signal))
        await exp.consume(rk.build(case))
        await exp.shutdown()
    finally:
        for s in sinks:
            await s.stop()
    expected = rk.golden(case, "4ip")
    got = ["-"] * len(expected)
    for n, s in enumerate(sinks):
        for item in s.items:
            got[item] = str(n)
    assert "".join(got) == expected
