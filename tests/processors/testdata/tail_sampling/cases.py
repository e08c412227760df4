"""The tail_sampling conformance cases: a processor config and the requests sent, built here and written
by ``record.py`` as ``<case>/config.yaml`` and ``<case>/input.json`` next to upstream's ``expected.json``.
The tests read only those files; this module is how they were made.

Trace IDs are 32 hex digits: ``<case tag><trace number>`` for hand-made traces, SHA-256 based (random
looking) where a hash decides (probabilistic).
"""

from __future__ import annotations

import hashlib

T0 = 1_700_000_000_000_000_000  # ns
MS = 1_000_000


def tid(tag: int, n: int) -> str:
    return f"{tag:08x}{n:024x}"


def rid(seed: str) -> str:
    return hashlib.sha256(seed.encode()).hexdigest()[:32]


def _value(v):
    if isinstance(v, bool):
        return {"boolValue": v}
    if isinstance(v, int):
        return {"intValue": str(v)}
    if isinstance(v, float):
        return {"doubleValue": v}
    if isinstance(v, list):
        return {"arrayValue": {"values": [_value(x) for x in v]}}
    return {"stringValue": v}


def attrs(d: dict) -> list:
    return [{"key": k, "value": _value(v)} for k, v in d.items()]


_span_no = [0]


def span(trace: str, *, name: str = "op", start_ms: float = 0, dur_ms: float = 1, status: int = 0,
         parent: str = "", a: dict | None = None, flags: int | None = None, trace_state: str = "") -> dict:
    _span_no[0] += 1
    out = {"traceId": trace, "spanId": f"{_span_no[0]:016x}", "name": name, "kind": 2,
           "startTimeUnixNano": str(T0 + int(start_ms * MS)), "endTimeUnixNano": str(T0 + int((start_ms + dur_ms) * MS))}
    if parent:
        out["parentSpanId"] = parent
    if status:
        out["status"] = {"code": status}
    if a:
        out["attributes"] = attrs(a)
    if flags is not None:
        out["flags"] = flags
    if trace_state:
        out["traceState"] = trace_state
    return out


def request(*resources: tuple[dict, list]) -> dict:
    return {"resourceSpans": [{"resource": {"attributes": attrs(r)}, "scopeSpans": [{"scope": {"name": "golden", "version": "1"}, "spans": spans}]}
                              for r, spans in resources]}


SVC = {"service.name": "shop"}


def _status_code():
    t = lambda n: tid(1, n)  # noqa: E731
    spans = [span(t(1), status=2), span(t(1)),  # ERROR in one span of two
             span(t(2), status=1), span(t(3)), span(t(4), status=2), span(t(4), status=1),
             span(t(5), status=1), span(t(5), status=1)]
    return {"policies": [{"name": "errors", "type": "status_code", "status_code": {"status_codes": ["ERROR"]}}]}, [request((SVC, spans))]


def _status_ok_unset():
    t = lambda n: tid(2, n)  # noqa: E731
    spans = [span(t(1), status=2), span(t(2), status=1), span(t(3)), span(t(4), status=2), span(t(4))]
    return {"policies": [{"name": "fine", "type": "status_code", "status_code": {"status_codes": ["OK", "UNSET"]}}]}, [request((SVC, spans))]


def _latency():
    t = lambda n: tid(3, n)  # noqa: E731
    spans = [span(t(1), dur_ms=100), span(t(2), dur_ms=500), span(t(3), dur_ms=500.9), span(t(4), dur_ms=501),
             span(t(5), dur_ms=2000),
             span(t(6), start_ms=0, dur_ms=300), span(t(6), start_ms=400, dur_ms=300),  # 700 ms across spans
             span(t(7), start_ms=0, dur_ms=200), span(t(7), start_ms=100, dur_ms=200),  # overlap, 300 ms
             span(t(8), start_ms=-1000, dur_ms=1), span(t(8), start_ms=0, dur_ms=1)]  # 1001 ms
    return {"policies": [{"name": "slow", "type": "latency", "latency": {"threshold_ms": 500}}]}, [request((SVC, spans))]


def _latency_upper():
    t = lambda n: tid(4, n)  # noqa: E731
    spans = [span(t(1), dur_ms=100), span(t(2), dur_ms=600), span(t(3), dur_ms=1000), span(t(4), dur_ms=1000.5),
             span(t(5), dur_ms=1500),
             # running duration passes through the window before ending above it: upstream samples
             span(t(6), start_ms=0, dur_ms=700), span(t(6), start_ms=0, dur_ms=3000),
             span(t(7), start_ms=0, dur_ms=3000), span(t(7), start_ms=0, dur_ms=700)]
    return {"policies": [{"name": "window", "type": "latency", "latency": {"threshold_ms": 500, "upper_threshold_ms": 1000}}]}, [request((SVC, spans))]


def _string_exact():
    t = lambda n: tid(5, n)  # noqa: E731
    reqs = [request((SVC, [span(t(1), a={"http.target": "/healthz"}), span(t(2), a={"http.target": "/api"}),
                           span(t(3), a={"http.target": "/healthz/x"}), span(t(4), a={"other": "/healthz"}),
                           span(t(5), a={"http.target": 200}), span(t(6), a={"http.target": ""}),
                           span(t(7), a={"http.target": "/livez"}), span(t(7)),
                           span(t(8), a={"http.target": ["/healthz"]})])),
            request(({"service.name": "shop", "http.target": "/healthz"}, [span(t(9))]),
                    ({"service.name": "shop", "http.target": 5}, [span(t(10))]))]
    return {"policies": [{"name": "health", "type": "string_attribute",
                          "string_attribute": {"key": "http.target", "values": ["/healthz", "/livez", "", "200"]}}]}, reqs


def _string_invert():
    t = lambda n: tid(6, n)  # noqa: E731
    reqs = [request((SVC, [span(t(1), a={"http.target": "/healthz"}), span(t(2), a={"http.target": "/api"}),
                           span(t(3)), span(t(4), a={"http.target": "/api"}), span(t(4), a={"http.target": "/healthz"}),
                           span(t(5), a={"http.target": ""}), span(t(6), a={"http.target": 7})])),
            request(({"service.name": "shop", "http.target": "/healthz"}, [span(t(7))]))]
    return {"policies": [{"name": "not-health", "type": "string_attribute",
                          "string_attribute": {"key": "http.target", "values": ["/healthz"], "invert_match": True}}]}, reqs


def _string_regex():
    t = lambda n: tid(7, n)  # noqa: E731
    reqs = [request((SVC, [span(t(1), a={"http.route": "/api/v1/users"}), span(t(2), a={"http.route": "/API/v1"}),
                           span(t(3), a={"http.route": "/static/x.css"}), span(t(4), a={"http.route": "/api"}),
                           span(t(5), a={"http.route": "/v2/items/123"}), span(t(6), a={"http.route": "x/v2/items/abc"}),
                           span(t(7), a={"http.route": 12})])),
            request(({"service.name": "shop", "http.route": 3}, [span(t(8))]))]
    return {"policies": [{"name": "api", "type": "string_attribute",
                          "string_attribute": {"key": "http.route", "values": ["^/api/v\\d+", "/items/\\d+$", "^$"],
                                               "enabled_regex_matching": True, "cache_max_size": 2}}]}, reqs


def _numeric():
    t = lambda n: tid(8, n)  # noqa: E731
    reqs = [request((SVC, [span(t(n), a={"http.status_code": v}) for n, v in
                           enumerate([199, 200, 404, 500, 599, 600, -5], start=1)]
                     + [span(t(8), a={"http.status_code": 500.0}), span(t(9), a={"http.status_code": "500"}),
                        span(t(10))])),
            request(({"service.name": "shop", "http.status_code": 503}, [span(t(11))]))]
    return {"policies": [{"name": "server-errors", "type": "numeric_attribute",
                          "numeric_attribute": {"key": "http.status_code", "min_value": 500, "max_value": 599}}]}, reqs


def _numeric_bounds():
    t = lambda n: tid(9, n)  # noqa: E731
    spans = [span(t(n), a={"n": v}) for n, v in enumerate([-10, 0, 5, 10, 11], start=1)] + [span(t(6), a={"n": 1.5}), span(t(7))]
    return {"policies": [
        {"name": "max-only", "type": "numeric_attribute", "numeric_attribute": {"key": "n", "max_value": -1}},
        {"name": "inverted", "type": "numeric_attribute", "numeric_attribute": {"key": "n", "min_value": 5, "max_value": 100, "invert_match": True}},
    ]}, [request((SVC, spans))]


def _boolean():
    t = lambda n: tid(10, n)  # noqa: E731
    spans = [span(t(1), a={"debug": True}), span(t(2), a={"debug": False}), span(t(3), a={"debug": "true"}), span(t(4))]
    return {"policies": [{"name": "debug", "type": "boolean_attribute", "boolean_attribute": {"key": "debug", "value": True}},
                         {"name": "not-false", "type": "boolean_attribute",
                          "boolean_attribute": {"key": "debug", "value": False, "invert_match": True}}]}, [request((SVC, spans))]


def _and_not_composite():
    t = lambda n: tid(11, n)  # noqa: E731
    spans = [span(t(1), status=2, a={"service.tier": "gold"}), span(t(2), status=2), span(t(3), a={"service.tier": "gold"}),
             span(t(4), dur_ms=900, a={"service.tier": "gold"}), span(t(5), dur_ms=900)]
    return {"policies": [
        {"name": "gold-errors", "type": "and", "and": {"and_sub_policy": [
            {"name": "gold", "type": "string_attribute", "string_attribute": {"key": "service.tier", "values": ["gold"]}},
            {"name": "err", "type": "status_code", "status_code": {"status_codes": ["ERROR"]}}]}},
        {"name": "gold-fast", "type": "and", "and": {"and_sub_policy": [
            {"name": "gold", "type": "string_attribute", "string_attribute": {"key": "service.tier", "values": ["gold"]}},
            {"name": "fast", "type": "not", "not": {"not_sub_policy": {"name": "slow", "type": "latency", "latency": {"threshold_ms": 500}}}}]}},
        {"name": "budget", "type": "composite", "composite": {
            "max_total_spans_per_second": 1000, "policy_order": ["none", "slow"],
            "composite_sub_policy": [
                {"name": "none", "type": "status_code", "status_code": {"status_codes": ["ERROR"]}},
                {"name": "slow", "type": "latency", "latency": {"threshold_ms": 500}}],
            "rate_allocation": [{"policy": "none", "percent": 0}, {"policy": "slow", "percent": 50}]}},
    ]}, [request((SVC, spans))]


def _drop_precedence():
    t = lambda n: tid(12, n)  # noqa: E731
    spans = [span(t(1), a={"http.target": "/healthz"}), span(t(2), status=2, a={"http.target": "/healthz"}),
             span(t(3), status=2), span(t(4), a={"http.target": "/healthz", "keep": True}), span(t(5))]
    return {"policies": [
        {"name": "everything", "type": "always_sample"},
        {"name": "errors", "type": "status_code", "status_code": {"status_codes": ["ERROR"]}},
        {"name": "no-health", "type": "drop", "drop": {"drop_sub_policy": [
            {"name": "health", "type": "string_attribute", "string_attribute": {"key": "http.target", "values": ["/healthz"]}},
            {"name": "unless-kept", "type": "not", "not": {"not_sub_policy": {"name": "kept", "type": "boolean_attribute",
                                                                           "boolean_attribute": {"key": "keep", "value": True}}}}]}},
    ]}, [request((SVC, spans))]


def _invert_with_others():
    t = lambda n: tid(13, n)  # noqa: E731
    spans = [span(t(1), status=2, a={"http.target": "/healthz"}), span(t(2), a={"http.target": "/healthz"}),
             span(t(3), status=2), span(t(4))]
    return {"sample_on_first_match": True, "policies": [
        {"name": "not-health", "type": "string_attribute", "string_attribute": {"key": "http.target", "values": ["/healthz"], "invert_match": True}},
        {"name": "errors", "type": "status_code", "status_code": {"status_codes": ["ERROR"]}}]}, [request((SVC, spans))]


def _span_count_state_flags():
    t = lambda n: tid(14, n)  # noqa: E731
    spans = [span(t(1)), span(t(2)), span(t(2)), span(t(2)), span(t(3), trace_state="vendor=gold,other=x"),
             span(t(4), trace_state="vendor=silver"), span(t(5), trace_state="vendor=gold,bad key=1"),
             span(t(6), flags=1), span(t(7), flags=0x100), span(t(8), flags=0x101)]
    return {"policies": [
        {"name": "big", "type": "span_count", "span_count": {"min_spans": 3, "max_spans": 10}},
        {"name": "gold", "type": "trace_state", "trace_state": {"key": "vendor", "values": ["gold"]}},
        {"name": "flagged", "type": "trace_flags"}]}, [request((SVC, spans))]


def _split_traces():
    """One trace's spans in three requests and two resources: decided together, kept whole."""
    t = lambda n: tid(15, n)  # noqa: E731
    front, back = {"service.name": "frontend"}, {"service.name": "backend"}
    reqs = [request((front, [span(t(1), name="GET /cart"), span(t(2), name="GET /"), span(t(3), name="GET /a")])),
            request((back, [span(t(1), name="db", status=2), span(t(2), name="db")]), (front, [span(t(3), name="b")])),
            request((back, [span(t(1), name="cache"), span(t(3), name="c", dur_ms=800)]))]
    return {"policies": [{"name": "errors", "type": "status_code", "status_code": {"status_codes": ["ERROR"]}},
                         {"name": "slow", "type": "latency", "latency": {"threshold_ms": 500}}]}, reqs


def _probabilistic():
    spans = [span(rid(f"p{n}")) for n in range(1000)]
    return {"policies": [{"name": "quarter", "type": "probabilistic",
                          "probabilistic": {"hash_salt": "otelflow-golden", "sampling_percentage": 25}}]}, [request((SVC, spans[:500])), request((SVC, spans[500:]))]


def _probabilistic_default_salt():
    spans = [span(rid(f"q{n}")) for n in range(1000)]
    return {"policies": [{"name": "few", "type": "probabilistic", "probabilistic": {"sampling_percentage": 3.3}}]}, [request((SVC, spans))]


def _seed():
    """The seed's three policies (its /healthz route rule is otelflow's; otelcol ignores it)."""
    spans = []
    for n in range(600):
        trace = rid(f"s{n}")
        spans.append(span(trace, name="GET /items", dur_ms=40, a={"http.target": "/items"}))
        spans.append(span(trace, name="db", dur_ms=900 if n % 50 == 7 else 10, status=2 if n % 40 == 3 else 0))
    return {"policies": [{"name": "errors", "type": "status_code", "status_code": {"status_codes": ["ERROR"]}},
                         {"name": "slow", "type": "latency", "latency": {"threshold_ms": 500}},
                         {"name": "probably", "type": "probabilistic", "probabilistic": {"sampling_percentage": 5}}]}, [request((SVC, spans))]


def _error(policies, **extra):
    return lambda: ({"policies": policies, **extra}, [])


CASES = {
    "status_code_error": _status_code,
    "status_code_ok_unset": _status_ok_unset,
    "latency_threshold": _latency,
    "latency_window": _latency_upper,
    "string_attribute_exact": _string_exact,
    "string_attribute_invert": _string_invert,
    "string_attribute_regex": _string_regex,
    "numeric_attribute": _numeric,
    "numeric_attribute_bounds_invert": _numeric_bounds,
    "boolean_attribute": _boolean,
    "and_not_composite": _and_not_composite,
    "drop_precedence": _drop_precedence,
    "invert_with_first_match": _invert_with_others,
    "span_count_trace_state_flags": _span_count_state_flags,
    "split_across_requests": _split_traces,
    "probabilistic_salt": _probabilistic,
    "probabilistic_default_salt": _probabilistic_default_salt,
    "seed_policies": _seed,
    "err_unknown_status_code": _error([{"name": "e", "type": "status_code", "status_code": {"status_codes": ["FAILED"]}}]),
    "err_no_status_codes": _error([{"name": "e", "type": "status_code"}]),
    "err_empty_name": _error([{"type": "always_sample"}]),
    "err_duplicate_name": _error([{"name": "a", "type": "always_sample"}, {"name": "a", "type": "latency"}]),
    "err_bad_regex": _error([{"name": "r", "type": "string_attribute",
                              "string_attribute": {"key": "k", "values": ["ok", "a(b"], "enabled_regex_matching": True}}]),
    "err_unknown_type": _error([{"name": "u", "type": "sometimes"}]),
    "err_composite_sub_drop": _error([{"name": "c", "type": "composite", "composite": {"composite_sub_policy": [{"name": "d", "type": "drop"}]}}]),
    "err_not_without_sub": _error([{"name": "n", "type": "not"}]),
    "err_span_ingest_stateful": _error([{"name": "r", "type": "rate_limiting", "rate_limiting": {"spans_per_second": 10}}],
                                       sampling_strategy="span-ingest"),
    "err_sampling_strategy": _error([], sampling_strategy="whenever"),
    "err_num_shards": _error([], num_shards=257),
}
