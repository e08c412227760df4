"""Runs a scraping receiver in otelflow (a process) or otelcol-ref against the same system and reduces
what their ``file`` exporters wrote to a comparable shape (used by test_httpcheck/redis/nginx).

The shape of one scrape, per metric: description, unit, type, value type, temporality,
monotonicity, scope name, resource attributes (values only for the keys asked for) and the set of
data point attribute sets (values only for the keys asked for; others become ``*``), plus the values
of the metrics whose values are stable between two scrapes.
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path
from typing import Callable, Iterable

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest

from otelflow.pdata import otlpjson
from tests.conformance.rig import OTELCOL_REF
from tests.process import Collector

TEMPORALITY = {0: "", 1: "delta", 2: "cumulative"}


def ref_has(receiver: str) -> bool:
    if not OTELCOL_REF.exists():
        return False
    listing = subprocess.run([str(OTELCOL_REF), "components"], capture_output=True, text=True, timeout=30).stdout
    return f"name: {receiver}\n" in listing


def config(receivers: dict, out: Path) -> str:
    return json.dumps({
        "receivers": receivers,
        "exporters": {"file": {"path": str(out), "flush_interval": "100ms"}},
        "service": {"telemetry": {"metrics": {"level": "none"}},
                    "pipelines": {"metrics": {"receivers": list(receivers), "exporters": ["file"]}}},
    })


def read(out: Path) -> list[ExportMetricsServiceRequest]:
    if not out.exists():
        return []
    lines = out.read_text().splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines.pop()
    return [otlpjson.decode(line.encode(), ExportMetricsServiceRequest) for line in lines if line.strip()]


def _until(out: Path, done: Callable[[list], bool], timeout: float, alive: Callable[[], bool], log: Callable[[], str]):
    deadline = time.monotonic() + timeout
    while True:
        requests = read(out)
        if requests and done(requests):
            return requests
        assert alive(), log()[-3000:]
        assert time.monotonic() < deadline, f"no complete scrape in {timeout}s:\n{log()[-3000:]}"
        time.sleep(0.1)


def run_otelflow(receivers: dict, tmp: Path, done: Callable[[list], bool], timeout: float = 20,
                 stop_after: Callable[[Collector], None] | None = None, env: dict | None = None) -> tuple[list, str]:
    out = tmp / "otelflow.json"
    collector = Collector(config(receivers, out), env=env).start()
    try:
        requests = _until(out, done, timeout, lambda: collector.proc.poll() is None, collector.output)
        if stop_after:
            stop_after(collector)
    finally:
        collector.stop()
    return requests, collector.output()


def run_otelcol_ref(receivers: dict, tmp: Path, done: Callable[[list], bool], timeout: float = 20) -> tuple[list, str]:
    out, cfg, log = tmp / "ref.json", tmp / "ref.yaml", tmp / "ref.log"
    cfg.write_text(config(receivers, out))
    with open(log, "wb") as sink:
        proc = subprocess.Popen([str(OTELCOL_REF), "--config", str(cfg)], stdout=sink, stderr=subprocess.STDOUT)
        try:
            requests = _until(out, done, timeout, lambda: proc.poll() is None, lambda: log.read_text(errors="replace"))
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(30)
    return requests, log.read_text(errors="replace")


def _value(v) -> object:
    kind = v.WhichOneof("value")
    if kind == "array_value":
        return [_value(x) for x in v.array_value.values]
    return getattr(v, kind) if kind else None


def metric_names(request: ExportMetricsServiceRequest) -> set[str]:
    return {m.name for rm in request.resource_metrics for sm in rm.scope_metrics for m in sm.metrics}


def shape(requests: Iterable[ExportMetricsServiceRequest], value_keys: Iterable[str] = (),
          resource_value_keys: Iterable[str] = (), stable: Iterable[str] = ()) -> dict:
    """The shape of the given requests (pass one scrape's); see the module docstring."""
    value_keys, resource_value_keys, stable = set(value_keys), set(resource_value_keys), set(stable)
    out: dict[str, dict] = {}
    for request in requests:
        for rm in request.resource_metrics:
            resource = {a.key: (_value(a.value) if a.key in resource_value_keys else "*")
                        for a in rm.resource.attributes}
            for sm in rm.scope_metrics:
                for m in sm.metrics:
                    kind = m.WhichOneof("data")
                    body = getattr(m, kind)
                    entry = out.setdefault(m.name, {
                        "description": m.description, "unit": m.unit, "type": kind, "scope": sm.scope.name,
                        "temporality": TEMPORALITY[getattr(body, "aggregation_temporality", 0)],
                        "monotonic": bool(getattr(body, "is_monotonic", False)),
                        "resource": json.dumps(resource, sort_keys=True), "value_type": set(), "points": set()})
                    for dp in body.data_points:
                        entry["value_type"].add(dp.WhichOneof("value"))
                        attrs = {a.key: (_value(a.value) if a.key in value_keys else "*") for a in dp.attributes}
                        if m.name in stable:
                            attrs["="] = _value_of(dp)
                        entry["points"].add(json.dumps(attrs, sort_keys=True))
    for entry in out.values():
        entry["value_type"] = sorted(entry["value_type"])
        entry["points"] = sorted(entry["points"])
    return dict(sorted(out.items()))


def _value_of(dp):
    return dp.as_int if dp.WhichOneof("value") == "as_int" else dp.as_double
