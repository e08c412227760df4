"""Temporality conformance: sequences of OTLP metric requests through otlp -> processor -> file.

Each case directory holds ``config.yaml`` (as the other processor cases) and ``input.json``: a list
of export requests, posted one after the other (each answered before the next is sent, so the
stateful processors see them in order). ``expected.json`` is what upstream's file exporter wrote (a
list of documents), or ``{"error": ...}`` when it refused the config. ``record.py`` records it from
otelcol-ref; ``check`` runs otelflow in process the same way and compares with the shared
normalisation (documents flattened and sorted per record, so the comparison ignores how the file
exporter happened to split its writes, but not values, timestamps or which points survived).
"""

from __future__ import annotations

import json
from pathlib import Path

from google.protobuf import json_format
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest

from tests.processors.testdata.goldens import collector_config, flatten, load_case, upstream_core_message

HERE = Path(__file__).resolve().parent


def case_dirs() -> list[Path]:
    return sorted(d for d in HERE.iterdir() if (d / "config.yaml").exists())


def requests(case_dir: Path) -> list[bytes]:
    out = []
    for tree in json.loads((case_dir / "input.json").read_text()):
        msg = ExportMetricsServiceRequest()
        json_format.ParseDict(tree, msg)
        out.append(msg.SerializeToString())
    return out


def config(case_dir: Path, port: int, out: Path) -> dict:
    return collector_config(load_case(case_dir), port, out)


async def run_otelflow(case_dir: Path, out: Path) -> list[dict]:
    import asyncio

    import aiohttp
    import yaml

    from tests.backends import free_port
    from tests.conftest import running

    port = free_port()
    async with running(yaml.safe_dump(config(case_dir, port, out), sort_keys=False)):
        async with aiohttp.ClientSession() as session:
            for body in requests(case_dir):
                async with session.post(f"http://127.0.0.1:{port}/v1/metrics", data=body,
                                        headers={"Content-Type": "application/x-protobuf"}) as resp:
                    assert resp.status == 200, await resp.text()
        await asyncio.sleep(0.2)
    if not out.exists():
        return []
    return [json.loads(line) for line in out.read_text().splitlines() if line.strip()]


async def check(case_dir: Path, out: Path) -> None:
    from otelflow.config.errors import ConfigError

    want = json.loads((case_dir / "expected.json").read_text())
    if isinstance(want, dict):
        try:
            await run_otelflow(case_dir, out)
        except ConfigError as exc:
            core = upstream_core_message(want["error"])
            if "decoding failed" in core:   # a decoding error: compare what follows the quoted key
                core = core.rsplit("' ", 1)[-1]
            assert core in str(exc), f"\notelflow: {exc}\nupstream: {want['error']}"
            return
        raise AssertionError(f"otelflow accepted a config upstream refuses: {want['error']}")
    got = await run_otelflow(case_dir, out)
    got_records, want_records = flatten(got), flatten(want)
    if got_records != want_records:
        import difflib

        def lines(records: list[str]) -> list[str]:
            return [line for r in records for line in json.dumps(json.loads(r), indent=1, sort_keys=True).splitlines()]

        diff = "\n".join(difflib.unified_diff(lines(want_records), lines(got_records), "upstream", "otelflow", lineterm="", n=3))
        raise AssertionError(f"{case_dir.name}: otelflow's output differs from upstream's\n{diff}")
