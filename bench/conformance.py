#!/usr/bin/env python3
"""Conformance of otelflow against the upstream Go collector (otelcol-ref), case by case.

A case (tests/conformance/cases/<name>/) is a config ending in `file` exporter(s), a recorded input
and a case.yaml (signal, transport). Each collector runs the config, gets the input, is stopped
with SIGTERM; the file outputs are normalised (see tests/conformance/rig.py) and compared.

  conformance.py run [CASE...]       otelcol-ref and otelflow live, diff them (exit 1 on a difference)
  conformance.py golden [CASE...]    otelflow against the recorded goldens (no Go needed)
  conformance.py record [CASE...]    rewrite expected.jsonl + upstream.*.jsonl from otelcol-ref
  conformance.py list                cases and whether they have goldens
  conformance.py json2pb SIGNAL IN.json OUT.pb   make a binary protobuf input from an OTLP/JSON one

Structural equality is the pass criterion. Whether the raw lines are also byte-identical is
printed as information ("bytes: ...").
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.conformance import rig  # noqa: E402


def _print_run_problems(result: rig.RunResult) -> None:
    bad = [r for r in result.responses if not (r.startswith("http 200") or r.startswith("grpc OK"))]
    if bad or not result.complete:
        print(f"  {result.collector}: responses {result.responses}; all items written: {result.complete}")
        tail = "\n".join(result.log.splitlines()[-15:])
        print("  last log lines:\n    " + tail.replace("\n", "\n    "))


def cmd_run(names: list[str], keep: bool) -> int:
    failed = 0
    for case in rig.find_cases(names):
        with tempfile.TemporaryDirectory(prefix=f"conformance-{case.name}-") as tmp:
            work = Path(tmp)
            ref = rig.run_case(case, "otelcol-ref", work)
            flow = rig.run_case(case, "otelflow", work)
            expected = rig.normalise(ref.outputs, case.ignore)
            result = rig.compare_outputs(expected, flow.outputs, case, expected_raw=ref.outputs)
            status = "PASS" if result.equal else "FAIL"
            print(f"{status} {case.name}  [{case.signal}, {case.transport}]")
            if not ref.complete:
                print("  warning: otelcol-ref did not write every input item")
            _print_run_problems(ref)
            _print_run_problems(flow)
            print("  " + result.report().replace("\n", "\n  "))
            print("  " + rig.compare_responses(ref.responses, flow.responses))
            if case.has_golden():
                drift = rig.compare(case.read_golden(), expected, "golden", "otelcol-ref now")
                if not drift.equal:
                    print("  note: otelcol-ref's output no longer matches the golden; `make record-goldens`?")
                    print("  " + drift.report("golden", "otelcol-ref").replace("\n", "\n  "))
            if keep:
                dest = REPO / "bench" / "results" / "conformance" / case.name
                dest.mkdir(parents=True, exist_ok=True)
                for f in work.iterdir():
                    (dest / f.name).write_bytes(f.read_bytes())
                print(f"  outputs and logs kept in {dest}")
            failed += not result.equal
    print(f"\n{failed} case(s) differ" if failed else "\nall cases match")
    return 1 if failed else 0


def cmd_golden(names: list[str]) -> int:
    failed = 0
    for case in rig.find_cases(names):
        if not case.has_golden():
            print(f"SKIP {case.name}: no golden (run `make record-goldens`)")
            continue
        with tempfile.TemporaryDirectory(prefix=f"conformance-{case.name}-") as tmp:
            flow = rig.run_case(case, "otelflow", Path(tmp))
            result = rig.compare_outputs(case.read_golden(), flow.outputs, case,
                                         expected_raw=case.read_upstream_raw())
            print(f"{'PASS' if result.equal else 'FAIL'} {case.name}  [{case.signal}, {case.transport}]")
            _print_run_problems(flow)
            print("  " + result.report().replace("\n", "\n  "))
            upstream_responses = case.read_upstream_responses()
            if upstream_responses is not None:
                print("  " + rig.compare_responses(upstream_responses, flow.responses))
            failed += not result.equal
    print(f"\n{failed} case(s) differ" if failed else "\nall cases match")
    return 1 if failed else 0


def cmd_record(names: list[str]) -> int:
    for case in rig.find_cases(names):
        with tempfile.TemporaryDirectory(prefix=f"conformance-{case.name}-") as tmp:
            ref = rig.run_case(case, "otelcol-ref", Path(tmp))
        bad = [r for r in ref.responses if not (r.startswith("http 200") or r.startswith("grpc OK"))]
        if bad or not ref.complete:
            _print_run_problems(ref)
            print(f"FAIL {case.name}: otelcol-ref did not take or write every item; golden not written")
            return 1
        records = rig.normalise(ref.outputs, case.ignore)
        case.expected_path.write_text(rig.dump_records(records), encoding="utf-8")
        for output, raw in ref.outputs.items():
            case.raw_path(output).write_bytes(raw)
        case.responses_path.write_text(json.dumps(ref.responses, indent=1) + "\n")
        print(f"recorded {case.name}: {len(records)} record(s) -> {case.expected_path.relative_to(REPO)}")
    return 0


def cmd_list() -> int:
    for case in rig.all_cases():
        golden = "golden" if case.has_golden() else "NO GOLDEN"
        print(f"{case.name:28} {case.signal:8} {case.transport:14} {golden:9}  {case.expected_items()} item(s)")
    return 0


def cmd_json2pb(signal: str, src: Path, dst: Path) -> int:
    dst.write_bytes(rig.json_doc_to_pb(signal, json.loads(src.read_text())))
    print(f"wrote {dst} ({dst.stat().st_size} bytes)")
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run", help="run otelcol-ref and otelflow live and diff them")
    r.add_argument("cases", nargs="*")
    r.add_argument("--keep", action="store_true", help="keep raw outputs and logs in bench/results/conformance/")
    g = sub.add_parser("golden", help="run otelflow against the recorded goldens")
    g.add_argument("cases", nargs="*")
    rec = sub.add_parser("record", help="(re)record goldens from otelcol-ref")
    rec.add_argument("cases", nargs="*")
    sub.add_parser("list", help="list cases")
    j = sub.add_parser("json2pb", help="convert an OTLP/JSON request to binary protobuf")
    j.add_argument("signal", choices=sorted(rig.LAYOUT))
    j.add_argument("src", type=Path)
    j.add_argument("dst", type=Path)
    args = p.parse_args(argv)
    if args.command == "run":
        return cmd_run(args.cases, args.keep)
    if args.command == "golden":
        return cmd_golden(args.cases)
    if args.command == "record":
        return cmd_record(args.cases)
    if args.command == "list":
        return cmd_list()
    return cmd_json2pb(args.signal, args.src, args.dst)


if __name__ == "__main__":
    raise SystemExit(main())
