"""otelflow against upstream's recorded output, case by case (no Go toolchain needed).

Each case under cases/ is run through otelflow as a subprocess (``python -m otelflow``); the file
exporter output is normalised and compared with expected.jsonl, which `make record-goldens`
recorded from the upstream collector. A structural difference fails with the list of differing
fields and a unified diff; byte-level differences (same data, other spelling or key order) and
differing responses are reported as warnings only: byte compatibility is the goal, not yet a gate.
"""

from __future__ import annotations

import warnings

import pytest

from tests.conformance import rig


class ByteCompatWarning(UserWarning):
    """Same data as upstream, different bytes (or different responses): information, not failure."""


CASES = [case for case in rig.all_cases() if case.has_golden()]


def test_every_case_has_a_golden():
    missing = [case.name for case in rig.all_cases() if not case.has_golden()]
    assert not missing, f"cases without expected.jsonl (run `make record-goldens`): {missing}"


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_matches_upstream_golden(case: rig.Case, tmp_path):
    result = rig.run_case(case, "otelflow", tmp_path)
    assert result.responses, "no request was sent"
    comparison = rig.compare_outputs(case.read_golden(), result.outputs, case,
                                     expected_raw=case.read_upstream_raw())
    if comparison.equal:
        if comparison.bytes_identical is False:
            warnings.warn(ByteCompatWarning(f"{case.name}: {comparison.byte_note}"), stacklevel=1)
        upstream_responses = case.read_upstream_responses()
        if upstream_responses is not None and upstream_responses != result.responses:
            warnings.warn(ByteCompatWarning(f"{case.name}: {rig.compare_responses(upstream_responses, result.responses)}"),
                          stacklevel=1)
        return
    log_tail = "\n".join(result.log.splitlines()[-20:])
    pytest.fail(
        f"otelflow's output differs from upstream's for case {case.name} ({case.description})\n"
        f"responses: {result.responses}; all items written before stop: {result.complete}\n"
        f"{comparison.report()}\n--- otelflow log (tail) ---\n{log_tail}",
        pytrace=False,
    )
