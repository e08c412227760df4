"""The metrics_transform processor against otelcol-ref's recorded output (tests/processors/testdata/
*metricstransform*: record with ``python tests/processors/testdata/record.py <case>...``), through a
real otlp HTTP receiver and file exporter, plus a real SDK app's metrics through a process.

Upstream merges aggregated points in Go map order (random), so the comparison sorts the data
points inside each metric; everything else (attribute order included) compares as it is.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from otelflow.core.component import Kind
from otelflow.core.registry import default_registry
from tests.backends import HTTPBackend, free_port
from tests.conftest import running
from tests.processors.testdata.goldens import case_dirs, expected, flatten, load_case, processor_types, run_through_otelflow, \
    upstream_core_message
from tests.sdk import SDKApp

CASES = [d for d in case_dirs() if processor_types(load_case(d)) == {"metricstransform"}]
POINT_KEYS = ("gauge", "sum", "histogram", "exponentialHistogram", "summary")


def sort_points(documents: list[dict]) -> list[dict]:
    for doc in documents:
        for rm in doc.get("resourceMetrics", []):
            for sm in rm.get("scopeMetrics", []):
                for m in sm.get("metrics", []):
                    for key in POINT_KEYS:
                        if key in m and "dataPoints" in m[key]:
                            m[key]["dataPoints"].sort(key=lambda p: json.dumps(p, sort_keys=True))
    return documents


def test_registered_under_both_names():
    for name in ("metrics_transform", "metricstransform"):
        assert default_registry.get(Kind.PROCESSOR, name).type == "metrics_transform"


def test_there_are_goldens():
    assert len(CASES) >= 15 and all((d / "expected.json").exists() for d in CASES)


@pytest.mark.parametrize("case_dir", CASES, ids=lambda d: d.name)
async def test_matches_otelcol_ref(case_dir: Path, tmp_path):
    from otelflow.config.errors import ConfigError

    want = expected(case_dir)
    if isinstance(want, dict):
        with pytest.raises(ConfigError) as err:
            await run_through_otelflow(case_dir, tmp_path / "out.jsonl")
        assert upstream_core_message(want["error"]) in str(err.value)
        return
    got = await run_through_otelflow(case_dir, tmp_path / "out.jsonl")
    g, w = flatten(sort_points(got)), flatten(sort_points(want))
    if g != w:
        import difflib

        def lines(records):
            return [l for r in records for l in json.dumps(json.loads(r), indent=1, sort_keys=True).splitlines()]

        raise AssertionError("\n".join(difflib.unified_diff(lines(w), lines(g), "otelcol-ref", "otelflow", lineterm="", n=4)))


async def test_sdk_metrics_renamed_and_aggregated_in_a_running_collector():
    backend = await HTTPBackend().start()
    port = free_port()
    config = f"""
receivers: {{otlp: {{protocols: {{http: {{endpoint: "127.0.0.1:{port}"}}}}}}}}
processors:
  metricstransform:
    transforms:
      - include: orders_total
        action: update
        new_name: shop.orders
        operations:
          - {{action: aggregate_labels, label_set: [region], aggregation_type: sum}}
      - include: ^checkout\\.(.*)$
        match_type: regexp
        action: insert
        new_name: shop.$1
exporters: {{otlp_http: {{endpoint: "{backend.endpoint}"}}}}
service:
  pipelines:
    metrics: {{receivers: [otlp], processors: [metricstransform], exporters: [otlp_http]}}
"""
    try:
        async with running(config):
            app = SDKApp("http", f"http://127.0.0.1:{port}")
            await asyncio.to_thread(app.emit, 3)
            await asyncio.to_thread(app.shutdown)
            for _ in range(100):
                if backend.received:
                    break
                await asyncio.sleep(0.05)
    finally:
        await backend.stop()
    metrics = {m.name: m for r in backend.received for rm in r.message.resource_metrics
               for sm in rm.scope_metrics for m in sm.metrics}
    assert "orders_total" not in metrics
    orders = metrics["shop.orders"]
    assert [(list((kv.key, kv.value.string_value) for kv in dp.attributes), dp.as_int) for dp in orders.sum.data_points] \
        == [([("region", "ap-south-1")], 3)]
    assert metrics["shop.duration"].histogram.data_points[0].count == 3
    assert metrics["checkout.duration"].histogram.data_points[0].count == 3  # insert keeps the original
