#!/usr/bin/env python3
"""The long fuzz run (``make fuzz``): at least a million inputs through what the OTLP receiver and
the config loader run on untrusted input, looking for a crash (an exception of a type the caller
does not handle), a hang (one input taking over a second) or memory that keeps growing.

  fuzz.py                        1,000,000 inputs, results in bench/results/fuzz.json
  fuzz.py --inputs 50000 --diff 0    a short run, no comparison with upstream

Most inputs call the decode functions the receiver calls (protobuf parse and ID check, OTLP/JSON,
each Content-Encoding, the Content-Type parser) and the config loader, in-process. A share goes
over real sockets to a collector (HTTP and gRPC), and with ``--diff`` that many go to both
otelflow and the upstream collector (otelcol-ref, ``make bench-ref``) to compare status codes.
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import json
import os
import platform
import random
import resource
import sys
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import grpc  # noqa: E402
import yaml  # noqa: E402
from google.protobuf.message import DecodeError  # noqa: E402

from otelflow.config import collector, loader  # noqa: E402
from otelflow.config.errors import ConfigError  # noqa: E402
from otelflow.core.compression import DecompressionError, TooLargeError, decompress  # noqa: E402
from otelflow.core.component import Signal  # noqa: E402
from otelflow.core.registry import default_registry  # noqa: E402
from otelflow.pdata import REQUEST_TYPES, InvalidIDError, check_ids_encoded, otlpjson  # noqa: E402
from otelflow.receivers.otlp.mediatype import media_type  # noqa: E402
from tests.fuzz import corpus  # noqa: E402
from tests.fuzz.corpus import ENCODINGS, JSON, PATHS, PROTOBUF  # noqa: E402
from tests.fuzz.harness import LIMIT, Live, rss_bytes  # noqa: E402

HANG_SECONDS = 1.0
# What the receiver catches from each step: anything else would be a crash (a 500 or a dead task).
PB_ERRORS = (DecodeError, InvalidIDError, RuntimeWarning, RecursionError)
SIGNALS = list(Signal)


class Run:
    def __init__(self, seed: int):
        self.rng = random.Random(seed)
        self.counts: dict[str, int] = {}
        self.seconds: dict[str, float] = {}
        self.slowest: dict[str, float] = {}
        self.outcomes: dict[str, dict[str, int]] = {}
        self.failures: list[dict] = []

    def one(self, target: str, fn, data) -> None:
        start = time.perf_counter()
        try:
            outcome = fn(data)
        except Exception as exc:  # a crash: record the input so it can be replayed
            outcome = "CRASH"
            if len(self.failures) < 50:
                raw = data if isinstance(data, bytes) else repr(data).encode()
                self.failures.append({"target": target, "error": f"{type(exc).__name__}: {exc}"[:500],
                                      "traceback": traceback.format_exc()[-1500:],
                                      "input_b64": base64.b64encode(raw[:4096]).decode()})
        took = time.perf_counter() - start
        self.counts[target] = self.counts.get(target, 0) + 1
        self.seconds[target] = self.seconds.get(target, 0.0) + took
        if took > self.slowest.get(target, 0.0):
            self.slowest[target] = took
        if took > HANG_SECONDS and len(self.failures) < 50:
            self.failures.append({"target": target, "error": f"hang: {took:.2f} s for one input"})
        bucket = self.outcomes.setdefault(target, {})
        bucket[outcome] = bucket.get(outcome, 0) + 1


# -- in-process targets ---------------------------------------------------------------------------

def _protobuf(data: tuple) -> str:
    signal, body = data
    try:
        check_ids_encoded(signal, body, REQUEST_TYPES[signal].FromString(body))
    except PB_ERRORS:
        return "refused"
    return "accepted"


def _json(data: tuple) -> str:
    signal, body = data
    try:
        otlpjson.decode(body, REQUEST_TYPES[signal])
    except otlpjson.OTLPJSONError:
        return "refused"
    return "accepted"


def _compression(data: tuple) -> str:
    encoding, body, kind = data
    try:
        out = decompress(encoding, body, LIMIT)
    except TooLargeError:
        return "too large"
    except DecompressionError:
        if kind == "valid":
            raise AssertionError("a valid body was refused")
        return "refused"
    if kind == "bomb":
        raise AssertionError(f"a bomb decompressed to {len(out)} bytes (limit {LIMIT})")
    return "accepted"


def _content_type(text: str) -> str:
    return "known" if media_type(text) in (PROTOBUF, JSON) else "other"


BASE_CONFIG = yaml.safe_dump(yaml.safe_load((ROOT / "examples" / "collector.yaml").read_text()))


def _config(data: tuple) -> str:
    kind, text = data
    try:
        if kind == "yaml":
            tree = loader.load(["env:CFG"], environ={"CFG": text})
        else:
            tree = loader.load(["env:CFG"], [text], environ={"CFG": BASE_CONFIG})
        collector.parse(tree, default_registry)
    except ConfigError as exc:
        if not all(issue.path for issue in exc.issues):
            raise AssertionError(f"ConfigError without a YAML path: {exc}") from None
        return "ConfigError"
    return "valid"


def _yaml_text(rng: random.Random) -> str:
    lines = BASE_CONFIG.splitlines()
    for _ in range(1 + rng.randrange(3)):
        i = rng.randrange(len(lines))
        op = rng.randrange(4)
        if op == 0:
            lines[i] = lines[i][: rng.randrange(len(lines[i]) + 1)]
        elif op == 1:
            lines[i] += rng.choice([" x", ": 1", " [", "{", " ${env:X}", " - a", "\t", " &a", " *a", ": !!python/x 1"])
        elif op == 2:
            del lines[i]
        else:
            lines.insert(i, lines[rng.randrange(len(lines))])
    return "\n".join(lines)


def _set_text(rng: random.Random) -> str:
    keys = ["receivers", "otlp", "protocols", "grpc", "http", "endpoint", "exporters", "service", "pipelines",
            "traces", "processors", "batch", "max_request_body_size", "tls", "", "x"]
    key = "::".join(rng.choice(keys) for _ in range(1 + rng.randrange(5)))
    value = rng.choice(["1", "-1", "true", "null", "[a, b]", "{a: 1}", "'", "${env:X}", "5s", "127.0.0.1:0", ""])
    return f"{key}={value}" if rng.random() < 0.95 else key


def in_process(run: Run, n: int) -> None:
    rng = run.rng
    seeds = {s: [corpus.request(rng, s) for _ in range(200)] for s in SIGNALS}
    seed_pb = {s: [m.SerializeToString() for m in ms] for s, ms in seeds.items()}
    seed_json = {s: [otlpjson.encode(m) for m in ms] for s, ms in seeds.items()}
    compressed = {e: [corpus.COMPRESS[e](b) for b in seed_pb[Signal.TRACES][:50]] for e in ENCODINGS}
    bombs = {e: corpus.bomb(e, 4 * LIMIT) for e in ENCODINGS}
    header_words = ["application/x-protobuf", "application/json", "charset=utf-8", ";", " ", "=", '"', "\\", "/",
                    "APPLICATION", "*", "text/plain", "\x85", "\xa0", "a=1", "a=2"]
    weights = [("protobuf", 0.36), ("json", 0.22), ("random", 0.10), ("compression", 0.22),
               ("content-type", 0.08), ("config", 0.02)]
    plan = []
    for name, w in weights:
        plan += [name] * int(round(w * 100))
    report_every = max(n // 20, 1)
    for i in range(n):
        target = plan[i % len(plan)]
        signal = rng.choice(SIGNALS)
        if target == "protobuf":
            body = rng.choice(seed_pb[signal])
            if rng.random() < 0.02:
                body = corpus.deep_request(rng.randrange(1, 400), rng.random() < 0.5)
            run.one("protobuf", _protobuf, (signal, corpus.mutate_bytes(rng, body)))
        elif target == "json":
            run.one("json", _json, (signal, corpus.mutate_json(rng, rng.choice(seed_json[signal]))))
        elif target == "random":
            body = rng.randbytes(rng.randrange(256))
            run.one("protobuf", _protobuf, (signal, body))
            run.one("json", _json, (signal, body))
        elif target == "compression":
            encoding = rng.choice(ENCODINGS)
            kind = rng.choice(["valid", "corrupt", "corrupt", "random", "bomb"])
            if kind == "bomb":
                body = bombs[encoding]
            elif kind == "random":
                body = rng.randbytes(rng.randrange(128))
            else:
                body = rng.choice(compressed[encoding])
                if kind == "corrupt":
                    body = corpus.mutate_bytes(rng, body)
            run.one("compression", _compression, (encoding, body, kind))
        elif target == "content-type":
            text = "".join(rng.choice(header_words) for _ in range(rng.randrange(6)))
            run.one("content-type", _content_type, text)
        else:
            data = ("yaml", _yaml_text(rng)) if rng.random() < 0.5 else ("set", _set_text(rng))
            run.one("config", _config, data)
        if (i + 1) % report_every == 0:
            print(f"  in-process {i + 1}/{n}, RSS {rss_bytes() >> 20} MiB, failures {len(run.failures)}", flush=True)


# -- over sockets ---------------------------------------------------------------------------------

def _socket_input(rng: random.Random, seeds) -> tuple[Signal, bytes, dict]:
    signal = rng.choice(SIGNALS)
    message = rng.choice(seeds[signal])
    kind = rng.randrange(4)
    if kind == 0:
        body, headers = corpus.mutate_bytes(rng, message.SerializeToString()), {"Content-Type": PROTOBUF}
    elif kind == 1:
        body, headers = corpus.mutate_json(rng, message), {"Content-Type": JSON}
    elif kind == 2:
        encoding = rng.choice(ENCODINGS)
        body = corpus.COMPRESS[encoding](message.SerializeToString())
        if rng.random() < 0.7:
            body = corpus.mutate_bytes(rng, body)
        headers = {"Content-Type": PROTOBUF, "Content-Encoding": encoding}
    else:
        body, headers = rng.randbytes(rng.randrange(256)), {"Content-Type": rng.choice([PROTOBUF, JSON, "text/plain"])}
    return signal, body, headers


def over_sockets(run: Run, n: int) -> dict:
    rng = run.rng
    seeds = {s: [corpus.request(rng, s) for _ in range(50)] for s in SIGNALS}
    live = Live().start()
    statuses: dict[str, int] = {}
    try:
        for i in range(n):
            signal, body, headers = _socket_input(rng, seeds)
            if i % 2:
                code = run_one_socket(run, "http", lambda: str(live.post(PATHS[signal], body, headers)[0]))
            else:
                pb = corpus.mutate_bytes(rng, rng.choice(seeds[signal]).SerializeToString())
                code = run_one_socket(run, "grpc", lambda: live.export(signal, pb).name)
            statuses[code] = statuses.get(code, 0) + 1
        good = corpus.request(random.Random(1), Signal.TRACES).SerializeToString()
        alive = live.post(PATHS[Signal.TRACES], good, {"Content-Type": PROTOBUF})[0] == 200 and \
            live.export(Signal.TRACES, good) == grpc.StatusCode.OK
    finally:
        live.stop()
    if not alive:
        run.failures.append({"target": "sockets", "error": "the collector stopped answering a good request"})
    return {"statuses": statuses, "alive_after": alive}


def run_one_socket(run: Run, target: str, call) -> str:
    holder = {}

    def fn(_):
        holder["code"] = call()
        if holder["code"].startswith("5") and holder["code"] != "500":
            raise AssertionError(f"unexpected status {holder['code']}")
        return holder["code"]

    run.one(target, fn, b"")
    return holder.get("code", "CRASH")


def differential(run: Run, n: int) -> dict:
    """The same inputs to otelflow and otelcol-ref: counts of equal and different status codes."""
    from tests.fuzz.test_differential import REF, Reference, known_difference

    if not REF.exists():
        return {"skipped": f"{REF} is not built (make bench-ref)"}
    rng = run.rng
    seeds = {s: [corpus.request(rng, s) for _ in range(50)] for s in SIGNALS}
    for attempt in range(3):  # a port taken between choosing it and binding it: choose again
        try:
            ours = Live().start()
            break
        except Exception:
            if attempt == 2:
                raise
    ref = Reference().start()
    same, known, unexplained = 0, {}, []
    try:
        for _ in range(n):
            signal, body, headers = _socket_input(rng, seeds)
            a = ref.post(PATHS[signal], body, headers)
            b = ours.post(PATHS[signal], body, headers)
            if a[0] == b[0]:
                same += 1
                continue
            why = known_difference(a, b, body)
            if why:
                known[why] = known.get(why, 0) + 1
            elif len(unexplained) < 20:
                unexplained.append({"upstream": a[0], "otelflow": b[0], "headers": headers,
                                    "upstream_body": a[2][:200].decode("latin-1"),
                                    "input_b64": base64.b64encode(body[:2048]).decode()})
    finally:
        ours.stop()
        ref.stop()
    return {"inputs": n, "same_status": same, "known_differences": known, "unexplained": unexplained}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--inputs", type=int, default=1_000_000, help="total inputs (in-process + sockets)")
    ap.add_argument("--sockets", type=float, default=0.01, help="share of the inputs sent over real sockets")
    ap.add_argument("--diff", type=int, default=5000, help="inputs also compared with otelcol-ref (0: none)")
    ap.add_argument("--seed", type=int, default=20261126)
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "fuzz.json"))
    args = ap.parse_args()

    run = Run(args.seed)
    n_sockets = int(args.inputs * args.sockets)
    n_local = args.inputs - n_sockets
    rss_start = rss_bytes()
    started = time.perf_counter()
    print(f"in-process: {n_local} inputs", flush=True)
    in_process(run, n_local)
    rss_mid = rss_bytes()
    print(f"over sockets: {n_sockets} requests", flush=True)
    sockets = over_sockets(run, n_sockets)
    diff = {}
    if args.diff:
        print(f"differential: {args.diff} requests to otelflow and otelcol-ref", flush=True)
        try:
            diff = differential(run, args.diff)
        except Exception as exc:  # the comparison could not start: say so, keep the rest
            diff = {"error": f"{type(exc).__name__}: {exc}"[:500]}
    elapsed = time.perf_counter() - started
    total = sum(run.counts.values())
    result = {
        "when": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
        "seed": args.seed,
        "inputs": total,
        "seconds": round(elapsed, 1),
        "inputs_per_second": round(total / elapsed),
        "targets": {t: {"inputs": c, "inputs_per_second": round(c / run.seconds[t]) if run.seconds[t] else None,
                        "slowest_input_ms": round(run.slowest[t] * 1e3, 2), "outcomes": run.outcomes[t]}
                    for t, c in sorted(run.counts.items())},
        "rss_mib": {"start": rss_start >> 20, "after_in_process": rss_mid >> 20, "end": rss_bytes() >> 20,
                    "max": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss >> 10},
        "sockets": sockets,
        "differential": diff,
        "failures": run.failures,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k not in ("targets", "failures")}, indent=2))
    print(f"failures: {len(run.failures)}; results in {args.out}")
    unexplained = diff.get("unexplained") if isinstance(diff, dict) else None
    return 1 if run.failures or unexplained else 0


if __name__ == "__main__":
    sys.exit(main())
