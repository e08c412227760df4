"""Config of the ``http_check`` receiver: upstream's keys, defaults and validation messages."""

from __future__ import annotations

from urllib.parse import urlsplit

from pydantic import create_model, model_validator

from otelflow.config.model import Model
from otelflow.config.settings import HTTPClientSettings
from otelflow.receivers.httpcheck.metadata import METADATA
from otelflow.receivers.scraperhelper import ControllerConfig, metrics_fields

INVALID_ENDPOINT = '"endpoint" must be in the form of <scheme>://<hostname>[:<port>]'
MISSING_ENDPOINT = "at least one of 'endpoint' or 'endpoints' must be specified"


class Validation(Model):
    """One ``validations`` entry; each key set is one check (``max_size``/``min_size`` count as ``size``)."""

    contains: str = ""
    not_contains: str = ""
    json_path: str = ""
    equals: str = ""
    max_size: int | None = None
    min_size: int | None = None
    regex: str = ""


def _endpoint_problem(endpoint: str) -> str | None:
    # Go's url.ParseRequestURI: an absolute URL or an absolute path; anything else is an error
    parts = urlsplit(endpoint)
    if endpoint.startswith("/") or (parts.scheme and (parts.netloc or parts.path.startswith("/") or parts.path)):
        return None
    return f'{INVALID_ENDPOINT}: parse "{endpoint}": invalid URI for request'


class Target(HTTPClientSettings):
    method: str = ""
    endpoints: list[str] = []
    body: str = ""
    auto_content_type: bool = False
    validations: list[Validation] = []

    def problems(self) -> list[str]:
        out = []
        if not self.endpoint and not self.endpoints:
            out.append(MISSING_ENDPOINT)
        for endpoint in ([self.endpoint] if self.endpoint else []) + self.endpoints:
            problem = _endpoint_problem(endpoint)
            if problem:
                out.append(problem)
        return out

    def all_endpoints(self) -> list[str]:
        """``endpoints`` first, then ``endpoint``, as upstream expands them."""
        return list(self.endpoints) + ([self.endpoint] if self.endpoint else [])


class Config(create_model("HttpcheckBase", __base__=ControllerConfig, **metrics_fields("httpcheck", METADATA))):
    targets: list[Target] = []

    @model_validator(mode="after")
    def _targets(self) -> "Config":
        problems = [] if self.targets else ["no targets configured"]
        for target in self.targets:
            problems.extend(target.problems())
        if problems:
            raise ValueError("; ".join(problems))
        return self
