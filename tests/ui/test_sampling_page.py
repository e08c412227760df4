"""The Sampling what-if page in a real browser: an all-in-one otelflow process holds the real SDK's
traffic (tests/sampling/traffic.py); the API's figures for two policy sets are what ui/e2e/sampling.mjs
must see on the page after editing the YAML. The same run checks the Services page's error spans for
a service without entry spans (``payments``)."""

from __future__ import annotations

import json
import os
import subprocess
import urllib.request

import pytest
import yaml

from tests.backends import free_port
from tests.process import Collector
from tests.sampling import traffic
from tests.ui.test_browser import ARTIFACTS, CHROMIUM, UI_DIR, config, get_json, require_chromium, wait_for

COUNTS = {"ordinary": 300, "healthz": 150, "error": 40, "slow": 30, "healthz_error": 20, "unavailable": 20, "vip": 20, "debug": 10}
POLICIES = {"decision_wait": "30s", "policies": [
    {"name": "errors", "type": "status_code", "status_code": {"status_codes": ["ERROR"]}},
    {"name": "slow", "type": "latency", "latency": {"threshold_ms": 500}},
    {"name": "probably", "type": "probabilistic", "probabilistic": {"sampling_percentage": 5}},
    {"name": "healthz", "type": "string_attribute", "string_attribute": {"key": "http.target", "values": ["/healthz"]},
     "sampling": {"sampling_percentage": 1}},
]}
FROM, TO = "sampling_percentage: 5\n", "sampling_percentage: 60\n"


def _what_if(url: str, text: str) -> dict:
    req = urllib.request.Request(f"{url}/api/v1/sampling/what-if", method="POST",
                                 data=json.dumps({"policies": text, "start_us": 0}).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=60) as resp:
        return json.load(resp)["reports"][0]


def test_sampling_page_edits_policies_and_services_show_error_spans(tmp_path):
    require_chromium()
    if not (UI_DIR / "node_modules" / "playwright-core").is_dir():
        pytest.fail("ui/node_modules is missing: run `make ui`")
    grpc, http, ui = free_port(), free_port(), free_port()
    collector = Collector(config(grpc, http, ui, tmp_path / "store")).start()
    url = f"http://127.0.0.1:{ui}"
    try:
        provs = traffic.providers(f"http://127.0.0.1:{http}", seed=5)
        traffic.emit(provs, COUNTS)
        traffic.flush(provs)
        traces = sum(COUNTS.values())
        wait_for("every trace in the store", lambda: get_json(f"{url}/api/v1/stats")["spans"] >= traces)
        wait_for("every span in the store", lambda: _what_if(url, "policies: []")["total"]["traces"] == traces
                 and get_json(f"{url}/api/v1/stats")["spans"] == _what_if(url, "policies: []")["total"]["spans"])
        before_yaml = yaml.safe_dump(POLICIES, sort_keys=False, default_flow_style=False)
        assert FROM in before_yaml
        before, after = _what_if(url, before_yaml), _what_if(url, before_yaml.replace(FROM, TO))
        assert before["kept"]["traces_pct"] < after["kept"]["traces_pct"]
        error_spans = COUNTS["error"] + COUNTS["debug"]
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "UI_URL": url, "ARTIFACTS": str(ARTIFACTS), "CHROMIUM": CHROMIUM,
               "YAML_BEFORE": before_yaml, "EDIT_FROM": FROM, "EDIT_TO": TO,
               "PCT_BEFORE": f"{before['kept']['traces_pct']:.2f}%", "PCT_AFTER": f"{after['kept']['traces_pct']:.2f}%",
               "NO_ENTRY_SERVICE": "payments", "ERROR_SPANS": str(error_spans)}
        run = subprocess.run(["node", str(UI_DIR / "e2e" / "sampling.mjs")], cwd=UI_DIR, env=env,
                             capture_output=True, text=True, timeout=120)
        output = run.stdout + run.stderr
        assert run.returncode == 0, output + "\n--- otelflow's log ---\n" + "\n".join(collector.output().splitlines()[-30:])
        assert "browser test passed" in output
        for name in ("sampling-before", "sampling-after", "services-error-spans"):
            assert (ARTIFACTS / f"{name}.png").stat().st_size > 10_000
    finally:
        collector.stop()
