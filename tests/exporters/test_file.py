"""The file exporter: formats, framing, compression, append/truncate, flushing, rotation, group_by."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import re
import struct

import pytest
import zstandard
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import KeyValue

from otelflow.config.errors import ConfigError
from otelflow.config.model import validate
from otelflow.core.component import ComponentID, Host, Kind, Settings, Signal
from otelflow.core.consumer import ConsumerError, PermanentError
from otelflow.core.telemetry import Telemetry
from otelflow.exporters import file as fileexp
from otelflow.pdata import otlpjson

TRACE_ID = bytes.fromhex("0af7651916cd43dd8448eb211c80319c")
SPAN_ID = bytes.fromhex("b7ad6b7169203331")


def kv(key: str, value) -> KeyValue:
    out = KeyValue(key=key)
    if isinstance(value, bool):
        out.value.bool_value = value
    elif isinstance(value, int):
        out.value.int_value = value
    elif isinstance(value, float):
        out.value.double_value = value
    elif isinstance(value, bytes):
        out.value.bytes_value = value
    else:
        out.value.string_value = value
    return out


def traces(name: str = "op", service: str = "svc", n: int = 1) -> ExportTraceServiceRequest:
    req = ExportTraceServiceRequest()
    rs = req.resource_spans.add()
    rs.resource.attributes.extend([kv("service.name", service), kv("fileexporter.path_segment", service)])
    ss = rs.scope_spans.add()
    ss.scope.name = "lib"
    for i in range(n):
        span = ss.spans.add(
            trace_id=TRACE_ID, span_id=SPAN_ID, name=f"{name}-{i}", kind=3,
            start_time_unix_nano=1_700_000_000_000_000_000, end_time_unix_nano=1_700_000_000_500_000_000,
        )
        span.attributes.extend([kv("int", 7), kv("double", 0.25), kv("bool", True), kv("bytes", b"\x01")])
        span.events.add(name="ev", time_unix_nano=1_700_000_000_100_000_000).attributes.append(kv("k", "v"))
        span.links.add(trace_id=TRACE_ID, span_id=SPAN_ID)
    return req


def metrics() -> ExportMetricsServiceRequest:
    req = ExportMetricsServiceRequest()
    sm = req.resource_metrics.add().scope_metrics.add()
    g = sm.metrics.add(name="g")
    g.gauge.data_points.add(as_double=1.5, time_unix_nano=5)
    h = sm.metrics.add(name="h")
    h.histogram.aggregation_temporality = 2
    h.histogram.data_points.add(count=3, sum=4.5, explicit_bounds=[1.0], bucket_counts=[1, 2])
    e = sm.metrics.add(name="e")
    p = e.exponential_histogram.data_points.add(count=2, scale=2, zero_count=1)
    p.positive.bucket_counts.extend([1])
    s = sm.metrics.add(name="s")
    s.summary.data_points.add(count=1, sum=2.0).quantile_values.add(quantile=0.5, value=2.0)
    return req


def logs(body: str = "hello") -> ExportLogsServiceRequest:
    req = ExportLogsServiceRequest()
    rec = req.resource_logs.add().scope_logs.add().log_records.add(severity_number=9, trace_id=TRACE_ID, span_id=SPAN_ID)
    rec.body.string_value = body
    return req


SHARED: dict[str, dict] = {}  # what a service gives the instances of one component ID


@pytest.fixture(autouse=True)
def _fresh_service():
    SHARED.clear()


def settings(signal: Signal, name: str = "") -> Settings:
    return Settings(id=ComponentID("file", name), kind=Kind.EXPORTER, telemetry=Telemetry(), signal=signal,
                    shared=SHARED.setdefault(name, {}))


def make(signal: Signal = Signal.TRACES, name: str = "", **cfg):
    config = validate(fileexp.Config, cfg, "exporters::file")
    return fileexp.factory.create(settings=settings(signal, name), config=config)


async def run(exporter, *requests) -> None:
    await exporter.start(Host())
    try:
        for req in requests:
            await exporter.consume(req)
    finally:
        await exporter.shutdown()


# ---------------------------------------------------------------------------------------------
# Config


def test_defaults():
    cfg = validate(fileexp.Config, {"path": "out.json"}, "exporters::file")
    assert cfg.format == "json" and cfg.compression == "" and cfg.append is False
    assert cfg.rotation is None  # only on when the key is present
    assert cfg.flush_interval == 1.0
    assert cfg.group_by.enabled is False
    assert cfg.group_by.resource_attribute == "fileexporter.path_segment"
    assert cfg.group_by.max_open_files == 100
    rot = validate(fileexp.Config, {"path": "x", "rotation": None}, "e").rotation
    assert rot is not None
    assert (rot.max_megabytes, rot.max_days, rot.max_backups, rot.localtime) == (100, 0, 100, False)


def test_flush_interval_parsing():
    assert validate(fileexp.Config, {"path": "x", "flush_interval": "500ms"}, "e").flush_interval == 0.5
    assert validate(fileexp.Config, {"path": "x", "flush_interval": "0s"}, "e").flush_interval == 1.0


@pytest.mark.parametrize(
    "cfg, message",
    [
        ({}, "exporters::file: path must be non-empty"),
        ({"path": ""}, "path must be non-empty"),
        ({"path": "x", "pathh": "y"}, 'exporters::file::pathh: unknown key, did you mean "path"?'),
        ({"path": "x", "rotation": {"max_mb": 1}}, "exporters::file::rotation::max_mb: unknown key"),
        ({"path": "x", "format": "xml"}, "format type is not supported"),
        ({"path": "x", "compression": "gzip"}, "compression is not supported"),
        ({"path": "x", "append": True, "rotation": {}}, "append and rotation enabled at the same time is not supported"),
        ({"path": "x", "flush_interval": "-1s"}, "flush_interval must be larger than zero"),
        ({"path": "x", "group_by": {"enabled": True}}, "path must contain exactly one * when group_by is enabled"),
        ({"path": "*/x", "group_by": {"enabled": True}}, "path must not start with * when group_by is enabled"),
        ({"path": "d/*", "group_by": {"enabled": True, "resource_attribute": ""}}, "resource_attribute must not be empty"),
        ({"path": "x", "directory_permissions": "0700"}, "directory_permissions requires create_directory to be true"),
        ({"path": "x", "create_directory": True, "directory_permissions": "9"}, "must be a valid octal representation"),
        ({"path": "x", "create_directory": True, "directory_permissions": "7777"}, "invalid bits for file access"),
        ({"path": "x", "encoding": "text/"}, 'exporters::file::encoding: in "text/" id: the part after / should not be empty'),
    ],
)
def test_config_errors(cfg, message):
    with pytest.raises(ConfigError) as err:
        validate(fileexp.Config, cfg, "exporters::file")
    assert message in str(err.value)


def test_factory_shape():
    assert fileexp.factory.type == "file" and fileexp.factory.kind is Kind.EXPORTER
    assert fileexp.factory.signals == frozenset(Signal)
    exporter = make(path="unused")
    assert exporter.mutates_data is False


# ---------------------------------------------------------------------------------------------
# Formats


async def test_json_lines_one_document_per_request(tmp_path):
    path = tmp_path / "out.json"
    reqs = [traces("a"), traces("b", n=2)]
    await run(make(path=str(path)), *reqs)
    lines = path.read_bytes().split(b"\n")
    assert lines[-1] == b""
    assert lines[:-1] == [otlpjson.encode(r) for r in reqs]
    doc = json.loads(lines[0])
    span = doc["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
    assert span["traceId"] == TRACE_ID.hex() and span["spanId"] == SPAN_ID.hex()
    assert span["startTimeUnixNano"] == "1700000000000000000"
    assert otlpjson.encode(otlpjson.decode(lines[1], ExportTraceServiceRequest)) == otlpjson.encode(reqs[1])


async def test_json_metrics_and_logs(tmp_path):
    mpath, lpath = tmp_path / "m.json", tmp_path / "l.json"
    await run(make(Signal.METRICS, "m", path=str(mpath)), metrics())
    await run(make(Signal.LOGS, "l", path=str(lpath)), logs("x"), logs("y"))
    assert mpath.read_bytes() == otlpjson.encode(metrics()) + b"\n"
    assert lpath.read_bytes() == otlpjson.encode(logs("x")) + b"\n" + otlpjson.encode(logs("y")) + b"\n"


async def test_proto_is_length_prefixed_and_round_trips(tmp_path):
    path = tmp_path / "out.pb"
    reqs = [traces("a"), traces("b", n=3), ExportTraceServiceRequest()]
    await run(make(path=str(path), format="proto"), *reqs)
    blob = path.read_bytes()
    first = reqs[0].SerializeToString()
    assert blob[:4] == struct.pack(">I", len(first)) and blob[4:4 + len(first)] == first
    decoded = [ExportTraceServiceRequest.FromString(m) for m in fileexp.read_length_prefixed(blob)]
    assert decoded == reqs
    assert blob.endswith(struct.pack(">I", 0))  # the empty request is a bare zero length


async def test_proto_metrics_round_trip(tmp_path):
    path = tmp_path / "m.pb"
    await run(make(Signal.METRICS, path=str(path), format="proto"), metrics())
    (msg,) = fileexp.read_length_prefixed(path.read_bytes())
    assert ExportMetricsServiceRequest.FromString(msg) == metrics()


@pytest.mark.parametrize("fmt", ["json", "proto"])
async def test_zstd_compresses_each_message_behind_a_length_prefix(tmp_path, fmt):
    path = tmp_path / "out.zst"
    reqs = [logs("one"), logs("two")]
    await run(make(Signal.LOGS, path=str(path), format=fmt, compression="zstd"), *reqs)
    frames = fileexp.read_length_prefixed(path.read_bytes())
    assert len(frames) == 2
    plain = [zstandard.ZstdDecompressor().decompress(f) for f in frames]
    if fmt == "json":
        assert plain == [otlpjson.encode(r) for r in reqs]
    else:
        assert [ExportLogsServiceRequest.FromString(p) for p in plain] == reqs


# ---------------------------------------------------------------------------------------------
# Append, flush, shutdown


async def test_truncates_at_start_unless_appending(tmp_path):
    path = tmp_path / "out.json"
    path.write_bytes(b"old content\n")
    exporter = make(path=str(path))
    await exporter.start(Host())
    assert path.read_bytes() == b""  # truncated at start, before any data
    await exporter.consume(traces())
    await exporter.shutdown()
    assert path.read_bytes() == otlpjson.encode(traces()) + b"\n"

    SHARED.clear()  # a new service: the file exporter starts again, this time appending
    await run(make(path=str(path), append=True), traces("later"))
    assert path.read_bytes() == otlpjson.encode(traces()) + b"\n" + otlpjson.encode(traces("later")) + b"\n"


async def test_everything_consumed_is_in_the_file_after_shutdown(tmp_path):
    path = tmp_path / "out.json"
    exporter = make(path=str(path), flush_interval="1h")
    await exporter.start(Host())
    reqs = [logs(f"n{i}") for i in range(200)]
    await asyncio.gather(*(make_consume(exporter, r) for r in reqs))
    await exporter.shutdown()
    got = [otlpjson.decode(line, ExportLogsServiceRequest) for line in path.read_bytes().splitlines()]
    assert sorted(r.resource_logs[0].scope_logs[0].log_records[0].body.string_value for r in got) == sorted(
        f"n{i}" for i in range(200)
    )


async def make_consume(exporter, req):
    await exporter.consume(req)


async def test_flushes_within_flush_interval(tmp_path):
    path = tmp_path / "out.json"
    exporter = make(path=str(path), flush_interval="50ms")
    await exporter.start(Host())
    try:
        await exporter.consume(logs("soon"))
        expected = otlpjson.encode(logs("soon")) + b"\n"
        for _ in range(100):
            if path.read_bytes() == expected:
                break
            await asyncio.sleep(0.02)
        assert path.read_bytes() == expected
    finally:
        await exporter.shutdown()


async def test_consume_before_start_or_after_shutdown_fails(tmp_path):
    exporter = make(path=str(tmp_path / "x.json"))
    with pytest.raises(ConsumerError):
        await exporter.consume(traces())
    await run(exporter)
    with pytest.raises(ConsumerError):
        await exporter.consume(traces())


async def test_unwritable_path_fails_at_start(tmp_path):
    exporter = make(path=str(tmp_path / "missing-dir" / "x.json"))
    with pytest.raises(OSError):
        await exporter.start(Host())
    await exporter.shutdown()


async def test_create_directory(tmp_path):
    path = tmp_path / "a" / "b" / "out.json"
    await run(make(path=str(path), create_directory=True, directory_permissions="0750"), traces())
    assert path.read_bytes() == otlpjson.encode(traces()) + b"\n"


async def test_signals_of_one_component_share_the_file(tmp_path):
    path = tmp_path / "all.json"
    t = make(Signal.TRACES, "shared", path=str(path))
    m = make(Signal.METRICS, "shared", path=str(path))
    lg = make(Signal.LOGS, "shared", path=str(path))
    for e in (t, m, lg):
        await e.start(Host())
    await t.consume(traces())
    await m.consume(metrics())
    await lg.consume(logs())
    await t.shutdown()
    await lg.consume(logs("still open"))  # the file stays open until the last user shuts down
    await m.shutdown()
    await lg.shutdown()
    assert path.read_bytes().splitlines() == [
        otlpjson.encode(traces()),
        otlpjson.encode(metrics()),
        otlpjson.encode(logs()),
        otlpjson.encode(logs("still open")),
    ]


async def test_does_not_block_or_mutate(tmp_path):
    exporter = make(path=str(tmp_path / "x.json"))
    req = traces(n=5)
    before = req.SerializeToString()
    await run(exporter, req)
    assert req.SerializeToString() == before


async def test_unknown_encoding_extension_fails_start(tmp_path):
    exporter = make(path=str(tmp_path / "x.json"), encoding="text_encoding")
    with pytest.raises(ValueError, match='unknown encoding "text_encoding"'):
        await exporter.start(Host())


async def test_encoding_extension_marshals(tmp_path):
    class Upper:
        def marshal_logs(self, req):
            return req.resource_logs[0].scope_logs[0].log_records[0].body.string_value.upper().encode()

    path = tmp_path / "x.txt"
    exporter = make(Signal.LOGS, path=str(path), encoding="text_encoding")
    await exporter.start(Host({ComponentID("text_encoding"): Upper()}))
    await exporter.consume(logs("abc"))
    await exporter.shutdown()
    assert path.read_bytes() == b"ABC\n"

    traces_exporter = make(Signal.TRACES, "t", path=str(tmp_path / "t.txt"), encoding="text_encoding")
    await traces_exporter.start(Host({ComponentID("text_encoding"): Upper()}))
    with pytest.raises(PermanentError, match="traces are not supported by encoding"):
        await traces_exporter.consume(traces())
    await traces_exporter.shutdown()


# ---------------------------------------------------------------------------------------------
# Rotation

BACKUP = re.compile(r"^out-(\d{4}-\d\d-\d\dT\d\d-\d\d-\d\d\.\d{3})-size\.json$")


@pytest.fixture
def tiny_megabyte(monkeypatch):
    """max_megabytes: 1 means 1000 bytes, and each rotation gets its own distinct timestamp."""
    monkeypatch.setattr(fileexp.config, "MEGABYTE", 1000)
    base = dt.datetime(2024, 5, 6, 7, 8, 9, tzinfo=dt.timezone.utc)
    ticks = iter(range(10_000))
    monkeypatch.setattr(fileexp._RotatingWriter, "_now", lambda self: base + dt.timedelta(seconds=next(ticks)))
    return base


def line_of(req) -> bytes:
    return otlpjson.encode(req) + b"\n"


async def test_rotation_by_size(tmp_path, tiny_megabyte):
    path = tmp_path / "out.json"
    reqs = [logs(f"message number {i:03d}") for i in range(30)]
    size = len(line_of(reqs[0]))
    assert 100 < size < 400
    await run(make(Signal.LOGS, path=str(path), rotation={"max_megabytes": 1}), *reqs)

    names = sorted(os.listdir(tmp_path))
    backups = [n for n in names if n != "out.json"]
    assert backups and all(BACKUP.match(n) for n in backups), names
    assert backups[0] == "out-2024-05-06T07-08-09.000-size.json"
    per_file = 1000 // size
    for n in backups:
        assert len((tmp_path / n).read_bytes()) == per_file * size  # rotated before it would exceed
    # every record survives, in order, across backups (oldest first) and the live file
    blob = b"".join((tmp_path / n).read_bytes() for n in backups) + path.read_bytes()
    assert blob == b"".join(line_of(r) for r in reqs)


async def test_rotation_keeps_max_backups(tmp_path, tiny_megabyte):
    path = tmp_path / "out.json"
    reqs = [logs(f"message number {i:03d}") for i in range(40)]
    await run(make(Signal.LOGS, path=str(path), rotation={"max_megabytes": 1, "max_backups": 2}), *reqs)
    backups = sorted(n for n in os.listdir(tmp_path) if n != "out.json")
    assert len(backups) == 2
    # the newest two are kept: together with the live file they hold the tail of the data
    blob = b"".join((tmp_path / n).read_bytes() for n in backups) + path.read_bytes()
    assert b"".join(line_of(r) for r in reqs).endswith(blob)


async def test_rotation_removes_backups_older_than_max_days(tmp_path, tiny_megabyte):
    old = tmp_path / "out-2000-01-01T00-00-00.000-size.json"
    old.write_bytes(b"ancient\n")
    recent_name = "out-" + fileexp._backup_time(dt.datetime.now(dt.timezone.utc)) + "-size.json"
    (tmp_path / recent_name).write_bytes(b"recent\n")
    unrelated = tmp_path / "other-2000-01-01T00-00-00.000-size.json"
    unrelated.write_bytes(b"x")
    await run(make(Signal.LOGS, path=str(tmp_path / "out.json"), rotation={"max_days": 3}), logs())
    assert not old.exists()
    assert (tmp_path / recent_name).exists() and unrelated.exists()


async def test_rotation_appends_to_existing_file_that_still_fits(tmp_path, tiny_megabyte):
    path = tmp_path / "out.json"
    path.write_bytes(b"kept\n")
    await run(make(Signal.LOGS, path=str(path), rotation={"max_megabytes": 1}), logs())
    assert path.read_bytes() == b"kept\n" + line_of(logs())
    path.write_bytes(b"x" * 990)
    await run(make(Signal.LOGS, path=str(path), rotation={"max_megabytes": 1}), logs())
    assert path.read_bytes() == line_of(logs())  # would not fit: rotated away first
    assert (tmp_path / "out-2024-05-06T07-08-09.000-size.json").read_bytes() == b"x" * 990


async def test_rotation_rejects_a_write_larger_than_the_limit(tmp_path, tiny_megabyte):
    exporter = make(path=str(tmp_path / "out.json"), rotation={"max_megabytes": 1})
    await exporter.start(Host())
    with pytest.raises(PermanentError, match=r"write length \d+ exceeds maximum file size 1000"):
        await exporter.consume(traces(n=20))
    await exporter.shutdown()


async def test_rotation_localtime_names(tmp_path, monkeypatch):
    monkeypatch.setattr(fileexp.config, "MEGABYTE", 1000)
    path = tmp_path / "out.json"
    path.write_bytes(b"y" * 999)
    before = dt.datetime.now().astimezone()
    await run(make(Signal.LOGS, path=str(path), rotation={"max_megabytes": 1, "localtime": True}), logs())
    (backup,) = [n for n in os.listdir(tmp_path) if n != "out.json"]
    stamp = dt.datetime.strptime(BACKUP.match(backup).group(1), "%Y-%m-%dT%H-%M-%S.%f").astimezone()
    assert abs((stamp - before).total_seconds()) < 60


async def test_legacy_backup_names_are_migrated(tmp_path, tiny_megabyte):
    legacy = tmp_path / "out-2024-01-02T03-04-05.678.json"
    legacy.write_bytes(b"legacy\n")
    await run(make(Signal.LOGS, path=str(tmp_path / "out.json"), rotation={}), logs())
    assert not legacy.exists()
    assert (tmp_path / "out-2024-01-02T03-04-05.678-size.json").read_bytes() == b"legacy\n"


def test_backup_names_without_extension(tmp_path):
    writer = fileexp._RotatingWriter(str(tmp_path / "data"), fileexp.Rotation())
    when = dt.datetime(2022, 9, 14, 5, 2, 14, 173999, tzinfo=dt.timezone.utc)
    assert writer.backup_name(when) == str(tmp_path / "data-2022-09-14T05-02-14.173-size")


# ---------------------------------------------------------------------------------------------
# group_by


async def test_group_by_writes_one_file_per_attribute_value(tmp_path):
    req = ExportTraceServiceRequest()
    for service in ("alpha", "beta", "alpha"):
        req.resource_spans.add().CopyFrom(traces(service=service).resource_spans[0])
    orphan = req.resource_spans.add()
    orphan.resource.attributes.append(kv("service.name", "no-segment"))
    not_a_string = req.resource_spans.add()
    not_a_string.resource.attributes.append(kv("fileexporter.path_segment", 5))

    pattern = str(tmp_path / "by" / "*.json")
    await run(make(path=pattern, group_by={"enabled": True}), req)

    assert sorted(os.listdir(tmp_path / "by")) == ["alpha.json", "beta.json"]
    alpha = otlpjson.decode((tmp_path / "by" / "alpha.json").read_bytes(), ExportTraceServiceRequest)
    assert len(alpha.resource_spans) == 2
    beta = otlpjson.decode((tmp_path / "by" / "beta.json").read_bytes(), ExportTraceServiceRequest)
    expected = ExportTraceServiceRequest()
    expected.resource_spans.append(traces(service="beta").resource_spans[0])
    assert otlpjson.encode(beta) == otlpjson.encode(expected)


async def test_group_by_keeps_segments_under_the_prefix(tmp_path):
    base = tmp_path / "logs"
    req = ExportTraceServiceRequest()
    req.resource_spans.add().resource.attributes.append(kv("seg", "../../escape"))
    req.resource_spans.add().resource.attributes.append(kv("seg", "./sub/x"))
    await run(make(path=str(base) + "/*.log", group_by={"enabled": True, "resource_attribute": "seg"}), req)
    found = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*.log"))
    assert found == ["logs/escape.log", "logs/sub/x.log"]


async def test_group_by_closes_least_recently_used_files(tmp_path):
    exporter = make(Signal.LOGS, path=str(tmp_path / "*.json"), group_by={"enabled": True, "max_open_files": 1},
                    append=True)
    await exporter.start(Host())
    for service in ("a", "b", "a"):
        req = logs(service)
        req.resource_logs[0].resource.attributes.append(kv("fileexporter.path_segment", service))
        await exporter.consume(req)
    assert len(exporter.sink.writers) == 1
    await exporter.shutdown()
    assert len((tmp_path / "a.json").read_bytes().splitlines()) == 2
    assert len((tmp_path / "b.json").read_bytes().splitlines()) == 1
