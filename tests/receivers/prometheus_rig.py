"""Side-by-side rig for the ``prometheus`` receiver: scripted scrape targets, one collector run
against them, and the normalisation both collectors' ``file`` output go through.

A case (``testdata/prometheus/<case>/case.yaml``) names its targets, each a script of responses
served one per request (the last one repeats), and how many scrapes of each target to compare.
The collector config (``config.yaml``) uses ``${env:TARGETn}`` for target addresses,
``${env:OUT_FILE}`` for the output and ``${env:SD_FILE}`` for a file_sd file; ``sd_after`` in the
case rewrites that file once a target has served that many requests (a target going away).

Normalisation keeps what both collectors must agree on: per target, the sequence of scrape batches,
each the sorted set of (resource, scope, metric) records with times, start times, the scope version
and scrape durations masked and ports replaced by the target's name.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import os
import re
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
CASES = HERE / "testdata" / "prometheus"
REPO = HERE.parents[1]
OTELCOL_REF = Path(os.environ.get("OTELCOL_REF", REPO / "bench" / ".build" / "bin" / "otelcol-ref"))
MASK = "<masked>"


class ScriptedTarget:
    """A real HTTP server on 127.0.0.1 answering GETs from a script of responses."""

    def __init__(self, steps: list[dict], base: Path | None = None):
        self.steps = steps
        self.base = base
        self.requests: list[dict[str, str]] = []
        self.lock = threading.Lock()
        target = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):  # noqa: N802
                with target.lock:
                    n = len(target.requests)
                    target.requests.append(dict(self.headers))
                step = target.steps[min(n, len(target.steps) - 1)]
                target.respond(self, step)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def body_of(self, step: dict) -> bytes:
        if "body_file" in step:
            return (self.base / step["body_file"]).read_bytes()
        if "repeat" in step:  # a generated body: `repeat` lines from a template with {i}
            line = step["repeat"]["line"]
            return "".join(line.replace("{i}", str(i)) + "\n" for i in range(step["repeat"]["count"])).encode()
        return step.get("body", "").encode()

    def respond(self, handler: BaseHTTPRequestHandler, step: dict) -> None:
        if step.get("sleep"):
            time.sleep(step["sleep"])
        body = self.body_of(step)
        if step.get("gzip") and "gzip" in handler.headers.get("Accept-Encoding", ""):
            body = gzip.compress(body)
        try:
            handler.send_response(step.get("status", 200))
            if step.get("content_type", "text/plain; version=0.0.4; charset=utf-8") is not None:
                handler.send_header("Content-Type", step.get("content_type", "text/plain; version=0.0.4; charset=utf-8"))
            if step.get("gzip"):
                handler.send_header("Content-Encoding", "gzip")
            handler.send_header("Content-Length", str(len(body)))
            handler.end_headers()
            handler.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def __enter__(self) -> "ScriptedTarget":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    @property
    def served(self) -> int:
        return len(self.requests)


class ClientApp:
    """A small prometheus_client app on a real HTTP server (its own exposition and negotiation),
    with a fixed registry so that two runs expose the same values (``_created`` apart)."""

    def __init__(self):
        from prometheus_client import CollectorRegistry, Counter, Enum, Gauge, Histogram, Info, Summary
        from prometheus_client.exposition import make_wsgi_app

        reg = CollectorRegistry()
        requests = Counter("app_requests", "Requests handled.", ["route"], registry=reg)
        requests.labels("/").inc(5)
        requests.labels("/login").inc(2)
        Gauge("app_in_flight", "Requests in flight.", registry=reg).set(3)
        Gauge("app_memory", "Resident memory.", unit="bytes", registry=reg).set(1048576)
        latency = Histogram("app_latency_seconds", "Request latency.", buckets=(0.1, 0.5, 1.0), registry=reg)
        for v in (0.05, 0.2, 0.7, 3.0):
            latency.observe(v)
        size = Summary("app_payload_bytes", "Payload sizes.", registry=reg)
        size.observe(100)
        size.observe(300)
        Info("app_build", "Build information.", registry=reg).info({"version": "1.0.0", "commit": "abc"})
        Enum("app_state", "Current state.", states=["starting", "running"], registry=reg).state("running")
        wsgi = make_wsgi_app(reg)
        self.requests: list[dict] = []

        def counted(environ, start_response):
            self.requests.append({"Accept": environ.get("HTTP_ACCEPT", "")})
            return wsgi(environ, start_response)

        from wsgiref.simple_server import WSGIRequestHandler, make_server

        class Quiet(WSGIRequestHandler):
            def log_message(self, *args):
                pass

        from socketserver import ThreadingMixIn
        from wsgiref.simple_server import WSGIServer

        class Server(ThreadingMixIn, WSGIServer):
            daemon_threads = True

        self.server = make_server("127.0.0.1", 0, counted, server_class=Server, handler_class=Quiet)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> "ClientApp":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    @property
    def served(self) -> int:
        return len(self.requests)


def make_target(steps, base: Path):
    if steps == "prometheus_client":
        return ClientApp()
    return ScriptedTarget(steps, base)


class Case:
    def __init__(self, directory: Path):
        self.dir = directory
        self.name = directory.name
        meta = yaml.safe_load((directory / "case.yaml").read_text())
        self.targets: dict[str, list[dict]] = meta["targets"]
        self.batches: dict[str, int] = meta["batches"]  # target name -> scrapes to compare
        self.sd_after: dict | None = meta.get("sd_after")  # {target, requests, content}
        self.sd_initial: str | None = meta.get("sd_initial")
        # targets whose repeated identical batches count once (how many plain scrapes happen before
        # a discovery change takes effect depends on timing)
        self.collapse: list[str] = meta.get("collapse", [])
        self.description = meta.get("description", "")

    @property
    def config(self) -> str:
        return (self.dir / "config.yaml").read_text()

    @property
    def golden(self) -> Path:
        return self.dir / "expected.json"

    def env(self, targets: dict[str, ScriptedTarget], out: Path, sd: Path) -> dict[str, str]:
        env = {name.upper(): f"127.0.0.1:{t.port}" for name, t in targets.items()}
        env.update(OUT_FILE=str(out), SD_FILE=str(sd))
        return env

    def sd_text(self, targets: dict[str, ScriptedTarget], text: str) -> str:
        for name, t in targets.items():
            text = text.replace("${" + name.upper() + "}", f"127.0.0.1:{t.port}")
        return text


def all_cases() -> list[Case]:
    return [Case(d) for d in sorted(CASES.iterdir()) if (d / "case.yaml").exists()]


def substitute(text: str, env: dict[str, str]) -> str:
    return re.sub(r"\$\{env:([A-Z_0-9]+)\}", lambda m: env[m.group(1)], text)


# -- normalisation ---------------------------------------------------------------------------------


def _mask_points(metric: dict) -> None:
    for kind in ("gauge", "sum", "histogram", "summary", "exponentialHistogram"):
        if kind not in metric:
            continue
        points = metric[kind].get("dataPoints", [])
        for p in points:
            p.pop("timeUnixNano", None)
            if "startTimeUnixNano" in p:
                p["startTimeUnixNano"] = MASK
            for ex in p.get("exemplars", []):
                ex.pop("timeUnixNano", None)
            if metric["name"].startswith("scrape_duration") and "asDouble" in p:
                p["asDouble"] = MASK
        points.sort(key=lambda p: json.dumps(p.get("attributes", []), sort_keys=True))


def normalise_batch(doc: dict, ports: dict[str, str]) -> tuple[str, list[dict]]:
    """(target name, sorted records) for one file-exporter line."""
    text = json.dumps(doc)
    for port, name in ports.items():
        text = text.replace(f"127.0.0.1:{port}", f"127.0.0.1:<{name}>").replace(f'"{port}"', f'"<{name}>"')
    doc = json.loads(text)
    records, instances = [], set()
    for rm in doc.get("resourceMetrics", []):
        attrs = {a["key"]: a["value"] for a in rm.get("resource", {}).get("attributes", [])}
        instances.add(attrs.get("service.instance.id", {}).get("stringValue", ""))
        resource = sorted(rm.get("resource", {}).get("attributes", []), key=lambda a: a["key"])
        for sm in rm.get("scopeMetrics", []):
            scope = dict(sm.get("scope", {}))
            if "version" in scope:
                scope["version"] = MASK
            for metric in sm.get("metrics", []):
                _mask_points(metric)
                records.append({"resource": resource, "scope": scope, "schemaUrl": sm.get("schemaUrl", ""),
                                "metric": metric})
    records.sort(key=lambda r: json.dumps(r, sort_keys=True))
    name = ",".join(sorted(instances))
    m = re.search(r"<([a-z0-9_]+)>", name)
    return (m.group(1) if m else name), records


def normalise_file(raw: str, ports: dict[str, str]) -> dict[str, list[list[dict]]]:
    out: dict[str, list[list[dict]]] = {}
    for line in raw.split("\n")[:-1]:  # complete lines only: the writer may be mid-line
        if line.strip():
            name, records = normalise_batch(json.loads(line), ports)
            out.setdefault(name, []).append(records)
    return out


def collapse(runs: dict[str, list], names: list[str]) -> dict[str, list]:
    out = dict(runs)
    for name in names:
        batches = []
        for batch in runs.get(name, []):
            if not batches or batches[-1] != batch:
                batches.append(batch)
        out[name] = batches
    return out


def enough(runs: dict[str, list], want: dict[str, int]) -> bool:
    return all(len(runs.get(name, [])) >= n for name, n in want.items())


def trim(runs: dict[str, list], want: dict[str, int]) -> dict[str, list]:
    return {name: runs.get(name, [])[:n] for name, n in sorted(want.items())}


def diff(expected: dict, actual: dict) -> str:
    """A readable account of the first differences between two normalised runs."""
    lines = []
    for name in sorted(set(expected) | set(actual)):
        e, a = expected.get(name, []), actual.get(name, [])
        if len(e) != len(a):
            lines.append(f"{name}: {len(e)} batches expected, {len(a)} got")
        for i, (eb, ab) in enumerate(zip(e, a)):
            if eb == ab:
                continue
            es = {json.dumps(r, sort_keys=True) for r in eb}
            as_ = {json.dumps(r, sort_keys=True) for r in ab}
            lines.append(f"{name} batch {i}:")
            lines += ["  - " + r[:600] for r in sorted(es - as_)]
            lines += ["  + " + r[:600] for r in sorted(as_ - es)]
    return "\n".join(lines[:80])


# -- running a case ---------------------------------------------------------------------------------


async def run_case(case: Case, tmp: Path, start_collector, timeout: float = 60.0) -> dict[str, list[list[dict]]]:
    """Serve the case's targets, start a collector with ``start_collector(config_text)`` (an async
    context manager factory), wait for the wanted batches and return them normalised."""
    out = tmp / f"{case.name}.jsonl"
    sd = tmp / f"{case.name}.sd.yaml"
    targets = {name: make_target(steps, case.dir) for name, steps in case.targets.items()}
    for t in targets.values():
        t.__enter__()
    try:
        if case.sd_initial is not None:
            sd.write_text(case.sd_text(targets, case.sd_initial))
        env = case.env(targets, out, sd)
        ports = {str(t.port): name for name, t in targets.items()}
        config = substitute(case.config, env)
        sd_done = case.sd_after is None
        async with start_collector(config):
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                await asyncio.sleep(0.2)
                if not sd_done and targets[case.sd_after["target"]].served >= case.sd_after["requests"]:
                    sd.write_text(case.sd_text(targets, case.sd_after["content"]))
                    sd_done = True
                runs = collapse(normalise_file(out.read_text() if out.exists() else "", ports), case.collapse)
                if sd_done and enough(runs, case.batches):
                    break
        runs = collapse(normalise_file(out.read_text() if out.exists() else "", ports), case.collapse)
        return trim(runs, case.batches)
    finally:
        for t in targets.values():
            t.__exit__(None, None, None)


class RefCollector:
    """otelcol-ref as a subprocess, for recording goldens."""

    def __init__(self, config: str, workdir: Path):
        self.config = config
        self.workdir = workdir
        self.proc: subprocess.Popen | None = None

    async def __aenter__(self):
        path = self.workdir / "ref-config.yaml"
        path.write_text(self.config)
        self.log = open(self.workdir / "ref.log", "w")
        self.proc = subprocess.Popen([str(OTELCOL_REF), "--config", str(path)], stdout=self.log, stderr=subprocess.STDOUT)
        return self

    async def __aexit__(self, *exc):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


def dump(runs: dict[str, Any]) -> str:
    return json.dumps(runs, indent=1, sort_keys=True) + "\n"


# -- the Debian Prometheus server as a target ---------------------------------------------------------

SERVER_SCHEMA = CASES / "prometheus_server_schema.json"


def prometheus_binary() -> str | None:
    import shutil

    path = shutil.which("prometheus") or "/usr/bin/prometheus"
    return path if os.path.isfile(path) and os.access(path, os.X_OK) else None


class PrometheusServer:
    """The real Prometheus (scripts/install-prometheus.sh) on loopback, scraping nothing itself."""

    def __init__(self, binary: str, workdir: Path):
        import socket

        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.dir = workdir
        (workdir / "prometheus.yml").write_text("global: {scrape_interval: 1m}\nscrape_configs: []\n")
        self.cmd = [binary, f"--config.file={workdir / 'prometheus.yml'}", f"--storage.tsdb.path={workdir / 'data'}",
                    f"--web.listen-address=127.0.0.1:{self.port}", "--log.level=warn"]
        self.proc: subprocess.Popen | None = None

    def __enter__(self) -> "PrometheusServer":
        import urllib.request

        self.log = open(self.dir / "prometheus.log", "wb")
        self.proc = subprocess.Popen(self.cmd, stdout=self.log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/-/ready", timeout=2) as resp:
                    if resp.status == 200:
                        return self
            except OSError:
                time.sleep(0.2)
        raise RuntimeError("prometheus did not become ready")

    def __exit__(self, *exc) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


SERVER_CONFIG = """
receivers:
  prometheus:
    discovery_reload_on_startup: true
    config:
      scrape_configs:
        - job_name: prometheus
          scrape_interval: 1s
          static_configs:
            - targets: ["127.0.0.1:{port}"]
exporters:
  file:
    path: {out}
    flush_interval: 100ms
service:
  telemetry:
    metrics:
      level: none
  pipelines:
    metrics:
      receivers: [prometheus]
      exporters: [file]
"""


def schema(raw: str) -> dict[str, dict]:
    """metric name -> what must not differ between collectors: type, temporality, monotonicity,
    unit, description, prometheus.type, and the attribute keys seen."""
    out: dict[str, dict] = {}
    for line in raw.split("\n")[:-1]:
        if not line.strip():
            continue
        for rm in json.loads(line).get("resourceMetrics", []):
            for sm in rm.get("scopeMetrics", []):
                for m in sm.get("metrics", []):
                    kind = next(k for k in ("gauge", "sum", "histogram", "summary", "exponentialHistogram") if k in m)
                    entry = out.setdefault(m["name"], {
                        "kind": kind, "unit": m.get("unit", ""), "description": m.get("description", ""),
                        "temporality": m[kind].get("aggregationTemporality", 0),
                        "monotonic": m[kind].get("isMonotonic", False),
                        "prometheus.type": m.get("metadata", [{}])[0].get("value", {}).get("stringValue", ""),
                        "attributes": [],
                    })
                    keys = {a["key"] for p in m[kind]["dataPoints"] for a in p.get("attributes", [])}
                    entry["attributes"] = sorted(set(entry["attributes"]) | keys)
    return out


async def scrape_server(tmp: Path, start_collector, scrapes: int = 3, timeout: float = 60) -> str:
    """Run a collector against the real Prometheus until it wrote ``scrapes`` batches; its raw output."""
    binary = prometheus_binary()
    out = tmp / "server.jsonl"
    (tmp / "prom").mkdir(exist_ok=True)
    with PrometheusServer(binary, tmp / "prom") as server:
        config = SERVER_CONFIG.replace("{port}", str(server.port)).replace("{out}", str(out))
        async with start_collector(config):
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                await asyncio.sleep(0.3)
                if out.exists() and len(out.read_text().split("\n")) > scrapes:
                    break
    return out.read_text()
