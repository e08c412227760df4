"""file_log end to end with a real otelflow process: 10 files rotated by rename and by copytruncate
while being tailed, the collector stopped and restarted in the middle (rotations also happen while
it is down), checkpoints kept by the real ``file_storage`` extension. Every line must arrive exactly
once and in order per file.

FILELOG_LINES lines in total, default 1000000 (about 40 s on a loaded 2-core box);
``FILELOG_LINES=200000 pytest tests/receivers/test_filelog_restart.py`` is a 10 s variant.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import pytest

from tests.process import Collector

FILES = 10
TOTAL = int(os.environ.get("FILELOG_LINES", "1000000"))
ROTATE_EVERY = max(1000, TOTAL // FILES // 4)  # lines per file between rotations
PAD = "x" * 40


def _config(logs: Path, storage: Path, out: Path) -> str:
    return f"""
extensions:
  file_storage:
    directory: {storage}
    create_directory: true
receivers:
  file_log:
    include: ["{logs}/*.log*"]
    start_at: beginning
    poll_interval: 50ms
    include_file_path: true
    storage: file_storage
exporters:
  file:
    path: {out}
    append: true
    flush_interval: 100ms
service:
  extensions: [file_storage]
  pipelines:
    logs:
      receivers: [file_log]
      exporters: [file]
"""


class Writer:
    """Appends numbered lines to f00..f09.log; even files rotate by rename, odd by copytruncate."""

    def __init__(self, logs: Path):
        self.logs = logs
        self.seq = [0] * FILES
        self.since_rotation = [0] * FILES
        self.rotations = [0] * FILES

    def path(self, i: int) -> Path:
        return self.logs / f"f{i:02d}.log"

    def write(self, per_file: int) -> None:
        for i in range(FILES):
            left = per_file
            while left:
                n = min(left, ROTATE_EVERY - self.since_rotation[i])
                start = self.seq[i]
                with open(self.path(i), "a") as f:
                    f.write("".join(f"f{i:02d} {s:09d} {PAD}\n" for s in range(start, start + n)))
                self.seq[i] += n
                self.since_rotation[i] += n
                left -= n
                if self.since_rotation[i] >= ROTATE_EVERY:
                    self.rotate(i)

    def rotate(self, i: int) -> None:
        self.rotations[i] += 1
        src = self.path(i)
        dst = self.logs / f"f{i:02d}.log.{self.rotations[i]}"
        if i % 2 == 0:
            os.rename(src, dst)
        else:
            # copy under a name outside the globs, then rename: the copy appears whole, as a
            # copy made while the collector is down would (a half-written copy is a race
            # upstream has too, not what this case is about)
            tmp = self.logs / f"f{i:02d}.copy"
            shutil.copyfile(src, tmp)
            os.rename(tmp, dst)
            with open(src, "r+") as f:
                f.truncate(0)
        self.since_rotation[i] = 0


class Received:
    """Reads the file exporter's output incrementally: sequence numbers per file, in arrival order."""

    def __init__(self, out: Path):
        self.out = out
        self.pos = 0
        self.seqs: dict[str, list[int]] = {}
        self.count = 0

    def update(self) -> int:
        if not self.out.exists():
            return self.count
        with open(self.out, "rb") as f:
            f.seek(self.pos)
            data = f.read()
        end = data.rfind(b"\n") + 1
        self.pos += end
        for line in data[:end].splitlines():
            if not line.strip():
                continue
            for rl in json.loads(line).get("resourceLogs", []):
                for sl in rl.get("scopeLogs", []):
                    for rec in sl.get("logRecords", []):
                        name, seq, _ = rec["body"]["stringValue"].split(" ")
                        self.seqs.setdefault(name, []).append(int(seq))
                        self.count += 1
        return self.count

    def wait_for(self, expected: int, timeout: float) -> int:
        deadline = time.monotonic() + timeout
        while self.update() < expected and time.monotonic() < deadline:
            time.sleep(0.5)
        return self.count


def _received(out: Path) -> dict[str, list[int]]:
    r = Received(out)
    r.update()
    return r.seqs


def test_rotation_and_restart_exactly_once_in_order(tmp_path: Path) -> None:
    logs, storage, out = tmp_path / "logs", tmp_path / "storage", tmp_path / "out.jsonl"
    logs.mkdir()
    writer = Writer(logs)
    received = Received(out)
    per_file = TOTAL // FILES
    rounds = 8
    step = per_file // rounds
    writer.write(step)  # data present before the first start
    col = Collector(_config(logs, storage, out)).start()
    try:
        for r in range(1, rounds):
            if r == rounds // 2:
                # restart in the middle: wait until part of the data went out, stop, keep
                # writing and rotating while the collector is down, start again
                received.wait_for(step * FILES * (r - 1), 60)
                assert col.stop() == 0, col.output()
                writer.write(step if r < rounds - 1 else per_file - step * (rounds - 1))
                col = Collector(_config(logs, storage, out)).start()
                continue
            writer.write(step if r < rounds - 1 else per_file - step * (rounds - 1))
            time.sleep(0.2)
        expected = sum(writer.seq)
        assert expected == TOTAL
        n = received.wait_for(expected, 60 + TOTAL / 5000)
        time.sleep(1.0)  # anything extra (duplicates) would show up now
    finally:
        code = col.stop()
    assert code == 0, col.output()
    received.update()
    got = received.seqs
    assert sum(writer.rotations) >= FILES, "the case must rotate every file"
    assert "Traceback" not in col.output(), col.output()
    for i in range(FILES):
        name = f"f{i:02d}"
        seqs = got.get(name, [])
        assert seqs == list(range(writer.seq[i])), (
            f"{name}: {len(seqs)} lines for {writer.seq[i]} written; "
            f"missing {sorted(set(range(writer.seq[i])) - set(seqs))[:5]} "
            f"duplicated {len(seqs) - len(set(seqs))}; first out-of-order at "
            f"{next((k for k in range(1, len(seqs)) if seqs[k] <= seqs[k - 1]), None)}")
    assert n == expected == received.count
