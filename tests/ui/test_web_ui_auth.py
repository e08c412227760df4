"""The UI's login in a real browser: the all-in-one otelflow bound to this machine's non-loopback
address (tests/extensions/test_web_ui_auth.py picks it), the real SDK sending over OTLP, and
ui/e2e/auth.mjs in Chromium: refused without the token, the services page after the login URL."""

from __future__ import annotations

import json
import os
import subprocess
import time

import pytest

from otelflow.extensions.web_ui_auth import TOKEN_ENV
from tests.backends import free_port
from tests.extensions.test_web_ui_auth import LOGIN_LINE, call, config, exposed_host
from tests.process import Collector
from tests.sdk import SDKApp
from tests.ui.test_browser import ARTIFACTS, CHROMIUM, UI_DIR, require_chromium

SERVICE = "auth-browser-shop"


def test_refused_without_the_token_and_the_services_page_after_the_login_url(tmp_path):
    require_chromium()
    if not (UI_DIR / "node_modules" / "playwright-core").is_dir():
        pytest.fail("ui/node_modules is missing: run `make ui`")
    grpc, http_port, port = free_port(), free_port(), free_port()
    bind = exposed_host()
    host = "127.0.0.1" if bind == "0.0.0.0" else bind
    collector = Collector(config(grpc, http_port, f"{bind}:{port}", tmp_path / "store"), env={TOKEN_ENV: ""}).start()
    try:
        found = LOGIN_LINE.search(collector.output())
        assert found, collector.output()
        token = found.group(3)
        index = call(host, port, "GET", "/", headers={"Authorization": f"Bearer {token}"})
        if index.status != 200 or b"assets/app.js" not in index.body:
            pytest.fail(f"GET / answered {index.status}: the UI is not built (run `make ui`)")
        app = SDKApp("http", f"http://127.0.0.1:{http_port}", service_name=SERVICE)
        app.emit(requests=2)
        app.shutdown()
        deadline = time.monotonic() + 20
        while SERVICE not in [s["name"] for s in json.loads(
                call(host, port, "GET", "/api/v1/services", headers={"Authorization": f"Bearer {token}"}).body)["services"]]:
            assert time.monotonic() < deadline, "the service never reached the store"
            time.sleep(0.2)
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "UI_URL": f"http://{host}:{port}", "LOGIN_URL": f"http://{host}:{port}/login?t={token}",
               "TOKEN": token, "SERVICE": SERVICE, "ARTIFACTS": str(ARTIFACTS), "CHROMIUM": CHROMIUM}
        run = subprocess.run(["node", str(UI_DIR / "e2e" / "auth.mjs")], cwd=UI_DIR, env=env,
                             capture_output=True, text=True, timeout=120)
        output = run.stdout + run.stderr
        assert run.returncode == 0, output + "\n--- otelflow's log ---\n" + collector.output()[-3000:]
        assert "browser test passed" in output
        for name in ("auth-refused", "auth-services"):
            assert (ARTIFACTS / f"{name}.png").stat().st_size > 5_000, f"screenshot {name}.png is missing or blank"
        assert collector.output().count(token) == 1, "the token is logged only in the login line"
    finally:
        collector.stop()
