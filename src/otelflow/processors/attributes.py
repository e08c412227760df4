"""The ``attributes`` processor: insert, update, upsert, delete, hash, extract and convert the
attributes of spans, log records and metric data points, optionally only for the items that
``include`` selects and ``exclude`` does not, as upstream's attributesprocessor (v0.161.0).

For metrics the actions apply to the attributes of every data point of every metric type (gauge,
sum, histogram, exponential histogram, summary); include/exclude select whole metrics by name.
"""

from __future__ import annotations

from google.protobuf.message import Message
from pydantic import model_validator

from otelflow.core.client import counted_as_received, encoded_as_received, received_request
from otelflow.core.component import Component, Factory, Kind, Settings, Signal
from otelflow.processors.attraction import ActionConfig, AttrProc, DropNulls, compile_actions, native_actions
from otelflow.processors.filtermatch import MatchProperties, log_skip, metric_skip, span_skip


class Config(DropNulls):
    include: MatchProperties | None = None
    exclude: MatchProperties | None = None
    actions: list[ActionConfig] = []

    @model_validator(mode="after")
    def _check(self) -> "Config":
        if not self.actions:
            raise ValueError('missing required field "actions"')
        # upstream checks the actions when it builds the processor, which `otelcol validate` does too
        compile_actions(self.actions)
        return self


_DATA_POINT_KINDS = ("gauge", "sum", "histogram", "exponential_histogram", "summary")


class AttributesProcessor(Component):
    mutates_data = True
    publishes_encoded = True  # what it hands on is published with its bytes (core/client.py), or nothing is

    def __init__(self, settings: Settings, config: Config, next):
        self.next = next
        self.signal = settings.signal
        # Built in upstream's order: the actions first, then include/exclude.
        self.proc = AttrProc(config.actions, settings.logger)
        if self.signal is Signal.TRACES:
            self.skip = span_skip(config.include, config.exclude)
            self._apply = self._traces
        elif self.signal is Signal.LOGS:
            self.skip = log_skip(config.include, config.exclude)
            self._apply = self._logs
        else:
            self.skip = metric_skip(config.include, config.exclude)
            self._apply = self._metrics
        # The C loop on the encoded request, when it runs every action and nothing is to be skipped.
        self.native = native_actions(self.proc.actions, self.signal) if self.skip is None else None
        self.as_received = False  # set by the graph: nothing before it changes requests in place

    async def consume(self, data: Message) -> None:
        done = None
        if self.native is not None:
            done = self.native.apply_encoded(data, encoded_as_received(data) if self.as_received else None)
        if done is None:
            self._apply(data)
            token = received_request.set(None)  # changed in place: the bytes before no longer match
            out = data
        else:
            # What the C loop handed on is exactly its bytes: later steps (batch, an exporter) take
            # those instead of encoding it again (``publishes_encoded``).
            out, encoded = done
            token = received_request.set((out, encoded, counted_as_received(data) if self.as_received else None))
        try:
            await self.next.consume(out)
        finally:
            received_request.reset(token)

    def _traces(self, data) -> None:
        process = self.proc.process
        skip = self.skip
        for rs in data.resource_spans:
            if skip is None:
                for ss in rs.scope_spans:
                    for span in ss.spans:
                        process(span.attributes)
                continue
            res_state = skip.resource(rs.resource)
            for ss in rs.scope_spans:
                state = skip.scope(res_state, ss.scope)
                for span in ss.spans:
                    if not skip.span(state, span):
                        process(span.attributes)

    def _logs(self, data) -> None:
        process = self.proc.process
        skip = self.skip
        for rl in data.resource_logs:
            if skip is None:
                for sl in rl.scope_logs:
                    for record in sl.log_records:
                        process(record.attributes)
                continue
            res_state = skip.resource(rl.resource)
            for sl in rl.scope_logs:
                state = skip.scope(res_state, sl.scope)
                for record in sl.log_records:
                    if not skip.log(state, record):
                        process(record.attributes)

    def _metrics(self, data) -> None:
        process = self.proc.process
        skip = self.skip
        for rm in data.resource_metrics:
            for sm in rm.scope_metrics:
                for metric in sm.metrics:
                    if skip is not None and skip.metric(metric):
                        continue
                    kind = metric.WhichOneof("data")
                    if kind in _DATA_POINT_KINDS:
                        for point in getattr(metric, kind).data_points:
                            process(point.attributes)


factory = Factory(
    type="attributes",
    kind=Kind.PROCESSOR,
    config=Config,
    create=lambda settings, config, next: AttributesProcessor(settings, config, next),
    signals=frozenset(Signal) - {Signal.PROFILES},  # as upstream v0.161.0: no profiles
    stability="beta",
)
