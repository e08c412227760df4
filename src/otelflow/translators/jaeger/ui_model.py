"""OTLP spans (as the embedded store keeps them) to Jaeger's UI JSON model, as Jaeger v2's query
service answers ``/api/traces``.

The facts come from three upstream steps, applied here in the same order:
- the storage exporter's sanitizers (a missing, empty or non-string service.name gets a placeholder;
  an end not after the start becomes start + 1 ns with a warning);
- contrib's pkg/translator/jaeger ProtoFromTraces (scope, attributes, span.kind, otel.status_code,
  error, otel.status_description, w3c.tracestate tags; parent and links as references; events as
  logs);
- the query service's standard adjusters (sorted tags and log fields, telemetry.sdk.* and IP tags,
  clock-skew warnings with adjustment disabled, invalid references removed, parent reference first).
What the store does not keep is left out: bytes attributes come back as their base64 string (the
store keeps them as JSON strings), scope attributes are not stored, so they are not searchable.
"""

from __future__ import annotations

import datetime
import decimal
import json
import math
from typing import Any, Iterable

KIND_TAGS = {1: "internal", 2: "server", 3: "client", 4: "producer", 5: "consumer"}
# Jaeger's ValueType numbers order equal keys when tags are sorted
_TYPE_ORDER = {"string": 0, "bool": 1, "int64": 2, "float64": 3, "binary": 4}
_JS_MAX_SAFE = (1 << 53) - 1
_U64 = (1 << 64) - 1
WARNINGS_ATTRIBUTE = "@jaeger@warnings"
_SDK_KEYS = frozenset(("telemetry.sdk.language", "telemetry.sdk.name", "telemetry.sdk.version",
                       "telemetry.distro.name", "telemetry.distro.version"))
_IP_KEYS = frozenset(("ip", "peer.ipv4"))


# -- Go's text forms that end up in Jaeger's output --------------------------------------------------


def _es6_float(f: float) -> str:
    """A float as Go's encoding/json (and pcommon's AsString) writes it: 'f' form between 1e-6 and
    1e21, else the shortest 'e' form without exponent padding."""
    if not math.isfinite(f):
        return "NaN" if math.isnan(f) else ("Infinity" if f > 0 else "-Infinity")
    if f == 0:
        return "-0" if math.copysign(1, f) < 0 else "0"
    if 1e-6 <= abs(f) < 1e21:
        text = format(decimal.Decimal(repr(f)), "f")
        return text[:-2] if text.endswith(".0") else text
    text = repr(f)  # outside that range Python's repr is in 'e' form too
    mantissa, exp = text.split("e") if "e" in text else (text, "0")
    mantissa = mantissa[:-2] if mantissa.endswith(".0") else mantissa
    sign = "-" if exp.startswith("-") else "+"
    return f"{mantissa}e{sign}{exp.lstrip('+-').lstrip('0') or '0'}"


def _go_json(value: Any) -> str:
    """Go's json.Marshal of a pcommon AsRaw() value: sorted map keys, HTML characters escaped."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        text = json.dumps(value, ensure_ascii=False)
        return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _es6_float(value)
    if isinstance(value, list):
        return "[" + ",".join(_go_json(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ",".join(_go_json(k) + ":" + _go_json(value[k]) for k in sorted(value)) + "}"
    return json.dumps(str(value))


def as_string(value: Any) -> str:
    """pcommon's Value.AsString(): what Jaeger's memory store compares a searched tag with."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return _es6_float(value)
    return _go_json(value)


def go_duration(ns: int) -> str:
    """Go's time.Duration.String()."""
    if ns == 0:
        return "0s"
    u = abs(ns)

    def frac(whole: int, unit: int) -> str:
        head, rest = divmod(whole, unit)
        digits = len(str(unit)) - 1
        return str(head) + ("." + f"{rest:0{digits}d}".rstrip("0") if rest else "")

    if u < 1000:
        text = f"{u}ns"
    elif u < 1_000_000:
        text = frac(u, 1000) + "µs"
    elif u < 1_000_000_000:
        text = frac(u, 1_000_000) + "ms"
    else:
        secs = u // 1_000_000_000
        text = frac(u % 60_000_000_000, 1_000_000_000) + "s"
        if secs >= 60:
            minutes = secs // 60
            text = f"{minutes % 60}m" + text
            if minutes >= 60:
                text = f"{minutes // 60}h" + text
    return "-" + text if ns < 0 else text


def go_time(ns: int) -> str:
    """Go's time.Time.String() of a UTC timestamp in unix nanoseconds."""
    secs, rest = divmod(ns, 1_000_000_000)
    stamp = datetime.datetime(1970, 1, 1) + datetime.timedelta(seconds=secs)
    fraction = ("." + f"{rest:09d}".rstrip("0")) if rest else ""
    return stamp.strftime("%Y-%m-%d %H:%M:%S") + fraction + " +0000 UTC"


def jaeger_id(hex_id: str, width: int = 16) -> str:
    """A trace ID as Jaeger prints it: 16 hex digits when the high half is zero, else 32."""
    if width == 32 and hex_id[:16].strip("0") == "" and len(hex_id) == 32:
        return hex_id[16:]
    return hex_id


# -- tags ------------------------------------------------------------------------------------------------


def tag(key: str, value: Any) -> dict:
    """One attribute as a Jaeger KeyValue (maps and lists become their JSON text)."""
    if isinstance(value, bool):
        return {"key": key, "type": "bool", "value": value}
    if isinstance(value, int):
        return {"key": key, "type": "int64", "value": str(value) if abs(value) > _JS_MAX_SAFE else value}
    if isinstance(value, float):
        shown = int(value) if value.is_integer() and abs(value) < 1e21 else value
        return {"key": key, "type": "float64", "value": shown if math.isfinite(value) else None}
    if isinstance(value, str):
        return {"key": key, "type": "string", "value": value}
    return {"key": key, "type": "string", "value": _go_json(value)}


def _sort_key(kv: dict) -> tuple:
    value = kv["value"]
    return kv["key"], _TYPE_ORDER.get(kv["type"], 9), str(value) if not isinstance(value, (int, float)) else "", \
        value if isinstance(value, (int, float)) and not isinstance(value, bool) else 0


def sort_tags(tags: list[dict]) -> list[dict]:
    return sorted(tags, key=_sort_key)


def _ip_tags(tags: list[dict]) -> None:
    """Jaeger's IPTagAdjuster: an integer ip / peer.ipv4 becomes dotted quad text."""
    for i, kv in enumerate(tags):
        if kv["key"] in _IP_KEYS and kv["type"] in ("int64", "float64"):
            n = int(float(kv["value"])) & 0xFFFFFFFF
            tags[i] = {"key": kv["key"], "type": "string", "value": ".".join(str(b) for b in n.to_bytes(4, "big"))}


def service_name(resource: dict) -> str:
    """The process's service name after the storage exporter's empty-service-name sanitizer."""
    if "service.name" not in resource:
        return "missing-service-name"
    name = resource["service.name"]
    if not isinstance(name, str):
        return "service-name-wrong-type"
    return name or "empty-service-name"


def process(resource: dict, moved: Iterable[dict] = ()) -> dict:
    tags = [tag(k, v) for k, v in resource.items() if k != "service.name"]
    tags.extend(moved)
    _ip_tags(tags)
    return {"serviceName": service_name(resource), "tags": sort_tags(tags)}


# -- spans -----------------------------------------------------------------------------------------------


def _span_tags(r: dict, attributes: dict) -> list[dict]:
    """Tags in the translator's order (scope, attributes, kind, status, error, description, tracestate)."""
    tags = []
    if r["scope_name"]:
        tags.append(tag("otel.scope.name", r["scope_name"]))
    if r["scope_version"]:
        tags.append(tag("otel.scope.version", r["scope_version"]))
    tags.extend(tag(k, v) for k, v in attributes.items())
    if r["kind"] in KIND_TAGS:
        tags.append(tag("span.kind", KIND_TAGS[r["kind"]]))
    if r["status_code"] == 2:
        tags.append(tag("otel.status_code", "ERROR"))
        tags.append(tag("error", True))
    elif r["status_code"] == 1:
        tags.append(tag("otel.status_code", "OK"))
    if r["status_message"]:
        tags.append(tag("otel.status_description", r["status_message"]))
    if r["trace_state"]:
        tags.append(tag("w3c.tracestate", r["trace_state"]))
    return tags


def _references(r: dict, links: list[dict], warnings: list[str]) -> list[dict]:
    trace_id, parent = r["trace_id"], r["parent_span_id"]
    refs: list[dict] = []
    has_parent = bool(parent.strip("0"))
    if has_parent:
        refs.append({"refType": "CHILD_OF", "traceID": trace_id, "spanID": parent})
    for link in links:
        attrs = link.get("attributes") or {}
        ref_type = "CHILD_OF" if attrs.get("opentracing.ref_type") == "child_of" else "FOLLOWS_FROM"
        link_trace = link.get("trace_id", "") or "0" * 32
        link_span = link.get("span_id", "") or "0" * 16
        if has_parent and link_trace == trace_id and link_span == parent:
            refs[0]["refType"] = ref_type
            continue
        refs.append({"refType": ref_type, "traceID": link_trace, "spanID": link_span})
    kept = []
    for ref in refs:  # SpanReferences adjuster: a reference needs a trace ID
        if ref["traceID"].strip("0"):
            kept.append(ref)
        else:
            warnings.append("Invalid span reference removed {TraceID:%s SpanID:%s RefType:%s}"
                            % (jaeger_id(ref["traceID"], 32), ref["spanID"], ref["refType"]))
    # ParentReference adjuster: the first same-trace CHILD_OF (else other same-trace ref) goes first
    first = next((i for i, ref in enumerate(kept) if ref["traceID"] == trace_id and ref["refType"] == "CHILD_OF"), None)
    if first is None:
        first = next((i for i, ref in enumerate(kept) if ref["traceID"] == trace_id), None)
    if first:
        kept[0], kept[first] = kept[first], kept[0]
    return kept


def _logs(events: list[dict]) -> list[dict]:
    out = []
    for event in events:
        attrs = event.get("attributes") or {}
        fields = [tag(k, v) for k, v in attrs.items()]
        name = event.get("name", "")
        head = []
        if name and "event" not in attrs:
            head = [tag("event", name)]
        else:
            at = next((i for i, f in enumerate(fields) if f["key"] == "event" and f["type"] == "string"), None)
            if at is not None:
                head = [fields.pop(at)]
        out.append({"timestamp": (event.get("time_ns") or 0) // 1000, "fields": head + sort_tags(fields)})
    return out


class _Span:
    """A span on its way to JSON, with what the clock-skew adjuster needs."""

    __slots__ = ("json", "start", "duration", "parent", "host", "late")


def _loads(text: Any) -> Any:
    return json.loads(text) if isinstance(text, str) and text else (text or None)


def _convert(r: dict) -> tuple[_Span, dict]:
    attributes = dict(_loads(r["attributes"]) or {})
    resource = _loads(r["resource"]) or {}
    warnings: list[str] = []
    carried = attributes.pop(WARNINGS_ATTRIBUTE, None)
    if isinstance(carried, list):
        warnings.extend(str(w) for w in carried)
    elif carried is not None:
        attributes[WARNINGS_ATTRIBUTE] = carried
    start, end = r["start_ns"], r["end_ns"]
    if start >= end:  # the storage exporter's negative-duration sanitizer
        warnings.append("Negative duration detected, sanitizing end timestamp. Original end timestamp: %s, "
                        "adjusted to: %s" % (go_time(end), go_time(start + 1)))
        end = start + 1
    tags = _span_tags(r, attributes)
    moved = [t for t in tags if t["key"] in _SDK_KEYS]  # OTelTagAdjuster: SDK tags belong to the process
    tags = [t for t in tags if t["key"] not in _SDK_KEYS]
    _ip_tags(tags)
    span = _Span()
    span.late = []  # the SpanReferences adjuster runs after the clock-skew one
    refs = _references(r, _loads(r["links"]) or [], span.late)
    proc = process(resource, moved)
    span.start, span.duration = start, end - start
    span.parent = next((ref["spanID"] for ref in refs if ref["traceID"] == r["trace_id"] and ref["refType"] == "CHILD_OF"),
                       next((ref["spanID"] for ref in refs if ref["traceID"] == r["trace_id"]), ""))
    host = next((t for t in proc["tags"] if t["key"] == "ip"), None)
    span.host = "" if host is None else str(host["value"])
    span.json = {
        "traceID": jaeger_id(r["trace_id"], 32), "spanID": r["span_id"], "operationName": r["name"],
        "references": [{**ref, "traceID": jaeger_id(ref["traceID"], 32)} for ref in refs],
        "startTime": start // 1000, "duration": (end - start) // 1000,
        "tags": sort_tags(tags), "logs": _logs(_loads(r["events"]) or []),
        "processID": "", "warnings": warnings,
    }
    return span, proc


def _clock_skew(spans: list[_Span]) -> None:
    """Jaeger's ClockSkew adjuster with adjustment disabled (its default): only its warnings."""
    nodes: dict[str, _Span] = {}
    for s in spans:
        if s.json["spanID"] in nodes:
            s.json["warnings"].append("duplicate span IDs; skipping clock skew adjustment")
        else:
            nodes[s.json["spanID"]] = s
    children: dict[str, list[_Span]] = {}
    roots = []
    for s in nodes.values():
        if not s.parent.strip("0"):
            roots.append(s)
        elif s.parent in nodes:
            children.setdefault(s.parent, []).append(s)
        else:
            s.json["warnings"].append(f"invalid parent span IDs={s.parent}; skipping clock skew adjustment")
            roots.append(s)
    stack: list[tuple[_Span, _Span | None, tuple[str, int]]] = [(r, None, (r.host, 0)) for r in roots]
    while stack:
        node, parent, skew = stack.pop()
        if parent is not None and (node.host != skew[0] or not node.host):
            skew = (node.host, _skew(node, parent))
        if skew[1]:
            node.json["warnings"].append(f"clock skew adjustment disabled; not applying calculated delta of {go_duration(skew[1])}")
        stack.extend((child, node, skew) for child in children.get(node.json["spanID"], ()))


def _skew(child: _Span, parent: _Span) -> int:
    if child.duration > parent.duration:
        return parent.start - child.start if child.start < parent.start else 0
    if child.start >= parent.start and child.start + child.duration <= parent.start + parent.duration:
        return 0
    latency = int((parent.duration - child.duration) / 2)
    return parent.start + latency - child.start


def trace_json(rows: Iterable[dict]) -> dict | None:
    """One trace in Jaeger's UI model from its store rows (in the order to list them); None if empty."""
    spans: list[_Span] = []
    processes: dict[str, dict] = {}
    keys: dict[str, str] = {}
    seen: set[str] = set()
    for r in rows:
        span, proc = _convert(r)
        identity = json.dumps(proc, sort_keys=True)
        # DedupeBySpanHash: a span stored twice (a client retrying an export) is listed once
        digest = json.dumps(span.json, sort_keys=True) + identity
        if digest in seen:
            continue
        seen.add(digest)
        pid = keys.get(identity)
        if pid is None:
            pid = keys[identity] = f"p{len(keys) + 1}"
            processes[pid] = proc
        span.json["processID"] = pid
        spans.append(span)
    if not spans:
        return None
    _clock_skew(spans)
    for s in spans:
        s.json["warnings"].extend(s.late)
        if not s.json["warnings"]:
            s.json["warnings"] = None
    return {"traceID": spans[0].json["traceID"], "spans": [s.json for s in spans], "processes": processes,
            "warnings": None}
