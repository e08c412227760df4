"""Conformance rig: run one case (config + recorded input) through a collector, normalise what its
``file`` exporter wrote, and compare it with another collector's output or with a golden file.

Used by ``bench/conformance.py`` (live runs against the upstream Go collector, recording goldens)
and by ``tests/conformance/test_goldens.py`` (otelflow against the goldens, no Go needed).

It is independent of otelflow's own code on purpose: inputs are sent with plain urllib/grpcio,
protobuf inputs are parsed with the opentelemetry-proto classes, and outputs are read as JSON.

Normalisation (the only differences tolerated):
- which request/line an item travelled in, and the order of resources, scopes and lines:
  every output line is flattened to one record per (resource, scope, item) and records are sorted;
- fields that a case lists under ``ignore`` (timestamps a collector stamps itself); none of the
  current cases needs one.
Everything else, including a key present in one output and absent in the other, is a difference.
"""

from __future__ import annotations

import base64
import copy
import dataclasses
import difflib
import json
import os
import signal as _signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Iterable

import yaml

HERE = Path(__file__).resolve().parent
CASES_DIR = HERE / "cases"
REPO = HERE.parents[1]
OTELCOL_REF = Path(os.environ.get("OTELCOL_REF", REPO / "bench" / ".build" / "bin" / "otelcol-ref"))

# signal -> (resource list key, scope list key, item list key) in OTLP/JSON
LAYOUT = {
    "traces": ("resourceSpans", "scopeSpans", "spans"),
    "metrics": ("resourceMetrics", "scopeMetrics", "metrics"),
    "logs": ("resourceLogs", "scopeLogs", "logRecords"),
}
HTTP_PATHS = {"traces": "/v1/traces", "metrics": "/v1/metrics", "logs": "/v1/logs"}
GRPC_METHODS = {
    "traces": "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
    "metrics": "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export",
    "logs": "/opentelemetry.proto.collector.logs.v1.LogsService/Export",
}
TRANSPORTS = ("http/json", "http/protobuf", "grpc")
# Placeholders every run gets; a case config uses the ones it needs as ${env:NAME}.
PORT_PLACEHOLDERS = ("RECV_GRPC", "RECV_HTTP", "LOOP_GRPC", "LOOP_HTTP")
OUTPUT_PLACEHOLDERS = ("OUT_FILE", "OUT_FILE_2", "OUT_FILE_3")
IGNORED = "<ignored>"
ID_KEYS = ("traceId", "spanId", "parentSpanId")


# ---------------------------------------------------------------------------------------------
# Cases


@dataclasses.dataclass
class Case:
    name: str
    dir: Path
    signal: str
    transport: str
    inputs: list[Path]
    outputs: list[str]
    ignore: list[str]
    description: str = ""

    @classmethod
    def load(cls, directory: Path) -> "Case":
        meta = yaml.safe_load((directory / "case.yaml").read_text(encoding="utf-8")) or {}
        signal = meta.get("signal")
        if signal not in LAYOUT:
            raise ValueError(f"{directory}/case.yaml: signal must be one of {sorted(LAYOUT)}, got {signal!r}")
        transport = meta.get("transport", "http/json")
        if transport not in TRANSPORTS:
            raise ValueError(f"{directory}/case.yaml: transport must be one of {TRANSPORTS}, got {transport!r}")
        default_input = "input.json" if transport == "http/json" else "input.pb"
        inputs = [directory / name for name in meta.get("inputs", [default_input])]
        for path in inputs:
            if not path.exists():
                raise ValueError(f"{directory}: input {path.name} is missing")
        outputs = list(meta.get("outputs", ["OUT_FILE"]))
        for out in outputs:
            if out not in OUTPUT_PLACEHOLDERS:
                raise ValueError(f"{directory}/case.yaml: unknown output placeholder {out!r}")
        return cls(
            name=directory.name,
            dir=directory,
            signal=signal,
            transport=transport,
            inputs=inputs,
            outputs=outputs,
            ignore=list(meta.get("ignore", [])),
            description=str(meta.get("description", "")).strip(),
        )

    @property
    def config(self) -> Path:
        return self.dir / "config.yaml"

    @property
    def expected_path(self) -> Path:
        return self.dir / "expected.jsonl"

    def raw_path(self, output: str) -> Path:
        """Upstream's file-exporter output for ``output``, byte for byte (for the byte comparison)."""
        return self.dir / f"upstream.{output}.jsonl"

    @property
    def responses_path(self) -> Path:
        """What upstream answered to each input request (status and body), for information."""
        return self.dir / "upstream.responses.json"

    def read_upstream_responses(self) -> list[str] | None:
        if not self.responses_path.exists():
            return None
        return json.loads(self.responses_path.read_text())

    def has_golden(self) -> bool:
        return self.expected_path.exists()

    def read_golden(self) -> list[dict]:
        return read_records(self.expected_path.read_text(encoding="utf-8"))

    def read_upstream_raw(self) -> dict[str, bytes] | None:
        raw = {}
        for out in self.outputs:
            path = self.raw_path(out)
            if not path.exists():
                return None
            raw[out] = path.read_bytes()
        return raw

    def input_bodies(self) -> list[tuple[bytes, str]]:
        """(body, content type) per request, in send order."""
        bodies = []
        for path in self.inputs:
            data = path.read_bytes()
            if path.suffix == ".json":
                bodies.append((data, "application/json"))
            else:
                bodies.append((data, "application/x-protobuf"))
        return bodies

    def expected_items(self) -> int:
        """How many items (spans, metrics, log records) the inputs hold: what each output should get."""
        total = 0
        for path in self.inputs:
            if path.suffix == ".json":
                doc = json.loads(path.read_text(encoding="utf-8"))
            else:
                doc = pb_to_json_doc(self.signal, path.read_bytes())
            total += count_items(self.signal, doc)
        return total


def all_cases() -> list[Case]:
    return [Case.load(d) for d in sorted(CASES_DIR.iterdir()) if (d / "case.yaml").exists()]


def find_cases(names: Iterable[str]) -> list[Case]:
    names = list(names)
    if not names:
        return all_cases()
    out = []
    for name in names:
        directory = CASES_DIR / name
        if not (directory / "case.yaml").exists():
            known = ", ".join(c.name for c in all_cases())
            raise SystemExit(f"unknown case {name!r} (known: {known})")
        out.append(Case.load(directory))
    return out


# ---------------------------------------------------------------------------------------------
# Protobuf <-> OTLP/JSON for inputs (independent of otelflow's codec)


def _request_type(signal: str):
    if signal == "traces":
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest as T
    elif signal == "metrics":
        from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest as T
    else:
        from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest as T
    return T


def _convert_ids(node: Any, convert) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ID_KEYS and isinstance(value, str):
                node[key] = convert(value)
            else:
                _convert_ids(value, convert)
    elif isinstance(node, list):
        for item in node:
            _convert_ids(item, convert)


def json_doc_to_pb(signal: str, doc: dict) -> bytes:
    """OTLP/JSON request (hex IDs) -> binary protobuf request."""
    from google.protobuf import json_format

    tree = copy.deepcopy(doc)
    _convert_ids(tree, lambda h: base64.b64encode(bytes.fromhex(h)).decode())
    message = _request_type(signal)()
    json_format.ParseDict(tree, message)
    return message.SerializeToString()


def pb_to_json_doc(signal: str, body: bytes) -> dict:
    """Binary protobuf request -> OTLP/JSON-shaped dict (hex IDs); used to count items."""
    from google.protobuf import json_format

    message = _request_type(signal).FromString(body)
    tree = json_format.MessageToDict(message, use_integers_for_enums=True)
    _convert_ids(tree, lambda b: base64.b64decode(b).hex())
    return tree


def count_items(signal: str, doc: dict) -> int:
    rkey, skey, ikey = LAYOUT[signal]
    return sum(len(ss.get(ikey, [])) for rs in doc.get(rkey, []) for ss in rs.get(skey, []))


# ---------------------------------------------------------------------------------------------
# Normalisation


def _number(text: str) -> int | float:
    """JSON numbers compare by value: 3, 3.0 and 3e0 are one number (their spelling is a byte
    difference, reported by the byte comparison, not a structural one)."""
    value = float(text)
    if value.is_integer() and abs(value) < 2**53:
        return int(value)
    return value


def loads(text: str | bytes) -> Any:
    return json.loads(text, parse_float=_number)


def canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _apply_ignore(record: dict, ignore: list[str]) -> None:
    """Replace the value at each dotted path (e.g. ``item.observedTimeUnixNano``) if present."""
    for path in ignore:
        parts = path.split(".")
        node: Any = record
        for part in parts[:-1]:
            node = node.get(part) if isinstance(node, dict) else None
            if node is None:
                break
        if isinstance(node, dict) and parts[-1] in node:
            node[parts[-1]] = IGNORED


def flatten(doc: dict, output: str = "OUT_FILE", ignore: list[str] | None = None) -> list[dict]:
    """One OTLP/JSON document (one file-exporter line) -> records, one per (resource, scope, item).

    A resource without scopes or a scope without items still yields one record (item/scope None)
    so that it cannot vanish unnoticed.
    """
    ignore = ignore or []
    records = []
    signals = [s for s, (rkey, _, _) in LAYOUT.items() if rkey in doc]
    unknown = sorted(set(doc) - {LAYOUT[s][0] for s in signals})
    if unknown or not signals:
        # Not an OTLP document we know: keep it whole so that the comparison shows it.
        return [{"output": output, "signal": None, "document": doc}]
    for signal in signals:
        rkey, skey, ikey = LAYOUT[signal]
        for rs in doc[rkey]:
            rest = {k: v for k, v in rs.items() if k not in ("resource", "schemaUrl", skey)}
            base = {"output": output, "signal": signal}
            if "resource" in rs:  # absent and {} differ in the JSON: keep the difference visible
                base["resource"] = rs["resource"]
            if "schemaUrl" in rs:
                base["resourceSchemaUrl"] = rs["schemaUrl"]
            if rest:
                base["resourceExtra"] = rest
            scopes = rs.get(skey)
            if not scopes:
                records.append({**base, "item": None, "emptyScopes": scopes})
                continue
            for ss in scopes:
                srest = {k: v for k, v in ss.items() if k not in ("scope", "schemaUrl", ikey)}
                sbase = dict(base)
                if "scope" in ss:
                    sbase["scope"] = ss["scope"]
                if "schemaUrl" in ss:
                    sbase["scopeSchemaUrl"] = ss["schemaUrl"]
                if srest:
                    sbase["scopeExtra"] = srest
                items = ss.get(ikey)
                if not items:
                    records.append({**sbase, "item": None, "emptyItems": items})
                    continue
                for item in items:
                    records.append({**sbase, "item": item})
    if ignore:
        records = [copy.deepcopy(r) for r in records]  # never touch the caller's document
        for record in records:
            _apply_ignore(record, ignore)
    return records


def split_lines(raw: bytes) -> list[bytes]:
    """The complete lines of a file-exporter JSON output (a trailing partial line is left out)."""
    lines = raw.split(b"\n")
    return [line for line in lines[:-1] if line.strip()]


def normalise_output(raw: bytes, output: str = "OUT_FILE", ignore: list[str] | None = None) -> list[dict]:
    records = []
    for number, line in enumerate(split_lines(raw), 1):
        try:
            doc = loads(line)
        except ValueError as exc:
            records.append({"output": output, "signal": None, "unparsable_line": number, "error": str(exc),
                            "text": line.decode("utf-8", "replace")[:200]})
            continue
        records.extend(flatten(doc, output, ignore))
    return records


def normalise(outputs: dict[str, bytes], ignore: list[str] | None = None) -> list[dict]:
    records = []
    for output, raw in outputs.items():
        records.extend(normalise_output(raw, output, ignore))
    return sorted(records, key=canonical)


def dump_records(records: list[dict]) -> str:
    return "".join(canonical(r) + "\n" for r in records)


def read_records(text: str) -> list[dict]:
    # split on "\n" only: str.splitlines() would also split inside strings holding U+2028
    return [loads(line) for line in text.split("\n") if line.strip()]


def items_in(raw: bytes) -> int:
    """Items in the complete, parseable lines of an output (to know when it is all there)."""
    total = 0
    for line in split_lines(raw):
        try:
            doc = json.loads(line)
        except ValueError:
            continue
        for signal, (rkey, skey, ikey) in LAYOUT.items():
            if rkey in doc:
                total += count_items(signal, doc)
    return total


# ---------------------------------------------------------------------------------------------
# Comparison


def _kv_name(value: dict) -> str | None:
    for key in ("key", "name"):
        if isinstance(value, dict) and isinstance(value.get(key), str):
            return f"{key}={value[key]}"
    return None


def _attrs_label(attributes: Any, wanted: tuple[str, ...] = ("service.name",)) -> str:
    if not isinstance(attributes, list):
        return ""
    for kv in attributes:
        if isinstance(kv, dict) and kv.get("key") in wanted:
            value = kv.get("value", {})
            return f"{kv['key']}={next(iter(value.values()), '')}" if isinstance(value, dict) and value else kv["key"]
    return ""


def record_label(record: dict) -> str:
    """Short human name of a record: signal, resource, scope and item."""
    if record.get("signal") is None:
        return f"{record.get('output')}: non-OTLP line"
    res = record.get("resource") or {}
    scope = record.get("scope") or {}
    item = record.get("item") or {}
    parts = [record["signal"]]
    label = _attrs_label(res.get("attributes"))
    parts.append(f"resource[{label or 'no service.name'}]")
    parts.append(f"scope[{scope.get('name', '')!s}]")
    if record["signal"] == "traces":
        parts.append(f"span[{item.get('name', '')!s} {item.get('spanId', '')}]")
    elif record["signal"] == "metrics":
        parts.append(f"metric[{item.get('name', '')!s}]")
    else:
        body = item.get("body")
        parts.append(f"log[t={item.get('timeUnixNano', '-')} sev={item.get('severityNumber', '-')}"
                     f" body={canonical(body)[:40] if body is not None else '-'}]")
    if record.get("output") not in (None, "OUT_FILE"):
        parts.insert(0, record["output"])
    return " ".join(parts)


def record_identity(record: dict) -> str:
    """What pairs an upstream record with an otelflow record before their fields are compared."""
    item = record.get("item") or {}
    if record.get("signal") == "traces":
        ident: Any = [item.get("traceId"), item.get("spanId")]
    elif record.get("signal") == "metrics":
        ident = [item.get("name")]
    elif record.get("signal") == "logs":
        ident = [item.get("timeUnixNano"), item.get("observedTimeUnixNano"), item.get("severityNumber"),
                 item.get("severityText")]
    else:
        ident = [record]
    res = record.get("resource") or {}
    scope = record.get("scope") or {}
    return canonical([record.get("output"), record.get("signal"), _attrs_label(res.get("attributes")),
                      scope.get("name"), ident])


def field_differences(expected: Any, actual: Any, path: str = "") -> list[tuple[str, Any, Any]]:
    """(path, expected value, actual value) for every leaf that differs; lists of key/value pairs
    are addressed by key (``attributes[key=http.url]``), other lists by index."""
    missing = "<absent>"
    if isinstance(expected, dict) and isinstance(actual, dict):
        out = []
        for key in sorted(set(expected) | set(actual)):
            sub = f"{path}.{key}" if path else key
            if key not in actual:
                out.append((sub, expected[key], missing))
            elif key not in expected:
                out.append((sub, missing, actual[key]))
            else:
                out.extend(field_differences(expected[key], actual[key], sub))
        return out
    if isinstance(expected, list) and isinstance(actual, list):
        names_e = [_kv_name(v) for v in expected]
        names_a = [_kv_name(v) for v in actual]
        keyed = all(names_e) and all(names_a) and len(set(names_e)) == len(names_e) and len(set(names_a)) == len(names_a)
        if keyed and names_e == names_a:
            out = []
            for n, e, a in zip(names_e, expected, actual):
                out.extend(field_differences(e, a, f"{path}[{n}]"))
            return out
        if keyed and set(names_e) == set(names_a):
            return [(f"{path} (order)", names_e, names_a)]
        if len(expected) == len(actual):
            out = []
            for i, (e, a) in enumerate(zip(expected, actual)):
                out.extend(field_differences(e, a, f"{path}[{i}]"))
            return out
        return [(path, expected, actual)]
    if expected == actual and type(expected) is type(actual):
        return []
    return [(path, expected, actual)]


@dataclasses.dataclass
class Comparison:
    equal: bool
    diff: str = ""
    differences: list[tuple[str, str, Any, Any]] = dataclasses.field(default_factory=list)  # (record, path, exp, act)
    missing: list[dict] = dataclasses.field(default_factory=list)  # in expected only
    extra: list[dict] = dataclasses.field(default_factory=list)  # in actual only
    bytes_identical: bool | None = None  # None: not compared
    byte_note: str = ""

    def report(self, expected_name: str = "upstream", actual_name: str = "otelflow") -> str:
        lines = []
        if self.equal:
            lines.append("structure: equal")
        else:
            lines.append(f"structure: DIFFERENT ({len(self.differences)} field difference(s), "
                         f"{len(self.missing)} record(s) only in {expected_name}, "
                         f"{len(self.extra)} only in {actual_name})")
            last_label = None
            for label, path, exp, act in sorted(self.differences, key=lambda d: (d[0], d[1])):
                if label != last_label:
                    lines.append(f"  {label}")
                    last_label = label
                lines.append(f"    {path}: {expected_name} {_short(exp)}  |  {actual_name} {_short(act)}")
            for rec in self.missing:
                lines.append(f"  only in {expected_name}: {record_label(rec)}")
            for rec in self.extra:
                lines.append(f"  only in {actual_name}: {record_label(rec)}")
            lines.append("unified diff of the normalised records (pretty-printed):")
            lines.append(self.diff)
        if self.bytes_identical is True:
            lines.append("bytes: identical lines")
        elif self.bytes_identical is False:
            lines.append("bytes: " + self.byte_note)
        return "\n".join(lines)


def _short(value: Any, limit: int = 160) -> str:
    text = value if value == "<absent>" else canonical(value)
    return text if len(text) <= limit else text[:limit] + "…"


def _pretty(record: dict) -> list[str]:
    text = json.dumps(record, sort_keys=True, indent=2, ensure_ascii=False)
    return [line + "\n" for line in text.split("\n")]


def compare(expected: list[dict], actual: list[dict], expected_name: str = "upstream",
            actual_name: str = "otelflow") -> Comparison:
    """Compare two lists of normalised records (order does not matter)."""
    expected = sorted(expected, key=canonical)
    actual = sorted(actual, key=canonical)
    if [canonical(r) for r in expected] == [canonical(r) for r in actual]:
        return Comparison(equal=True)
    # Pair records: identical ones first, then by identity (same span/metric/log), then leftovers.
    remaining = list(actual)
    pairs: list[tuple[dict, dict | None]] = []
    unpaired_e = []
    by_canon: dict[str, list[int]] = {}
    for i, rec in enumerate(remaining):
        by_canon.setdefault(canonical(rec), []).append(i)
    used: set[int] = set()
    for rec in expected:
        idx = by_canon.get(canonical(rec))
        while idx and idx[0] in used:
            idx.pop(0)
        if idx:
            used.add(idx.pop(0))
            pairs.append((rec, rec))
        else:
            unpaired_e.append(rec)
    by_ident: dict[str, list[int]] = {}
    for i, rec in enumerate(remaining):
        if i not in used:
            by_ident.setdefault(record_identity(rec), []).append(i)
    still_e = []
    for rec in unpaired_e:
        idx = by_ident.get(record_identity(rec))
        if idx:
            j = idx.pop(0)
            used.add(j)
            pairs.append((rec, remaining[j]))
        else:
            still_e.append(rec)
    leftovers = [remaining[i] for i in range(len(remaining)) if i not in used]
    result = Comparison(equal=False)
    for rec in still_e:
        if leftovers and leftovers[0].get("signal") == rec.get("signal"):
            pairs.append((rec, leftovers.pop(0)))
        else:
            result.missing.append(rec)
            pairs.append((rec, None))
    result.extra = leftovers
    for exp, act in pairs:
        if act is not None and act is not exp:
            for path, e, a in field_differences(exp, act):
                result.differences.append((record_label(exp), path, e, a))
    # Unified diff: expected records in order, each actual record placed beside its partner.
    exp_lines: list[str] = []
    act_lines: list[str] = []
    order = sorted(pairs, key=lambda p: canonical(p[0]))
    for exp, act in order:
        exp_lines.extend(_pretty(exp))
        if act is not None:
            act_lines.extend(_pretty(act))
    for act in leftovers:
        act_lines.extend(_pretty(act))
    result.diff = "".join(difflib.unified_diff(exp_lines, act_lines, f"{expected_name} (normalised)",
                                               f"{actual_name} (normalised)", n=4))
    return result


def compare_bytes(expected_raw: dict[str, bytes], actual_raw: dict[str, bytes],
                  ignore: list[str] | None = None) -> tuple[bool, str]:
    """Are the output lines byte-identical (in any line order)? If not, describe the first pair of
    differing lines (lines holding the same data are paired first, otherwise lines in file order)
    and summarise every kind of byte difference between them."""
    for output in sorted(set(expected_raw) | set(actual_raw)):
        e_lines = split_lines(expected_raw.get(output, b""))
        a_lines = split_lines(actual_raw.get(output, b""))
        if sorted(e_lines) == sorted(a_lines):
            continue

        def key(line: bytes) -> str:
            try:
                return canonical(sorted(flatten(loads(line), output, ignore), key=canonical))
            except ValueError:
                return "unparsable:" + line.decode("utf-8", "replace")

        a_by_key: dict[str, bytes] = {}
        for line in a_lines:
            a_by_key.setdefault(key(line), line)
        for e in e_lines:
            a = a_by_key.get(key(e))
            if a is not None and a != e:
                return False, _first_byte_difference(output, e, a, same_data=True)
        if len(e_lines) == len(a_lines):
            for e, a in zip(e_lines, a_lines):
                if e != a:
                    return False, _first_byte_difference(output, e, a, same_data=False)
        return False, (f"{output}: upstream wrote {len(e_lines)} line(s), otelflow {len(a_lines)}; "
                       "the data is split into lines differently")
    return True, ""


def _first_byte_difference(output: str, e: bytes, a: bytes, same_data: bool) -> str:
    n = next((i for i, (x, y) in enumerate(zip(e, a)) if x != y), min(len(e), len(a)))
    lo = max(0, n - 60)
    what = "same data, different bytes" if same_data else "the data differs too (see above)"
    text = (f"{output}: {what}; lines of {len(e)} (upstream) and {len(a)} (otelflow) bytes; "
            f"first difference at byte {n}:\n"
            f"    upstream: …{e[lo:n + 80].decode('utf-8', 'replace')}…\n"
            f"    otelflow: …{a[lo:n + 80].decode('utf-8', 'replace')}…")
    try:
        kinds = explain_byte_differences(e.decode(), a.decode())
    except ValueError:
        return text
    if kinds:
        text += "\n  kinds of byte difference in this line (path pattern: upstream | otelflow, count):"
        for kind, pattern, e_text, a_text, count in kinds:
            text += f"\n    {kind:9} {pattern}: {e_text} | {a_text}  (x{count})"
    return text


# -- byte-level explanation: a JSON reader that keeps key order and the raw text of scalars ------

_NUMBER_END = set("+-0123456789.eE")


def _raw_parse(text: str, i: int = 0) -> tuple[Any, int]:
    """-> (node, end): ("obj", [(key, node)]), ("arr", [node]) or ("lit", raw text)."""
    while text[i] in " \t\r\n":
        i += 1
    c = text[i]
    if c == "{":
        items, i = [], i + 1
        while True:
            while text[i] in " \t\r\n,":
                i += 1
            if text[i] == "}":
                return ("obj", items), i + 1
            k, i = json.decoder.scanstring(text, i + 1)
            while text[i] in " \t\r\n:":
                i += 1
            v, i = _raw_parse(text, i)
            items.append((k, v))
    if c == "[":
        items, i = [], i + 1
        while True:
            while text[i] in " \t\r\n,":
                i += 1
            if text[i] == "]":
                return ("arr", items), i + 1
            v, i = _raw_parse(text, i)
            items.append(v)
    if c == '"':
        _, end = json.decoder.scanstring(text, i + 1)
        return ("lit", text[i:end]), end
    j = i
    while j < len(text) and (text[j] in _NUMBER_END or text[j].isalpha()):
        j += 1
    return ("lit", text[i:j]), j


def explain_byte_differences(expected: str, actual: str) -> list[tuple[str, str, str, str, int]]:
    """Kinds of difference between two JSON texts, grouped by path pattern (indices as []):
    ``order`` (same keys, other order), ``spelling`` (same value written differently, e.g. 3 vs
    3.0 or an escaped character), ``absent``/``extra`` (key only upstream / only otelflow),
    ``value`` (a different value). Each with one example and a count."""
    found: dict[tuple[str, str], list] = {}

    def note(kind: str, pattern: str, e: str, a: str) -> None:
        entry = found.setdefault((kind, pattern), [e, a, 0])
        entry[2] += 1

    def walk(e: Any, a: Any, pattern: str) -> None:
        if e[0] != a[0]:
            note("value", pattern, _raw_text(e)[:60], _raw_text(a)[:60])
            return
        if e[0] == "obj":
            e_keys = [k for k, _ in e[1]]
            a_keys = [k for k, _ in a[1]]
            common_e = [k for k in e_keys if k in a_keys]
            common_a = [k for k in a_keys if k in e_keys]
            if common_e != common_a:
                note("order", pattern or "(top)", ",".join(e_keys), ",".join(a_keys))
            a_map = dict(a[1])
            e_map = dict(e[1])
            for k, v in e[1]:
                if k not in a_map:
                    note("absent", f"{pattern}.{k}", _raw_text(v)[:60], "-")
                else:
                    walk(v, a_map[k], f"{pattern}.{k}")
            for k, v in a[1]:
                if k not in e_map:
                    note("extra", f"{pattern}.{k}", "-", _raw_text(v)[:60])
        elif e[0] == "arr":
            if len(e[1]) != len(a[1]):
                note("value", pattern + "[]", f"{len(e[1])} elements", f"{len(a[1])} elements")
                return
            for x, y in zip(e[1], a[1]):
                walk(x, y, pattern + "[]")
        elif e[1] != a[1]:
            same = loads(e[1]) == loads(a[1])
            note("spelling" if same else "value", pattern, e[1], a[1])

    walk(_raw_parse(expected)[0], _raw_parse(actual)[0], "")
    return [(kind, pattern, e, a, n) for (kind, pattern), (e, a, n) in found.items()]


def _raw_text(node: Any) -> str:
    if node[0] == "lit":
        return node[1]
    if node[0] == "arr":
        return "[" + ",".join(_raw_text(x) for x in node[1]) + "]"
    return "{" + ",".join(json.dumps(k) + ":" + _raw_text(v) for k, v in node[1]) + "}"


def compare_outputs(expected_records: list[dict], actual_raw: dict[str, bytes], case: Case,
                    expected_raw: dict[str, bytes] | None = None, expected_name: str = "upstream",
                    actual_name: str = "otelflow") -> Comparison:
    """Normalise ``actual_raw`` (file contents per output) and compare with ``expected_records``;
    also compare bytes when the other side's raw output is known."""
    result = compare(expected_records, normalise(actual_raw, case.ignore), expected_name, actual_name)
    if expected_raw is not None:
        same, note = compare_bytes(expected_raw, actual_raw, case.ignore)
        result.bytes_identical = same
        result.byte_note = note
    return result


# ---------------------------------------------------------------------------------------------
# Running a collector on a case


def free_port() -> int:
    return free_ports(1)[0]


def free_ports(count: int) -> list[int]:
    """``count`` distinct free ports: each socket stays bound until all are picked."""
    socks = []
    try:
        for _ in range(count):
            s = socket.socket()
            socks.append(s)
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def wait_port(port: int, proc: subprocess.Popen, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"collector exited with code {proc.returncode} before listening on {port}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {timeout}s")


def send_http(port: int, signal: str, body: bytes, content_type: str, timeout: float = 10) -> tuple[int, bytes]:
    req = urllib.request.Request(f"http://127.0.0.1:{port}{HTTP_PATHS[signal]}", data=body, method="POST",
                                 headers={"Content-Type": content_type})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def send_grpc(port: int, signal: str, body: bytes, timeout: float = 10) -> tuple[str, bytes]:
    import grpc

    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        call = channel.unary_unary(GRPC_METHODS[signal], request_serializer=None, response_deserializer=None)
        try:
            response = call(body, timeout=timeout, wait_for_ready=True)
            return "OK", response
        except grpc.RpcError as exc:
            return str(exc.code().name), (exc.details() or "").encode()


@dataclasses.dataclass
class RunResult:
    collector: str
    outputs: dict[str, bytes]
    responses: list[str]
    log: str
    returncode: int | None
    complete: bool  # every output got every item before the collector was stopped


def compare_responses(expected: list[str], actual: list[str]) -> str:
    """One line on the answers to the input requests (information only, not a failure)."""
    if expected == actual:
        return "responses: identical"
    return f"responses: DIFFER (status and body per request): upstream {expected}  |  otelflow {actual}"


def collector_command(collector: str, config: Path) -> list[str]:
    if collector == "otelflow":
        return [sys.executable, "-m", "otelflow", "--config", str(config)]
    if collector == "otelcol-ref":
        if not OTELCOL_REF.exists():
            raise SystemExit(f"{OTELCOL_REF} is missing: build it with `make bench-ref`")
        return [str(OTELCOL_REF), "--config", str(config)]
    raise ValueError(f"unknown collector {collector!r}")


def run_case(case: Case, collector: str, workdir: Path, timeout: float = 20.0) -> RunResult:
    """Start ``collector`` on the case config, send the inputs, wait until every output holds every
    item (or ``timeout``), stop it with SIGTERM and return what it wrote."""
    workdir.mkdir(parents=True, exist_ok=True)
    config_text = case.config.read_text(encoding="utf-8")
    env = dict(os.environ)
    ports = {name: free_port() for name in PORT_PLACEHOLDERS}
    for name, port in ports.items():
        env[name] = f"127.0.0.1:{port}"
    out_paths = {name: workdir / f"{collector}.{name}.jsonl" for name in OUTPUT_PLACEHOLDERS}
    for name, path in out_paths.items():
        env[name] = str(path)
        if path.exists():
            path.unlink()
    log_path = workdir / f"{collector}.log"
    expected = case.expected_items()
    responses: list[str] = []
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(collector_command(collector, case.config), env=env, stdout=log,
                                stderr=subprocess.STDOUT, cwd=workdir)
        try:
            for name, port in ports.items():
                if "${env:" + name + "}" in config_text:
                    wait_port(port, proc, timeout)
            for body, content_type in case.input_bodies():
                if case.transport == "grpc":
                    code, resp = send_grpc(ports["RECV_GRPC"], case.signal, body)
                    responses.append(f"grpc {code} {resp[:200]!r}")
                else:
                    status, resp = send_http(ports["RECV_HTTP"], case.signal, body, content_type)
                    responses.append(f"http {status} {resp[:200]!r}")
            deadline = time.monotonic() + timeout
            complete = False
            while time.monotonic() < deadline and proc.poll() is None:
                counts = [items_in(out_paths[o].read_bytes()) if out_paths[o].exists() else 0 for o in case.outputs]
                if all(c >= expected for c in counts):
                    complete = True
                    break
                time.sleep(0.05)
        finally:
            if proc.poll() is None:
                proc.send_signal(_signal.SIGTERM)
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
    outputs = {o: out_paths[o].read_bytes() if out_paths[o].exists() else b"" for o in case.outputs}
    return RunResult(collector, outputs, responses, log_path.read_text(errors="replace"), proc.returncode, complete)
