"""Fails while it is imported."""

LIMIT = 10 / 0  # line 3


class Broken:
    def process_traces(self, batch):
        pass
