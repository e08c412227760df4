"""`otelflow validate` on the points where otelcol v0.161 decides differently from older otelflow."""

from __future__ import annotations

from pathlib import Path

import pytest

from otelflow.cli import main

PIPELINE = "service: {pipelines: {traces: {receivers: [otlp], exporters: [EXPORTER]}}}\n"


def _validate(tmp_path: Path, text: str, *flags: str) -> int:
    path = tmp_path / "config.yaml"
    path.write_text(text)
    return main(["validate", *flags, "--config", str(path)])


def test_removed_logging_exporter_names_debug(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = "receivers: {otlp: {protocols: {grpc: {}}}}\nexporters: {logging: {loglevel: debug}}\n"
    assert _validate(tmp_path, text + PIPELINE.replace("EXPORTER", "logging")) == 1
    err = capsys.readouterr().err
    assert 'exporters::logging: the exporter type "logging" was removed from otelcol in v0.111.0; use the "debug" exporter' in err


def test_deliberate_difference_is_a_warning_unless_strict(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = ("receivers: {otlp: {protocols: {http: {transport: unix, endpoint: /tmp/otelflow-test.sock}}}}\n"
            "exporters: {debug: {}}\n" + PIPELINE.replace("EXPORTER", "debug"))
    assert _validate(tmp_path, text) == 0
    out = capsys.readouterr()
    assert "configuration is valid" in out.out
    assert "warning: differs from otelcol: receivers::otlp::protocols::http::transport: otelcol listens on the unix socket" in out.err
    assert _validate(tmp_path, text, "--strict-upstream") == 1
    assert "not portable to otelcol (1 problem)" in capsys.readouterr().err


def test_comma_string_becomes_a_list_and_empty_telemetry_is_fine(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = ("receivers: {otlp: {protocols: {http: {cors: {allowed_origins: 'http://a,http://b'}}}}}\n"
            "exporters: {debug: {}}\n"
            "service:\n  telemetry:\n  pipelines: {traces: {receivers: [otlp], exporters: [debug]}}\n")
    assert _validate(tmp_path, text) == 0, capsys.readouterr().err


@pytest.mark.parametrize(("telemetry", "message"), [
    ("{metrics: {level: basic, readers: []}}", "metrics reader should exist when metric level is not none"),
    ("{metrics: {level: normal, views: [{selector: {}, stream: {}}]}}", "views can only be set when"),
])
def test_telemetry_rules(tmp_path: Path, capsys: pytest.CaptureFixture[str], telemetry: str, message: str) -> None:
    text = ("receivers: {otlp: {protocols: {grpc: {}}}}\nexporters: {debug: {}}\n"
            f"service: {{telemetry: {telemetry}, pipelines: {{traces: {{receivers: [otlp], exporters: [debug]}}}}}}\n")
    assert _validate(tmp_path, text) == 1
    assert "service::telemetry: " in (err := capsys.readouterr().err) and message in err
