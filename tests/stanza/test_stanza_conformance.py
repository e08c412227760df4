"""otelflow's stanza parsers against goldens recorded from otelcol-ref (tests/stanza/stanza_rig.py)."""

from __future__ import annotations

import json

import pytest

from tests.stanza import stanza_rig as rig

VARIANTS = [
    (name, variant)
    for name in rig.case_names()
    if rig.golden_path(name).exists()
    for variant in rig.load_case(name)["variants"]
]


@pytest.mark.parametrize("name, variant", VARIANTS, ids=[f"{n}/{v}" for n, v in VARIANTS])
def test_case_matches_golden(name: str, variant: str) -> None:
    case = rig.load_case(name)
    ops = case["variants"][variant]
    missing = rig.missing_types(ops)
    if missing:
        pytest.skip(f"not in otelflow yet: {', '.join(missing)}")
    golden = json.loads(rig.golden_path(name).read_text())[variant]
    if rig.otelflow_has_filelog():
        got = rig.run_collector(rig.otelflow_command(), case["lines"], ops, len(golden), case.get("receiver"))
    else:
        got = rig.in_process(case["lines"], ops, case.get("receiver"))
    if case.get("yearless"):
        got = rig.yearless(got)
    assert got == golden, rig.diff(golden, got)
