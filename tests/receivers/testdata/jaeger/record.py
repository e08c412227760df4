"""Record the goldens with the upstream collector: ``python -m tests.receivers.testdata.jaeger.record``.

Runs otelcol-ref (jaeger receiver -> file exporter), plays ``scenario.run`` against it and writes
``golden.json``. Rerun ``inputs.py`` first if the inputs change.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import tempfile
from pathlib import Path

from tests.receivers.testdata.jaeger.scenario import HERE, config, run
from tests.receivers.testdata.jaeger.send import wait_port

REF = Path(os.environ.get("OTELCOL_REF", HERE.parents[3] / "bench" / ".build" / "bin" / "otelcol-ref"))


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def main() -> None:
    ports = {"grpc": free_port(), "thrift_http": free_port(),
             "thrift_compact": free_port(socket.SOCK_DGRAM), "thrift_binary": free_port(socket.SOCK_DGRAM)}
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out.json"
        cfg = Path(tmp) / "config.yaml"
        cfg.write_text(config(ports, str(out)))
        log_file = open(Path(tmp) / "log", "w")
        proc = subprocess.Popen([str(REF), "--config", str(cfg)], stdout=subprocess.DEVNULL, stderr=log_file)
        try:
            await wait_port(ports["grpc"])
            await wait_port(ports["thrift_http"])
            result = await run(ports, out)
        finally:
            proc.terminate()
            proc.wait(10)
            log_file.close()
            log_text = (Path(tmp) / "log").read_text()
            i = log_text.find("panic")
            print(log_text[i - 200:i + 1500] if i >= 0 else log_text[-1500:])
    (HERE / "golden.json").write_text(json.dumps(result, indent=1, sort_keys=True) + "\n")
    print("wrote golden.json")


if __name__ == "__main__":
    asyncio.run(main())
