#!/usr/bin/env python3
"""OTTL conformance (transform, filter, routing connector, tail_sampling ottl_condition) against
goldens recorded from the upstream Go collector (otelcol-ref). Cases: tests/ottl/testdata/cases/*.yaml,
goldens: tests/ottl/testdata/goldens/<case>.json; see tests/ottl/harness.py for the format.

  ottl_conformance.py list [PATTERN]                      cases, their files and whether they have goldens
  ottl_conformance.py record [PATTERN]                    run otelcol-ref, (re)write the goldens
  ottl_conformance.py run [PATTERN] [--collector C]       run C (default otelflow) live, diff with the goldens

PATTERN is a regular expression matched against case names and case-file names. Cases of one file
run in ONE collector (one receiver and pipeline per case); config_error cases run alone through
`validate`. `run --collector otelcol-ref` is the harness's self-check: it must report 0 differences.
The reference binary is bench/.build/bin/otelcol-ref, or $OTELCOL_REF / --otelcol-ref PATH; routing-connector
cases use bench/.build/bin/otelcol-ref-routing (all modules v0.148.0), or $OTELCOL_REF_ROUTING.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def _setup_ref(path: str | None, routing: str | None) -> None:
    if path:
        os.environ["OTELCOL_REF"] = str(Path(path).resolve())
    if routing:
        os.environ["OTELCOL_REF_ROUTING"] = str(Path(routing).resolve())


def cmd_list(pattern: str | None) -> int:
    from tests.ottl import harness

    cases = harness.select(pattern)
    for file, group in harness.group_by_file(cases).items():
        print(f"{file}.yaml: {len(group)} case(s)")
        for c in group:
            golden = "golden" if c.golden_path.exists() else "NO GOLDEN"
            extra = f"  xfail_otelflow: {c.xfail_otelflow}" if c.xfail_otelflow else ""
            print(f"  {c.name:52} {c.signal:8} {c.expect:13} {golden}{extra}")
    print(f"{len(cases)} case(s)")
    return 0


def cmd_record(pattern: str | None) -> int:
    from tests.ottl import harness

    cases = harness.select(pattern)
    failures = 0
    with tempfile.TemporaryDirectory(prefix="ottl-record-") as tmp:
        for file, group in harness.group_by_file(cases).items():
            t0 = time.monotonic()
            batch = harness.run_batch(group, "otelcol-ref", Path(tmp) / file)
            for name, error in batch.refused.items():
                print(f"FAIL {name}: otelcol-ref refused the config (make it a config_error case?):\n  "
                      + error.replace("\n", "\n  "))
                failures += 1
            for name, result in batch.results.items():
                if any(r["status"] == 0 for r in result.responses):
                    print(f"FAIL {name}: no answer from otelcol-ref ({result.responses}); golden not written")
                    failures += 1
                    continue
                golden = harness.golden_from_result(result)
                harness.write_golden(result.case, golden)
                statuses = [r["status"] for r in result.responses]
                print(f"recorded {name}: {len(golden['records'])} record(s) {golden['items']} status {statuses}")
            for case in group:
                if case.is_config_error:
                    outcome = harness.run_config_error(case, "otelcol-ref", Path(tmp) / file / "errors")
                    if outcome["phase"] == "none":
                        print(f"FAIL {case.name}: otelcol-ref accepts and runs this config_error case")
                        failures += 1
                        continue
                    harness.write_golden(case, harness.golden_from_config_error(case, outcome))
                    missing = [s for s in case.error_contains if s not in outcome["error"]]
                    note = f"  (note: upstream's message lacks {missing})" if missing else ""
                    print(f"recorded {case.name}: refused at {outcome['phase']} (exit {outcome['exit_code']}){note}")
            print(f"-- {file}: {len(group)} case(s) in {time.monotonic() - t0:.1f}s")
    print(f"\n{failures} case(s) could not be recorded" if failures else "\nall goldens recorded")
    return 1 if failures else 0


def cmd_run(pattern: str | None, collector: str, keep: bool) -> int:
    from tests.ottl import harness

    cases = harness.select(pattern)
    failed, passed, xfailed = [], 0, 0
    tmp = tempfile.mkdtemp(prefix=f"ottl-run-{collector}-")
    for file, group in harness.group_by_file(cases).items():
        t0 = time.monotonic()
        missing = [c.name for c in group if not c.golden_path.exists()]
        for name in missing:
            print(f"SKIP {name}: no golden (record it)")
        group = [c for c in group if c.golden_path.exists()]
        batch = harness.run_batch(group, collector, Path(tmp) / file, expected=harness.expected_items(group))
        for case in group:
            golden = case.read_golden()
            if case.is_config_error:
                outcome = harness.run_config_error(case, collector, Path(tmp) / file / "errors")
                problems = harness.check_config_error(case, golden, outcome, collector)
            else:
                problems = harness.check(case, golden, batch.results.get(case.name), batch.refused.get(case.name),
                                         collector)
            if not problems:
                passed += 1
                print(f"PASS {case.name}")
                continue
            tag = "XFAIL" if case.xfail_otelflow and collector == "otelflow" else "FAIL"
            if tag == "XFAIL":
                xfailed += 1
            else:
                failed.append(case.name)
            print(f"{tag} {case.name} ({case.file}.yaml){' - ' + case.xfail_otelflow if tag == 'XFAIL' else ''}")
            for p in problems:
                print("  " + p.replace("\n", "\n  "))
        print(f"-- {file}: {len(group)} case(s) in {time.monotonic() - t0:.1f}s")
    print(f"\n{passed} passed, {len(failed)} differ, {xfailed} xfail (collector: {collector})")
    if failed:
        print("differing: " + " ".join(failed))
    if keep:
        print(f"configs, outputs and logs kept in {tmp}")
    else:
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--otelcol-ref", help="path of the reference binary (default $OTELCOL_REF or bench/.build/bin)")
    p.add_argument("--otelcol-ref-routing", help="reference binary for routing-connector cases (default "
                   "$OTELCOL_REF_ROUTING or bench/.build/bin/otelcol-ref-routing)")
    sub = p.add_subparsers(dest="command", required=True)
    ls = sub.add_parser("list")
    ls.add_argument("pattern", nargs="?")
    rec = sub.add_parser("record")
    rec.add_argument("pattern", nargs="?")
    run = sub.add_parser("run")
    run.add_argument("pattern", nargs="?")
    run.add_argument("--collector", default="otelflow", choices=["otelflow", "otelcol-ref"])
    run.add_argument("--keep", action="store_true", help="keep configs, outputs and logs")
    args = p.parse_args(argv)
    _setup_ref(args.otelcol_ref, args.otelcol_ref_routing)
    if args.command == "list":
        return cmd_list(args.pattern)
    if args.command == "record":
        return cmd_record(args.pattern)
    return cmd_run(args.pattern, args.collector, args.keep)


if __name__ == "__main__":
    raise SystemExit(main())
