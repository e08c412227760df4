"""A plugin found by module name (``module: python_plugins.tagger``): tags spans, drops some items."""

from otelflow.processors.python.api import LogsBatch, MetricsBatch, StatusCode, TracesBatch


class Tagger:
    def __init__(self, config):
        self.tag = config["tag"]

    def process_traces(self, batch: TracesBatch) -> None:
        for span in batch.spans():
            if span.name == "drop-me":
                span.drop()
                continue
            span.attributes["tag"] = self.tag
            if span.attributes.get("http.status_code", 0) >= 500:
                span.status_code = StatusCode.ERROR
                span.status_message = "server error"

    def process_metrics(self, batch: MetricsBatch) -> None:
        for point in batch.data_points():
            if point.attributes.get("debug"):
                point.drop()
            elif point.value is not None:
                point.value = point.value * 2

    def process_logs(self, batch: LogsBatch) -> None:
        for record in batch.log_records():
            if record.severity_number < 9:  # below INFO
                record.drop()
            else:
                record.severity_text = record.severity_text.upper()


class OnlyTraces:
    def __init__(self, config):
        pass

    def process_traces(self, batch: TracesBatch) -> None:
        pass
