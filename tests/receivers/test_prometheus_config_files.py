"""The ``prometheus`` receiver's checks of files a config names, as upstream's Validate does them:
``scrape_config_files`` read and scraped, client TLS cert/key pairing and existence, authorization
credentials files, and ``api_server``'s transport."""

from __future__ import annotations

import asyncio
import json
import time

import pytest

from otelflow.config.errors import ConfigError
from otelflow.config.model import validate
from otelflow.receivers.prometheus import Config
from tests.conftest import running
from tests.receivers import prometheus_rig as rig

PATH = "receivers::prometheus"


def error_of(data: dict) -> str:
    with pytest.raises(ConfigError) as info:
        validate(Config, data, PATH)
    return str(info.value)


def job(**extra) -> dict:
    return {"config": {"scrape_configs": [{"job_name": "a", **extra}]}}


def test_scrape_config_files_are_read_by_glob_after_inline_jobs(tmp_path):
    (tmp_path / "one.yml").write_text("scrape_configs:\n  - job_name: from_one\n    scrape_interval: 7s\n")
    (tmp_path / "two.yml").write_text("scrape_configs:\n  - job_name: from_two\n")
    cfg = validate(Config, {"config": {"global": {"scrape_interval": "3s"}, "scrape_configs": [{"job_name": "inline"}],
                                       "scrape_config_files": [str(tmp_path / "*.yml")]}}, PATH)
    jobs = [(sc.job_name, sc.scrape_interval) for sc in cfg.config.scrape_configs]
    assert [j for j, _ in jobs] == ["inline", "from_one", "from_two"]
    assert dict(jobs)["from_one"] != dict(jobs)["from_two"]  # the file's own interval, the global one otherwise


def test_scrape_config_files_errors(tmp_path):
    (tmp_path / "dup.yml").write_text("scrape_configs:\n  - job_name: a\n")
    assert 'found multiple scrape configs with job name "a"' in error_of(
        {"config": {"scrape_configs": [{"job_name": "a"}], "scrape_config_files": [str(tmp_path / "dup.yml")]}})
    (tmp_path / "extra.yml").write_text("global: {}\nscrape_configs: []\n")
    assert "may hold only scrape_configs" in error_of({"config": {"scrape_config_files": [str(tmp_path / "extra.yml")]}})
    (tmp_path / "bad.yml").write_text("scrape_configs:\n  - job_name: b\n    scrape_intervall: 1s\n")
    assert "failed to get scrape configs" in error_of({"config": {"scrape_config_files": [str(tmp_path / "bad.yml")]}})
    # a glob matching nothing is valid, as upstream: the files may appear later
    cfg = validate(Config, {"config": {"scrape_config_files": [str(tmp_path / "none-*.yml")]}}, PATH)
    assert cfg.config.scrape_configs == []


async def test_job_from_scrape_config_file_is_scraped(tmp_path):
    target = rig.ScriptedTarget([{"body": "from_file_metric 42\n"}])
    (tmp_path / "jobs.yml").write_text(
        f"scrape_configs:\n  - job_name: filed\n    scrape_interval: 1s\n"
        f"    static_configs: [{{targets: ['127.0.0.1:{target.port}']}}]\n")
    out = tmp_path / "out.jsonl"
    config = f"""
receivers:
  prometheus:
    config:
      scrape_config_files: ["{tmp_path}/*.yml"]
exporters:
  file: {{path: "{out}", flush_interval: 100ms}}
service:
  pipelines:
    metrics: {{receivers: [prometheus], exporters: [file]}}
"""
    seen: list[float] = []
    with target:
        async with running(config):
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline and not seen:
                await asyncio.sleep(0.3)
                seen = _values(out, "from_file_metric")
    assert seen and seen[0] == 42.0
    assert target.requests


def _values(out, name: str) -> list[float]:
    if not out.exists():
        return []
    return [p["asDouble"] for line in out.read_text().splitlines() if line.strip()
            for rm in json.loads(line)["resourceMetrics"] for sm in rm["scopeMetrics"]
            for m in sm["metrics"] if m["name"] == name for p in m["gauge"]["dataPoints"]]


@pytest.mark.parametrize(("tls", "message"), [
    ({"cert_file": "c"}, "exactly one of key or key_file must be configured when a client certificate is configured"),
    ({"key": "k"}, "exactly one of cert or cert_file must be configured when a client key is configured"),
    ({"cert": "c", "cert_file": "c", "key": "k"}, "at most one of cert, cert_file & cert_ref must be configured"),
    ({"ca": "x", "ca_file": "y"}, "at most one of ca, ca_file & ca_ref must be configured"),
    ({"cert_file": "/nonexistent-cert", "key": "k"}, 'error checking client cert file "/nonexistent-cert": stat /nonexistent-cert: no such file or directory'),
    ({"cert": "c", "key_file": "/nonexistent-key"}, 'error checking client key file "/nonexistent-key"'),
])
def test_tls_config_as_prometheus_and_upstream_check_it(tls, message):
    assert message in error_of(job(tls_config=tls))


def test_existing_cert_key_and_credentials_files_pass(tmp_path):
    for name in ("cert", "key", "token"):
        (tmp_path / name).write_text("x")
    cfg = validate(Config, job(tls_config={"cert_file": str(tmp_path / "cert"), "key_file": str(tmp_path / "key")},
                               authorization={"credentials_file": str(tmp_path / "token")}), PATH)
    assert cfg.config.scrape_configs[0].tls_config.key_file == str(tmp_path / "key")
    assert 'error checking authorization credentials file "/nonexistent-token"' in error_of(
        job(authorization={"credentials_file": "/nonexistent-token"}))


def test_refused_discovery_still_has_its_tls_checked_first():
    sd = {"kubernetes_sd_configs": [{"role": "pod", "tls_config": {"cert_file": "c"}}]}
    assert "exactly one of key or key_file" in error_of(job(**sd))
    sd = {"kubernetes_sd_configs": [{"role": "pod"}]}
    assert "kubernetes_sd_configs: this service discovery is not supported by otelflow" in error_of(job(**sd))


def test_api_server_block():
    assert 'unsupported transport type "invalid"' in error_of({**job(), "api_server": {"server_config": {"transport": "invalid"}}})
    cfg = validate(Config, {**job(), "api_server": {"enabled": False, "server_config": {"endpoint": "localhost:9090"}}}, PATH)
    assert cfg.api_server is not None and not cfg.api_server.enabled
    assert "api_server is not supported by otelflow" in error_of({**job(), "api_server": {"enabled": True}})
