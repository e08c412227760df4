"""otelflow's stanza operators against goldens recorded from otelcol-ref (tests/stanza/stanza_rig.py).

With otelflow's filelog receiver present, every case runs through one real otelflow process (one
receiver and file exporter per case variant); before that, through the in-process pipeline.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.stanza import stanza_rig as rig

VARIANTS = [
    (name, variant)
    for name in rig.case_names()
    if rig.golden_path(name).exists()
    for variant in rig.load_case(name)["variants"]
]


def _runnable() -> dict[str, Any]:
    jobs = {}
    for name, variant in VARIANTS:
        case = rig.load_case(name)
        ops = case["variants"][variant]
        if not rig.missing_types(ops):
            golden = json.loads(rig.golden_path(name).read_text())[variant]
            jobs[f"{name}/{variant}"] = (case["lines"], ops, case.get("receiver"), len(golden))
    return jobs


@pytest.fixture(scope="module")
def collector_outputs() -> dict[str, list[dict]] | None:
    """All cases through one otelflow process, when its filelog receiver exists."""
    if not rig.otelflow_has_filelog():
        return None
    return rig.run_many(rig.otelflow_command(), _runnable())


@pytest.mark.parametrize("name, variant", VARIANTS, ids=[f"{n}/{v}" for n, v in VARIANTS])
def test_case_matches_golden(name: str, variant: str, collector_outputs: dict[str, list[dict]] | None) -> None:
    case = rig.load_case(name)
    ops = case["variants"][variant]
    missing = rig.missing_types(ops)
    if missing:
        pytest.skip(f"not in otelflow yet: {', '.join(missing)}")
    golden = json.loads(rig.golden_path(name).read_text())[variant]
    if collector_outputs is not None:
        got = collector_outputs[f"{name}/{variant}"]
    else:
        got = rig.in_process(case["lines"], ops, case.get("receiver"))
    if case.get("yearless"):
        got = rig.yearless(got)
    assert got == golden, rig.diff(golden, got)
