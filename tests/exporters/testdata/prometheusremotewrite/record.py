#!/usr/bin/env python3
"""Records the goldens in this folder from the upstream collector (otelcol-ref v0.161.0).

For each case in cases.json: otelcol-ref runs `otlp` (HTTP) -> `prometheus_remote_write` on
loopback, pointed at a capturing Remote-Write endpoint (tests/exporters/prw_support.py); the case's
requests (inputs/*.json, OTLP/JSON) are posted in order, and every WriteRequest that arrives is
decoded and written, normalised, to <case>.json together with the request headers that matter.

    python tests/exporters/testdata/prometheusremotewrite/record.py [CASE...]

Needs bench/.build/bin/otelcol-ref (`make -C bench ref`). Not run by the tests.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[3]
sys.path.insert(0, str(REPO))

from tests.exporters.prw_support import CaptureServer, free_port, normalise  # noqa: E402

BINARY = REPO / "bench" / ".build" / "bin" / "otelcol-ref"
HEADERS = ("Content-Encoding", "Content-Type", "X-Prometheus-Remote-Write-Version", "User-Agent", "X-Scope-Orgid")


def config_json(otlp_port: int, url: str, exporter: dict) -> str:
    """The exporter config of a case; an ``http`` block's ``ENDPOINT`` is the capturing URL."""
    if "http" in exporter:
        exporter = {**exporter, "http": {**exporter["http"], "endpoint": url}}
    return json.dumps({
        "receivers": {"otlp": {"protocols": {"http": {"endpoint": f"127.0.0.1:{otlp_port}"}}}},
        "exporters": {"prometheus_remote_write": {"endpoint": url, **exporter}},
        "service": {
            "telemetry": {"metrics": {"level": "none"}, "logs": {"level": "debug"}},
            "pipelines": {"metrics": {"receivers": ["otlp"], "exporters": ["prometheus_remote_write"]}},
        },
    })


async def post_all(otlp_port: int, names: list[str]) -> None:
    url = f"http://127.0.0.1:{otlp_port}/v1/metrics"
    async with aiohttp.ClientSession() as session:
        deadline = time.monotonic() + 30
        for name in names:
            body = (HERE / "inputs" / f"{name}.json").read_bytes()
            while True:
                try:
                    async with session.post(url, data=body, headers={"Content-Type": "application/json"}) as resp:
                        await resp.read()
                        break
                except aiohttp.ClientError:
                    if time.monotonic() > deadline:
                        raise
                    await asyncio.sleep(0.2)


async def record(case: dict) -> None:
    server = await CaptureServer().start()
    otlp_port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        cfg = Path(tmp) / "config.yaml"
        cfg.write_text(config_json(otlp_port, server.url, case["config"]))
        log = open(Path(tmp) / "log.txt", "wb")
        proc = subprocess.Popen([str(BINARY), "--config", str(cfg)], stdout=log, stderr=subprocess.STDOUT)
        try:
            await post_all(otlp_port, case["requests"])
            await server.wait_for(1)
            seen = -1
            while seen != len(server.requests):  # until a second passes with nothing new
                seen = len(server.requests)
                await asyncio.sleep(1.0)
        finally:
            proc.terminate()
            proc.wait(30)
            log.close()
            await server.stop()
    headers = {k: v for k, v in server.requests[0][0].items() if k in HEADERS}
    golden = {"headers": headers, "requests": len(server.requests), **normalise([r for _, r in server.requests])}
    (HERE / f"{case['name']}.json").write_text(json.dumps(golden, indent=1) + "\n")


def main(names: list[str]) -> None:
    for case in json.loads((HERE / "cases.json").read_text()):
        if not names or case["name"] in names:
            asyncio.run(record(case))
            print(f"recorded {case['name']}")


if __name__ == "__main__":
    main(sys.argv[1:])
