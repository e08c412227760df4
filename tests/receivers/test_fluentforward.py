"""The ``fluent_forward`` receiver against the real ``fluent-logger`` client and raw Forward frames.

Every mode (Message with integer and EventTime times, Forward, PackedForward, gzip
CompressedPackedForward) goes to otelflow and, where it is built, to otelcol-ref (v0.161.0); the
log records both write with their ``file`` exporter must equal the golden recorded from otelcol-ref
(``testdata/fluentforward/``; ``OTELFLOW_RECORD_GOLDENS=1`` records it again). Acks: a kill -9 of
a real otelflow while fluent-logger waits for acks loses nothing that was acknowledged.

fluent-logger-python has no ``require_ack_response`` (the Ruby and Java loggers do): ``AckingSender``
below adds the protocol's ``chunk`` option and the wait for ``{"ack": chunk}`` to its FluentSender,
keeping the client's own packing, connection and retry buffer.
"""

from __future__ import annotations

import asyncio
import base64
import errno
import gzip
import json
import logging
import os
import signal
import socket
import subprocess
import threading
import time
import uuid
from pathlib import Path

import msgpack
import pytest
from fluent.sender import EventTime, FluentSender
from google.protobuf.json_format import MessageToDict
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest

from otelflow.config.model import validate
from otelflow.core.component import ComponentID, Host, Kind, Settings, Signal
from otelflow.core.consumer import ConsumerError
from otelflow.core.telemetry import Telemetry
from otelflow.pdata import otlpjson
from otelflow.receivers.fluentforward import Config, FluentForwardReceiver
from tests.backends import GRPCBackend, free_port
from tests.conformance.rig import OTELCOL_REF
from tests.process import Collector

HERE = Path(__file__).parent / "testdata" / "fluentforward"
RECORD = os.environ.get("OTELFLOW_RECORD_GOLDENS") == "1"
T0 = 1_700_000_000


class AckingSender(FluentSender):
    """FluentSender in the Forward protocol's at-least-once mode: each event carries a ``chunk`` id
    and ``emit`` returns True only once the server answered ``{"ack": id}``."""

    def _make_packet(self, label, timestamp, data):
        tag = f"{self.tag}.{label}" if label else self.tag
        self.chunk = base64.b64encode(uuid.uuid4().bytes).decode()
        return msgpack.packb((tag, timestamp, data, {"chunk": self.chunk}), **self.msgpack_kwargs)

    def _send_data(self, bytes_):
        self._reconnect()
        self.socket.sendall(bytes_)
        answers = msgpack.Unpacker(raw=False)
        while True:
            data = self.socket.recv(4096)
            if not data:
                raise OSError(errno.EPIPE, "closed before the ack")
            answers.feed(data)
            if any(isinstance(a, dict) and a.get("ack") == self.chunk for a in answers):
                return


def raw_frames() -> list[bytes]:
    """Frames of the modes fluent-logger does not write, and the values a record may hold."""
    entry = lambda t, rec: msgpack.packb([t, rec])  # noqa: E731
    ev = msgpack.ExtType(0, (T0 + 5).to_bytes(4, "big") + (123456789).to_bytes(4, "big"))
    packed = entry(T0 + 1, {"log": "packed one"}) + entry(ev, {"log": "packed two", "n": -1})
    return [
        msgpack.packb(["raw.forward", [[T0, {"message": "f1", "k": "v"}], [ev, {"message": "f2"}]]]),
        msgpack.packb(["raw.forward.opts", [[T0, {"log": {"nested": [1, "x"]}}]], {"size": 1}]),
        msgpack.packb(["raw.packed", packed]),
        msgpack.packb(["raw.packed.str", packed], use_bin_type=False),  # the entries as a msgpack str
        msgpack.packb(["raw.gzip", gzip.compress(packed), {"compressed": "gzip"}]),
        msgpack.packb(["raw.values", T0, {
            b"binkey": b"bytes value", "uint": 2**64 - 1, "neg": -(2**63), "f": 0.5, "t": True, "nil": None,
            "fluent.tag": "in record", "message": "body", "list": [None, 1.5, {"a": "b"}]}]),
        msgpack.packb(["raw.forward.tagclash", [[T0, {"fluent.tag": "mine", "x": 1}]]]),
    ]


def send_traffic(port: int) -> None:
    sender = FluentSender("app", host="127.0.0.1", port=port, nanosecond_precision=True)
    assert sender.emit_with_time("web", EventTime(T0, 42), {"message": "hello", "status": 200, "path": "/"})
    assert sender.emit_with_time("web", T0 + 2, {"log": "from fluent-bit", "level": "info"})
    sender.close()
    acking = AckingSender("acked", host="127.0.0.1", port=port)
    assert acking.emit_with_time(None, T0 + 3, {"message": "acknowledged", "seq": 1})
    acking.close()
    with socket.create_connection(("127.0.0.1", port)) as raw:
        for frame in raw_frames():
            raw.sendall(frame)
    # heartbeat over UDP on the same port, as fluentd's out_forward sends it
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        udp.settimeout(5)
        udp.sendto(b"\x00", ("127.0.0.1", port))
        assert udp.recvfrom(16)[0] == b"\x00"


def _sorted_kvlists(value: dict) -> dict:
    """Go iterates a nested map in random order: nested kvlists compare sorted."""
    if "kvlistValue" in value:
        items = value["kvlistValue"].get("values", [])
        for item in items:
            item["value"] = _sorted_kvlists(item.get("value", {}))
        value["kvlistValue"]["values"] = sorted(items, key=lambda kv: kv["key"])
    if "arrayValue" in value:
        value["arrayValue"]["values"] = [_sorted_kvlists(v) for v in value["arrayValue"].get("values", [])]
    return value


def normalise(requests: list[ExportLogsServiceRequest]) -> list:
    records = []
    for request in requests:
        for rl in request.resource_logs:
            assert not rl.resource.attributes
            for sl in rl.scope_logs:
                assert not sl.scope.name
                for lr in sl.log_records:
                    d = MessageToDict(lr)
                    d["body"] = _sorted_kvlists(d.get("body", {}))
                    for kv in d.get("attributes", []):
                        kv["value"] = _sorted_kvlists(kv.get("value", {}))
                    records.append(d)
    return sorted(records, key=lambda r: json.dumps(r, sort_keys=True))


def _config(port: int, out: Path) -> str:
    return json.dumps({
        "receivers": {"fluent_forward": {"endpoint": f"127.0.0.1:{port}"}},
        "exporters": {"file": {"path": str(out), "flush_interval": "100ms"}},
        "service": {"telemetry": {"metrics": {"level": "none"}},
                    "pipelines": {"logs": {"receivers": ["fluent_forward"], "exporters": ["file"]}}},
    })


def _read(out: Path, complete: bool = True) -> list[ExportLogsServiceRequest]:
    if not out.exists():
        return []
    lines = out.read_text().splitlines(keepends=True)
    if not complete and lines and not lines[-1].endswith("\n"):
        lines.pop()
    return [otlpjson.decode(line.encode(), ExportLogsServiceRequest) for line in lines if line.strip()]


EXPECTED_RECORDS = 3 + 2 + 1 + 2 + 2 + 2 + 1 + 1


def _wait_for_records(out: Path, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if len(normalise(_read(out, complete=False))) >= EXPECTED_RECORDS:
            return
        time.sleep(0.1)


def run_otelflow(tmp: Path) -> list:
    port, out = free_port(), tmp / "otelflow.json"
    collector = Collector(_config(port, out)).start()
    try:
        send_traffic(port)
        _wait_for_records(out)
    finally:
        collector.stop()
    return normalise(_read(out))


def run_otelcol_ref(tmp: Path) -> list:
    port, out, config, log = free_port(), tmp / "ref.json", tmp / "ref.yaml", tmp / "ref.log"
    config.write_text(_config(port, out))
    with open(log, "wb") as sink:
        proc = subprocess.Popen([str(OTELCOL_REF), "--config", str(config)], stdout=sink, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 20
            while b"Everything is ready" not in log.read_bytes():
                assert proc.poll() is None and time.monotonic() < deadline, log.read_text()[-3000:]
                time.sleep(0.05)
            send_traffic(port)
            _wait_for_records(out)
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(30)
    return normalise(_read(out))


def _ref_has_fluent_forward() -> bool:
    if not OTELCOL_REF.exists():
        return False
    listing = subprocess.run([str(OTELCOL_REF), "components"], capture_output=True, text=True, timeout=30).stdout
    return "name: fluent_forward" in listing


def test_records_match_otelcol_ref(tmp_path: Path):
    golden = HERE / "modes.json"
    got = run_otelflow(tmp_path)
    if RECORD or not golden.exists():
        if not _ref_has_fluent_forward():
            pytest.skip(f"no golden {golden.name} and {OTELCOL_REF} has no fluent_forward receiver to record one")
        golden.write_text(json.dumps(run_otelcol_ref(tmp_path), indent=1, sort_keys=True) + "\n")
    expected = json.loads(golden.read_text())
    assert len(got) == EXPECTED_RECORDS
    assert got == expected


@pytest.mark.skipif(not _ref_has_fluent_forward(), reason=f"{OTELCOL_REF} is missing or has no fluent_forward")
def test_golden_is_what_otelcol_ref_writes_now(tmp_path: Path):
    assert run_otelcol_ref(tmp_path) == json.loads((HERE / "modes.json").read_text())


# -- acks and a kill -9 ---------------------------------------------------------------------------

async def test_kill_9_loses_nothing_that_was_acknowledged():
    """fluent-logger sends chunked events as fast as acks come back; otelflow exports each batch to
    a real OTLP/gRPC backend with no queue, so an ack means the backend has it. Killed mid-stream,
    every acknowledged event must be at the backend."""
    backend = await GRPCBackend().start()
    port = free_port()
    config = json.dumps({
        "receivers": {"fluent_forward": {"endpoint": f"127.0.0.1:{port}"}},
        "exporters": {"otlp": {"endpoint": backend.endpoint, "tls": {"insecure": True},
                               "sending_queue": {"enabled": False}, "retry_on_failure": {"enabled": False}}},
        "service": {"telemetry": {"metrics": {"level": "none"}},
                    "pipelines": {"logs": {"receivers": ["fluent_forward"], "exporters": ["otlp"]}}},
    })
    try:
        collector = Collector(config).start()
    except BaseException:
        await backend.stop()
        raise
    acked: list[int] = []
    refused: list[int] = []
    stop = threading.Event()

    def client() -> None:
        sender = AckingSender("kill", host="127.0.0.1", port=port, timeout=5.0, bufmax=0)
        seq = 0
        while not stop.is_set() and seq < 5000:
            (acked if sender.emit_with_time(None, T0, {"message": "m", "seq": seq}) else refused).append(seq)
            seq += 1
            if refused:
                break
        sender.close()

    thread = threading.Thread(target=client)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while len(acked) < 200:
            assert time.monotonic() < deadline and thread.is_alive(), f"only {len(acked)} acks:\n{collector.output()}"
            await asyncio.sleep(0.01)
        collector.stop(signal.SIGKILL)
        await asyncio.to_thread(thread.join, 30)
        stop.set()
        received = {int(kv.value.int_value) for r in backend.messages(Signal.LOGS) for rl in r.resource_logs
                    for sl in rl.scope_logs for lr in sl.log_records for kv in lr.attributes if kv.key == "seq"}
        assert len(acked) >= 200
        missing = sorted(set(acked) - received)
        assert not missing, f"acknowledged but never exported: {missing[:20]}"
    finally:
        stop.set()
        thread.join(30)
        collector.stop(signal.SIGKILL)
        await backend.stop()


# -- the receiver in-process: malformed frames, refusals, Unix socket -----------------------------

class Collecting:
    mutates_data = False

    def __init__(self) -> None:
        self.requests: list = []
        self.refuse: ConsumerError | None = None

    async def consume(self, request) -> None:
        if self.refuse is not None:
            raise self.refuse
        self.requests.append(request)

    def bodies(self) -> list[str]:
        return [lr.body.string_value for r in self.requests for rl in r.resource_logs for sl in rl.scope_logs
                for lr in sl.log_records]


async def _receiver(endpoint: str):
    cfg = validate(Config, {"endpoint": endpoint}, "receivers::fluent_forward")
    sink, telemetry = Collecting(), Telemetry()
    rec = FluentForwardReceiver(Settings(ComponentID("fluent_forward"), Kind.RECEIVER, telemetry), cfg,
                                {Signal.LOGS: sink})
    await rec.start(Host())
    return rec, sink, telemetry


async def _until(predicate, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


MALFORMED = [
    b"\x93\xc0\x01\x80",  # the tag is nil
    msgpack.packb(["t", 1.5, {"message": "float time"}]),  # a time that is neither integer nor EventTime
    msgpack.packb(["t", msgpack.ExtType(0, b"1234"), {}]),  # an EventTime of 4 bytes
    msgpack.packb(["t", 1, "not a map"]),
    msgpack.packb(["t", b"\x92\x01", {"compressed": "gzip"}]),  # "gzip" data that is not
    msgpack.packb(["t", [[1, {"a": 1}]], {}, "extra"]),
    b"\xc1\xc1\xc1",  # never-used msgpack bytes
]


async def test_malformed_frames_are_counted_logged_once_and_the_receiver_keeps_serving(caplog):
    rec, sink, telemetry = await _receiver("127.0.0.1:0")
    caplog.set_level(logging.WARNING, logger="otelflow.receiver.fluent_forward")
    port = rec.address[1]
    try:
        def send() -> None:
            for frame in MALFORMED:
                with socket.create_connection(("127.0.0.1", port)) as raw:
                    raw.sendall(msgpack.packb(["ok", 1, {"message": "before"}]) + frame)
                    raw.settimeout(5)
                    assert raw.recv(16) == b""  # the receiver closes the connection
            sender = FluentSender("after", host="127.0.0.1", port=port)
            assert sender.emit("x", {"message": "still served"})
            sender.close()
        await asyncio.to_thread(send)
        await _until(lambda: "still served" in sink.bodies())
        assert sink.bodies().count("before") == len(MALFORMED)  # what came before a bad frame is kept
        assert telemetry.value("otelcol_fluent_parse_failures", receiver="fluent_forward") == len(MALFORMED)
        warnings = [r for r in caplog.records if "malformed frame" in r.getMessage()]
        assert len(warnings) == 1
    finally:
        await rec.shutdown()


async def test_a_refused_chunk_is_not_acknowledged():
    rec, sink, telemetry = await _receiver("127.0.0.1:0")
    port = rec.address[1]
    try:
        sink.refuse = ConsumerError("pipeline full")
        sender = AckingSender("r", host="127.0.0.1", port=port, timeout=5.0)
        assert not await asyncio.to_thread(sender.emit, "x", {"message": "refused"})
        sink.refuse = None
        assert await asyncio.to_thread(sender.emit, "x", {"message": "accepted"})  # the buffered one is resent
        sender.close()
        assert sink.bodies() == ["refused", "accepted"]
        assert telemetry.value("otelcol_receiver_refused_log_records", receiver="fluent_forward",
                               transport="http") == 1
    finally:
        await rec.shutdown()


async def test_unix_socket(tmp_path: Path):
    path = tmp_path / "forward.sock"
    rec, sink, _ = await _receiver(f"unix://{path}")
    try:
        sender = AckingSender("unix", host=f"unix://{path}", timeout=5.0)
        assert await asyncio.to_thread(sender.emit, "x", {"message": "over a unix socket"})
        sender.close()
        assert sink.bodies() == ["over a unix socket"]
    finally:
        await rec.shutdown()
    assert not path.exists()


def test_two_workers_give_the_same_records(tmp_path: Path):
    """With two worker processes the receiver runs once (worker 0), acks included."""
    port, out = free_port(), tmp_path / "otelflow.json"
    collector = Collector(_config(port, out), env={"OTELFLOW_WORKERS": "2"}).start()
    try:
        send_traffic(port)
        _wait_for_records(out)
    finally:
        collector.stop()
    assert normalise(_read(out)) == json.loads((HERE / "modes.json").read_text())
