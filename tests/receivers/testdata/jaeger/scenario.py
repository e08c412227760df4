"""One scenario run against a collector already listening on the given ports: the good cases, the
malformed input, and what came out. Used by ``record.py`` (otelcol-ref) and the tests (otelflow)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from tests.receivers.testdata.jaeger import bad_inputs
from tests.receivers.testdata.jaeger.send import post_grpc, post_http, send_udp

HERE = Path(__file__).parent
CASES = ("thrift_http", "grpc", "thrift_compact", "thrift_binary", "thrift_http_edge", "grpc_edge")


def config(ports: dict[str, int], out: str) -> str:
    return f"""
receivers:
  jaeger:
    protocols:
      grpc: {{endpoint: "127.0.0.1:{ports['grpc']}"}}
      thrift_http: {{endpoint: "127.0.0.1:{ports['thrift_http']}", max_request_body_size: 4096}}
      thrift_compact: {{endpoint: "127.0.0.1:{ports['thrift_compact']}"}}
      thrift_binary: {{endpoint: "127.0.0.1:{ports['thrift_binary']}"}}
exporters:
  file: {{path: "{out}"}}
service:
  pipelines:
    traces: {{receivers: [jaeger], exporters: [file]}}
"""


def _lines(out: Path) -> list[dict]:
    if not out.exists():
        return []
    return [json.loads(line) for line in out.read_text().splitlines() if line.strip()]


async def _next_line(out: Path, count: int, timeout: float = 15.0) -> dict:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        lines = _lines(out)
        if len(lines) > count:
            return lines[count]
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"no output line {count + 1} within {timeout}s")
        await asyncio.sleep(0.05)


async def run(ports: dict[str, int], out: Path) -> dict:
    """Send everything in a fixed order; each accepted input is awaited in the output before the next."""
    result: dict = {"outputs": {}, "http": {}, "grpc": {}}
    seen = 0
    for case in CASES:
        body = (HERE / f"{case}.bin").read_bytes()
        if case.startswith("thrift_http"):
            answer = await post_http(ports["thrift_http"], body)
        elif case.startswith("grpc"):
            answer = await post_grpc(ports["grpc"], body)
        else:
            answer = None
            send_udp(ports[case], body)
        result["outputs"][case] = {"answer": answer, "output": await _next_line(out, seen)}
        seen += 1
    for name, (method, path, ctype, body, *encoding) in bad_inputs.HTTP.items():
        result["http"][name] = await post_http(ports["thrift_http"], body, ctype, method, path, *encoding)
        if result["http"][name]["status"] == 202:
            result["http"][name]["output"] = await _next_line(out, seen)
            seen += 1
    for name, body in bad_inputs.GRPC.items():
        result["grpc"][name] = await post_grpc(ports["grpc"], body)
        if result["grpc"][name]["code"] == "OK":
            result["grpc"][name]["output"] = await _next_line(out, seen)
            seen += 1
    # garbage datagrams are dropped; the next good one still arrives, and nothing else does
    for datagram in bad_inputs.UDP_GARBAGE:
        send_udp(ports["thrift_compact"], datagram)
        send_udp(ports["thrift_binary"], datagram)
    await asyncio.sleep(0.5)
    # upstream at times loses the first good datagram after garbage (its pooled Thrift transports
    # can keep bytes of the failed read); so send again, once a second, until one arrives
    for attempt in range(10):
        send_udp(ports["thrift_compact"], (HERE / "thrift_compact.bin").read_bytes())
        try:
            result["udp_after_garbage"] = await _next_line(out, seen, timeout=1.0)
            break
        except AssertionError:
            if attempt == 9:
                raise
    seen += 1
    await asyncio.sleep(1.0)
    result["extra_lines"] = len(_lines(out)) - seen
    return result
