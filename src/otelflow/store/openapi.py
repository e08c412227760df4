"""The OpenAPI 3.1 description of the embedded store's JSON API, served at /api/v1/openapi.json.

Built from small helpers so that each endpoint reads as its parameters and its response shape.
"""

from __future__ import annotations

from typing import Any

from otelflow.store.query import KINDS, STATUS_NAMES
from otelflow.store.query_params import MAX_LIMIT

_INT = {"type": "integer"}
_NUM = {"type": "number"}
_STR = {"type": "string"}
_OBJ = {"type": "object", "description": "attribute map; values are JSON (bytes as base64)"}
_US = {"type": "integer", "description": "microseconds since the unix epoch"}
_DUR = {"type": "integer", "description": "microseconds"}
_PCT = {"type": ["integer", "null"], "description": "microseconds; null when the bucket has no spans"}


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _object(**props: Any) -> dict:
    return {"type": "object", "required": list(props), "properties": props}


def _list(item: dict) -> dict:
    return {"type": "array", "items": item}


def _param(name: str, schema: dict, description: str, required: bool = False, where: str = "query",
           repeat: bool = False) -> dict:
    out = {"name": name, "in": where, "required": required, "description": description,
           "schema": _list(schema) if repeat else schema}
    if repeat:
        out.update(style="form", explode=True)
    return out


_RANGE = [
    _param("start_us", _INT, "range start, microseconds since the epoch (default: end_us minus one hour)"),
    _param("end_us", _INT, "range end, microseconds since the epoch (default: now)"),
]
_SERVICE_REQUIRED = _param("service", _STR, "service.name of the spans", required=True)
_STEP = _param("step_s", {"type": "integer", "minimum": 1},
               "bucket width in seconds (default: about 60 buckets over the range, at least 1 s; at most 10000 buckets)")


def _limit(default: int) -> dict:
    return _param("limit", {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": default},
                  f"how many to return (default {default}, max {MAX_LIMIT})")


def _get(summary: str, params: list, schema: dict, not_found: bool = False) -> dict:
    responses = {
        "200": {"description": "OK", "content": {"application/json": {"schema": schema}}},
        "400": {"description": "a parameter is missing or malformed", "content": {"application/json": {"schema": _ref("Error")}}},
        "503": {"description": "the store is not open", "content": {"application/json": {"schema": _ref("Error")}}},
    }
    if not_found:
        responses["404"] = {"description": "no span or log has this trace ID",
                            "content": {"application/json": {"schema": _ref("Error")}}}
    return {"get": {"summary": summary, "parameters": params, "responses": responses}}


_SCHEMAS = {
    "Error": _object(error={"type": "string", "description": "what is wrong and what is expected"}),
    "Span": _object(
        trace_id=_STR, span_id=_STR, parent_span_id={"type": "string", "description": "empty for a root span"},
        trace_state=_STR, service=_STR, name=_STR, kind={"enum": list(KINDS)}, start_us=_US, end_us=_US,
        duration_us=_DUR, status_code={"enum": list(STATUS_NAMES)}, status_message=_STR, attributes=_OBJ,
        events=_list(_object(time_us=_US, name=_STR, attributes=_OBJ)),
        links=_list(_object(trace_id=_STR, span_id=_STR, trace_state=_STR, attributes=_OBJ)),
        resource=_OBJ, scope_name=_STR, scope_version=_STR),
    "Log": _object(
        time_us=_US, observed_us=_US, service=_STR, severity_number=_INT, severity_text=_STR,
        body={"type": "string", "description": "a string body as is, any other body as JSON text"},
        attributes=_OBJ, resource=_OBJ, scope_name=_STR, trace_id=_STR, span_id=_STR, event_name=_STR),
    "TraceSummary": _object(
        trace_id=_STR, root_service=_STR, root_name=_STR, start_us=_US, duration_us=_DUR, span_count=_INT,
        error_count=_INT, services=_list(_STR)),
}

_NDJSON = {"application/x-ndjson": {"schema": {"type": "string", "description": "OTLP/JSON lines as the file exporter "
                                               "writes them (and upstream's otlpjsonfile receiver reads)"}}}
_TRACE_FILTERS = [
    _param("service", _STR, "span's service"), _param("operation", _STR, "span name"),
    _param("min_duration_us", {"type": "integer", "minimum": 0}, "span lasts at least this long"),
    _param("max_duration_us", {"type": "integer", "minimum": 0}, "span lasts at most this long"),
    _param("status", {"enum": ["error", "ok", "unset"]}, "span status"),
    _param("attr", _STR, "key=value attribute filter, as in /api/v1/traces", repeat=True),
    _param("parent_service", _STR, "the span's parent span is in this other service (a service-map edge)")]
_LOG_FILTERS = [
    _param("service", _STR, "service.name"), _param("severity", _STR, "minimum level or number 1-24"),
    _param("q", _STR, "case-insensitive substring of the body"), _param("trace_id", _STR, "32 hex digits")]
_EDGE = _object(parent=_STR, child=_STR, how={"enum": ["parent", "link"], "description": "parent: the child span's parent "
                "span is in the parent service; link: a consumer span links a producer span"},
                queue={"type": "boolean", "description": "a messaging hop (producer or consumer spans)"},
                calls=_INT, errors=_INT, error_rate={"type": "number", "description": "errors / calls"},
                rate_per_s={"type": "number", "description": "calls per second over the range"},
                p95_us={"type": ["integer", "null"], "description": "p95 duration of the child spans"})


def _download(summary: str, params: list) -> dict:
    return {"get": {"summary": summary, "parameters": params, "responses": {
        "200": {"description": "an attachment", "content": _NDJSON},
        "400": {"description": "a parameter is malformed", "content": {"application/json": {"schema": _ref("Error")}}},
        "404": {"description": "nothing matches", "content": {"application/json": {"schema": _ref("Error")}}}}}}


def _stream(summary: str, params: list, item: str) -> dict:
    return {"get": {"summary": summary, "parameters": params, "responses": {
        "200": {"description": f"server-sent events: `{item}` events with data {{\"{item}\": [...], \"dropped\": rows}} "
                "(newest first), `dropped` events {\"dropped\": rows} when a slow reader lost commits, comment heartbeats",
                "content": {"text/event-stream": {"schema": {"type": "string"}}}},
        "400": {"description": "a filter is malformed", "content": {"application/json": {"schema": _ref("Error")}}},
        "503": {"description": "too many live streams are open", "content": {"application/json": {"schema": _ref("Error")}}}}}}


_MAP_LIVE_IMPORT = {
    "/api/v1/dependencies": _get(
        "The service map of the range: services with spans, and edges parent -> child across services", _RANGE,
        _object(start_us=_US, end_us=_US, nodes=_list(_object(name=_STR, spans=_INT, errors=_INT)), edges=_list(_EDGE))),
    "/api/v1/tail/traces": _stream(
        "Live: summaries of traces with newly committed spans matching the filters (trace search's shape)",
        _TRACE_FILTERS, "traces"),
    "/api/v1/tail/logs": _stream("Live: newly committed log records matching the filters", _LOG_FILTERS, "logs"),
    "/api/v1/import": {"post": {
        "summary": "Store an OTLP file whole (JSON lines, one JSON request, length-prefixed or single protobuf)",
        "parameters": [_param("signal", {"enum": ["traces", "metrics", "logs"]}, "what protobuf records hold (default traces)")],
        "requestBody": {"required": True, "content": {"application/octet-stream": {"schema": {"type": "string"}}}},
        "responses": {
            "200": {"description": "stored", "content": {"application/json": {"schema": _object(
                requests=_INT, imported=_object(spans=_INT, logs=_INT, metric_points=_INT),
                trace_ids=_list(_STR))}}},
            "400": {"description": "malformed: the error names the line or record; nothing was stored",
                    "content": {"application/json": {"schema": _ref("Error")}}},
            "413": {"description": "bigger than an import may be (bytes, or rows the store queues at once); nothing stored",
                    "content": {"application/json": {"schema": _ref("Error")}}},
            "503": {"description": "the store is busy or closed; nothing stored",
                    "content": {"application/json": {"schema": _ref("Error")}}}}}},
    "/api/v1/export/trace/{trace_id}": _download(
        "One trace as OTLP/JSON lines: its spans, then its logs",
        [_param("trace_id", {"type": "string", "pattern": "^[0-9a-fA-F]{32}$"}, "32 hex digits", required=True, where="path")]),
    "/api/v1/export/traces": _download(
        "The traces a search finds (same parameters as /api/v1/traces) as OTLP/JSON lines",
        [*_TRACE_FILTERS, *_RANGE, _limit(20)]),
    "/api/v1/export/logs": _download(
        "The records a log search finds (same parameters as /api/v1/logs) as OTLP/JSON lines",
        [*_LOG_FILTERS, *_RANGE, _limit(100)]),
}

PATHS = {
    "/api/v1/services": _get(
        "Services that sent spans in the range, by name", _RANGE,
        _object(services=_list(_object(name=_STR, spans=_INT, errors=_INT, last_seen_us=_US)))),
    "/api/v1/operations": _get(
        "A service's span names and kinds, most frequent first", [_SERVICE_REQUIRED, *_RANGE],
        _object(operations=_list(_object(name=_STR, kind={"enum": list(KINDS)}, count=_INT, errors=_INT,
                                         p50_us=_DUR, p95_us=_DUR, p99_us=_DUR)))),
    "/api/v1/traces": _get(
        "Traces having a span that matches every filter, newest first",
        [_param("service", _STR, "span's service"), _param("operation", _STR, "span name"),
         _param("min_duration_us", {"type": "integer", "minimum": 0}, "span lasts at least this long"),
         _param("max_duration_us", {"type": "integer", "minimum": 0}, "span lasts at most this long"),
         _param("status", {"enum": ["error", "ok", "unset"]}, "span status"),
         _param("attr", _STR, "key=value: a span (or its resource) attribute whose value, as text, equals value",
                repeat=True),
         _param("parent_service", _STR, "the span's parent span is in this (other) service: with service, the "
                "traces crossing a service-map edge"),
         *_RANGE, _limit(20)],
        _object(traces=_list(_ref("TraceSummary")))),
    "/api/v1/traces/{trace_id}": _get(
        "Every span (by start time) and log of one trace, from the whole store",
        [_param("trace_id", {"type": "string", "pattern": "^[0-9a-fA-F]{32}$"}, "32 hex digits", required=True,
                where="path")],
        _object(trace_id=_STR, spans=_list(_ref("Span")), logs=_list(_ref("Log"))), not_found=True),
    "/api/v1/logs": _get(
        "Log records, newest first",
        [_param("service", _STR, "service.name"),
         _param("severity", _STR, "minimum level: TRACE, DEBUG, INFO, WARN, ERROR, FATAL or a number 1-24"),
         _param("q", _STR, "case-insensitive substring of the body"),
         _param("trace_id", _STR, "32 hex digits"), *_RANGE, _limit(100)],
        _object(logs=_list(_ref("Log")))),
    "/api/v1/red": _get(
        "Rate, errors and duration of a service's entry spans (server, consumer, or without parent) per bucket; "
        "empty buckets are included with zeros",
        [_SERVICE_REQUIRED, _param("operation", _STR, "span name"), *_RANGE, _STEP],
        _object(service=_STR, operation={"type": ["string", "null"]}, step_s=_INT,
                points=_list(_object(t_us=_US, requests=_INT, errors=_INT,
                                     rate={"type": "number", "description": "requests per second"},
                                     error_rate={"type": "number", "description": "errors per second"},
                                     p50_us=_PCT, p95_us=_PCT, p99_us=_PCT)),
                totals=_object(requests=_INT, errors=_INT))),
    "/api/v1/metrics": _get(
        "Metric names seen in the range", _RANGE,
        _object(metrics=_list(_object(name=_STR, type=_STR, unit=_STR, description=_STR, services=_list(_STR),
                                      label_keys=_list(_STR))))),
    "/api/v1/metrics/query": _get(
        "One metric's series per bucket: gauge average, delta sum total, cumulative monotonic sum per-second "
        "rate, other cumulative sum last value, histogram and summary sum/count",
        [_param("name", _STR, "metric name", required=True),
         _param("label", _STR, "k=v: only points with this label value", repeat=True),
         _param("service", _STR, "service.name"),
         _param("group_by", _STR, "label keys that make a series (default: every label)", repeat=True),
         *_RANGE, _STEP],
        _object(name=_STR, type={"type": ["string", "null"]}, unit={"type": ["string", "null"]}, step_s=_INT,
                series=_list(_object(labels={"type": "object"},
                                     points=_list(_object(t_us=_US, value={"type": ["number", "null"]})))),
                truncated={"type": "boolean", "description": "more than 500 series; the first 500 by labels are shown"})),
    "/api/v1/stats": _get(
        "What the store holds", [],
        _object(spans=_INT, logs=_INT, metric_points=_INT, database_bytes=_INT,
                oldest_us={"type": ["integer", "null"]}, newest_us={"type": ["integer", "null"]})),
    "/api/v1/doctor": {"get": {
        "summary": "Mistakes the doctor extension saw in live traffic, per service (all workers merged)",
        "parameters": [],
        "responses": {
            "200": {"description": "OK", "content": {"application/json": {"schema": _object(
                generated_at=_STR,
                workers=_object(count=_INT, reporting=_INT),
                settings={"type": "object", "description": "the thresholds the findings were judged by"},
                services=_list(_object(name=_STR, spans=_INT, points=_INT, logs=_INT, requests=_INT, last_seen=_STR)),
                findings=_list(_object(
                    rule={"enum": ["missing_resource_attribute", "span_attributes", "metric_cardinality", "lost_parent",
                                   "orphan_parent", "clock_skew", "propagation_break", "simple_span_processor"]},
                    severity={"enum": ["error", "warning", "info"]},
                    service={"type": "string", "description": "service.name the finding is about"},
                    key={"type": "string", "description": "the attribute, metric label or peer service concerned"},
                    message={"type": "string", "description": "what was seen"},
                    why=_STR, fix=_STR, count=_INT, last_seen=_STR,
                    details={"type": "object", "description": "rule-specific figures and an example"})),
                stats={"type": "object", "description": "how much traffic the trace checks covered"})}}},
            "404": {"description": "this service has no doctor extension",
                    "content": {"application/json": {"schema": _ref("Error")}}},
        }}},
    "/api/v1/sampling/what-if": {"post": {
        "summary": "What a tail_sampling config would keep of the stored traces in the range (sampling what-if)",
        "parameters": [*_RANGE, _param("processor", _STR, "with a whole collector config: the tail_sampling processor to replay")],
        "requestBody": {"required": True, "content": {
            "application/json": {"schema": {"type": "object", "required": ["policies"], "properties": {
                "policies": {"type": "string", "description": "YAML: tail_sampling settings or a whole collector config"},
                "start_us": _US, "end_us": _US, "processor": _STR}}},
            "application/yaml": {"schema": {"type": "string", "description": "the policies YAML itself; range in the query"}}}},
        "responses": {
            "200": {"description": "one report per tail_sampling processor", "content": {"application/json": {"schema": _object(
                start_us=_US, end_us=_US,
                reports=_list({"type": "object", "description": "processor, total, kept (+ _pct), decisions, policies "
                               "(decided/matched traces, spans, bytes), routes, services, endpoints, errors, slow, cost, "
                               "approximate; see docs/sampling-what-if.md"}))}}},
            "400": {"description": "the YAML or the range is invalid", "content": {"application/json": {"schema": _ref("Error")}}},
            "429": {"description": "another what-if is running", "content": {"application/json": {"schema": _ref("Error")}}},
        }}},
    **_MAP_LIVE_IMPORT,
    "/api/v1/openapi.json": {"get": {"summary": "This document", "responses": {"200": {"description": "OK"}}}},
}


def document(version: str = "0") -> dict:
    return {
        "openapi": "3.1.0",
        "info": {"title": "otelflow embedded store API", "version": version,
                 "description": "Spans, logs and metrics kept by the embedded_store extension. Times and durations "
                                "are integer microseconds; IDs are lowercase hex."},
        "paths": PATHS,
        "components": {"schemas": _SCHEMAS},
    }
