"""Config of the ``fluent_forward`` receiver (upstream v0.161.0): one key, ``endpoint``.

``host:port`` serves TCP there and answers heartbeats over UDP on the same address; a path
(``/run/fluent.sock``) or ``unix://path`` serves a Unix stream socket. Upstream's default is empty.
"""

from __future__ import annotations

from otelflow.config.model import Model

ACK_WAIT_TIMEOUT = 30.0  # upstream's fixed bound on how long a chunk waits for the pipeline
MAX_CONNECTIONS = 100  # upstream's fixed cap on connections served at once


class Config(Model):
    endpoint: str = ""

    @property
    def unix_path(self) -> str | None:
        if self.endpoint.startswith("unix://"):
            return self.endpoint[len("unix://"):]
        if self.endpoint.startswith("/"):
            return self.endpoint
        return None
