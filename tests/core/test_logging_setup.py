"""service::telemetry::logs: otelcol's zap lines (console and JSON), levels, outputs, fields, sampling."""

from __future__ import annotations

import json
import logging
import re
import signal
import socket
import subprocess
import sys
import time

import pytest

from otelflow.config.errors import ConfigError
from otelflow.core import logging_setup
from tests.backends import free_port
from tests.process import Collector

ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}(Z|[+-]\d{4})$")


def config(port: int, logs: str) -> str:
    return f"""
receivers:
  otlp:
    protocols:
      grpc: {{endpoint: 127.0.0.1:{port}}}
processors:
  memory_limiter: {{check_interval: 100ms, limit_mib: 4000}}
exporters:
  debug: {{}}
  debug/unused: {{}}
service:
  telemetry:
    metrics: {{level: none}}
    logs: {logs}
  pipelines:
    traces: {{receivers: [otlp], processors: [memory_limiter], exporters: [debug]}}
"""


def _wait_port(port: int, proc: subprocess.Popen, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while True:
        assert proc.poll() is None, "otelflow exited"
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            assert time.monotonic() < deadline, "otelflow did not listen"
            time.sleep(0.05)


def test_json_lines_go_to_a_file_and_stdout_filtered_by_level_with_initial_fields(tmp_path):
    port, out = free_port(), tmp_path / "otelflow.jsonl"
    cfg = tmp_path / "c.yaml"
    cfg.write_text(config(port, f"{{encoding: json, level: warn, output_paths: [{out}, stdout], "
                                f"initial_fields: {{deployment: blue, shard: 3}}}}"))
    proc = subprocess.Popen([sys.executable, "-m", "otelflow", "--config", str(cfg)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _wait_port(port, proc)
        proc.send_signal(signal.SIGTERM)
        stdout, stderr = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 0, stderr
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert lines and stdout.splitlines() == out.read_text().splitlines()  # both outputs, same lines
    assert stderr == ""  # nothing goes to the default output any more
    for line in lines:
        assert list(line)[:4] == ["level", "ts", "caller", "msg"]  # zap's key order
        assert line["level"] in ("warn", "error") and ISO.match(line["ts"])
        assert line["deployment"] == "blue" and line["shard"] == 3
        assert line["resource"]["service.name"] == "otelflow" and line["resource"]["service.instance.id"]
    unused = [ln for ln in lines if "debug/unused" in ln["msg"]]
    assert len(unused) == 1 and unused[0]["caller"].startswith("core/service.py:")
    assert not any("Everything is ready" in ln["msg"] for ln in lines)  # info is below warn


def test_console_is_the_default_and_keeps_the_lines_tests_and_people_grep_for():
    col = Collector(config(free_port(), "{level: debug, sampling: {enabled: false}}")).start()
    time.sleep(0.5)
    assert col.stop() == 0
    lines = col.output().splitlines()
    ready = next(ln for ln in lines if "Everything is ready" in ln).split("\t")
    assert ISO.match(ready[0]) and ready[1] == "info" and ready[2].startswith("core/service.py:")
    assert ready[3] == "Everything is ready. Begin running and processing data."
    assert json.loads(ready[4])["resource"]["service.name"] == "otelflow"
    # debug lines of a component carry its ID and kind as upstream names them
    checks = [ln.split("\t") for ln in lines if "\tdebug\t" in ln and "Currently used memory" in ln]
    assert len(checks) >= 3
    fields = json.loads(checks[0][4])
    assert fields["otelcol.component.id"] == "memory_limiter" and fields["otelcol.component.kind"] == "processor"


def test_an_output_that_cannot_be_opened_stops_the_start_with_upstreams_message(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(config(free_port(), "{output_paths: ['http://example.invalid/logs']}"))
    run = subprocess.run([sys.executable, "-m", "otelflow", "--config", str(cfg)], capture_output=True, text=True, timeout=60)
    assert run.returncode == 1
    assert 'Error: failed to create logger: open sink "http://example.invalid/logs": no sink found for scheme "http"' in run.stderr


def test_bad_keys_are_config_errors_with_upstreams_messages():
    with pytest.raises(ConfigError) as err:
        logging_setup.parse({"logs": {"level": "loud", "encoding": "xml", "colour": True}})
    issues = sorted(map(str, err.value.issues))
    assert issues[0].startswith("service::telemetry::logs::colour: unknown key (valid: development, ")
    assert issues[1:] == [
        'service::telemetry::logs::encoding: no encoder registered for name "xml"',
        'service::telemetry::logs::level: unrecognized level: "loud"',
    ]
    cfg = logging_setup.parse({"logs": {"level": "WARN", "sampling": {"initial": 2}}})
    assert cfg.threshold == logging.WARNING and cfg.sampling.tick == 10 and cfg.sampling.thereafter == 100
    defaults = logging_setup.parse({})
    assert (defaults.level, defaults.encoding, defaults.output_paths, defaults.error_output_paths) == (
        "info", "console", ["stderr"], ["stderr"])


def test_the_sampler_passes_the_first_lines_of_a_tick_then_every_nth():
    s = logging_setup.Sampler(tick=1.0, initial=3, thereafter=4)
    passed = [n for n in range(1, 16) if s.allow(logging.INFO, "same", 100.0)]
    assert passed == [1, 2, 3, 7, 11, 15]
    assert s.allow(logging.INFO, "other", 100.0)  # counted per message
    assert s.allow(logging.INFO, "same", 101.5)  # a new tick starts over
    drop_all = logging_setup.Sampler(tick=1.0, initial=1, thereafter=0)
    assert [drop_all.allow(logging.INFO, "m", 5.0) for _ in range(3)] == [True, False, False]


@pytest.fixture
def root_logging():
    """configure() replaces the root handlers: give pytest's back afterwards."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    logging_setup.shutdown()
    for h in list(root.handlers):
        root.removeHandler(h)
    for h in handlers:
        root.addHandler(h)
    root.setLevel(level)


def test_component_fields_sampling_and_stacktraces_in_process(tmp_path, root_logging):
    out = tmp_path / "log.jsonl"
    cfg = logging_setup.parse({"logs": {"encoding": "json", "output_paths": [f"file://{out}"],
                                        "sampling": {"initial": 2, "thereafter": 5}}})
    logging_setup.configure(cfg, {"service.name": "t"})
    exporter = logging.getLogger("otelflow.exporter.otlphttp/tempo")
    for i in range(12):
        exporter.info("Exporting failed. Will retry", extra={"otelcol_fields": {"attempt": i}})
    exporter.error("Dropping data")
    try:
        raise ValueError("bad frame")
    except ValueError:
        logging.getLogger("otelflow.service").exception("decode failed")
    logging.getLogger("asyncio").debug("library chatter")  # below info, not the collector's
    logging_setup.shutdown()
    lines = [json.loads(ln) for ln in out.read_text().splitlines()]
    retries = [ln["attempt"] for ln in lines if ln["msg"] == "Exporting failed. Will retry"]
    assert retries == [0, 1, 6, 11]  # first 2, then every 5th
    drop = next(ln for ln in lines if ln["msg"] == "Dropping data")
    assert drop["otelcol.component.id"] == "otlphttp/tempo" and drop["otelcol.component.kind"] == "exporter"
    assert drop["level"] == "error" and "test_component_fields_sampling_and_stacktraces_in_process" in drop["stacktrace"]
    failed = next(ln for ln in lines if ln["msg"] == "decode failed")
    assert failed["error"] == "bad frame" and "ValueError: bad frame" in failed["stacktrace"]
    assert all(ln["resource"] == {"service.name": "t"} for ln in lines)
    assert not any("chatter" in ln["msg"] for ln in lines)


def test_disable_caller_and_stacktrace_and_resource(tmp_path, root_logging):
    out = tmp_path / "log.txt"
    cfg = logging_setup.parse({"logs": {"output_paths": [str(out)], "disable_caller": True,
                                        "disable_stacktrace": True, "disable_zap_resource": True}})
    logging_setup.configure(cfg)
    logging.getLogger("otelflow.service").error("plain")
    logging_setup.shutdown()
    (line,) = out.read_text().splitlines()
    cols = line.split("\t")
    assert cols[1:] == ["error", "plain"]  # no caller, no fields, no stack
