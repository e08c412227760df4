"""file_storage: upstream's keys, defaults and validation messages; one SQLite file per component named
as upstream names its bbolt files; get/set/delete/batch on the client's own thread; what survives a
reopen, kill -9 of the writing process, a second process, max_size, corruption and compaction."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from otelflow.config import collector, loader
from otelflow.config.errors import ConfigError
from otelflow.config.model import validate
from otelflow.core.component import ComponentID, Host, Kind, Settings
from otelflow.core.registry import default_registry
from otelflow.core.service import Service
from otelflow.core.telemetry import Telemetry
from otelflow.extensions import file_storage as fs
from tests.backends import free_port

EXPORTER = ComponentID("otlp")


def _config(path: Path | str, **extra) -> fs.Config:
    return validate(fs.Config, {"directory": str(path), **extra}, "extensions::file_storage")


async def _started(config: fs.Config) -> fs.FileStorage:
    ext = fs.FileStorage(Settings(id=ComponentID("file_storage"), kind=Kind.EXTENSION, telemetry=Telemetry()), config)
    await ext.start(Host())
    return ext


def _errors(data: dict) -> str:
    with pytest.raises(ConfigError) as err:
        validate(fs.Config, data, "extensions::file_storage")
    return str(err.value)


def test_defaults_are_upstreams():
    cfg = fs.Config.model_construct()  # defaults without touching /var/lib
    assert (cfg.directory, cfg.timeout, cfg.max_size, cfg.fsync) == ("/var/lib/otelcol/file_storage", 1.0, 0, False)
    assert (cfg.create_directory, cfg.directory_permissions, cfg.recreate) == (False, "0750", False)
    c = cfg.compaction
    assert (c.directory, c.on_start, c.on_rebound, c.cleanup_on_start) == ("/var/lib/otelcol/file_storage", False, False, False)
    assert (c.rebound_needed_threshold_mib, c.rebound_trigger_threshold_mib, c.max_transaction_size, c.check_interval) == (
        100, 10, 65536, 5.0)
    assert default_registry.get(Kind.EXTENSION, "file_storage") is fs.factory


def test_validation_messages(tmp_path):
    missing = tmp_path / "nope"
    assert (f"extensions::file_storage: directory must exist: stat {missing}: no such file or directory. "
            "You can enable the create_directory option to automatically create it") in _errors({"directory": str(missing)})
    a_file = tmp_path / "f"
    a_file.write_text("x")
    assert f"{a_file} is not a directory" in _errors({"directory": str(a_file)})
    # the compaction directory is checked only when compaction is on
    _config(tmp_path, compaction={"directory": str(missing)})
    assert "directory must exist" in _errors({"directory": str(tmp_path), "compaction": {"directory": str(missing), "on_start": True}})
    d = str(tmp_path)
    assert "max transaction size for compaction cannot be less than 0" in _errors({"directory": d, "compaction": {"max_transaction_size": -1}})
    assert "max size cannot be less than 0" in _errors({"directory": d, "max_size": -1})
    assert "compaction check interval must be positive when rebound compaction is set" in _errors(
        {"directory": d, "compaction": {"on_rebound": True, "check_interval": "0s", "directory": d}})
    assert "compaction rebound needed threshold cannot be greater than max size" in _errors(
        {"directory": d, "max_size": 1 << 20, "compaction": {"on_rebound": True, "directory": d}})
    assert "directory_permissions value must be a valid octal representation" in _errors(
        {"directory": str(missing), "create_directory": True, "directory_permissions": "0o750"})
    assert "directory_permissions contain invalid bits for file access" in _errors(
        {"directory": str(missing), "create_directory": True, "directory_permissions": "1750"})
    assert "fsyncc: unknown key, did you mean \"fsync\"" in _errors({"directory": d, "fsyncc": True})


def test_file_names_follow_upstream():
    assert fs.file_name(Kind.EXPORTER, ComponentID("otlp"), "traces") == "exporter_otlp__traces"
    assert fs.file_name(Kind.EXPORTER, ComponentID("otlp", "tempo"), "logs") == "exporter_otlp_tempo_logs"
    assert fs.file_name(Kind.RECEIVER, ComponentID("filelog", "a/b~c"), "") == "receiver_filelog_a~002Fb~007Ec"
    long = fs.file_name(Kind.EXPORTER, ComponentID("otlp", "x" * 300), "traces")
    assert len(long) == 64 and all(ch in "0123456789abcdef" for ch in long)


async def test_client_operations_persist_and_run_off_the_loop(tmp_path):
    ext = await _started(_config(tmp_path))
    client = await ext.client(Kind.EXPORTER, EXPORTER, "traces")
    assert (tmp_path / "exporter_otlp__traces").exists()
    assert await client.get("missing") is None
    await client.set("a", b"\x00one")
    out = await client.batch([("set", "b", b"two"), ("get", "b"), ("delete", "a"), ("get", "a"), ("set", "c", b"")])
    assert out == [None, b"two", None, None, None]
    assert sorted(await client.keys()) == ["b", "c"]
    assert await client.get("c") == b""
    # the SQLite work runs on the client's own thread, never on the event loop's
    loop_thread = threading.get_ident()
    assert await client._run(threading.get_ident) != loop_thread
    # a failed batch changes nothing
    with pytest.raises(ValueError, match="wrong operation type"):
        await client.batch([("set", "d", b"4"), ("merge", "b")])
    assert await client.get("d") is None
    await client.close()
    with pytest.raises(RuntimeError, match="storage is closed"):
        await client.get("b")
    await ext.shutdown()

    ext = await _started(_config(tmp_path))
    again = await ext.client(Kind.EXPORTER, EXPORTER, "traces")
    assert await again.get("b") == b"two"
    other = await ext.client(Kind.EXPORTER, EXPORTER, "logs")  # a separate file per name
    assert await other.keys() == []
    await ext.shutdown()  # closes the clients its owners left open
    assert sorted(p.name for p in tmp_path.iterdir()) == ["exporter_otlp__logs", "exporter_otlp__traces"]


@pytest.mark.parametrize("fsync, level", [(False, 1), (True, 2)])
async def test_wal_and_synchronous_follow_fsync(tmp_path, fsync, level):
    ext = await _started(_config(tmp_path, fsync=fsync))
    client = await ext.client(Kind.EXPORTER, EXPORTER, "traces")
    assert await client._run(lambda: client._db.execute("PRAGMA synchronous").fetchone()[0]) == level  # 1 NORMAL, 2 FULL
    assert await client._run(lambda: client._db.execute("PRAGMA journal_mode").fetchone()[0]) == "wal"
    await ext.shutdown()


async def test_a_second_process_cannot_open_the_same_file(tmp_path):
    ext = await _started(_config(tmp_path, timeout="200ms"))
    client = await ext.client(Kind.EXPORTER, EXPORTER, "traces")
    await client.set("k", b"v")
    other = await _started(_config(tmp_path, timeout="200ms"))
    with pytest.raises(TimeoutError, match="locked by another process"):
        await other.client(Kind.EXPORTER, EXPORTER, "traces")
    await client.close()
    assert await (await other.client(Kind.EXPORTER, EXPORTER, "traces")).get("k") == b"v"
    await other.shutdown()
    await ext.shutdown()


_WRITER = textwrap.dedent("""
    import asyncio, sys
    from otelflow.config.model import validate
    from otelflow.core.component import ComponentID, Host, Kind, Settings
    from otelflow.core.telemetry import Telemetry
    from otelflow.extensions import file_storage as fs

    async def main():
        cfg = validate(fs.Config, {"directory": sys.argv[1], "fsync": sys.argv[2] == "1"}, "x")
        ext = fs.FileStorage(Settings(id=ComponentID("file_storage"), kind=Kind.EXTENSION, telemetry=Telemetry()), cfg)
        await ext.start(Host())
        client = await ext.client(Kind.EXPORTER, ComponentID("otlp"), "traces")
        i = 0
        while True:
            await client.batch([("set", str(i), bytes([i % 251]) * 2000), ("delete", str(i - 3))])
            print(i, flush=True)  # acknowledged: committed
            i += 1

    asyncio.run(main())
""")


@pytest.mark.parametrize("fsync", [False, True])
async def test_every_acknowledged_write_survives_kill_9(tmp_path, fsync):
    proc = subprocess.Popen([sys.executable, "-c", _WRITER, str(tmp_path), "1" if fsync else "0"],
                            stdout=subprocess.PIPE, text=True)
    acked = -1
    try:
        while acked < 300:
            line = await asyncio.to_thread(proc.stdout.readline)
            assert line, "writer exited early"
            acked = int(line)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    # every write the process reported (and maybe the one after it) is there; older ones were deleted
    ext = await _started(_config(tmp_path))
    client = await ext.client(Kind.EXPORTER, EXPORTER, "traces")
    keys = sorted(int(k) for k in await client.keys())
    last = keys[-1]
    assert last >= acked
    assert keys == list(range(last - 2, last + 1))
    for k in keys:
        assert await client.get(str(k)) == bytes([k % 251]) * 2000
    await ext.shutdown()


async def test_max_size_refuses_writes_with_upstreams_error(tmp_path):
    ext = await _started(_config(tmp_path, max_size=256 * 1024))
    client = await ext.client(Kind.EXPORTER, EXPORTER, "traces")
    stored = 0
    with pytest.raises(fs.StorageFullError, match="the storage extension has run out of available space"):
        for i in range(1000):
            await client.set(str(i), os.urandom(8192))
            stored += 1
    assert 10 < stored < 40
    assert len(await client.keys()) == stored  # the refused write left nothing behind
    await client.delete("0")  # space freed inside the file can be reused
    await client.set("again", os.urandom(4096))
    await ext.shutdown()


async def test_concurrent_batches_commit_together_but_fail_alone(tmp_path):
    ext = await _started(_config(tmp_path))
    client = await ext.client(Kind.EXPORTER, EXPORTER, "traces")
    results = await asyncio.gather(
        client.set("a", b"1"), client.batch([("set", "b", b"2"), ("merge", "x")]), client.set("c", b"3"),
        return_exceptions=True)
    assert results[0] is None and results[2] is None and isinstance(results[1], ValueError)
    assert sorted(await client.keys()) == ["a", "c"]
    await ext.shutdown()

    # the disk fills in the middle of a group: every caller learns whether its own write landed
    ext = await _started(_config(tmp_path, max_size=256 * 1024))
    client = await ext.client(Kind.EXPORTER, EXPORTER, "traces")
    results = await asyncio.gather(*[client.set(f"k{i}", os.urandom(8192)) for i in range(60)], return_exceptions=True)
    landed = {f"k{i}" for i, r in enumerate(results) if r is None}
    assert all(isinstance(r, fs.StorageFullError) for r in results if r is not None)
    assert 10 < len(landed) < 40
    assert set(await client.keys()) == landed | {"a", "c"}
    await ext.shutdown()


async def test_recreate_moves_a_corrupt_file_aside(tmp_path):
    (tmp_path / "exporter_otlp__traces").write_bytes(b"this is not an sqlite database" * 100)
    ext = await _started(_config(tmp_path))
    with pytest.raises(sqlite3.DatabaseError):
        await ext.client(Kind.EXPORTER, EXPORTER, "traces")
    ext = await _started(_config(tmp_path, recreate=True))
    client = await ext.client(Kind.EXPORTER, EXPORTER, "traces")
    await client.set("k", b"v")
    assert await client.get("k") == b"v"
    backups = [p.name for p in tmp_path.iterdir() if p.name.endswith(".backup")]
    assert len(backups) == 1 and backups[0].startswith("exporter_otlp__traces.")
    assert (tmp_path / backups[0]).read_bytes().startswith(b"this is not")
    await ext.shutdown()


async def _fill_and_empty(client, mib: int) -> None:
    blob = os.urandom(64 * 1024)
    for start in range(0, mib * 16, 64):
        await client.batch([("set", str(i), blob) for i in range(start, start + 64)])
    await client.batch([("delete", str(i)) for i in range(mib * 16)])


async def test_compaction_on_start_and_on_rebound(tmp_path):
    db = tmp_path / "exporter_otlp__traces"
    ext = await _started(_config(tmp_path))
    client = await ext.client(Kind.EXPORTER, EXPORTER, "traces")
    await _fill_and_empty(client, 4)
    await client.set("keep", b"k")
    await ext.shutdown()
    grown = db.stat().st_size
    assert grown > 4 << 20

    ext = await _started(_config(tmp_path, compaction={"on_start": True, "directory": str(tmp_path)}))
    client = await ext.client(Kind.EXPORTER, EXPORTER, "traces")
    assert db.stat().st_size < grown // 10
    assert await client.get("keep") == b"k"
    await ext.shutdown()

    ext = await _started(_config(tmp_path, compaction={
        "on_rebound": True, "directory": str(tmp_path), "check_interval": "100ms",
        "rebound_needed_threshold_mib": 3, "rebound_trigger_threshold_mib": 1}))
    client = await ext.client(Kind.EXPORTER, EXPORTER, "traces")
    await _fill_and_empty(client, 4)
    for _ in range(50):
        await asyncio.sleep(0.1)
        if db.stat().st_size < 1 << 20:
            break
    assert db.stat().st_size < 1 << 20
    assert await client.get("keep") == b"k"
    await ext.shutdown()


async def test_create_directory_and_cleanup_on_start(tmp_path):
    data, scratch = tmp_path / "a" / "data", tmp_path / "scratch"
    scratch.mkdir()
    (scratch / "tempdb123").write_bytes(b"left by a killed compaction")
    (scratch / "other").write_bytes(b"not ours")
    cfg = _config(data, create_directory=True, directory_permissions="0700",
                  compaction={"on_start": True, "directory": str(scratch), "cleanup_on_start": True})
    ext = await _started(cfg)
    assert data.is_dir() and (data.stat().st_mode & 0o777) == 0o700 & ~_umask()
    assert sorted(p.name for p in scratch.iterdir()) == ["other"]
    await (await ext.client(Kind.EXPORTER, EXPORTER, "traces")).set("k", b"v")
    await ext.shutdown()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


async def test_service_runs_the_extension_for_an_exporter_queue(tmp_path):
    yaml = f"""
extensions: {{file_storage/q: {{directory: "{tmp_path}"}}}}
receivers: {{otlp: {{protocols: {{grpc: {{endpoint: "127.0.0.1:{free_port()}"}}}}}}}}
exporters:
  otlp/tempo: {{endpoint: "127.0.0.1:{free_port()}", tls: {{insecure: true}}, sending_queue: {{storage: file_storage/q}}}}
service:
  telemetry: {{metrics: {{level: none}}}}
  extensions: [file_storage/q]
  pipelines: {{traces: {{receivers: [otlp], exporters: [otlp/tempo]}}, logs: {{receivers: [otlp], exporters: [otlp/tempo]}}}}
"""
    service = Service(collector.parse(loader.load([f"yaml:{yaml}"]), default_registry))
    await service.start()
    try:
        names = sorted(p.name for p in tmp_path.iterdir())
        assert names == ["exporter_otlp_tempo_logs", "exporter_otlp_tempo_logs-wal",
                         "exporter_otlp_tempo_traces", "exporter_otlp_tempo_traces-wal"]
    finally:
        await service.shutdown(timeout=10)
    # a clean stop checkpoints and removes the WAL files
    assert sorted(p.name for p in tmp_path.iterdir()) == ["exporter_otlp_tempo_logs", "exporter_otlp_tempo_traces"]
