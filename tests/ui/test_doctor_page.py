"""The Doctor page in a real browser: the all-in-one otelflow receives each SDK mistake from the real
Python SDK (tests/extensions/test_doctor.py), and ui/e2e/doctor.mjs checks the page lists every
finding under its service, the healthy services as such, and links a service to its page."""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from tests.extensions.test_doctor import EXPECTED, by_service, send_mistakes, start_all_in_one, wait_for_findings
from tests.ui.test_browser import ARTIFACTS, CHROMIUM, UI_DIR, require_chromium


def test_doctor_page_lists_each_mistake_by_service(tmp_path):
    require_chromium()
    if not (UI_DIR / "node_modules" / "playwright-core").is_dir():
        pytest.fail("ui/node_modules is missing: run `make ui`")
    proc, grpc, ui = start_all_in_one(tmp_path)
    try:
        send_mistakes(f"127.0.0.1:{grpc}")
        report = wait_for_findings(ui)
        got = by_service(report)
        assert {s: got.get(s, set()) for s in EXPECTED} == EXPECTED  # the page is checked against this
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        expected = {s: sorted([r, k] for r, k in want) for s, want in EXPECTED.items()}
        env = {**os.environ, "UI_URL": f"http://127.0.0.1:{ui}", "ARTIFACTS": str(ARTIFACTS), "CHROMIUM": CHROMIUM,
               "EXPECTED": json.dumps(expected)}
        run = subprocess.run(["node", str(UI_DIR / "e2e" / "doctor.mjs")], cwd=UI_DIR, env=env,
                             capture_output=True, text=True, timeout=120)
        output = run.stdout + run.stderr
        assert run.returncode == 0, output + "\n--- otelflow's log ---\n" + (tmp_path / "otelflow.log").read_text()[-3000:]
        assert "browser test passed" in output
        assert (ARTIFACTS / "doctor.png").stat().st_size > 10_000
    finally:
        proc.terminate()
        assert proc.wait(30) == 0
