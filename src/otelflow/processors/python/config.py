"""The ``python`` processor's config: which plugin (``module`` or ``file``, and ``class``), the
``config`` mapping handed to it, and ``error_mode`` as the OTTL processors spell it.

Validating the config imports the plugin (so ``otelflow validate`` reports a syntax error with its
file and line) and records the hash of its source: a changed file makes a changed config, which is
how a SIGHUP re-imports it while the YAML stays the same (see ``loader``).
"""

from __future__ import annotations

from typing import Any

from pydantic import ConfigDict, Field, PrivateAttr, computed_field, field_validator, model_validator

from otelflow.config.model import Model
from otelflow.ottl.collection import PROPAGATE, parse_error_mode

from . import loader


class Config(Model):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, coerce_numbers_to_str=True)

    module: str = ""
    file: str = ""
    class_: str = Field("", alias="class")
    config: dict[str, Any] = Field(default_factory=dict)
    # A plugin's exception refuses the request by default: for code that redacts or filters, passing
    # data on untouched is the riskier failure. The OTTL processors default to ignore.
    error_mode: str = PROPAGATE

    _source: loader.Source = PrivateAttr(default=loader.Source("", "", ""))

    @field_validator("error_mode", mode="before")
    @classmethod
    def _error_mode(cls, value: Any) -> str:
        return parse_error_mode(value)

    @model_validator(mode="after")
    def _plugin(self) -> "Config":
        if bool(self.module) == bool(self.file):
            raise ValueError('exactly one of "module" and "file" must be set' if not self.module
                             else '"module" and "file" are both set; use one of them')
        if not self.class_:
            raise ValueError('missing required field "class"')
        source = loader.locate(self.module, self.file)
        loader.plugin_class(loader.load(source), source, self.class_)
        self._source = source
        return self

    @computed_field  # type: ignore[prop-decorator]
    @property
    def source_sha256(self) -> str:
        """The plugin file's hash when the config was read: part of the config's identity."""
        return self._source.sha256

    @property
    def source(self) -> loader.Source:
        return self._source

    def upstream_incompatibilities(self) -> list[str]:
        return ["python is an otelflow processor; otelcol has no such component"]
