"""The ``prometheus`` receiver against otelcol-ref's recorded output: the same scripted targets
(tests/receivers/prometheus_rig.py), the same config, the ``file`` exporter's OTLP/JSON normalised
the same way; goldens recorded by testdata/prometheus/record.py."""

from __future__ import annotations

import json

import pytest

from tests.conftest import running
from tests.receivers import prometheus_rig as rig

CASES = [c for c in rig.all_cases() if c.golden.exists()]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
async def test_matches_otelcol_ref(case: rig.Case, tmp_path):
    runs = await rig.run_case(case, tmp_path, running, timeout=60)
    expected = json.loads(case.golden.read_text())
    assert runs == expected, rig.diff(expected, runs)
