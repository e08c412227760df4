"""file_log receiver cases recorded from otelcol-ref: raw file bytes (encodings, CRLF, an unterminated
last line, long lines) + receiver keys; every case is one receiver and file exporter of one collector
process. Goldens are goldens.json beside this file, normalised as the stanza rig does.

    python tests/receivers/testdata/filelog/cases.py record   # run otelcol-ref, write goldens.json
    python tests/receivers/testdata/filelog/cases.py check    # run otelflow, compare
"""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[3]
sys.path.insert(0, str(REPO))
from tests.stanza.stanza_rig import OTELCOL_REF, _count, normalise_file  # noqa: E402

GOLDENS = HERE / "goldens.json"
LONG = "0123456789abcdefghijklmnopqrstuvwxyz"

#: name -> (file name, bytes, receiver keys)
CASES: dict[str, tuple[str, bytes, dict[str, Any]]] = {
    "plain": ("in.log", b"a\nb\r\n\n  c  \n\t tail without newline", {}),
    "preserve": ("in.log", b"  lead\ntrail  \n both \n", {"preserve_leading_whitespaces": True,
                                                         "preserve_trailing_whitespaces": True}),
    "preserve_leading": ("in.log", b"  lead  \n", {"preserve_leading_whitespaces": True}),
    "line_start": ("in.log", b"preamble\n2024-01-01 one\n  cont 1\n  cont 2\n2024-01-02 two\n2024-01-03 three\n",
                   {"multiline": {"line_start_pattern": r"^\d{4}-\d\d-\d\d"}}),
    "line_start_omit": ("in.log", b"START a\nb\nSTART c\nd\nSTART e\n",
                        {"multiline": {"line_start_pattern": "^START ", "omit_pattern": True}}),
    "line_end": ("in.log", b"a\nb;\nc;\nd\ne;\n", {"multiline": {"line_end_pattern": ";$"}}),
    "line_end_omit": ("in.log", b"a\nb;\nc;\n", {"multiline": {"line_end_pattern": ";", "omit_pattern": True}}),
    "max_log_size": ("in.log", (LONG + "\nshort\n" + LONG * 2 + "\n").encode(), {"max_log_size": 16}),
    "max_log_size_truncate": ("in.log", (LONG + "\nshort\n" + LONG * 2 + "\n").encode(),
                              {"max_log_size": 16, "max_log_size_behavior": "truncate"}),
    "multiline_max_log_size": ("in.log", ("S " + LONG + "\nmore\nS x\nS y\n").encode(),
                               {"max_log_size": 20, "multiline": {"line_start_pattern": "^S "}}),
    "utf16le": ("in.log", "héllo\nwörld ✓\n".encode("utf-16-le"), {"encoding": "utf-16le"}),
    "utf16be": ("in.log", "big\nend\n".encode("utf-16-be"), {"encoding": "utf-16be"}),
    "latin1": ("in.log", "caf\xe9\nna\xefve\n".encode("latin-1"), {"encoding": "iso-8859-1"}),
    "invalid_utf8": ("in.log", b"ok\n\xff\xfebad\xc3\n\xe2\x82\xac\n", {}),
    "nop": ("in.log", b"\x00\x01 raw\nbytes\n", {"encoding": "nop"}),
    "attributes": ("in.log", b"x\n\ny\n", {"include_file_name": False, "include_file_record_number": True,
                                          "attributes": {"team": "core", "kind": "EXPR(body + '!')"},
                                          "resource": {"host": "h1"}}),
    "gzip": ("in.log.gz", gzip.compress(b"g1\ng2\ng3"), {"compression": "gzip"}),
    "gzip_auto": ("in.log.gz", gzip.compress(b"z1\nz2\n"), {"compression": "auto"}),
    "regex_parser": ("in.log", b"ERROR disk full\nINFO ok\n",
                     {"operators": [{"type": "regex_parser", "regex": r"^(?P<level>\w+) (?P<msg>.*)$"}]}),
}


def run(command: list[str], expect: dict[str, int] | None, timeout: float = 40.0) -> dict[str, list[dict]]:
    """All cases in one collector; wait for the expected counts, or for 4 s without change."""
    with tempfile.TemporaryDirectory(prefix="filelog-cases-") as tmp:
        tmpdir = Path(tmp)
        receivers, exporters, pipelines, outs = {}, {}, {}, {}
        for n, (name, (file_name, data, keys)) in enumerate(CASES.items()):
            d = tmpdir / str(n)
            d.mkdir()
            (d / file_name).write_bytes(data)
            outs[name] = d / "out.json"
            receivers[f"file_log/{n}"] = {"include": [str(d / file_name)], "start_at": "beginning", **keys}
            exporters[f"file/{n}"] = {"path": str(outs[name])}
            pipelines[f"logs/{n}"] = {"receivers": [f"file_log/{n}"], "exporters": [f"file/{n}"]}
        cfg = {"receivers": receivers, "exporters": exporters,
               "service": {"pipelines": pipelines, "telemetry": {"metrics": {"level": "none"}, "logs": {"level": "warn"}}}}
        (tmpdir / "config.yaml").write_text(yaml.safe_dump(cfg))
        proc = subprocess.Popen([*command, "--config", str(tmpdir / "config.yaml")], stdout=subprocess.DEVNULL,
                                stderr=open(tmpdir / "stderr.log", "wb"))
        try:
            deadline, last, since = time.monotonic() + timeout, None, time.monotonic()
            while time.monotonic() < deadline:
                time.sleep(0.25)
                if proc.poll() is not None:
                    raise RuntimeError(f"collector exited: {(tmpdir / 'stderr.log').read_text()[-2000:]}")
                counts = {k: _count(p) for k, p in outs.items()}
                if expect is not None and all(counts[k] >= v for k, v in expect.items()):
                    time.sleep(0.5)
                    break
                if counts != last:
                    last, since = counts, time.monotonic()
                elif time.monotonic() - since > 4.0:
                    break
        finally:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        return {k: normalise_file(p) for k, p in outs.items()}


def otelflow_command() -> list[str]:
    return [sys.executable, "-m", "otelflow"]


def main(mode: str) -> int:
    if mode == "record":
        got = run([str(OTELCOL_REF)], None)
        GOLDENS.write_text(json.dumps(got, indent=1, sort_keys=True) + "\n")
        print("recorded " + ", ".join(f"{k}={len(v)}" for k, v in got.items()))
        return 0
    want = json.loads(GOLDENS.read_text())
    got = run(otelflow_command(), {k: len(v) for k, v in want.items()})
    bad = [k for k in want if got.get(k) != want[k]]
    for k in bad:
        print(f"DIFF {k}\n want {json.dumps(want[k])}\n got  {json.dumps(got.get(k))}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "check"))
