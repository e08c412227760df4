"""The ``host_metrics`` receiver on this machine: every metric's shape against otelcol-ref's golden
(tests/receivers/testdata/hostmetrics_golden.json, recorded by bench/record_hostmetrics_golden.py),
metric and resource-attribute toggles, filters, root_path, error isolation and config errors."""

from __future__ import annotations

import asyncio
import json
import os
import pathlib
import shutil

import psutil
import pytest
import yaml

from otelflow.config.errors import ConfigError
from otelflow.config.model import validate
from otelflow.core import featuregates
from otelflow.core.component import Kind
from otelflow.core.registry import default_registry
from otelflow.receivers.hostmetrics import Config
from otelflow.receivers.hostmetrics.builder import MetricsBuilder
from otelflow.receivers.hostmetrics.scrapers.disk import diskstats
from otelflow.receivers.hostmetrics.scrapers.memory import ratio
from otelflow.receivers.hostmetrics.scrapers.paging import parse_swaps
from otelflow.receivers.hostmetrics.scrapers.process import EMIT_V1
from tests.conftest import running
from tests.receivers.hostmetrics_shape import shape

GOLDEN = json.loads((pathlib.Path(__file__).parent / "testdata" / "hostmetrics_golden.json").read_text())
PATH = "receivers::hostmetrics"
# Present only where the machine has them: huge pages, swap, conntrack, a "cpu MHz" line in
# /proc/cpuinfo, readable /proc/<pid>/io. When present they must have upstream's shape.
MACHINE_DEPENDENT = {
    "system.memory.linux.hugepages.utilization", "system.paging.usage", "system.paging.utilization",
    "system.network.conntrack.count", "system.network.conntrack.max", "system.cpu.frequency",
    "process.disk.io", "process.disk.operations", "process.handles",
}


def pipeline(receiver: dict, out: str, name: str = "hostmetrics") -> str:
    return yaml.safe_dump({
        "receivers": {name: receiver},
        "exporters": {"file": {"path": out}},
        "service": {"telemetry": {"metrics": {"level": "none"}},
                    "pipelines": {"metrics": {"receivers": [name], "exporters": ["file"]}}},
    })


async def collect(receiver: dict, tmp_path, seconds: float, name: str = "hostmetrics") -> list[str]:
    out = tmp_path / "out.json"
    async with running(pipeline(receiver, str(out), name)):
        await asyncio.sleep(seconds)
    return out.read_text().splitlines() if out.exists() else []


def compare(want: dict, got: dict) -> list[str]:
    problems = []
    for name in sorted(set(want) | set(got)):
        if name not in got:
            if name not in MACHINE_DEPENDENT:
                problems.append(f"missing {name}")
            continue
        if name not in want:
            if name not in GOLDEN["absent_here"]:
                problems.append(f"extra {name}")
            continue
        for key, value in want[name].items():
            if got[name][key] != value:
                problems.append(f"{name} {key}: want {value}, got {got[name][key]}")
    return problems


@pytest.mark.parametrize("case", ["all_enabled", "defaults"])
async def test_shapes_match_otelcol_ref(tmp_path, case):
    receiver = dict(GOLDEN[case]["config"], collection_interval="1s", initial_delay="0s")
    lines = await collect(receiver, tmp_path, 2.5)
    assert compare(GOLDEN[case]["metrics"], shape(lines)) == []


async def test_metric_toggles_attributes_and_alias(tmp_path):
    receiver = {"collection_interval": "1s", "initial_delay": "0s", "scrapers": {
        "cpu": {"metrics": {"system.cpu.time": {"attributes": ["cpu", "state"]},
                            "system.cpu.logical.count": {"enabled": False},
                            "system.cpu.utilization": {"enabled": True, "attributes": []}}},
        "memory": {"metrics": {"system.memory.usage": {"enabled": False},
                               "system.memory.limit": {"enabled": True}}},
    }}
    lines = await collect(receiver, tmp_path, 2.5, name="host_metrics")
    got = shape(lines)
    assert set(got) == {"system.cpu.time", "system.cpu.utilization", "system.memory.limit"}
    assert got["system.cpu.time"]["attributes"] == ["cpu", "state"]
    assert got["system.cpu.utilization"]["attributes"] == []
    cpus = psutil.cpu_count()
    last = json.loads(lines[-1])
    points = {m["name"]: (m.get("sum") or m.get("gauge"))["dataPoints"]
              for rm in last["resourceMetrics"] for sm in rm["scopeMetrics"] for m in sm["metrics"]}
    assert len(points["system.cpu.time"]) == 8 * cpus
    # every CPU and state folded into one point with the gauge's default strategy (avg): within [0, 1]
    assert len(points["system.cpu.utilization"]) == 1 and 0 <= points["system.cpu.utilization"][0]["asDouble"] <= 1


async def test_process_filters_and_resource_attributes(tmp_path):
    me = psutil.Process().name()
    receiver = {"collection_interval": "1s", "initial_delay": "0s", "scrapers": {"process": {
        "include": {"names": [me], "match_type": "strict"},
        "mute_process_all_errors": True,
        "metrics": {"process.threads": {"enabled": True}, "process.cpu.time": {"enabled": False}},
        "resource_attributes": {"process.command_line": {"enabled": False}, "process.cgroup": {"enabled": True},
                                "process.executable.name": {"metrics_include": [{"regexp": "^" + me[:3]}]},
                                "process.owner": {"metrics_exclude": [{"strict": "nobody-at-all"}]}},
    }}}
    lines = await collect(receiver, tmp_path, 1.5)
    docs = [json.loads(line) for line in lines]
    resources = [{a["key"]: a["value"] for a in rm["resource"]["attributes"]}
                 for doc in docs for rm in doc["resourceMetrics"]]
    assert {"intValue": str(os.getpid())} in [r["process.pid"] for r in resources]
    assert all(r["process.executable.name"] == {"stringValue": me} for r in resources)
    assert all("process.command_line" not in r and "process.cgroup" in r for r in resources)
    got = shape(lines)
    assert "process.threads" in got and "process.cpu.time" not in got
    mine = next(rm for rm in docs[0]["resourceMetrics"]
                if rm["resource"]["attributes"][0]["value"] == {"intValue": str(os.getpid())})
    start = mine["scopeMetrics"][0]["metrics"][0]
    create_ns = int(psutil.Process().create_time() * 1000) * 1_000_000
    first = (start.get("sum") or start.get("gauge"))["dataPoints"][0]
    assert abs(int(first["startTimeUnixNano"]) - create_ns) <= 10_000_000


@pytest.fixture
def fake_root(tmp_path):
    """A host root whose /proc has stat, loadavg and meminfo but no diskstats."""
    root = tmp_path / "host"
    (root / "proc").mkdir(parents=True)
    for name in ("stat", "meminfo", "cpuinfo"):
        shutil.copyfile(f"/proc/{name}", root / "proc" / name)
    (root / "proc" / "loadavg").write_text("7.25 3.50 1.75 2/345 6789\n")
    yield root
    psutil.PROCFS_PATH = "/proc"


async def test_root_path_and_one_failing_scraper_leaves_the_others(tmp_path, fake_root):
    receiver = {"collection_interval": "1s", "initial_delay": "0s", "root_path": str(fake_root),
                "scrapers": {"disk": {}, "load": {}, "memory": {}, "cpu": {}}}
    lines = await collect(receiver, tmp_path, 1.5)
    got = shape(lines)
    assert "system.disk.io" not in got
    assert {"system.cpu.load_average.1m", "system.memory.usage", "system.cpu.time"} <= set(got)
    doc = json.loads(lines[0])
    loads = {m["name"]: m["gauge"]["dataPoints"][0]["asDouble"] for rm in doc["resourceMetrics"]
             for sm in rm["scopeMetrics"] for m in sm["metrics"] if m["name"].startswith("system.cpu.load")}
    assert loads == {"system.cpu.load_average.1m": 7.25, "system.cpu.load_average.5m": 3.5,
                     "system.cpu.load_average.15m": 1.75}


def test_registered_under_both_names():
    assert default_registry.get(Kind.RECEIVER, "host_metrics") is default_registry.get(Kind.RECEIVER, "hostmetrics")


def test_defaults():
    cfg = validate(Config, {"scrapers": {"cpu": None, "load": {"cpu_average": True}}}, PATH)
    assert (cfg.collection_interval, cfg.initial_delay, cfg.timeout) == (60.0, 1.0, 0.0)
    assert cfg.metadata_collection_interval == 300.0
    assert set(cfg.scrapers.configured()) == {"cpu", "load"}
    cpu = cfg.scrapers.cpu.metrics_config()
    assert cpu["system.cpu.time"].attributes == ["state"] and cpu["system.cpu.utilization"].enabled is False


@pytest.mark.parametrize("data, message", [
    ({"scrapers": {"cpux": {}}}, "scrapers: invalid scraper key: cpux"),
    ({}, "must specify at least one scraper when using host_metrics receiver"),
    ({"scrapers": {}}, "must specify at least one scraper when using host_metrics receiver"),
    ({"collection_interval": "0s", "scrapers": {"cpu": {}}}, '"collection_interval": requires positive value'),
    ({"root_path": "/no/such/dir", "scrapers": {"cpu": {}}}, "invalid root_path: stat /no/such/dir"),
    ({"scrapers": {"disk": {"include": {"devices": ["sda"]}}}},
     "error creating device include filters: unrecognized match_type: '', valid types are: [regexp strict]"),
    ({"scrapers": {"cpu": {"metrics": {"system.cpu.time": {"attributes": ["core"]}}}}},
     "metric system.cpu.time doesn't have an attribute core, valid attributes: [cpu state]"),
    ({"scrapers": {"cpu": {"metrics": {"system.cpu.time": {"aggregation_strategy": "median"}}}}},
     'invalid aggregation strategy "median", valid strategies: [sum, avg, min, max]'),
    ({"scrapers": {"cpu": {"metrics": {"system.cpu.tim": {"enabled": True}}}}}, 'did you mean "system.cpu.time"'),
    ({"scrapers": {"process": {"resource_attributes": {"process.pid": {"metrics_include": [{}]}}}}},
     "must specify either strict or regex"),
])
def test_validation_errors(data, message):
    with pytest.raises(ConfigError) as info:
        validate(Config, data, PATH)
    assert message in str(info.value)


def test_helpers_follow_upstream():
    assert ratio(1, 3) == 0.3 and ratio(123, 1000) == 0.123 and ratio(2, 3) == 0.7
    assert parse_swaps("Filename Type Size Used Priority\n/dev/zram0 partition 100 40 -2\n") == [
        ("/dev/zram0", 40 * 1024, 100 * 1024)]
    with pytest.raises(ValueError):
        parse_swaps("Name Type Size Used\n")
    stats = diskstats("7 0 loop0 0 0 0 0 0 0 0 0 0 0 0 0 0\n8 0 sda 1 2 3 4 5 6 7 8 9 10 11 0 0\n")
    assert stats == {"sda": [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]}


def _process_cfg(metrics: dict | None = None):
    return validate(Config, {"scrapers": {"process": {"metrics": metrics or {}}}}, PATH).scrapers.process


def test_builder_folds_disabled_attributes_with_the_strategy():
    cfg = validate(Config, {"scrapers": {"disk": {"metrics": {
        "system.disk.operations": {"attributes": ["direction"], "aggregation_strategy": "avg"},
        "system.disk.io": {"attributes": ["direction"], "aggregation_strategy": "max"}}}}}, PATH).scrapers.disk
    mb = MetricsBuilder("disk", cfg, 1, "v")
    for device, ops in (("a", 3), ("b", 4)):
        mb.record("system.disk.operations", 5, ops, device=device, direction="read")
        mb.record("system.disk.io", 5, ops * 10, device=device, direction="read")
    metrics = {m.name: m for m in mb.emit()[0].scope_metrics[0].metrics}
    assert [p.as_int for p in metrics["system.disk.operations"].sum.data_points] == [3]  # int(7 / 2)
    assert [p.as_int for p in metrics["system.disk.io"].sum.data_points] == [40]


def test_v1_metrics_need_their_gate():
    mb = MetricsBuilder("process", _process_cfg({"process.cpu.time@v1": {"enabled": True}}), 1, "v")
    assert not mb.metrics["process.cpu.time@v1"].enabled
    featuregates.REGISTRY.set(EMIT_V1, True)
    try:
        mb = MetricsBuilder("process", _process_cfg(), 1, "v", emit_v1=True)
        mb.record("process.cpu.time", 2, 1.5, state="user", **{"cpu.mode": "user"})
        metrics = mb.emit()[0].scope_metrics[0].metrics
    finally:
        featuregates.REGISTRY.set(EMIT_V1, False)
    assert [m.name for m in metrics] == ["process.cpu.time"]
    assert [kv.key for kv in metrics[0].sum.data_points[0].attributes] == ["cpu.mode", "state"]
