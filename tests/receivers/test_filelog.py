"""The file_log receiver in-process against real files: lines written to a temporary directory are
read by the receiver's own poll loop and handed to a collecting consumer as OTLP logs."""

from __future__ import annotations

import asyncio
import gzip
import logging
import os
import time
from pathlib import Path
from typing import Any

import pytest

from otelflow.config.model import validate
from otelflow.core.component import ComponentID, Host, Kind, Settings, Signal
from otelflow.core.consumer import ConsumerError
from otelflow.core.telemetry import Telemetry
from otelflow.extensions import file_storage
from otelflow.receivers.filelog import Config, FileLogReceiver
from otelflow.stanza.fileconsumer import Splitter, trimmer


class Collecting:
    mutates_data = False

    def __init__(self) -> None:
        self.records: list[tuple[Any, dict[str, Any]]] = []
        self.refuse: ConsumerError | None = None

    async def consume(self, request) -> None:
        if self.refuse is not None:
            raise self.refuse
        for rl in request.resource_logs:
            for sl in rl.scope_logs:
                for rec in sl.log_records:
                    which = rec.body.WhichOneof("value")
                    body = getattr(rec.body, which) if which else None
                    attrs = {kv.key: getattr(kv.value, kv.value.WhichOneof("value")) for kv in rec.attributes}
                    self.records.append((body, attrs))

    @property
    def bodies(self) -> list[Any]:
        return [b for b, _ in self.records]


def _receiver(raw: dict[str, Any], name: str = "file_log") -> tuple[FileLogReceiver, Collecting]:
    cfg = validate(Config, {"poll_interval": "20ms", "force_flush_period": "100ms", **raw}, f"receivers::{name}")
    sink = Collecting()
    rec = FileLogReceiver(Settings(ComponentID.parse(name), Kind.RECEIVER, Telemetry()), cfg, {Signal.LOGS: sink})
    return rec, sink


async def _until(cond, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        await asyncio.sleep(0.02)


async def _settle(sink: Collecting, quiet: float = 0.4) -> None:
    """Wait until nothing new has arrived for ``quiet`` seconds."""
    n = -1
    while n != len(sink.records):
        n = len(sink.records)
        await asyncio.sleep(quiet)


def test_plain_lines_from_beginning(tmp_path: Path) -> None:
    async def run() -> None:
        (tmp_path / "a.log").write_text("one\ntwo\r\n\n  three  \n")
        rec, sink = _receiver({"include": [str(tmp_path / "*.log")], "start_at": "beginning"})
        await rec.start(Host())
        try:
            await _until(lambda: len(sink.records) >= 3)
            await _settle(sink)
        finally:
            await rec.shutdown()
        assert sink.bodies == ["one", "two", "three"]  # the empty line is dropped, whitespace trimmed
        assert sink.records[0][1] == {"log.file.name": "a.log"}

    asyncio.run(run())


def test_start_at_end_reads_only_new_lines_and_flushes_a_partial_one(tmp_path: Path) -> None:
    async def run() -> None:
        path = tmp_path / "a.log"
        path.write_text("old\n")
        rec, sink = _receiver({"include": [str(path)], "include_file_path": True})
        await rec.start(Host())
        try:
            await asyncio.sleep(0.2)
            with path.open("a") as f:
                f.write("new1\nnew2\npartial")
            await _until(lambda: len(sink.records) >= 3)
            await _settle(sink)
        finally:
            await rec.shutdown()
        assert sink.bodies == ["new1", "new2", "partial"]
        assert sink.records[0][1] == {"log.file.name": "a.log", "log.file.path": str(path)}

    asyncio.run(run())


def test_splitter_cuts_at_max_log_size_and_multiline() -> None:
    s = Splitter("utf-8", 10)
    assert s.split(b"a\n" + b"c" * 19 + b"\ndd", False, 100) == ([b"a", b"c" * 10, b"c" * 9], 22)
    assert s.split(b"a\ndd", True, 100) == ([b"a", b"dd"], 4)
    start = Splitter("utf-8", 1000, line_start=r"^\d")
    assert start.split(b"x\n1 a\n  b\n2 c\n3 d", False, 100) == ([b"x\n", b"1 a\n  b\n", b"2 c\n"], 14)
    end = Splitter("utf-8", 1000, line_end=r";$", omit=True)
    assert end.split(b"a\nb;\nc;\nd", False, 100) == ([b"a\nb", b"\nc"], 7)
    trunc = Splitter("utf-8", 4, truncate=True)
    assert trunc.split(b"abcdefgh\nxy\n", False, 100) == ([b"abcd", b"xy"], 12)
    trim = trimmer(False, False)
    assert trim is not None and trim(b" \t x \r\n") == b"x"
    assert trimmer(True, True) is None and trimmer(False, False, nop=True) is None


def test_gzip_file(tmp_path: Path) -> None:
    async def run() -> None:
        with gzip.open(tmp_path / "a.log.gz", "wb") as f:
            f.write(b"g1\ng2\ng3")
        rec, sink = _receiver({"include": [str(tmp_path / "*.gz")], "start_at": "beginning", "compression": "gzip"})
        await rec.start(Host())
        try:
            await _until(lambda: len(sink.records) >= 3)
            with gzip.open(tmp_path / "a.log.gz", "ab") as f:  # a second gzip member, read on its own
                f.write(b"g4\n")
            await _until(lambda: len(sink.records) >= 4)
            await _settle(sink)
        finally:
            await rec.shutdown()
        assert sink.bodies == ["g1", "g2", "g3", "g4"]

    asyncio.run(run())


def test_checkpoint_resumes_after_restart(tmp_path: Path) -> None:
    async def run() -> None:
        storage_dir = tmp_path / "storage"
        storage_dir.mkdir()
        log = tmp_path / "logs"
        log.mkdir()
        path = log / "a.log"
        path.write_text("".join(f"line {i}\n" for i in range(50)))
        ext_cfg = validate(file_storage.Config, {"directory": str(storage_dir)}, "extensions::file_storage")

        async def one_run() -> list[Any]:
            ext = file_storage.factory.create(Settings(ComponentID("file_storage"), Kind.EXTENSION, Telemetry()), ext_cfg)
            await ext.start(Host())
            host = Host({ComponentID("file_storage"): ext})
            rec, sink = _receiver({"include": [str(log / "*.log")], "start_at": "beginning", "storage": "file_storage"})
            await rec.start(host)
            try:
                await asyncio.sleep(0.3)
                await _settle(sink)
            finally:
                await rec.shutdown()
                await ext.shutdown()
            return sink.bodies

        first = await one_run()
        with path.open("a") as f:
            f.write("".join(f"line {i}\n" for i in range(50, 70)))
        second = await one_run()
        assert first == [f"line {i}" for i in range(50)]
        assert second == [f"line {i}" for i in range(50, 70)]

    asyncio.run(run())


def test_exclude_multiline_and_max_log_size(tmp_path: Path) -> None:
    async def run() -> None:
        (tmp_path / "app.log").write_text("2024 first\n  at a\n  at b\n2024 second\n" + "z" * 25 + "\n2024 third\n")
        (tmp_path / "skip.log").write_text("2024 nope\n")
        rec, sink = _receiver({
            "include": [str(tmp_path / "*.log")], "exclude": [str(tmp_path / "skip*")], "start_at": "beginning",
            "multiline": {"line_start_pattern": r"^\d{4} "}, "max_log_size": 30,
        })
        await rec.start(Host())
        try:
            await _until(lambda: len(sink.records) >= 4)
            await _settle(sink)
        finally:
            await rec.shutdown()
        # the second entry is 38 bytes: cut at max_log_size; the third is flushed after force_flush_period
        assert sink.bodies == ["2024 first\n  at a\n  at b", "2024 second\nzzzzzzzzzzzzzzzzzz", "zzzzzzz", "2024 third"]

    asyncio.run(run())


def test_regex_parser_operator_and_record_number(tmp_path: Path) -> None:
    async def run() -> None:
        (tmp_path / "a.log").write_text("ERROR disk full\nINFO ok\n")
        rec, sink = _receiver({
            "include": [str(tmp_path / "a.log")], "start_at": "beginning", "include_file_name": False,
            "include_file_record_number": True, "attributes": {"team": "core", "k": "EXPR(body)"},
            "operators": [{"type": "regex_parser", "regex": r"^(?P<level>\w+) (?P<msg>.*)$"}],
        })
        await rec.start(Host())
        try:
            await _until(lambda: len(sink.records) >= 2)
        finally:
            await rec.shutdown()
        assert sink.records == [
            ("ERROR disk full", {"team": "core", "k": "ERROR disk full", "log.file.record_number": 1, "level": "ERROR", "msg": "disk full"}),
            ("INFO ok", {"team": "core", "k": "INFO ok", "log.file.record_number": 2, "level": "INFO", "msg": "ok"}),
        ]

    asyncio.run(run())


def test_encodings_utf16_and_nop(tmp_path: Path) -> None:
    async def run() -> None:
        (tmp_path / "u.log").write_bytes("héllo\nwörld\n".encode("utf-16-le"))
        (tmp_path / "b.bin").write_bytes(b"\x00\x01raw\n")
        r16, s16 = _receiver({"include": [str(tmp_path / "u.log")], "start_at": "beginning", "encoding": "utf-16le"})
        rnop, snop = _receiver({"include": [str(tmp_path / "b.bin")], "start_at": "beginning", "encoding": "nop"}, "file_log/nop")
        await r16.start(Host())
        await rnop.start(Host())
        try:
            await _until(lambda: len(s16.records) >= 2 and len(snop.records) >= 1)
        finally:
            await r16.shutdown()
            await rnop.shutdown()
        assert s16.bodies == ["héllo", "wörld"]
        assert snop.bodies == [b"\x00\x01raw\n"]  # nop: bytes body, untrimmed, unsplit

    asyncio.run(run())


def test_bad_input_never_stops_the_receiver(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    async def run() -> None:
        logs = tmp_path / "logs"
        logs.mkdir()
        (logs / "garbage.log").write_bytes(os.urandom(5000).replace(b"\n", b"") + b"\n\xff\xfe bad utf8\n")
        (logs / "long.log").write_text("q" * 5000 + "\nshort\n")
        (logs / "gone.log").write_text("will vanish\n" * 3)
        rec, sink = _receiver({"include": [str(logs / "*.log")], "start_at": "beginning", "max_log_size": 1024})
        await rec.start(Host())
        try:
            await _until(lambda: "short" in sink.bodies and "\ufffd\ufffd bad utf8" in sink.bodies)
            os.remove(logs / "gone.log")
            for p in logs.iterdir():
                p.unlink()
            logs.rmdir()  # the watched directory disappears
            await asyncio.sleep(0.3)
            logs.mkdir()
            (logs / "back.log").write_text("after\n")  # new after the first poll: read from its start
            await _until(lambda: "after" in sink.bodies)
            assert rec._task is not None and not rec._task.done()
        finally:
            await rec.shutdown()
        long_parts = [b for b in sink.bodies if isinstance(b, str) and set(b) == {"q"}]
        assert [len(p) for p in long_parts] == [1024] * 4 + [904]
        assert sink.bodies.count("will vanish") == 3

    with caplog.at_level(logging.WARNING):
        asyncio.run(run())
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_refused_batch_is_retried_when_enabled(tmp_path: Path) -> None:
    async def run() -> None:
        (tmp_path / "a.log").write_text("r1\nr2\n")
        rec, sink = _receiver({"include": [str(tmp_path / "a.log")], "start_at": "beginning",
                               "retry_on_failure": {"enabled": True, "initial_interval": "50ms"}})
        sink.refuse = ConsumerError("busy")
        await rec.start(Host())
        try:
            await asyncio.sleep(0.3)
            assert sink.records == []
            sink.refuse = None
            await _until(lambda: len(sink.records) >= 2)
            await _settle(sink, 0.2)
        finally:
            await rec.shutdown()
        assert sink.bodies == ["r1", "r2"]

    asyncio.run(run())


@pytest.mark.parametrize("raw, message", [
    ({}, "'include' must be specified"),
    ({"include": ["x"], "start_at": "middle"}, "invalid start_at location 'middle'"),
    ({"include": ["x"], "encoding": "klingon"}, "unsupported encoding 'klingon'"),
    ({"include": ["x"], "fingerprint_size": "8"}, "'fingerprint_size' must be at least 16 bytes"),
    ({"include": ["x"], "multiline": {"line_start_pattern": "a", "line_end_pattern": "b"}},
     "only one of line_start_pattern or line_end_pattern can be set"),
    ({"include": ["x"], "delete_after_read": True}, "'delete_after_read' cannot be used with 'start_at: end'"),
    ({"include": ["x"], "multiline": {"line_start_pattern": "a("}}, "compile line start regex: "),
    ({"include": ["/tmp/[x"]}, "include: parse glob: "),
])
def test_config_errors(raw: dict[str, Any], message: str) -> None:
    with pytest.raises(Exception, match=message):
        validate(Config, raw, "receivers::file_log")


def test_defaults_and_incompatibilities() -> None:
    cfg = validate(Config, {"include": ["x"], "fingerprint_size": "1kb", "max_log_size": "1MiB",
                            "acquire_fs_lock": True}, "receivers::file_log")
    assert (cfg.start_at, cfg.include_file_name, cfg.poll_interval, cfg.force_flush_period) == ("end", True, 0.2, 0.5)
    assert (cfg.fingerprint_size, cfg.max_log_size, cfg.encoding) == (1000, 1024 * 1024, "utf-8")
    assert [m.split(":")[0] for m in cfg.upstream_incompatibilities()] == ["acquire_fs_lock"]


def test_file_attributes_permissions_owner_and_resolved(tmp_path: Path) -> None:
    import grp
    import pwd

    async def run() -> None:
        real = tmp_path / "real.log"
        real.write_text("x\n")
        os.chmod(real, 0o640)
        (tmp_path / "link.log").symlink_to(real)
        rec, sink = _receiver({"include": [str(tmp_path / "link.log")], "start_at": "beginning",
                               "include_file_permissions": True, "include_file_owner_name": True,
                               "include_file_owner_group_name": True, "include_file_name_resolved": True,
                               "include_file_path_resolved": True})
        await rec.start(Host())
        try:
            await _until(lambda: len(sink.records) >= 1)
        finally:
            await rec.shutdown()
        st = real.stat()
        assert sink.records == [("x", {
            "log.file.name": "link.log", "log.file.permissions": "640",
            "log.file.owner.name": pwd.getpwuid(st.st_uid).pw_name,
            "log.file.owner.group.name": grp.getgrgid(st.st_gid).gr_name,
            "log.file.name_resolved": "real.log", "log.file.path_resolved": str(real.resolve()),
        })]

    asyncio.run(run())


def test_start_at_end_skips_existing_gzip(tmp_path: Path) -> None:
    async def run() -> None:
        path = tmp_path / "a.log.gz"
        with gzip.open(path, "wb") as f:
            f.write(b"before\n")
        rec, sink = _receiver({"include": [str(path)], "compression": "auto"})
        await rec.start(Host())
        try:
            await asyncio.sleep(0.2)
            with gzip.open(path, "ab") as f:
                f.write(b"after\n")
            await _until(lambda: len(sink.records) >= 1)
            await _settle(sink, 0.3)
        finally:
            await rec.shutdown()
        assert sink.bodies == ["after"]

    asyncio.run(run())


def test_matches_otelcol_ref_goldens() -> None:
    """Splitting, trimming, encodings, gzip, attributes and operators against upstream's output
    (tests/receivers/testdata/filelog/cases.py, goldens recorded from otelcol-ref), one otelflow process."""
    import importlib.util
    import json

    # loaded under its own name: other receivers' testdata also hold a module called cases.py
    path = Path(__file__).parent / "testdata" / "filelog" / "cases.py"
    spec = importlib.util.spec_from_file_location("filelog_cases", path)
    cases = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(cases)

    want = json.loads(cases.GOLDENS.read_text())
    got = cases.run(cases.otelflow_command(), {k: len(v) for k, v in want.items()})
    assert sorted(want) == sorted(cases.CASES)
    for name in want:
        assert got[name] == want[name], name


def test_entries_held_by_operators_are_sent_at_shutdown(tmp_path: Path) -> None:
    async def run() -> None:
        (tmp_path / "a.log").write_text("S a\n b\nS c\n")
        rec, sink = _receiver({"include": [str(tmp_path / "a.log")], "start_at": "beginning", "operators": [
            {"type": "recombine", "combine_field": "body", "is_first_entry": 'body matches "^S"',
             "force_flush_period": "1h"}]})
        await rec.start(Host())
        try:
            await _until(lambda: len(sink.records) >= 1)
            await asyncio.sleep(0.2)
            assert sink.bodies == ["S a\nb"]
        finally:
            await rec.shutdown()
        assert sink.bodies == ["S a\nb", "S c"]

    asyncio.run(run())


def test_rotation_by_rename_and_copytruncate_while_tailing(tmp_path: Path) -> None:
    """Two files written in bursts while the receiver tails them: one rotated by rename, one by
    copytruncate (copy appears whole, then the original is truncated). Exactly once, in order."""
    import shutil

    async def run() -> None:
        seq, since, rotations = [0, 0], [0, 0], [0, 0]

        def write(n: int) -> None:
            for i in (0, 1):
                src = tmp_path / f"f{i}.log"
                with src.open("a") as f:
                    f.write("".join(f"f{i} {s:07d} {'x' * 30}\n" for s in range(seq[i], seq[i] + n)))
                seq[i] += n
                since[i] += n
                if since[i] >= 3000:
                    rotations[i] += 1
                    dst = tmp_path / f"f{i}.log.{rotations[i]}"
                    if i == 0:
                        os.rename(src, dst)
                    else:
                        shutil.copyfile(src, tmp_path / "copy.tmp")
                        os.rename(tmp_path / "copy.tmp", dst)
                        with src.open("r+") as f:
                            f.truncate(0)
                    since[i] = 0

        write(1000)
        rec, sink = _receiver({"include": [str(tmp_path / "*.log*")], "start_at": "beginning"})
        await rec.start(Host())
        try:
            for _ in range(11):
                await asyncio.to_thread(write, 1000)
                await asyncio.sleep(0.05)
            await _until(lambda: len(sink.records) >= sum(seq), 20)
            await _settle(sink, 0.5)
        finally:
            await rec.shutdown()
        assert sum(rotations) >= 6
        for i in (0, 1):
            got = [int(b.split()[1]) for b in sink.bodies if b.startswith(f"f{i} ")]
            assert got == list(range(seq[i]))

    asyncio.run(run())
