"""The ``nginx`` receiver against a real Debian ``nginx`` (scripts/install-nginx.sh) serving
``stub_status``, run as an unprivileged process (``-p prefix -c conf``, ``daemon off``, its own pid
and logs, a free loopback port), its output compared with otelcol-ref's.

otelcol-ref's nginx module is v0.148.0 (bench/README.md): its units are the pre-UCUM ones
(``connections``, ``requests``); the comparison maps them to v0.161.0's (``{connections}``,
``{requests}``), as otelflow emits. Each run gets a fresh nginx, so the first scrape's values are the
same for both (one connection, one request) and are compared too.
``OTELFLOW_RECORD_GOLDENS=1`` records the golden again.
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

from otelflow.receivers.nginx.receiver import StubStatusError, parse
from tests.backends import free_port
from tests.process import Collector
from tests.receivers.scrape_rig import config, metric_names, ref_has, run_otelcol_ref, run_otelflow, shape
from tests.system import require_program

GOLDEN = Path(__file__).parent / "testdata" / "nginx" / "golden.json"
RECORD = os.environ.get("OTELFLOW_RECORD_GOLDENS") == "1"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
METRICS = ("nginx.requests", "nginx.connections_accepted", "nginx.connections_handled", "nginx.connections_current")
PRE_UCUM = {"connections": "{connections}", "requests": "{requests}"}

@pytest.fixture(autouse=True, scope="module")
def _nginx():
    require_program(NGINX, "scripts/install-nginx.sh")

CONF = """
daemon off;
master_process off;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 64; }}
http {{
    access_log off;
    client_body_temp_path {prefix}/body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    server {{
        listen 127.0.0.1:{port};
        location = /status {{ stub_status; }}
        location = /teapot {{ return 418 "no"; }}
        location = /garbage {{ default_type text/plain; return 200 "not a status page\\n"; }}
        location / {{ return 200 "ok\\n"; }}
    }}
}}
"""


def _drop_privileges() -> None:
    if os.getuid() == 0:
        nobody = pwd.getpwnam("nobody")
        os.setgid(nobody.pw_gid)
        os.setuid(nobody.pw_uid)


class Nginx:
    def __init__(self) -> None:
        self.port = free_port()
        self.prefix = Path(tempfile.mkdtemp(prefix="otelflow-nginx-"))
        os.chmod(self.prefix, 0o777)
        conf = self.prefix / "nginx.conf"
        conf.write_text(CONF.format(prefix=self.prefix, port=self.port))
        self.proc = subprocess.Popen([NGINX, "-p", str(self.prefix), "-c", str(conf), "-e", str(self.prefix / "error.log")],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, preexec_fn=_drop_privileges)
        deadline = time.monotonic() + 10
        while True:
            try:
                with urllib.request.urlopen(self.url("/"), timeout=1) as resp:
                    assert resp.status == 200
                break
            except OSError:
                assert self.proc.poll() is None, (self.prefix / "error.log").read_text(errors="replace")
                assert time.monotonic() < deadline, "nginx did not start"
                time.sleep(0.05)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def __enter__(self) -> "Nginx":
        return self

    def __exit__(self, *exc) -> None:
        self.proc.terminate()
        self.proc.wait(10)
        shutil.rmtree(self.prefix, ignore_errors=True)


def _receivers(endpoint: str, interval: str = "1h") -> dict:
    return {"nginx": {"endpoint": endpoint, "collection_interval": interval, "initial_delay": "0s"}}


def _scraped(requests) -> bool:
    return any("nginx.requests" in metric_names(r) for r in requests)


def _normalised(requests) -> dict:
    first = next(r for r in requests if "nginx.requests" in metric_names(r))
    return shape([first], ("state",), stable=METRICS)


def test_output_matches_otelcol_ref(tmp_path: Path):
    with Nginx() as server:  # the readiness probe made one request on its own connection
        requests, _ = run_otelflow(_receivers(server.url("/status")), tmp_path, _scraped)
    got = _normalised(requests)
    if RECORD or not GOLDEN.exists():
        if not ref_has("nginx"):
            pytest.skip("no golden and otelcol-ref has no nginx receiver")
        with Nginx() as server:
            ref, _ = run_otelcol_ref(_receivers(server.url("/status")), tmp_path, _scraped)
        GOLDEN.write_text(json.dumps(_normalised(ref), indent=1, sort_keys=True) + "\n")
    expected = json.loads(GOLDEN.read_text())
    for entry in expected.values():  # v0.148.0's units -> v0.161.0's
        entry["unit"] = PRE_UCUM.get(entry["unit"], entry["unit"])
    assert got == expected


def test_two_workers_scrape_once(tmp_path: Path):
    """With two worker processes the receiver runs in worker 0 only: one scrape, the same values."""
    with Nginx() as server:
        requests, _ = run_otelflow(_receivers(server.url("/status"), "1h"), tmp_path, _scraped,
                                   stop_after=lambda collector: time.sleep(1.5), env={"OTELFLOW_WORKERS": "2"})
        with urllib.request.urlopen(server.url("/status"), timeout=2) as resp:
            after = parse(resp.read())
    assert _normalised(requests)["nginx.requests"]["points"] == ['{"=": 2}']  # the readiness probe and one scrape
    assert after["requests"] == 3  # the probe, one scrape (not one per worker), this GET


@pytest.mark.parametrize("path, words", [
    ("/teapot", "expected 200 response, got 418"),
    ("/garbage", "failed to parse response body"),
])
def test_bad_pages_and_refused_port_are_counted_logged_once_and_serving_goes_on(path: str, words: str, tmp_path: Path):
    refused = free_port()
    with Nginx() as server:
        receivers = {**_receivers(server.url("/status"), "300ms"),
                     "nginx/bad": {"endpoint": server.url(path), "collection_interval": "300ms", "initial_delay": "0s"},
                     "nginx/refused": {"endpoint": f"http://127.0.0.1:{refused}/status", "collection_interval": "300ms",
                                       "initial_delay": "0s", "timeout": "1s"}}

        def three(requests) -> bool:
            return sum("nginx.requests" in metric_names(r) for r in requests) >= 3

        requests, log = run_otelflow(receivers, tmp_path, three, timeout=30)
    errors = [line for line in log.splitlines() if "Error scraping metrics (scraper nginx)" in line]
    assert len(errors) == 2, log  # one per failing receiver, not one per scrape
    assert any(words in line for line in errors), errors
    assert any(f'failed to get http://127.0.0.1:{refused}/status: Get "http://127.0.0.1:{refused}/status": dial tcp '
               f"127.0.0.1:{refused}: connect: connection refused" in line for line in errors), errors


def test_a_server_that_never_answers_is_bounded_by_the_timeout(tmp_path: Path):
    import socket
    with socket.socket() as silent:  # accepts connections (backlog) but never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        receivers = {"nginx": {"endpoint": f"http://127.0.0.1:{port}/status", "collection_interval": "500ms",
                               "initial_delay": "0s", "timeout": "700ms"}}
        collector = Collector(config(receivers, tmp_path / "out.json")).start()
        try:
            time.sleep(2.5)
            assert collector.proc.poll() is None
        finally:
            assert collector.stop() == 0
    log = collector.output()
    errors = [line for line in log.splitlines() if "Error scraping metrics (scraper nginx)" in line]
    assert len(errors) == 1 and "context deadline exceeded" in errors[0], log


def test_stub_status_parsing():
    page = b"Active connections: 291 \nserver accepts handled requests\n 16630948 16630946 31070465 \nReading: 6 Writing: 179 Waiting: 106 \n"
    assert parse(page) == {"active": 291, "accepted": 16630948, "handled": 16630946, "requests": 31070465,
                           "reading": 6, "writing": 179, "waiting": 106}
    with pytest.raises(StubStatusError):
        parse(b"<html>Welcome to nginx!</html>")
