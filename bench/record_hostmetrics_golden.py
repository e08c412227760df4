"""Records tests/receivers/testdata/hostmetrics_golden.json from otelcol-ref on this machine.

Two runs of the reference collector with a 2 s collection_interval: every scraper with every metric
and resource attribute enabled (the @v1 metrics aside: they need feature gates), and every scraper
with its defaults. The golden keeps each metric's shape (tests/receivers/hostmetrics_shape.py), not
values. Metrics that the all-enabled run did not emit here are listed as absent on this machine.

    python bench/record_hostmetrics_golden.py
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests/receivers"))
sys.path.insert(0, str(REPO / "src"))
from hostmetrics_shape import shape  # noqa: E402

from otelflow.receivers.hostmetrics.metadata import SCRAPERS  # noqa: E402

OTELCOL_REF = REPO / "bench/.build/bin/otelcol-ref"
GOLDEN = REPO / "tests/receivers/testdata/hostmetrics_golden.json"
NAMES = ["cpu", "disk", "filesystem", "load", "memory", "network", "paging", "processes", "process", "system"]


def scrapers(all_enabled: bool) -> dict:
    out = {}
    for name in NAMES:
        cfg: dict = {}
        if all_enabled:
            meta = SCRAPERS[name]
            cfg["metrics"] = {m: {"enabled": True} for m in meta["metrics"] if "@" not in m}
            if meta["resource_attributes"]:
                cfg["resource_attributes"] = {r: {"enabled": True} for r in meta["resource_attributes"]}
        if name == "process":
            cfg["mute_process_all_errors"] = True
        out[name] = cfg
    return out


def config(all_enabled: bool, path: str) -> dict:
    return {
        "receivers": {"hostmetrics": {"collection_interval": "2s", "scrapers": scrapers(all_enabled)}},
        "exporters": {"file": {"path": path}},
        "service": {"telemetry": {"metrics": {"level": "none"}},
                    "pipelines": {"metrics": {"receivers": ["hostmetrics"], "exporters": ["file"]}}},
    }


def record(all_enabled: bool) -> tuple[dict, dict]:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out.json"
        cfg_path = Path(tmp) / "config.yaml"
        cfg = config(all_enabled, str(out))
        cfg_path.write_text(yaml.safe_dump(cfg))
        subprocess.run(["timeout", "7", str(OTELCOL_REF), "--config", str(cfg_path)],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return shape(out.read_text().splitlines()), cfg["receivers"]["hostmetrics"]


def main() -> None:
    everything, all_cfg = record(True)
    defaults, default_cfg = record(False)
    wanted = {m for name in NAMES for m in SCRAPERS[name]["metrics"] if "@" not in m}
    GOLDEN.write_text(json.dumps({
        "recorded_with": "otelcol-ref v0.161.0 on the otelflow dev machine (Linux, container)",
        "all_enabled": {"config": all_cfg, "metrics": everything},
        "defaults": {"config": default_cfg, "metrics": defaults},
        "absent_here": sorted(wanted - set(everything)),
    }, indent=1, sort_keys=False) + "\n")


if __name__ == "__main__":
    main()
