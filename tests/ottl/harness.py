"""OTTL conformance harness: the cases in testdata/cases/*.yaml (transform, filter, routing connector,
tail_sampling ``ottl_condition``) run through a collector and compared with goldens recorded from the
upstream Go collector (otelcol-ref).

Shared by ``bench/ottl_conformance.py`` (record / run / list) and ``tests/ottl/test_conformance.py``.
It reuses the conformance rig (``tests/conformance/rig.py``) for normalisation, comparison, free
ports and the collector command line, and is independent of otelflow's code.

A case file holds ``cases:``, a list of cases::

    - name: set_span_name                  # unique over all files, [a-z0-9_]
      description: what it shows
      signal: traces                       # traces | metrics | logs
      input: traces.json                   # or a list: one request per file (testdata/inputs/)
      processors:                          # exactly as in an otelcol-contrib config, in pipeline order
        transform:
          trace_statements: [...]
      connectors:                          # optional (routing): routes' pipelines are the outputs
        routing: {table: [...], default_pipelines: [traces/other]}
      headers: {X-Tenant: acme}            # optional request headers
      receiver: {include_metadata: true}   # optional settings of the otlp receiver's http protocol
      wait: 3                              # optional seconds to wait after sending (tail_sampling)
      expect: config_error                 # optional: otelcol-ref refuses the config
      error_contains: ["Foo("]             # config_error: what otelflow's message must name
      xfail_otelflow: "reason"             # optional, visible: otelflow is known not to pass yet
      unordered: true                      # optional: upstream's order of list elements and data
                                           # points is not stable (built from Go maps): compare sorted

Cases of one file run together in ONE collector: each case gets its own receiver ``otlp/<case>``
on its own port, its own components (``transform/<case>``, ``routing/<case>`` ...) and pipeline
``<signal>/<case>`` ending in its own ``file/<case>`` exporter (one per routed pipeline for
connectors). config_error cases run alone: ``validate --config`` (and, if validate accepts the
config, a start of the collector, which must fail).
"""

from __future__ import annotations

import copy
import dataclasses
import json
import os
import re
import signal as _signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import yaml

from tests.conformance import rig

HERE = Path(__file__).resolve().parent
TESTDATA = HERE / "testdata"
CASES_DIR = TESTDATA / "cases"
INPUTS_DIR = TESTDATA / "inputs"
GOLDENS_DIR = TESTDATA / "goldens"
SIGNALS = ("traces", "metrics", "logs")
NAME_RE = re.compile(r"^[a-z0-9_]+$")
CASE_KEYS = {"name", "description", "signal", "input", "processors", "connectors", "headers", "receiver",
             "wait", "expect", "error_contains", "xfail_otelflow", "unordered"}
MAIN_OUTPUT = "out"
# The routing connector is recorded with a separate reference build (all modules v0.148.0: the Go
# proxy here does not serve routingconnector v0.161.0); the main otelcol-ref has no routing connector.
OTELCOL_REF_ROUTING = Path(os.environ.get("OTELCOL_REF_ROUTING",
                                          rig.REPO / "bench" / ".build" / "bin" / "otelcol-ref-routing"))
SETTLE = 0.4  # seconds after the last request before stopping, when nothing else tells us to wait


# ---------------------------------------------------------------------------------------------
# Cases


@dataclasses.dataclass
class Case:
    name: str
    file: str  # case file stem, e.g. "transform_traces_editors"
    description: str
    signal: str
    inputs: list[str]
    processors: dict[str, Any]
    connectors: dict[str, Any]
    headers: dict[str, str]
    receiver: dict[str, Any]
    wait: float
    expect: str
    error_contains: list[str]
    xfail_otelflow: str | None
    unordered: bool = False
    feature_gates: tuple[str, ...] = ()  # from the case file's top-level ``feature_gates`` list

    @classmethod
    def from_dict(cls, raw: dict, file: str) -> "Case":
        where = f"{file}.yaml case {raw.get('name')!r}"
        unknown = set(raw) - CASE_KEYS
        if unknown:
            raise ValueError(f"{where}: unknown keys {sorted(unknown)}")
        name = raw.get("name")
        if not isinstance(name, str) or not NAME_RE.match(name):
            raise ValueError(f"{where}: name must match {NAME_RE.pattern}")
        signal = raw.get("signal")
        if signal not in SIGNALS:
            raise ValueError(f"{where}: signal must be one of {SIGNALS}")
        inputs = raw.get("input", [])
        inputs = [inputs] if isinstance(inputs, str) else list(inputs)
        expect = raw.get("expect", "output")
        if expect not in ("output", "config_error"):
            raise ValueError(f"{where}: expect must be output or config_error")
        if expect == "output":
            if not inputs:
                raise ValueError(f"{where}: input is required")
            for name_ in inputs:
                if not (INPUTS_DIR / name_).exists():
                    raise ValueError(f"{where}: input {name_} is missing from {INPUTS_DIR}")
        if not raw.get("processors") and not raw.get("connectors"):
            raise ValueError(f"{where}: processors or connectors are required")
        error_contains = raw.get("error_contains", [])
        error_contains = [error_contains] if isinstance(error_contains, str) else list(error_contains)
        if expect == "config_error" and not error_contains:
            raise ValueError(f"{where}: a config_error case needs error_contains")
        return cls(name=name, file=file, description=str(raw.get("description", "")).strip(), signal=signal,
                   inputs=inputs, processors=dict(raw.get("processors") or {}),
                   connectors=dict(raw.get("connectors") or {}), headers=dict(raw.get("headers") or {}),
                   receiver=dict(raw.get("receiver") or {}), wait=float(raw.get("wait", 0)), expect=expect,
                   error_contains=error_contains, xfail_otelflow=raw.get("xfail_otelflow"),
                   unordered=bool(raw.get("unordered", False)))

    @property
    def is_config_error(self) -> bool:
        return self.expect == "config_error"

    @property
    def golden_path(self) -> Path:
        return GOLDENS_DIR / f"{self.name}.json"

    def read_golden(self) -> dict | None:
        if not self.golden_path.exists():
            return None
        return json.loads(self.golden_path.read_text(encoding="utf-8"))

    def input_bodies(self) -> list[bytes]:
        return [(INPUTS_DIR / name).read_bytes() for name in self.inputs]

    def routed_pipelines(self) -> list[str]:
        """Pipelines the case's connectors route to (in order of first mention): the outputs."""
        names: list[str] = []

        def add(seq: Any) -> None:
            for p in seq or []:
                if p not in names:
                    names.append(p)

        for cfg in self.connectors.values():
            cfg = cfg or {}
            for route in cfg.get("table") or []:
                add(route.get("pipelines"))
            add(cfg.get("default_pipelines"))
        return names

    def outputs(self) -> list[str]:
        return self.routed_pipelines() if self.connectors else [MAIN_OUTPUT]


def load_file(path: Path) -> list[Case]:
    """A case file: ``cases:`` and optionally ``feature_gates:`` (ids turned on for every case in it,
    passed to both collectors as --feature-gates)."""
    doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    gates = tuple(doc.get("feature_gates") or ())
    return [dataclasses.replace(Case.from_dict(raw, path.stem), feature_gates=gates) for raw in doc.get("cases", [])]


def case_files() -> list[Path]:
    return sorted(CASES_DIR.glob("*.yaml"))


def all_cases() -> list[Case]:
    cases = [c for path in case_files() for c in load_file(path)]
    seen: dict[str, str] = {}
    for c in cases:
        if c.name in seen:
            raise ValueError(f"case name {c.name!r} is used in {seen[c.name]}.yaml and {c.file}.yaml")
        seen[c.name] = c.file
    return cases


def select(pattern: str | None) -> list[Case]:
    """Cases whose name or file matches the regular expression ``pattern`` (all when None)."""
    cases = all_cases()
    if not pattern:
        return cases
    rx = re.compile(pattern)
    return [c for c in cases if rx.search(c.name) or rx.search(c.file)]


def group_by_file(cases: list[Case]) -> dict[str, list[Case]]:
    groups: dict[str, list[Case]] = {}
    for c in cases:
        groups.setdefault(c.file, []).append(c)
    return groups


# ---------------------------------------------------------------------------------------------
# Configs


def _component_id(kind: str, case: str) -> str:
    """``transform`` -> ``transform/<case>``, ``filter/x`` -> ``filter/<case>__x``."""
    ctype, _, cname = kind.partition("/")
    return f"{ctype}/{case}__{cname}" if cname else f"{ctype}/{case}"


def _pipeline_id(pipeline: str, case: str) -> str:
    ptype, _, pname = pipeline.partition("/")
    return f"{ptype}/{case}__{pname}" if pname else f"{ptype}/{case}__"


def _output_file_name(case: str, output: str) -> str:
    return f"{case}.{output.replace('/', '_')}.jsonl"


def build_config(cases: list[Case], ports: dict[str, int], outdir: Path) -> dict:
    """One collector config holding every case (see the module doc)."""
    receivers: dict = {}
    processors: dict = {}
    exporters: dict = {}
    connectors: dict = {}
    pipelines: dict = {}
    for case in cases:
        http: dict = {"endpoint": f"127.0.0.1:{ports[case.name]}"}
        http.update(copy.deepcopy(case.receiver))
        receivers[f"otlp/{case.name}"] = {"protocols": {"http": http}}
        proc_ids = []
        for kind, cfg in case.processors.items():
            pid = _component_id(kind, case.name)
            processors[pid] = copy.deepcopy(cfg) if cfg is not None else None
            proc_ids.append(pid)
        main = f"{case.signal}/{case.name}"
        if case.connectors:
            conn_ids = []
            rename = {p: _pipeline_id(p, case.name) for p in case.routed_pipelines()}
            for kind, cfg in case.connectors.items():
                cid = _component_id(kind, case.name)
                cfg = copy.deepcopy(cfg) or {}
                for route in cfg.get("table") or []:
                    if "pipelines" in route:
                        route["pipelines"] = [rename[p] for p in route["pipelines"] or []]
                if "default_pipelines" in cfg:
                    cfg["default_pipelines"] = [rename[p] for p in cfg["default_pipelines"] or []]
                connectors[cid] = cfg
                conn_ids.append(cid)
            pipelines[main] = {"receivers": [f"otlp/{case.name}"], "processors": proc_ids, "exporters": conn_ids}
            for original, pid in rename.items():
                eid = f"file/{case.name}__{original.replace('/', '_')}"
                exporters[eid] = {"path": str(outdir / _output_file_name(case.name, original)),
                                  "flush_interval": "100ms"}
                pipelines[pid] = {"receivers": conn_ids, "exporters": [eid]}
        else:
            eid = f"file/{case.name}"
            exporters[eid] = {"path": str(outdir / _output_file_name(case.name, MAIN_OUTPUT)), "flush_interval": "100ms"}
            pipelines[main] = {"receivers": [f"otlp/{case.name}"], "processors": proc_ids, "exporters": [eid]}
    config: dict = {"receivers": receivers}
    if processors:
        config["processors"] = processors
    config["exporters"] = exporters
    if connectors:
        config["connectors"] = connectors
    config["service"] = {"telemetry": {"metrics": {"level": "none"}}, "pipelines": pipelines}
    return config


def dump_config(config: dict) -> str:
    # '$' in OTTL must reach the collector as '$': a config file spells it '$$' (expanded by confmap)
    text = yaml.safe_dump(config, sort_keys=False, allow_unicode=True, width=1000)
    return text


# ---------------------------------------------------------------------------------------------
# Running


def send(port: int, signal: str, body: bytes, headers: dict[str, str] | None = None,
         timeout: float = 15) -> tuple[int, str]:
    hdrs = {"Content-Type": "application/json"}
    hdrs.update(headers or {})
    req = urllib.request.Request(f"http://127.0.0.1:{port}{rig.HTTP_PATHS[signal]}", data=body, method="POST",
                                 headers=hdrs)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, resp.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode("utf-8", "replace")
    except (urllib.error.URLError, OSError) as exc:
        return 0, f"{type(exc).__name__}: {exc}"


@dataclasses.dataclass
class CaseResult:
    case: Case
    responses: list[dict]  # {"status": int, "body": str} per request
    outputs: dict[str, bytes]  # output name -> raw file-exporter bytes

    def records(self) -> list[dict]:
        return rig.normalise(self.outputs)


@dataclasses.dataclass
class BatchResult:
    collector: str
    results: dict[str, CaseResult]
    refused: dict[str, str]  # case name -> the collector's error about it (config refused)
    log: str
    returncode: int | None


def uses_routing(cases: list[Case]) -> bool:
    return any("routing" == kind.partition("/")[0] for c in cases for kind in c.connectors)


def _collector_command(collector: str, config: Path, validate: bool = False, routing: bool = False,
                       gates: tuple[str, ...] = ()) -> list[str]:
    if collector == "otelcol-ref" and routing:
        if not OTELCOL_REF_ROUTING.exists():
            raise SystemExit(f"{OTELCOL_REF_ROUTING} is missing: build it with `make -C bench ref-routing`")
        cmd = [str(OTELCOL_REF_ROUTING), "--config", str(config)]
    else:
        cmd = rig.collector_command(collector, config)
    if validate:
        cmd.insert(len(cmd) - 2, "validate")  # <exe...> validate --config F
    if gates:
        cmd.insert(len(cmd) - (3 if validate else 2), "--feature-gates=" + ",".join(gates))
    return cmd


def _items_per_output(raw: bytes) -> int:
    return rig.items_in(raw)


def _start(collector: str, config_path: Path, log_path: Path, ports: list[int],
           timeout: float, routing: bool = False, gates: tuple[str, ...] = ()) -> tuple[subprocess.Popen, str | None]:
    """Start the collector; -> (process, None) once every port listens, or (process, error)."""
    log = open(log_path, "wb")
    env = dict(os.environ)
    proc = subprocess.Popen(_collector_command(collector, config_path, routing=routing, gates=gates), stdout=log,
                            stderr=subprocess.STDOUT, cwd=config_path.parent, env=env)
    log.close()
    try:
        for port in ports:
            rig.wait_port(port, proc, timeout)
    except RuntimeError as exc:
        if proc.poll() is None:
            _stop(proc)
        return proc, f"{exc}\n{log_path.read_text(errors='replace')}"
    return proc, None


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(_signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _refused_cases(text: str, cases: list[Case]) -> dict[str, str]:
    """Cases a collector's config error names (via their component ids ``<type>/<case>``)."""
    found: dict[str, str] = {}
    lines = text.splitlines()
    for case in cases:
        rx = re.compile(r"/" + re.escape(case.name) + r"(?:__[\w.-]*)?(?![\w])")
        hits = [line for line in lines if rx.search(line)]
        if hits:
            found[case.name] = "\n".join(hits[-5:])
    return found


def run_batch(cases: list[Case], collector: str, workdir: Path, expected: dict[str, dict[str, int]] | None = None,
              start_timeout: float = 30.0, max_wait: float = 30.0, retries: int = 8) -> BatchResult:
    """See _run_batch. For otelcol-ref, routing cases run in their own batch (another binary)."""
    cases = [c for c in cases if not c.is_config_error]
    if collector != "otelcol-ref":
        return _run_batch(cases, collector, workdir, expected, start_timeout, max_wait, retries)
    parts = [([c for c in cases if not uses_routing([c])], False), ([c for c in cases if uses_routing([c])], True)]
    merged = BatchResult(collector, {}, {}, "", None)
    for group, routing in parts:
        if not group:
            continue
        res = _run_batch(group, collector, workdir / ("routing" if routing else "main"), expected, start_timeout,
                         max_wait, retries, routing=routing)
        merged.results.update(res.results)
        merged.refused.update(res.refused)
        merged.log += res.log
        merged.returncode = res.returncode
    return merged


def _run_batch(cases: list[Case], collector: str, workdir: Path, expected: dict[str, dict[str, int]] | None,
               start_timeout: float, max_wait: float, retries: int, routing: bool = False) -> BatchResult:
    """Run output cases together in one collector; see the module doc.

    ``expected``: case -> output -> items (from the goldens): stop as soon as every output holds
    them (otherwise wait ``SETTLE`` / the cases' ``wait`` after the last request). A case whose
    config the collector refuses is reported in ``refused`` and the rest is run again without it.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    refused: dict[str, str] = {}
    todo = [c for c in cases if not c.is_config_error]
    log_text = ""
    for attempt in range(retries + 1):
        if not todo:
            return BatchResult(collector, {}, refused, log_text, None)
        outdir = workdir / f"out{attempt}"
        outdir.mkdir(parents=True, exist_ok=True)
        ports = dict(zip((c.name for c in todo), rig.free_ports(len(todo))))
        config_path = workdir / f"config{attempt}.yaml"
        config_path.write_text(dump_config(build_config(todo, ports, outdir)), encoding="utf-8")
        log_path = workdir / f"{collector}{attempt}.log"
        proc, error = _start(collector, config_path, log_path, list(ports.values()), start_timeout, routing,
                             todo[0].feature_gates)
        if error is not None:
            log_text = error
            if "address already in use" in error:
                continue  # another process took a port between picking and binding: pick again
            named = _refused_cases(error, todo)
            if not named and collector == "otelflow":
                # otelflow's validate lists every problem: ask it which cases it refuses
                out = subprocess.run(_collector_command(collector, config_path, validate=True,
                                                        gates=todo[0].feature_gates),
                                     capture_output=True, text=True, timeout=120)
                named = _refused_cases(out.stdout + out.stderr, todo)
            if not named:
                for c in todo:
                    refused[c.name] = error
                return BatchResult(collector, {}, refused, log_text, proc.returncode)
            refused.update(named)
            todo = [c for c in todo if c.name not in named]
            continue
        try:
            results: dict[str, CaseResult] = {}
            for case in todo:
                responses = []
                for body in case.input_bodies():
                    status, text = send(ports[case.name], case.signal, body, case.headers)
                    responses.append({"status": status, "body": text})
                results[case.name] = CaseResult(case, responses, {})
            t0 = time.monotonic()
            min_wait = max([SETTLE] + [c.wait for c in todo])
            deadline = t0 + max(max_wait, min_wait + 5)
            if expected is None:
                time.sleep(min_wait)
            else:
                waits = {c.name: c.wait for c in todo}
                while time.monotonic() < deadline and proc.poll() is None:
                    done = True
                    for case in todo:
                        for out, want in expected.get(case.name, {}).items():
                            path = outdir / _output_file_name(case.name, out)
                            have = _items_per_output(path.read_bytes()) if path.exists() else 0
                            if have < want:
                                done = False
                        if time.monotonic() - t0 < waits[case.name] and not expected.get(case.name):
                            done = False  # nothing expected: still give it its wait to show up
                    if done:
                        break
                    time.sleep(0.05)
                time.sleep(0.15)
        finally:
            _stop(proc)
        log_text = log_path.read_text(errors="replace")
        for case in todo:
            res = results[case.name]
            for out in case.outputs():
                path = outdir / _output_file_name(case.name, out)
                res.outputs[out] = path.read_bytes() if path.exists() else b""
        return BatchResult(collector, results, refused, log_text, proc.returncode)
    return BatchResult(collector, {}, refused, log_text, None)


def single_config_text(case: Case, workdir: Path) -> str:
    ports = {case.name: rig.free_port()}
    return dump_config(build_config([case], ports, workdir))


def run_config_error(case: Case, collector: str, workdir: Path, start_timeout: float = 20.0) -> dict:
    """``validate`` the case's config alone; if validate accepts it, also start the collector (it
    must exit by itself with an error). -> {"phase": "validate"|"start"|"none", "exit_code", "error"}."""
    workdir.mkdir(parents=True, exist_ok=True)
    config_path = workdir / f"{case.name}.yaml"
    config_path.write_text(single_config_text(case, workdir), encoding="utf-8")
    routing = uses_routing([case])
    out = subprocess.run(_collector_command(collector, config_path, validate=True, routing=routing,
                                            gates=case.feature_gates),
                         capture_output=True, text=True, timeout=120, cwd=workdir)
    if out.returncode != 0:
        return {"phase": "validate", "exit_code": out.returncode, "error": _error_text(out.stdout + out.stderr)}
    log_path = workdir / f"{case.name}.{collector}.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(_collector_command(collector, config_path, routing=routing, gates=case.feature_gates),
                                stdout=log, stderr=subprocess.STDOUT, cwd=workdir)
    try:
        proc.wait(timeout=start_timeout)
    except subprocess.TimeoutExpired:
        _stop(proc)
        return {"phase": "none", "exit_code": 0, "error": ""}
    return {"phase": "start", "exit_code": proc.returncode, "error": _error_text(log_path.read_text(errors="replace"))}


def _error_text(text: str) -> str:
    """The error lines of a collector's output (without timestamps), for the goldens."""
    lines = [re.sub(r"^\d{4}-\d\d-\d\dT[\d:.]+Z\s+", "", line) for line in text.splitlines()]
    first = next((i for i, line in enumerate(lines) if re.search(r"error|Error|invalid|failed|unknown", line)), 0)
    return "\n".join(lines[first:])[-4000:]


# ---------------------------------------------------------------------------------------------
# Goldens


def golden_from_result(result: CaseResult) -> dict:
    case = result.case
    return {
        "name": case.name,
        "file": case.file,
        "description": case.description,
        "signal": case.signal,
        "expect": "output",
        "responses": result.responses,
        "items": {out: _items_per_output(raw) for out, raw in result.outputs.items()},
        "records": result.records(),
        "raw": {out: raw.decode("utf-8", "replace") for out, raw in result.outputs.items()},
    }


def golden_from_config_error(case: Case, outcome: dict) -> dict:
    return {"name": case.name, "file": case.file, "description": case.description, "signal": case.signal,
            "expect": "config_error", **outcome}


def write_golden(case: Case, golden: dict) -> None:
    GOLDENS_DIR.mkdir(parents=True, exist_ok=True)
    # compact: one line per top-level key, one line per record
    lines = []
    for key, value in golden.items():
        if key == "records":
            body = ",\n  ".join(rig.canonical(r) for r in value)
            lines.append(f'"records": [\n  {body}\n ]' if value else '"records": []')
        else:
            lines.append(f"{json.dumps(key)}: {json.dumps(value, ensure_ascii=False)}")
    case.golden_path.write_text("{\n " + ",\n ".join(lines) + "\n}\n", encoding="utf-8")


def expected_items(cases: list[Case]) -> dict[str, dict[str, int]]:
    out = {}
    for c in cases:
        g = c.read_golden()
        if g and g.get("expect") == "output":
            out[c.name] = {k: v for k, v in g.get("items", {}).items() if v}
    return out


def sort_kvlists(node: Any) -> Any:
    """Map values (``kvlistValue``) built by converters from Go maps (ParseJSON, URL, UserAgent,
    ParseCSV...) have no stable key order upstream: compare them sorted by key. Attribute lists keep
    their order."""
    if isinstance(node, dict):
        out = {k: sort_kvlists(v) for k, v in node.items()}
        kv = out.get("kvlistValue")
        if isinstance(kv, dict) and isinstance(kv.get("values"), list):
            kv["values"] = sorted(kv["values"], key=lambda e: str(e.get("key")) if isinstance(e, dict) else "")
        return out
    if isinstance(node, list):
        return [sort_kvlists(v) for v in node]
    return node


def sort_lists(node: Any) -> Any:
    """For ``unordered`` cases: array values and data points compared in sorted order."""
    if isinstance(node, dict):
        out = {k: sort_lists(v) for k, v in node.items()}
        for key in ("dataPoints",):
            if isinstance(out.get(key), list):
                out[key] = sorted(out[key], key=rig.canonical)
        arr = out.get("arrayValue")
        if isinstance(arr, dict) and isinstance(arr.get("values"), list):
            arr["values"] = sorted(arr["values"], key=rig.canonical)
        return out
    if isinstance(node, list):
        return [sort_lists(v) for v in node]
    return node


def check(case: Case, golden: dict, result: CaseResult | None, refused: str | None,
          collector: str = "otelflow") -> list[str]:
    """Problems of ``result`` against ``golden`` (empty: the case passes)."""
    if refused is not None:
        return [f"{collector} refused the config of case {case.name}:\n{refused}"]
    if result is None:
        return [f"case {case.name} did not run"]
    problems = []
    want = [r["status"] for r in golden["responses"]]
    have = [r["status"] for r in result.responses]
    if want != have:
        problems.append(f"HTTP status per request: upstream {want}, {collector} {have}\n"
                        f"  upstream bodies: {[r['body'][:300] for r in golden['responses']]}\n"
                        f"  {collector} bodies: {[r['body'][:300] for r in result.responses]}")
    want_records, have_records = sort_kvlists(golden["records"]), sort_kvlists(result.records())
    if case.unordered:
        want_records, have_records = sort_lists(want_records), sort_lists(have_records)
    comparison = rig.compare(want_records, have_records, "upstream", collector)
    if not comparison.equal:
        problems.append(comparison.report("upstream", collector))
    return problems


def check_config_error(case: Case, golden: dict, outcome: dict, collector: str = "otelflow") -> list[str]:
    if outcome["phase"] == "none":
        return [f"{collector} accepted the config and ran; upstream refuses it ({golden['phase']}):\n"
                f"{golden['error']}"]
    missing = [s for s in case.error_contains if s not in outcome["error"]]
    if missing:
        return [f"{collector} refused the config but its message does not name {missing}:\n{outcome['error']}"]
    return []
