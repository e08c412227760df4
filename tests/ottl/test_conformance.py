"""otelflow against the OTTL goldens recorded from otelcol-ref (transform, filter, routing connector,
tail_sampling ottl_condition). One pytest id per case; the cases of one case file run in ONE otelflow
process (see tests/ottl/harness.py). Record goldens with `python bench/ottl_conformance.py record`.

A case otelflow is known not to pass yet carries `xfail_otelflow: "reason"` in its YAML (visible,
never a hidden skip-list). A case whose config otelflow refuses fails with otelflow's error.
"""

from __future__ import annotations

import functools
import tempfile
from pathlib import Path

import pytest

from tests.ottl import harness

CASES = harness.all_cases()
_TMP = Path(tempfile.mkdtemp(prefix="ottl-conformance-"))


def _param(case: harness.Case):
    marks = [pytest.mark.xfail(reason=case.xfail_otelflow, strict=False)] if case.xfail_otelflow else []
    return pytest.param(case, id=f"{case.file}::{case.name}", marks=marks)


@functools.lru_cache(maxsize=None)
def _batch(file: str) -> harness.BatchResult:
    group = [c for c in CASES if c.file == file and not c.is_config_error and c.golden_path.exists()]
    return harness.run_batch(group, "otelflow", _TMP / file, expected=harness.expected_items(group))


def test_every_case_has_a_golden():
    missing = [c.name for c in CASES if not c.golden_path.exists()]
    assert not missing, f"cases without a golden (run `python bench/ottl_conformance.py record`): {missing}"


@pytest.mark.parametrize("case", [_param(c) for c in CASES])
def test_case(case: harness.Case):
    golden = case.read_golden()
    if golden is None:
        pytest.fail(f"no golden for {case.name}", pytrace=False)
    if case.is_config_error:
        outcome = harness.run_config_error(case, "otelflow", _TMP / case.file / "errors")
        problems = harness.check_config_error(case, golden, outcome)
    else:
        batch = _batch(case.file)
        problems = harness.check(case, golden, batch.results.get(case.name), batch.refused.get(case.name))
        if problems and case.name not in batch.refused:
            problems.append("--- otelflow log (tail) ---\n" + "\n".join(batch.log.splitlines()[-15:]))
    if problems:
        pytest.fail(f"{case.file}.yaml {case.name}: {case.description}\n" + "\n".join(problems), pytrace=False)
