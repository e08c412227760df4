"""The ``redis`` receiver against a private Debian ``redis-server`` (scripts/install-redis.sh), its
output compared with otelcol-ref's (v0.161.0 redisreceiver) for the same server.

The golden holds the shape of one scrape (names, units, types, attribute value sets, resource
attributes) and the values that do not move between two scrapes (keys and expiring keys per db,
role, mode, maxmemory). A server that refuses the login is counted and logged once; the other
receiver in the same collector keeps delivering. ``OTELFLOW_RECORD_GOLDENS=1`` records it again.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
import redis

from otelflow.receivers.redis import Config
from otelflow.receivers.redis.info import parse, record
from tests.backends import free_port
from tests.receivers.scrape_rig import metric_names, ref_has, run_otelcol_ref, run_otelflow, shape
from tests.system import require_program

GOLDEN = Path(__file__).parent / "testdata" / "redis" / "golden.json"
RECORD = os.environ.get("OTELFLOW_RECORD_GOLDENS") == "1"
SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"
VALUE_KEYS = ("state", "db", "role", "mode", "percentile")
STABLE = ("redis.db.keys", "redis.db.expires", "redis.role", "redis.mode", "redis.maxmemory")
OPTIONAL = ("redis.role", "redis.mode", "redis.maxmemory", "redis.cmd.calls", "redis.cmd.usec", "redis.cmd.latency",
            "redis.memory.used_memory_overhead", "redis.memory.used_memory_startup", "redis.tracking_total_keys",
            "redis.pubsub.channel.status", "redis.pubsub.connection.count", "redis.pubsub.pattern.status")

@pytest.fixture(autouse=True, scope="module")
def _redis_server():
    require_program(SERVER, "scripts/install-redis.sh")


class RedisServer:
    """A redis-server of our own: loopback, a free port, its own dir, nothing saved."""

    def __init__(self, password: str = "", tls: bool = False) -> None:
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="otelflow-redis-"))
        args = [SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.dir), "--save", "",
                "--appendonly", "no", "--daemonize", "no", "--logfile", str(self.dir / "redis.log")]
        if password:
            args += ["--requirepass", password]
        extra = {}
        if tls:  # a self-signed certificate for 127.0.0.1; TLS only
            self.cert = self.dir / "cert.pem"
            subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(self.dir / "key.pem"),
                            "-out", str(self.cert), "-days", "1", "-subj", "/CN=127.0.0.1",
                            "-addext", "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True)
            args[1:3] = ["--port", "0", "--tls-port", str(self.port), "--tls-cert-file", str(self.cert),
                         "--tls-key-file", str(self.dir / "key.pem"), "--tls-auth-clients", "no"]
            extra = {"ssl": True, "ssl_ca_certs": str(self.cert)}
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        self.client = redis.Redis(host="127.0.0.1", port=self.port, password=password or None, **extra)
        deadline = time.monotonic() + 10
        while True:
            try:
                self.client.ping()
                break
            except redis.ConnectionError:
                assert self.proc.poll() is None and time.monotonic() < deadline, "redis-server did not start"
                time.sleep(0.05)

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="module")
def server():
    s = RedisServer()
    s.client.mset({"a": 1, "b": 2, "c": 3})
    s.client.expire("a", 3600)
    two = redis.Redis(host="127.0.0.1", port=s.port, db=2)
    two.mset({"x": 1, "y": 2})
    two.close()
    yield s
    s.stop()


def _receivers(endpoint: str, interval: str = "1h") -> dict:
    return {"redis": {"endpoint": endpoint, "collection_interval": interval, "initial_delay": "0s",
                      "metrics": {name: {"enabled": True} for name in OPTIONAL},
                      "resource_attributes": {"server.address": {"enabled": True}, "server.port": {"enabled": True}}}}


def _scraped(requests) -> bool:
    return any("redis.uptime" in metric_names(r) for r in requests)


def _normalised(requests, port: int) -> dict:
    first = next(r for r in requests if "redis.uptime" in metric_names(r))
    got = shape([first], VALUE_KEYS, resource_value_keys=("redis.version", "server.address", "server.port"),
                stable=STABLE)
    return json.loads(json.dumps(got).replace(f'\\"{port}\\"', '\\"PORT\\"'))


def test_output_matches_otelcol_ref(server: RedisServer, tmp_path: Path):
    requests, _ = run_otelflow(_receivers(server.endpoint), tmp_path, _scraped)
    got = _normalised(requests, server.port)
    if RECORD or not GOLDEN.exists():
        if not ref_has("redis"):
            pytest.skip("no golden and otelcol-ref has no redis receiver")
        ref, _ = run_otelcol_ref(_receivers(server.endpoint), tmp_path, _scraped)
        GOLDEN.write_text(json.dumps(_normalised(ref, server.port), indent=1, sort_keys=True) + "\n")
    expected = json.loads(GOLDEN.read_text())
    assert got == expected


def test_start_time_is_the_servers_start(server: RedisServer, tmp_path: Path):
    requests, _ = run_otelflow(_receivers(server.endpoint), tmp_path, _scraped)
    uptime = int(server.client.info("server")["uptime_in_seconds"])
    for r in requests:
        for m in r.resource_metrics[0].scope_metrics[0].metrics:
            if m.name == "redis.uptime":
                dp = m.sum.data_points[0]
                assert abs((dp.time_unix_nano - dp.start_time_unix_nano) / 1e9 - dp.as_int) < 1.5
                assert abs(dp.as_int - uptime) <= 2


def test_refused_login_is_counted_logged_once_and_the_rest_keeps_serving(server: RedisServer, tmp_path: Path):
    locked = RedisServer(password="right")
    try:
        receivers = {**_receivers(server.endpoint, "400ms"),
                     "redis/locked": {"endpoint": locked.endpoint, "password": "wrong", "collection_interval": "400ms",
                                      "initial_delay": "0s"}}

        def three(requests) -> bool:
            return sum("redis.uptime" in metric_names(r) for r in requests) >= 3

        requests, log = run_otelflow(receivers, tmp_path, three, timeout=30)
    finally:
        locked.stop()
    errors = [line for line in log.splitlines() if "Error scraping metrics (scraper redis)" in line]
    assert len(errors) == 1, log
    assert "WRONGPASS" in errors[0] or "invalid" in errors[0].lower()
    versions = {a.value.string_value for r in requests for rm in r.resource_metrics for a in rm.resource.attributes
                if a.key == "server.port"}
    assert versions == {str(server.port)}  # only the good server's data went out


@pytest.mark.skipif(not shutil.which("openssl"), reason="openssl missing")
def test_tls_with_the_servers_ca_and_without(tmp_path: Path):
    secure = RedisServer(tls=True)
    try:
        receivers = {"redis": {"endpoint": secure.endpoint, "collection_interval": "1h", "initial_delay": "0s",
                               "tls": {"insecure": False, "ca_file": str(secure.cert)}},
                     "redis/untrusted": {"endpoint": secure.endpoint, "collection_interval": "1h", "initial_delay": "0s",
                                         "tls": {"insecure": False}}}
        requests, log = run_otelflow(receivers, tmp_path, _scraped, stop_after=lambda c: time.sleep(0.5))
    finally:
        secure.stop()
    assert sum("redis.uptime" in metric_names(r) for r in requests) == 1
    errors = [line for line in log.splitlines() if "Error scraping metrics (scraper redis)" in line]
    assert len(errors) == 1 and "CERTIFICATE_VERIFY_FAILED" in errors[0], log


def test_unreachable_server_is_bounded_and_keeps_retrying(tmp_path: Path):
    """Nothing listens: each scrape fails at once (refused), the collector stays up and keeps trying."""
    port = free_port()
    receivers = {"redis": {"endpoint": f"127.0.0.1:{port}", "collection_interval": "300ms", "initial_delay": "0s"}}
    from tests.process import Collector
    from tests.receivers.scrape_rig import config
    collector = Collector(config(receivers, tmp_path / "out.json")).start()
    try:
        time.sleep(2)
        assert collector.proc.poll() is None
        log = collector.output()
    finally:
        collector.stop()
    assert log.count("Error scraping metrics (scraper redis)") == 1, log


def test_info_parsing_follows_upstream():
    text = ("# Server\r\nredis_version:7.0.15\r\nredis_mode:standalone\r\nuptime_in_seconds:12\r\n"
            "executable:/a:b\r\nused_cpu_sys:1.5\r\nconnected_clients:x\r\nmem_fragmentation_ratio:1.25\r\n"
            "db0:keys=3,expires=1,avg_ttl=100\r\ndb1:broken\r\ncmdstat_get:calls=4,usec=10,usec_per_call=2.5\r\n"
            "latency_percentiles_usec_get:p50=1.003,p99=2.007,p99.9=3.001\r\nrole:slave\r\n")
    info = parse(text)
    assert "executable" not in info and info["redis_version"] == "7.0.15"
    from otelflow.receivers.redis.metadata import METADATA
    from otelflow.receivers.scraperhelper import new_builder
    from otelflow.core.component import ComponentID, Kind, Settings
    from otelflow.core.telemetry import Telemetry
    import logging
    cfg = Config.model_validate({"endpoint": "h:1", "metrics": {n: {"enabled": True} for n in OPTIONAL}})
    mb = new_builder("redis", cfg, METADATA, Settings(ComponentID("redis"), Kind.RECEIVER, Telemetry()))
    record(mb, 1, info, logging.getLogger("t"))
    points = {}
    for rm in mb.emit():
        for m in rm.scope_metrics[0].metrics:
            for dp in (m.sum if m.HasField("sum") else m.gauge).data_points:
                key = (m.name, tuple(sorted((a.key, a.value.string_value) for a in dp.attributes)))
                points[key] = dp.as_int if dp.HasField("as_int") else dp.as_double
    assert points[("redis.cpu.time", (("state", "sys"),))] == 1.5
    assert points[("redis.memory.fragmentation_ratio", ())] == 1.25
    assert ("redis.clients.connected", ()) not in points  # "x" is not an int: skipped, as upstream
    assert points[("redis.db.keys", (("db", "0"),))] == 3 and ("redis.db.keys", (("db", "1"),)) not in points
    assert points[("redis.cmd.calls", (("cmd", "get"),))] == 4
    assert points[("redis.cmd.latency", (("cmd", "get"), ("percentile", "p99")))] == pytest.approx(2.007e-6)
    assert points[("redis.role", (("role", "replica"),))] == 1
    assert points[("redis.mode", (("mode", "standalone"),))] == 1
