"""``otelflow doctor --config``: each bad config yields exactly its finding, clean configs none, and the
real CLI prints and exits as documented."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from otelflow import cli
from otelflow.config import ConfigError, collector, loader
from otelflow.core.registry import default_registry
from otelflow.defaults import DEFAULT_CONFIG
from otelflow.doctor.findings import Severity
from otelflow.doctor.lint import INVALID, RULE_FAILED, lint_tree
from otelflow.doctor.locate import locate
from otelflow.doctor.rules import Rule, all_rules
from tests.backends import free_port

ROOT = Path(__file__).parents[2]
DATA = Path(__file__).parent / "testdata"
BAD = sorted((DATA / "bad").glob("*.yaml"))
SEED_COPY = DATA / "seed-otel-collector-config.yaml"
SEED = ROOT.parent / "shared" / "seed" / "otel-collector-config.yaml"


def lint(*configs: Path | str, sets: tuple[str, ...] = ()):
    args = argparse.Namespace(config=[str(c) for c in configs], set=list(sets))
    return lint_tree(cli.load_tree(args), default_registry, cli.parse_tree)


def expectation(path: Path) -> tuple[str, str, str]:
    """The first line of each bad config: ``# expect: RULE SEVERITY YAML_PATH``."""
    first = path.read_text().splitlines()[0]
    assert first.startswith("# expect: "), f"{path.name} does not say what it expects"
    rule, severity, yaml_path = first.removeprefix("# expect: ").split()
    return rule, severity, yaml_path


def doctor(*argv: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    return subprocess.run([sys.executable, "-m", "otelflow", "doctor", *argv], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("path", BAD, ids=lambda p: p.stem)
def test_bad_config_yields_exactly_its_finding(path: Path):
    rule, severity, yaml_path = expectation(path)
    findings = lint(path)
    assert [(f.rule, f.path) for f in findings] == [(rule, yaml_path)]
    finding = findings[0]
    assert finding.severity.value == severity
    assert finding.message and finding.why and finding.fix


def test_every_rule_has_a_bad_config():
    covered = {expectation(p)[0] for p in BAD}
    assert set(all_rules()) | {INVALID} == covered


def test_clean_configs_have_no_findings(tmp_path: Path):
    assert lint(DATA / "clean.yaml") == []
    default = tmp_path / "default.yaml"
    default.write_text(DEFAULT_CONFIG)
    assert lint(default) == []  # the all-in-one: loopback only, nothing to warn about


def test_two_tiers_joined_over_loopback_are_not_a_loop():
    assert lint(DATA / "two-tiers-one-file.yaml") == []
    # ... until the sampling tier's receiver is the one the load balancer's own pipeline reads
    looped = lint(DATA / "two-tiers-one-file.yaml", sets=("receivers::otlp::protocols::grpc::endpoint=localhost:14317",
                                                          "receivers::otlp/sampling::protocols::grpc::endpoint=localhost:24317"))
    assert [(f.rule, f.path) for f in looped] == [("exporter-loop", "exporters::loadbalancing::resolver::static::hostnames::0")]


def test_a_failing_rule_is_reported_and_the_others_still_run(monkeypatch):
    def broken(ctx):
        raise KeyError("surprise")
        yield  # pragma: no cover

    monkeypatch.setitem(all_rules(), "broken-rule", Rule("broken-rule", Severity.ERROR, "why", "fix", broken))
    findings = lint(DATA / "bad" / "receiver-open.yaml")
    assert [(f.rule, f.severity) for f in findings] == [(RULE_FAILED, Severity.WARNING), ("receiver-open", Severity.WARNING)]
    assert "broken-rule" in findings[0].message and "surprise" in findings[0].message


def test_seed_config_has_no_error_level_finding():
    if SEED.exists():  # the copy in testdata is the seed's file, verbatim
        assert SEED_COPY.read_text() == SEED.read_text()
    findings = lint(SEED_COPY)
    assert not [f for f in findings if f.severity is Severity.ERROR]
    # what it does get: OTLP on every interface without auth/TLS, and no health_check for probes
    assert sorted((f.rule, f.path) for f in findings) == [
        ("health-check-missing", "service::extensions"),
        ("receiver-open", "receivers::otlp::protocols::grpc::endpoint"),
        ("receiver-open", "receivers::otlp::protocols::http::endpoint"),
    ]


@pytest.mark.parametrize("name, fix", [
    ("memory-limiter-behind-batch", "service::pipelines::traces::processors=[memory_limiter, batch]"),
    ("loadbalancing-not-by-trace-id", "exporters::loadbalancing::routing_key=traceID"),
    ("spanmetrics-unbounded-dimension", "connectors::spanmetrics::dimensions=[{name: http.route}]"),
    ("receiver-open", "receivers::otlp::protocols::grpc::endpoint=localhost:4317"),
    ("exporter-loop", "exporters::otlphttp/self::endpoint=https://archive.example.com"),
])
def test_applying_the_fix_clears_the_finding(name: str, fix: str):
    assert lint(DATA / "bad" / f"{name}.yaml")
    assert lint(DATA / "bad" / f"{name}.yaml", sets=(fix,)) == []


def test_every_validation_problem_becomes_an_error_finding():
    sets = ("processors::batch::send_batch_max_size=100", "processors::memory_limiter::check_interval=0s")
    findings = lint(DATA / "clean.yaml", sets=sets)
    with pytest.raises(ConfigError) as err:
        collector.parse(loader.load([str(DATA / "clean.yaml")], sets), default_registry)
    assert sorted((f.path, f.message) for f in findings) == sorted((i.path, i.message) for i in err.value.issues)
    assert {(f.rule, f.severity) for f in findings} == {(INVALID, Severity.ERROR)}
    assert {f.path for f in findings} == {"processors::batch", "processors::memory_limiter"}


def test_cli_json_for_the_seed_exits_zero():
    run = doctor("--config", str(SEED_COPY), "--format", "json")
    assert run.returncode == 0, run.stderr
    findings = json.loads(run.stdout)
    assert {f["severity"] for f in findings} == {"warning", "info"}
    assert all(set(f) == {"rule", "severity", "path", "message", "why", "fix", "location"} for f in findings)
    seed = str(SEED_COPY)
    assert {f["path"]: f["location"] for f in findings} == {
        "receivers::otlp::protocols::grpc::endpoint": f"{seed}:5",
        "receivers::otlp::protocols::http::endpoint": f"{seed}:6",
        "service::extensions": f"{seed}:38",  # not written: its closest written ancestor, service
    }


def test_cli_sorts_by_severity_and_exits_one_on_errors():
    run = doctor("--config", str(DATA / "many.yaml"), "--format", "json")
    assert run.returncode == 1, run.stderr
    findings = json.loads(run.stdout)
    ranks = [("error", "warning", "info").index(f["severity"]) for f in findings]
    assert ranks == sorted(ranks)
    assert {(f["rule"], f["path"]) for f in findings} == {
        ("spanmetrics-unbounded-dimension", "connectors::spanmetrics::dimensions::0::name"),
        ("receiver-open", "receivers::otlp::protocols::grpc::endpoint"),
        ("debug-exporter-detailed", "exporters::debug::verbosity"),
        ("batch-missing", "service::pipelines::traces::processors"),
        ("batch-missing", "service::pipelines::metrics::processors"),
        ("health-check-missing", "service::extensions"),
        ("spanmetrics-exemplars-off", "connectors::spanmetrics::exemplars"),
    }

    text = doctor("--config", "tests/doctor/testdata/many.yaml")
    assert text.returncode == 1
    blocks = text.stdout.strip().split("\n\n")
    assert blocks[0].splitlines()[0] == ("ERROR [spanmetrics-unbounded-dimension] connectors::spanmetrics::dimensions::0::name"
                                         "  (tests/doctor/testdata/many.yaml:10)")
    assert [line.split(":")[0].strip() for line in blocks[0].splitlines()[1:]] == ["what", "why", "fix"]
    assert blocks[-1] == "7 findings: 1 error, 4 warnings, 2 info"


def test_cli_invalid_config_and_usage_errors(tmp_path: Path):
    broken = tmp_path / "broken.yaml"
    broken.write_text("receivers: [otlp\n")
    run = doctor("--config", str(broken), "--format", "json")
    assert run.returncode == 1
    [finding] = json.loads(run.stdout)
    assert finding["rule"] == INVALID and "invalid YAML" in finding["message"]

    assert doctor().returncode == 2
    both = doctor("--config", str(SEED_COPY), "--url", "http://127.0.0.1:4380")
    assert both.returncode == 2 and "not both" in both.stderr


@pytest.mark.skipif(not (ROOT / "src/otelflow/doctor/live.py").exists(), reason="the live doctor is not in this tree yet")
def test_cli_url_asks_the_live_doctor():
    run = doctor("--url", f"http://127.0.0.1:{free_port()}")  # nothing listens there
    assert run.returncode == 2
    assert "/api/v1/doctor" in run.stdout + run.stderr


def test_every_rule_is_documented():
    text = (ROOT / "docs" / "doctor.md").read_text()
    missing = [rule for rule in [*all_rules(), INVALID, RULE_FAILED] if f"`{rule}`" not in text]
    assert not missing


def test_locations_follow_the_merge_and_set_overrides():
    ts, open_ = DATA / "bad" / "tail-sampling-num-traces.yaml", DATA / "bad" / "receiver-open.yaml"
    sets = ("processors::tail_sampling::decision_wait=1s",)
    located = {f.path: f.location for f in locate(lint(ts, open_, sets=sets), [str(ts), str(open_)], sets)}
    assert located == {
        "processors::tail_sampling::decision_wait": "--set processors::tail_sampling::decision_wait",
        "processors::tail_sampling::num_traces": f"{ts}:8",
        "receivers::otlp::protocols::grpc::endpoint": f"{open_}:3",  # the later file wins the merge
        "processors::tail_sampling": f"{ts}:7",  # unused once receiver-open.yaml replaced the pipeline
    }


@pytest.mark.parametrize("mode,flagged", [("auto", False), ("always", False), ("never", True)])
def test_an_exposed_web_ui_is_flagged_only_without_its_token_login(tmp_path, mode, flagged):
    config = tmp_path / "ui.yaml"
    config.write_text(f"""
receivers: {{otlp: {{protocols: {{grpc: {{endpoint: localhost:4317}}}}}}}}
exporters: {{embedded_store: {{store: embedded_store}}}}
extensions:
  embedded_store: {{directory: {tmp_path}}}
  web_ui: {{endpoint: 0.0.0.0:4380, store: embedded_store, auth: {{mode: {mode}}}}}
service:
  extensions: [embedded_store, web_ui]
  pipelines: {{traces: {{receivers: [otlp], exporters: [embedded_store]}}}}
""")
    findings = lint(config)
    found = [f for f in findings if f.rule == "admin-endpoint-exposed"]
    assert bool(found) is flagged, findings
