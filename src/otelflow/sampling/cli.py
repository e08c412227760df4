"""``otelflow sampling what-if``: the report for a policies file over the local embedded store."""

from __future__ import annotations

import json
import re
import sys
import time

from otelflow.config.errors import ConfigError
from otelflow.sampling import policyfile, report
from otelflow.sampling.replay import StoreLocked, open_store

_UNITS = {"ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}


def parse_since(text: str) -> float | None:
    """Seconds back from now (``90s``, ``15m``, ``1h30m``, ``7d``); ``all`` or ``0``: no limit (None)."""
    text = text.strip().lower()
    if text in ("all", "0", ""):
        return None
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)", text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise ValueError(f"--since: {text!r} is not a duration like 15m, 1h or 7d (or 'all')")
    return sum(float(n) * _UNITS[u] for n, u in parts)


def main(args) -> int:
    from otelflow.extensions.embedded_store import default_directory

    try:
        since = parse_since(args.since)
        processors = policyfile.pick(policyfile.load(args.policies), getattr(args, "processor", None))
    except (ConfigError, ValueError) as exc:
        print(f"otelflow sampling what-if: {exc}", file=sys.stderr)
        return 2
    directory = getattr(args, "what_if_data_dir", None) or getattr(args, "data_dir", None) or default_directory()
    try:
        con = open_store(directory)
    except (StoreLocked, FileNotFoundError) as exc:
        print(f"otelflow sampling what-if: {exc}", file=sys.stderr)
        return 1
    try:
        con.execute("SET threads = 1")  # the replay is one Python thread; the scan needs no more
        end_us = time.time_ns() // 1000
        start_us = None if since is None else end_us - int(since * 1e6)
        reports = report.what_if(con, processors, start_us, None)
    finally:
        con.close()
    if args.format == "json":
        print(json.dumps({"data_dir": str(directory), "since": args.since, "reports": reports}, indent=2))
    else:
        print("\n\n".join(report.as_text(r) for r in reports))
    return 0
