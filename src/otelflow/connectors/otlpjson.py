"""The ``otlp_json`` connector (``otlpjson``): log records whose body is an OTLP/JSON export request
become that telemetry, as upstream's otlpjsonconnector (logs -> traces, metrics or logs).

Which signal a body holds is told from its first key, as upstream does, by a prefix match of
``{"resourceSpans": [`` / ``"resourceMetrics"`` / ``"resourceLogs"`` (JSON whitespace allowed
around the tokens, none before the brace). A body of the target signal is decoded with the project's
OTLP/JSON reader (pdata's rules) and handed on as its own request, one request per record, as
upstream does. A body of another signal is skipped silently. A body that matches no prefix, or that
matches but does not decode, is skipped, counted in ``otelflow_connector_otlp_json_invalid_records``
and logged (first time, then once per ``_LOG_EVERY`` seconds, not per record). Like upstream, the
connector never fails the incoming request: a downstream error is logged and counted
(``otelflow_connector_otlp_json_failed_requests``), so one bad record does not make the sender retry the rest.
"""

from __future__ import annotations

import re
import time
from typing import Any

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from otelflow.config.model import Model
from otelflow.core.component import Component, Factory, Kind, Settings, Signal, STABLE_SIGNALS
from otelflow.core.consumer import Consumer
from otelflow.pdata.otlpjson import OTLPJSONError, decode

# Go's \s is [\t\n\f\r ]; Python's would also take Unicode spaces.
_PREFIX = {
    Signal.LOGS: re.compile(r'\{[\t\n\f\r ]*"resourceLogs"[\t\n\f\r ]*:[\t\n\f\r ]*\['),
    Signal.METRICS: re.compile(r'\{[\t\n\f\r ]*"resourceMetrics"[\t\n\f\r ]*:[\t\n\f\r ]*\['),
    Signal.TRACES: re.compile(r'\{[\t\n\f\r ]*"resourceSpans"[\t\n\f\r ]*:[\t\n\f\r ]*\['),
}
_REQUEST = {Signal.LOGS: ExportLogsServiceRequest, Signal.METRICS: ExportMetricsServiceRequest,
            Signal.TRACES: ExportTraceServiceRequest}
_LOG_EVERY = 10.0


class Config(Model):
    pass


class OTLPJSONConnector(Component):
    mutates_data = False

    def __init__(self, settings: Settings, target: Signal, next_: Consumer):
        self.settings = settings
        self.log = settings.logger
        self.next = next_
        self.target = target
        self.own = _PREFIX[target]
        self.others = [p for s, p in _PREFIX.items() if s != target]
        self.request_type = _REQUEST[target]
        self.labels = {"connector": str(settings.id)}
        self._logged: dict[str, float] = {}

    def _note(self, what: str, message: str, *args: Any) -> None:
        """Count every occurrence; log the first, then at most once per _LOG_EVERY seconds."""
        self.settings.telemetry.add(f"otelflow_connector_otlp_json_{what}", 1, **self.labels)
        now = time.monotonic()
        if now - self._logged.get(what, -_LOG_EVERY) >= _LOG_EVERY:
            self._logged[what] = now
            self.log.error(message, *args)

    async def consume(self, data: ExportLogsServiceRequest) -> None:
        for rl in data.resource_logs:
            for sl in rl.scope_logs:
                for record in sl.log_records:
                    body = record.body
                    if body.WhichOneof("value") != "string_value":
                        # upstream reads other bodies as their string form (a map as JSON);
                        # otelflow takes requests from string bodies only
                        self._note("invalid_records", "Invalid otlp payload")
                        continue
                    text = body.string_value
                    if self.own.match(text):
                        await self._forward(text)
                    elif not any(p.match(text) for p in self.others):
                        self._note("invalid_records", "Invalid otlp payload")

    async def _forward(self, text: str) -> None:
        try:
            request = decode(text, self.request_type)
        except OTLPJSONError as exc:
            self._note("invalid_records", "could not extract %s from otlp json error=%s", self.target.value, exc)
            return
        try:
            await self.next.consume(request)
        except Exception as exc:  # noqa: BLE001 - upstream logs and goes on with the next record
            self._note("failed_requests", "could not consume %s from otlp json error=%s", self.target.value, exc)


def create(settings: Settings, config: Config, source: Signal, target: Signal, next: Consumer) -> OTLPJSONConnector:
    return OTLPJSONConnector(settings, target, next)


factory = Factory(
    type="otlp_json",
    kind=Kind.CONNECTOR,
    config=Config,
    create=create,
    pairs=frozenset((Signal.LOGS, s) for s in STABLE_SIGNALS),
    stability="alpha",
)
