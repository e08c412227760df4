"""Re-derive upstream's verdict for every parity case with the reference binary (not run in CI).

    PYTHONPATH=src python tests/config/parity/check_with_otelcol.py [bench/.build/bin/otelcol-ref] [component-dir ...]

Each component case is placed in a minimal whole config (otlp receiver -> component -> debug
exporter) and run through ``otelcol-ref validate``; collector-scope cases are run as they are. Prints
each case whose expectation disagrees with the binary. Cases whose file paths are relative to the
package dir are run from a temporary dir laid out like the upstream package.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

HERE = Path(__file__).parent
TESTDATA = HERE / "testdata"
RECEIVER = {"otlp": {"protocols": {"grpc": {"endpoint": "127.0.0.1:4317"}}}}


def _sub(tree, key):
    if key:
        for part in key.split("::"):
            tree = tree.get(part) if isinstance(tree, dict) else None
    return tree


def _signals(spec: dict) -> tuple[str, str]:
    """A pipeline signal the component takes (and, for a connector, the one it emits), from
    otelflow's registry when it is importable, else traces."""
    try:
        from otelflow.core.component import Kind, Signal
        from otelflow.core.registry import default_registry

        factory = default_registry.get(Kind(spec["kind"]), spec["type"])
        if spec["kind"] == "connector":
            a, b = sorted(factory.pairs, key=lambda p: (p[0].value, p[1].value))[0]
            return a.value, b.value
        if spec["kind"] != "extension":
            signal = next(s for s in Signal if s in factory.signals)
            return signal.value, signal.value
    except Exception:  # noqa: BLE001 - only a better guess is lost
        pass
    return "traces", "traces"


def _whole(spec: dict, case: dict, folder: Path) -> dict:
    if case.get("scope") == "collector":
        if not case.get("embed"):
            return yaml.safe_load((folder / case["file"]).read_text())
        tree = yaml.safe_load((folder / case["base"]).read_text())
        *parents, last = case["embed"].split("::")
        node = tree
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = yaml.safe_load((folder / case["file"]).read_text())
        return tree
    body = _sub(yaml.safe_load((folder / case["file"]).read_text()), case.get("sub"))
    kind, type_ = spec["kind"], spec["type"]
    signal, out_signal = _signals(spec)
    tree: dict = {"receivers": dict(RECEIVER), "exporters": {"debug": None}}
    pipeline = {"receivers": ["otlp"], "exporters": ["debug"]}
    if kind == "receiver":
        tree["receivers"] = {type_: body}
        pipeline["receivers"] = [type_]
    elif kind == "exporter":
        tree["exporters"] = {type_: body}
        pipeline["exporters"] = [type_]
    elif kind == "processor":
        tree["processors"] = {type_: body}
        pipeline["processors"] = [type_]
    elif kind == "connector":
        tree["connectors"] = {type_: body}
        return {**tree, "service": {"pipelines": {
            f"{signal}/in": {"receivers": ["otlp"], "exporters": [type_]},
            f"{out_signal}/out": {"receivers": [type_], "exporters": ["debug"]}}}}
    else:
        tree["extensions"] = {type_: body}
        return {**tree, "service": {"extensions": [type_], "pipelines": {signal: pipeline}}}
    return {**tree, "service": {"pipelines": {signal: pipeline}}}


def main(argv: list[str]) -> int:
    binary = argv[0] if argv else "bench/.build/bin/otelcol-ref"
    folders = [TESTDATA / name for name in argv[1:]] or sorted(p.parent for p in TESTDATA.glob("*/expectations.yaml"))
    disagreements = 0
    for folder in folders:
        spec = yaml.safe_load((folder / "expectations.yaml").read_text())
        for case in spec["cases"]:
            with tempfile.TemporaryDirectory() as tmp:
                (Path(tmp) / "testdata").symlink_to(folder.resolve())
                path = Path(tmp) / "config.yaml"
                path.write_text(yaml.safe_dump(_whole(spec, case, folder)))
                run = subprocess.run([str(Path(binary).resolve()), "validate", "--config", str(path)],
                                     cwd=tmp, capture_output=True, text=True, timeout=60)
            accepted = run.returncode == 0
            if accepted != bool(case["valid"]) and case.get("check_note"):
                print(f"{folder.name}/{case['name']}: differs as noted: {case['check_note']}")
            elif accepted != bool(case["valid"]):
                disagreements += 1
                last = (run.stderr.strip().splitlines() or [""])[-1]
                print(f"{folder.name}/{case['name']}: expectations say valid={case['valid']}, otelcol-ref: {last[:300]}")
    print(f"{disagreements} disagreement(s)")
    return 1 if disagreements else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
