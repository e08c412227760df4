"""The ``statsd`` receiver against the real ``statsd`` client (and DogStatsD lines over real sockets).

The same traffic goes to otelflow and, where it is built, to otelcol-ref (v0.161.0); both write
what they flush with their ``file`` exporter, and the normalised output (timestamps that are "now",
the scope version and Go's random map order taken out) must equal the golden recorded from
otelcol-ref in ``testdata/statsd/``. Set ``OTELFLOW_RECORD_GOLDENS=1`` with otelcol-ref present to
record them again. Malformed lines are counted, logged once per interval, and never stop the socket.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import random
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Sequence

import pytest
import statsd
from google.protobuf.json_format import MessageToDict
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest

from otelflow.config.model import validate
from otelflow.core.component import ComponentID, Host, Kind, Settings, Signal
from otelflow.core.telemetry import Telemetry
from otelflow.pdata import otlpjson
from otelflow.receivers.statsd import Config, StatsdReceiver
from otelflow.pdata.expohisto import ExpoHistogram
from otelflow.receivers.statsd.parser import StatsdParseError, parse_line
from tests.conformance.rig import OTELCOL_REF
from tests.process import Collector

HERE = Path(__file__).parent / "testdata" / "statsd"
RECORD = os.environ.get("OTELFLOW_RECORD_GOLDENS") == "1"
DAY_NS = 86_400 * 10**9

# receiver settings per golden; the traffic is the same for each
CASES = {
    "defaults": {},
    "observers": {
        "enable_metric_type": True,
        "enable_simple_tags": True,
        "is_monotonic_counter": True,
        "timer_histogram_mapping": [
            {"statsd_type": "timer", "observer_type": "summary", "summary": {"percentiles": [0, 50, 99, 100]}},
            {"statsd_type": "histogram", "observer_type": "histogram", "histogram": {"max_size": 10}},
            {"statsd_type": "distribution", "observer_type": "histogram",
             "histogram": {"explicit_buckets": [{"matcher_pattern": "^dist\\.", "buckets": [1, 5, 10]}]}},
        ],
    },    # both clients in one group; fractional counters kept
    "float_counters_one_group": {"counter_type": "float", "ignore_host": True, "enable_metric_type": True},
    # upstream's gate makes counters monotonic by default; a value in the config still wins
    "monotonic_gate": {},
    "monotonic_gate_set_false": {"is_monotonic_counter": False},
}
GROUPS = {"float_counters_one_group": 1}
MONOTONIC_GATE = "receiver.statsd.monotonicCounterDefault"
# --feature-gates per golden, given to otelflow and otelcol-ref alike
GATES = {"monotonic_gate": [f"--feature-gates=+{MONOTONIC_GATE}"],
         "monotonic_gate_set_false": [f"--feature-gates={MONOTONIC_GATE}"]}

# DogStatsD lines the statsd client cannot write (tags, container ID, timestamps, simple tags)
DOGSTATSD = "\n".join([
    "dog.requests:3|c|#env:prod,region:eu",
    "dog.requests:2|c|#region:eu,env:prod",
    "dog.requests:1|c|@0.25|#env:dev",
    "dog.temp:21.5|g|#room:a|c:container-42",
    "dog.temp:+1.25|g|#room:a|c:container-42",
    "dog.flag:1|g|#beta",
    "dog.at:7|c|T1700000000",
    "dog.lat:5|h|#ep:/a",
    "dog.lat:500|h|#ep:/a",
    "dog.lat:0|h|#ep:/a",
    "dog.lat:-3|h|#ep:/a",
    "dist.size:0.5|d",
    "dist.size:7|d|@0.5",
    "dist.size:70|d",
    "other.size:3|d",
    "dog.bad:1|s",
    "dog.bad:nope|c",
])


def send_traffic(port: int) -> None:
    """One datagram from the statsd client (seeded: its sampling draws the same each run), one of
    DogStatsD lines from another socket: two client addresses, two resources."""
    random.seed(20)
    client = statsd.StatsClient("127.0.0.1", port, prefix="app", maxudpsize=8192)
    with client.pipeline() as pipe:
        pipe.incr("hits")
        pipe.incr("hits", 4)
        pipe.incr("sampled", 2, rate=0.5)
        pipe.decr("stock", 3)
        pipe.gauge("load", 0.75)
        pipe.gauge("load", 1.25)
        pipe.gauge("queue", 10)
        pipe.gauge("queue", -4, delta=True)
        pipe.gauge("queue", 2, delta=True)
        for ms in (12.5, 3, 40, 7.25, 3):
            pipe.timing("db.query", ms)
        pipe.timing("db.query", 100, rate=0.99)
        pipe.set("users", "alice")  # upstream has no sets: a line it rejects
    client.close()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as raw:
        raw.sendto(DOGSTATSD.encode(), ("127.0.0.1", port))


def _normal_ts(ns: int) -> int:
    return 0 if abs(ns - time.time_ns()) < DAY_NS else ns


def normalise(requests: list[ExportMetricsServiceRequest]) -> list:
    """Per client address (one ResourceMetrics each), its metrics sorted, "now" timestamps zeroed."""
    groups = []
    for request in requests:
        for rm in request.resource_metrics:
            assert not rm.resource.attributes, "upstream puts nothing in the resource"
            metrics = []
            for sm in rm.scope_metrics:
                for m in sm.metrics:
                    for field in ("gauge", "sum", "summary", "histogram", "exponential_histogram"):
                        if m.HasField(field):
                            for dp in getattr(m, field).data_points:
                                dp.time_unix_nano = _normal_ts(dp.time_unix_nano)
                                dp.start_time_unix_nano = _normal_ts(dp.start_time_unix_nano)
                    entry = MessageToDict(m)
                    entry["scope"] = sm.scope.name
                    metrics.append(entry)
            groups.append(sorted(metrics, key=lambda e: json.dumps(e, sort_keys=True)))
    return sorted(groups, key=lambda g: json.dumps(g, sort_keys=True))


def _config(port: int, out: Path, settings: dict) -> str:
    receiver = {"endpoint": f"127.0.0.1:{port}", "aggregation_interval": "1s", **settings}
    return json.dumps({
        "receivers": {"statsd": receiver},
        "exporters": {"file": {"path": str(out), "flush_interval": "100ms"}},
        "service": {"telemetry": {"metrics": {"level": "none"}},
                    "pipelines": {"metrics": {"receivers": ["statsd"], "exporters": ["file"]}}},
    })


def _udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _read(out: Path, complete: bool = True) -> list[ExportMetricsServiceRequest]:
    """The file exporter's JSON lines; while it still writes, a last half line is left for later."""
    if not out.exists():
        return []
    lines = out.read_text().splitlines(keepends=True)
    if not complete and lines and not lines[-1].endswith("\n"):
        lines.pop()
    return [otlpjson.decode(line.encode(), ExportMetricsServiceRequest) for line in lines if line.strip()]


def _wait_for_groups(out: Path, groups: int, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if sum(len(r.resource_metrics) for r in _read(out, complete=False)) >= groups:
            time.sleep(0.3)
            return
        time.sleep(0.1)


def run_otelflow(settings: dict, tmp: Path, groups: int = 2, args: Sequence[str] = ()) -> list:
    port, out = _udp_port(), tmp / "otelflow.json"
    collector = Collector(_config(port, out, settings), *args).start()
    try:
        send_traffic(port)
        _wait_for_groups(out, groups)
    finally:
        collector.stop()
    return normalise(_read(out))


def run_otelcol_ref(settings: dict, tmp: Path, groups: int = 2, args: Sequence[str] = ()) -> list:
    port, out, config, log = _udp_port(), tmp / "ref.json", tmp / "ref.yaml", tmp / "ref.log"
    config.write_text(_config(port, out, settings))
    with open(log, "wb") as sink:
        proc = subprocess.Popen([str(OTELCOL_REF), "--config", str(config), *args], stdout=sink,
                                stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 20
            while b"Everything is ready" not in log.read_bytes():
                assert proc.poll() is None and time.monotonic() < deadline, log.read_text()[-3000:]
                time.sleep(0.05)
            send_traffic(port)
            _wait_for_groups(out, groups)
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(30)
    return normalise(_read(out))


def _ref_has_statsd() -> bool:
    if not OTELCOL_REF.exists():
        return False
    listing = subprocess.run([str(OTELCOL_REF), "components"], capture_output=True, text=True, timeout=30).stdout
    return "name: statsd" in listing


@pytest.mark.parametrize("case", sorted(CASES))
def test_output_matches_otelcol_ref(case: str, tmp_path: Path):
    golden = HERE / f"{case}.json"
    groups, args = GROUPS.get(case, 2), GATES.get(case, [])
    got = run_otelflow(CASES[case], tmp_path, groups, args)
    if RECORD or not golden.exists():
        if not _ref_has_statsd():
            pytest.skip(f"no golden {golden.name} and {OTELCOL_REF} has no statsd receiver to record one")
        recorded = run_otelcol_ref(CASES[case], tmp_path, groups, args)
        golden.write_text(json.dumps(recorded, indent=1, sort_keys=True) + "\n")
    expected = json.loads(golden.read_text())
    assert len(got) == groups, got
    assert got == expected


@pytest.mark.skipif(not _ref_has_statsd(), reason=f"{OTELCOL_REF} is missing or has no statsd receiver")
def test_golden_is_what_otelcol_ref_writes_now(tmp_path: Path):
    """The goldens are otelcol-ref's output, checked live where the binary is built."""
    expected = json.loads((HERE / "observers.json").read_text())
    assert run_otelcol_ref(CASES["observers"], tmp_path) == expected


# -- the parser and histogram on their own -------------------------------------------------------

@pytest.mark.parametrize("line, message", [
    ("no_pipe", "invalid message format: no_pipe"),
    ("name|c", "invalid <name>:<value> format: name"),
    (":1|c", "empty metric name"),
    ("a:|c", "empty metric value"),
    ("a:1|s", "unsupported metric type: s"),
    ("a:1|c|@x", "parse sample rate: x"),
    ("a:1|c|#k", 'invalid tag format: "k"'),
    ("a:1|c|#:v", 'invalid tag format: ":v"'),
    ("a:1|ms|T10", "only GAUGE and COUNT metrics support a timestamp"),
    ("a:1|c|T-1", "invalid timestamp: -1"),
    ("a:1|c|x", "unrecognized message part: x"),
    ("a:1_0|c", "parse metric value string: 1_0"),
    ("a: 1|c", "parse metric value string:  1"),
    ("a:1e999|g", "parse metric value string: 1e999"),
    ("a:NaN|g", 'discarding metric "a": invalid NaN value'),
    ("a:-inf|g", 'discarding metric "a": invalid infinite value'),
])
def test_rejected_lines_carry_upstream_messages(line: str, message: str):
    with pytest.raises(StatsdParseError) as caught:
        parse_line(line, enable_metric_type=False, enable_simple_tags=False)
    assert str(caught.value) == message


def test_line_parts():
    line = parse_line("a.b:-2.5|g|@0.5|#z:1,a:2,z:3|c:cid|T5", enable_metric_type=True, enable_simple_tags=False)
    assert line.name == "a.b" and line.type == "g" and line.value == -2.5 and line.addition
    assert line.attrs == (("a", "2"), ("container.id", "cid"), ("metric_type", "gauge"), ("z", "3"))
    assert line.sample_rate == 0.5 and line.timestamp_ns == 5 * 10**9
    assert parse_line("a:0x1p-2|c||#ignored", False, False).value == 0.25  # an empty part ends the line


def test_exponential_histogram_downscales_to_fit():
    h = ExpoHistogram(max_size=4)
    for v in (1, 2, 4, 8, 16, 1000):
        h.update(float(v), 1)
    assert h.count == 6 and h.sum == 1031 and (h.min, h.max) == (1, 1000)
    assert len(h.positive.counts) <= 4 and sum(h.positive.counts) == 6
    # at the final scale every value sits in the bucket its index says
    base = 2 ** (2 ** -h.scale)
    for v in (1, 2, 4, 8, 16, 1000):
        index = h.positive.start + next(i for i, _ in enumerate(h.positive.counts)
                                        if base ** (h.positive.start + i) < v <= base ** (h.positive.start + i + 1))
        assert base ** index < v <= base ** (index + 1)


# -- the receiver in-process: TCP, unixgram, malformed input ------------------------------------

class Collecting:
    mutates_data = False

    def __init__(self) -> None:
        self.requests: list = []

    async def consume(self, request) -> None:
        self.requests.append(request)

    def points(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for r in self.requests:
            for rm in r.resource_metrics:
                for sm in rm.scope_metrics:
                    for m in sm.metrics:
                        for dp in (m.sum.data_points if m.HasField("sum") else m.gauge.data_points):
                            out[m.name] = out.get(m.name, 0) + (dp.as_int if dp.HasField("as_int") else dp.as_double)
        return out


async def _receiver(settings: dict):
    cfg = validate(Config, {"aggregation_interval": "200ms", **settings}, "receivers::statsd")
    sink, telemetry = Collecting(), Telemetry()
    rec = StatsdReceiver(Settings(ComponentID("statsd"), Kind.RECEIVER, telemetry), cfg, {Signal.METRICS: sink})
    await rec.start(Host())
    return rec, sink, telemetry


async def _until(predicate, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


async def test_tcp_with_malformed_lines_counts_logs_once_and_keeps_serving(caplog):
    port = _udp_port()
    rec, sink, telemetry = await _receiver({"endpoint": f"127.0.0.1:{port}", "transport": "tcp"})
    caplog.set_level(logging.WARNING, logger="otelflow.receiver.statsd")

    def failed() -> float:
        return telemetry.value("otelcol_receiver_received_statsd_metrics", receiver="statsd", parse_success="false")

    def warnings() -> list[str]:
        return [r.getMessage() for r in caplog.records if "did not parse" in r.getMessage()]

    try:
        def send() -> None:
            client = statsd.TCPStatsClient("127.0.0.1", port, prefix="tcp")
            client.incr("ok", 2)
            client.gauge("g", 3)
            client.close()
            with socket.create_connection(("127.0.0.1", port)) as raw:  # one write: one interval
                raw.sendall(b"tcp.members:x|s\ngarbage without pipes\n\xff\xfe:1|c|#\x00\n")
        await asyncio.to_thread(send)
        await _until(lambda: sink.points().get("tcp.ok") == 2 and "tcp.g" in sink.points())
        await _until(lambda: failed() == 3 and len(warnings()) == 1)
        assert "3 statsd line(s)" in warnings()[0] and "unsupported metric type: s" in warnings()[0]
        # the real client's set line: upstream has no sets, so one more failure, one more warning
        await asyncio.to_thread(lambda: statsd.TCPStatsClient("127.0.0.1", port, prefix="tcp").set("members", "y"))
        await asyncio.to_thread(lambda: statsd.TCPStatsClient("127.0.0.1", port, prefix="tcp").incr("ok"))
        await _until(lambda: sink.points().get("tcp.ok") == 3 and failed() == 4 and len(warnings()) == 2)
        await asyncio.sleep(0.5)  # intervals without failures log nothing
        assert len(warnings()) == 2 and "1 statsd line(s)" in warnings()[1]
        assert telemetry.value("otelcol_receiver_received_statsd_metrics", receiver="statsd",
                               parse_success="true") == 3
    finally:
        await rec.shutdown()


async def test_unixgram_and_flush_at_shutdown(tmp_path: Path):
    path = tmp_path / "statsd.sock"
    rec, sink, _ = await _receiver({"endpoint": str(path), "transport": "unixgram", "aggregation_interval": "1h"})
    try:
        assert oct(path.stat().st_mode & 0o777) == oct(0o622)
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
            s.sendto(b"u.count:5|c\nu.count:5|c|@0.5\n\nu.gauge:1|g", str(path))
        await asyncio.sleep(0.2)
    finally:
        await rec.shutdown()  # the partial interval is flushed, not dropped
    assert sink.points() == {"u.count": 15, "u.gauge": 1.0}
    assert not path.exists()


def test_invalid_configs_name_what_is_wrong():
    from otelflow.config.errors import ConfigError
    cases = {
        "aggregation_interval must be a positive duration": {"aggregation_interval": "0s"},
        "invalid counter_type: big, must be one of: int, float, stochastic_int": {"counter_type": "big"},
        "statsd_type is not a supported mapping for histogram and timing metrics: counter":
            {"timer_histogram_mapping": [{"statsd_type": "counter", "observer_type": "gauge"}]},
        "histogram max_size out of range: 1":
            {"timer_histogram_mapping": [{"statsd_type": "timer", "observer_type": "histogram",
                                          "histogram": {"max_size": 1}}]},
        "summary configuration requires observer_type: summary":
            {"timer_histogram_mapping": [{"statsd_type": "timer", "observer_type": "gauge",
                                          "summary": {"percentiles": [50]}}]},
        "must specify object id for all TimerHistogramMappings": {"timer_histogram_mapping": [{"statsd_type": "timer"}]},
    }
    for message, settings in cases.items():
        with pytest.raises(ConfigError) as caught:
            validate(Config, settings, "receivers::statsd")
        assert message in str(caught.value)


def test_two_workers_give_the_same_output(tmp_path: Path):
    """With two worker processes the receiver runs once (worker 0): the same golden as with one."""
    port, out = _udp_port(), tmp_path / "otelflow.json"
    collector = Collector(_config(port, out, CASES["observers"]), env={"OTELFLOW_WORKERS": "2"}).start()
    try:
        send_traffic(port)
        _wait_for_groups(out, 2)
    finally:
        collector.stop()
    assert normalise(_read(out)) == json.loads((HERE / "observers.json").read_text())
