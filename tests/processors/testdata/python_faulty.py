"""A plugin that changes every span, then fails on a span named "boom" (or "exit")."""

from otelflow.processors.python.api import TracesBatch


class Faulty:
    def __init__(self, config):
        self.calls = 0

    def process_traces(self, batch: TracesBatch) -> None:
        self.calls += 1
        names = []
        for span in batch.spans():
            names.append(span.name)
            span.attributes["touched"] = True
            span.name = "renamed"
            if names[-1] == "drop-me":
                span.drop()
        if "boom" in names:
            raise ValueError("boom is not allowed")  # line 20
        if "exit" in names:
            raise SystemExit(3)


class BadInit:
    def __init__(self, config):
        self.table = open(config["path"])  # line 27

    def process_traces(self, batch: TracesBatch) -> None:
        pass
