"""Stanza conformance rig: a case's lines go through a filelog receiver with the case's operators,
the file exporter's OTLP/JSON is normalised and compared with a golden recorded from otelcol-ref.

Case files (testdata/cases/<name>.yaml)::

    lines: [ ... ]              # written to input.log, one per line
    yearless: true              # optional: compare timestamps without their year (RFC 3164)
    receiver: {encoding: nop}   # optional: extra filelog receiver keys
    variants:                   # each is one `operators:` list, run separately
      send: [ {type: json_parser}, ... ]
      drop: [ ... ]

Goldens are testdata/cases/<name>.golden.json: {variant: [record, ...]}.

    python tests/stanza/stanza_rig.py record [PATTERN]   # run otelcol-ref, write goldens
    python tests/stanza/stanza_rig.py check  [PATTERN]   # run otelflow, compare
    python tests/stanza/stanza_rig.py verify [PATTERN]   # otelcol-ref again, against the goldens

Normalisation: observed timestamps and the scope version (the collector's build) are dropped,
attributes are sorted by key (Go iterates maps in random order); record order is kept.
The receiver is run as a real collector process. While otelflow's filelog receiver does not exist,
``check`` falls back to the in-process stanza pipeline and OTLP conversion (``in_process``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
CASES = HERE / "testdata" / "cases"
REPO = HERE.parents[1]
OTELCOL_REF = Path(os.environ.get("OTELCOL_REF", REPO / "bench" / ".build" / "bin" / "otelcol-ref"))
INPUT_NAME = "input.log"
#: the scope name upstream's filelog receiver gives entries without one (adapter.DefaultScopeName)
DEFAULT_SCOPE = "github.com/open-telemetry/opentelemetry-collector-contrib/pkg/stanza"


def load_case(name: str) -> dict[str, Any]:
    return yaml.safe_load((CASES / f"{name}.yaml").read_text())


def case_names(pattern: str = "") -> list[str]:
    return sorted(p.stem for p in CASES.glob("*.yaml") if pattern in p.stem)


def collector_config(input_path: Path, out_path: Path, operators: list[dict], receiver: dict | None = None) -> dict[str, Any]:
    return {
        "receivers": {
            "file_log": {"include": [str(input_path)], "start_at": "beginning", "operators": operators, **(receiver or {})}
        },
        "exporters": {"file": {"path": str(out_path)}},
        "service": {
            "pipelines": {"logs": {"receivers": ["file_log"], "exporters": ["file"]}},
            "telemetry": {"metrics": {"level": "none"}, "logs": {"level": "warn"}},
        },
    }


def _count(out_path: Path) -> int:
    if not out_path.exists():
        return 0
    n = 0
    for line in out_path.read_text().splitlines():
        if line.strip():
            for rl in json.loads(line).get("resourceLogs", []):
                for sl in rl.get("scopeLogs", []):
                    n += len(sl.get("logRecords", []))
    return n


def run_collector(command: list[str], lines: list[str], operators: list[dict], expect: int | None,
                  receiver: dict | None = None, timeout: float = 20.0) -> list[dict]:
    """Run one collector process on the lines; wait for ``expect`` records (or 3 s of quiet)."""
    with tempfile.TemporaryDirectory(prefix="stanza-rig-") as tmp:
        tmpdir = Path(tmp)
        input_path = tmpdir / INPUT_NAME
        input_path.write_text("".join(line + "\n" for line in lines))
        out_path = tmpdir / "out.json"
        cfg_path = tmpdir / "config.yaml"
        cfg_path.write_text(yaml.safe_dump(collector_config(input_path, out_path, operators, receiver)))
        proc = subprocess.Popen([*command, "--config", str(cfg_path)], stdout=subprocess.DEVNULL,
                                stderr=open(tmpdir / "stderr.log", "wb"))
        try:
            deadline = time.monotonic() + timeout
            last, since = -1, time.monotonic()
            while time.monotonic() < deadline:
                time.sleep(0.25)
                n = _count(out_path)
                if proc.poll() is not None:
                    raise RuntimeError(f"collector exited: {(tmpdir / 'stderr.log').read_text()[-2000:]}")
                if expect is not None and n >= expect:
                    time.sleep(0.5)
                    break
                if n != last:
                    last, since = n, time.monotonic()
                elif expect is None and time.monotonic() - since > 3.0 and (n > 0 or time.monotonic() - since > 6.0):
                    break
        finally:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        return normalise_file(out_path)


def run_many(command: list[str], jobs: dict[str, tuple[list[str], list[dict], dict | None, int]],
             timeout: float = 45.0) -> dict[str, list[dict]]:
    """Every job (lines, operators, receiver keys, expected records) in one collector process:
    one file_log receiver, pipeline and file exporter each, so a whole suite costs one start-up."""
    with tempfile.TemporaryDirectory(prefix="stanza-rig-") as tmp:
        tmpdir = Path(tmp)
        receivers: dict[str, Any] = {}
        exporters: dict[str, Any] = {}
        pipelines: dict[str, Any] = {}
        outs: dict[str, Path] = {}
        for n, (key, (lines, operators, receiver, _)) in enumerate(jobs.items()):
            job_dir = tmpdir / str(n)
            job_dir.mkdir()
            (job_dir / INPUT_NAME).write_text("".join(line + "\n" for line in lines))
            outs[key] = job_dir / "out.json"
            receivers[f"file_log/{n}"] = {
                "include": [str(job_dir / INPUT_NAME)], "start_at": "beginning", "operators": operators, **(receiver or {})
            }
            exporters[f"file/{n}"] = {"path": str(outs[key])}
            pipelines[f"logs/{n}"] = {"receivers": [f"file_log/{n}"], "exporters": [f"file/{n}"]}
        cfg = {
            "receivers": receivers,
            "exporters": exporters,
            "service": {"pipelines": pipelines, "telemetry": {"metrics": {"level": "none"}, "logs": {"level": "warn"}}},
        }
        cfg_path = tmpdir / "config.yaml"
        cfg_path.write_text(yaml.safe_dump(cfg))
        proc = subprocess.Popen([*command, "--config", str(cfg_path)], stdout=subprocess.DEVNULL,
                                stderr=open(tmpdir / "stderr.log", "wb"))
        try:
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                time.sleep(0.25)
                if proc.poll() is not None:
                    raise RuntimeError(f"collector exited: {(tmpdir / 'stderr.log').read_text()[-2000:]}")
                if all(_count(outs[k]) >= job[3] for k, job in jobs.items()):
                    time.sleep(0.5)
                    break
        finally:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        return {key: normalise_file(path) for key, path in outs.items()}


def in_process(lines: list[str], operators: list[dict], receiver: dict | None = None) -> list[dict]:
    """otelflow's pipeline and converter without a receiver (until filelog exists); of the
    receiver's keys only `encoding: nop` (bytes bodies) is imitated."""
    from otelflow.pdata import otlpjson
    from otelflow.stanza.convert import to_logs_request
    from otelflow.stanza.entry import Entry
    from otelflow.stanza.pipeline import build_pipeline

    pipe = build_pipeline(operators, "receivers::file_log::operators")
    now = time.time_ns()
    if (receiver or {}).get("encoding") == "nop":  # no splitting: the whole file is one bytes body
        bodies: list[Any] = ["".join(line + "\n" for line in lines).encode()]
    else:
        bodies = [line.strip(" \t") for line in lines]
    entries = [Entry(body=b, attributes={"log.file.name": INPUT_NAME}, observed_timestamp=now) for b in bodies]
    out = pipe.process(entries) + pipe.flush(now, force=True)
    request = to_logs_request(out, DEFAULT_SCOPE)
    return normalise_request(json.loads(otlpjson.encode(request)))


def yearless(records: list[dict]) -> list[dict]:
    """RFC 3164 stamps carry no year (the current one is used): compare them without it."""
    import datetime as dt

    for r in records:
        ns = r["record"].get("timeUnixNano")
        if ns is not None:
            t = dt.datetime.fromtimestamp(int(ns) // 10**9, dt.timezone.utc)
            r["record"]["timeUnixNano"] = "YYYY" + t.strftime("-%m-%dT%H:%M:%S") + f".{int(ns) % 10**9:09d}Z"
    return records


def normalise_file(path: Path) -> list[dict]:
    records: list[dict] = []
    if path.exists():
        for line in path.read_text().splitlines():
            if line.strip():
                records.extend(normalise_request(json.loads(line)))
    return records


def normalise_request(doc: dict) -> list[dict]:
    records = []
    for rl in doc.get("resourceLogs", []):
        resource = _sorted_attrs(rl.get("resource", {}).get("attributes", []))
        for sl in rl.get("scopeLogs", []):
            scope = sl.get("scope", {}).get("name", "")
            for rec in sl.get("logRecords", []):
                rec = dict(rec)
                rec.pop("observedTimeUnixNano", None)
                if rec.get("timeUnixNano") in ("0", 0):
                    rec.pop("timeUnixNano")
                if "attributes" in rec:
                    rec["attributes"] = _sorted_attrs(rec["attributes"])
                if "body" in rec:
                    rec["body"] = _sort_value(rec["body"])
                for key in ("traceId", "spanId"):
                    if rec.get(key) == "":
                        rec.pop(key)
                records.append({"resource": resource, "scope": scope, "record": rec})
    return records


def _sorted_attrs(attrs: list[dict]) -> list[dict]:
    return sorted(({"key": a.get("key", ""), "value": _sort_value(a.get("value", {}))} for a in attrs), key=lambda a: a["key"])


def _sort_value(value: dict) -> dict:
    if "kvlistValue" in value:
        return {"kvlistValue": {"values": _sorted_attrs(value["kvlistValue"].get("values", []))}}
    if "arrayValue" in value:
        return {"arrayValue": {"values": [_sort_value(v) for v in value["arrayValue"].get("values", [])]}}
    return value


def diff(want: list[dict], got: list[dict]) -> str:
    import difflib

    a = json.dumps(want, indent=1, sort_keys=True).splitlines()
    b = json.dumps(got, indent=1, sort_keys=True).splitlines()
    return "\n".join(difflib.unified_diff(a, b, "golden", "otelflow", lineterm="", n=2))


def golden_path(name: str) -> Path:
    return CASES / f"{name}.golden.json"


def otelflow_command() -> list[str]:
    return [sys.executable, "-m", "otelflow"]


def missing_types(operators: list[dict]) -> list[str]:
    from otelflow.stanza.registry import lookup

    missing = {op["type"] for op in operators if lookup(op["type"]) is None}
    if any("if" in op for op in operators):
        try:
            import otelflow.stanza.expr  # noqa: F401
        except ImportError:
            missing.add("if expressions")
    return sorted(missing)


def otelflow_has_filelog() -> bool:
    try:
        import otelflow.receivers.filelog  # noqa: F401
    except ImportError:
        return False
    return True


def main(argv: list[str]) -> int:
    mode = argv[1] if len(argv) > 1 else "check"
    pattern = argv[2] if len(argv) > 2 else ""
    failed = 0
    if mode == "verify":  # otelcol-ref against the committed goldens, all cases in one process
        jobs, wanted = {}, {}
        for name in case_names(pattern):
            case, golden = load_case(name), json.loads(golden_path(name).read_text())
            for v, ops in case["variants"].items():
                jobs[f"{name}/{v}"] = (case["lines"], ops, case.get("receiver"), len(golden[v]))
                wanted[f"{name}/{v}"] = (golden[v], case.get("yearless"))
        for key, got in run_many([str(OTELCOL_REF)], jobs).items():
            want, strip_year = wanted[key]
            ok = (yearless(got) if strip_year else got) == want
            failed += not ok
            print(f"{'ok  ' if ok else 'DIFF'} {key}")
        return 1 if failed else 0
    for name in case_names(pattern):
        case = load_case(name)
        if mode == "record":
            result = {
                v: run_collector([str(OTELCOL_REF)], case["lines"], ops, None, case.get("receiver"))
                for v, ops in case["variants"].items()
            }
            if case.get("yearless"):
                result = {v: yearless(r) for v, r in result.items()}
            golden_path(name).write_text(json.dumps(result, indent=1, sort_keys=True) + "\n")
            print(f"recorded {name}: " + ", ".join(f"{v}={len(r)}" for v, r in result.items()))
            continue
        golden = json.loads(golden_path(name).read_text())
        for variant, ops in case["variants"].items():
            missing = missing_types(ops)
            if missing:
                print(f"skip {name}/{variant}: operators not in otelflow yet: {', '.join(missing)}")
                continue
            if otelflow_has_filelog():
                got = run_collector(otelflow_command(), case["lines"], ops, len(golden[variant]), case.get("receiver"))
            else:
                got = in_process(case["lines"], ops, case.get("receiver"))
            if case.get("yearless"):
                got = yearless(got)
            ok = got == golden[variant]
            failed += not ok
            print(f"{'ok  ' if ok else 'DIFF'} {name}/{variant}")
            if not ok:
                print(diff(golden[variant], got))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
