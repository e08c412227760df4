"""Config of the ``file_log`` receiver: upstream's fileconsumer keys (matcher, attribute resolver,
splitting, trimming, polling), the input operator's ``attributes``/``resource`` and the adapter's
``operators``, ``storage`` and ``retry_on_failure``, with upstream's defaults and Validate rules."""

from __future__ import annotations

import re
from typing import Any

from pydantic import BeforeValidator, field_validator, model_validator
from typing_extensions import Annotated

from otelflow.config.model import ComponentIDText, Duration, Model
from otelflow.pdata.goregexp import compile_go_regex
from otelflow.stanza.fileconsumer.encoding import NOP, lookup_encoding
from otelflow.stanza.fileconsumer.finder import validate as validate_globs

_BYTE_SIZE = re.compile(r"^(\d+\.?\d*)\s*([kKmMgGtTpP]i?[bB])?$")
_UNITS = {"": 1, "kb": 1000, "kib": 1024, "mb": 1000**2, "mib": 1024**2, "gb": 1000**3, "gib": 1024**3,
          "tb": 1000**4, "tib": 1024**4, "pb": 1000**5, "pib": 1024**5}


def parse_byte_size(value: Any) -> int:
    """helper.ByteSize: an integer, a float, or ``<number><unit>`` with kb/KiB/... (1kb = 1000)."""
    if isinstance(value, bool):
        raise ValueError(f"invalid byte size '{value}'")
    if isinstance(value, (int, float)):
        return int(value)
    text = str(value)
    try:
        return int(float(text)) if not text.isdigit() else int(text)
    except ValueError:
        pass
    m = _BYTE_SIZE.match(text)
    if m is None:
        raise ValueError(f"invalid byte size '{text}'")
    return int(_UNITS[(m.group(2) or "").lower()] * float(m.group(1)))


ByteSize = Annotated[int, BeforeValidator(parse_byte_size)]


class MultilineConfig(Model):
    line_start_pattern: str = ""
    line_end_pattern: str = ""
    omit_pattern: bool = False


class RetryOnFailure(Model):
    """consumerretry.Config: off by default; when on, a refused batch is retried with backoff."""

    enabled: bool = False
    initial_interval: Duration = 1.0
    max_interval: Duration = 30.0
    max_elapsed_time: Duration = 300.0


class SortRule(Model):
    sort_type: str = ""
    regex_key: str = ""
    ascending: bool = False
    layout: str = ""
    location: str = ""


class OrderingCriteria(Model):
    regex: str = ""
    top_n: int | None = None
    sort_by: list[SortRule] = []
    group_by: str = ""


class HeaderConfig(Model):
    pattern: str = ""
    metadata_operators: list[dict[str, Any]] = []


_NOT_RUN = {
    "ordering_criteria": "accepted but not applied: every matched file is read",
    "header": "header metadata is not parsed; header lines are read as ordinary lines",
    "acquire_fs_lock": "accepted but no lock is taken",
    "polls_to_archive": "accepted; known files are kept for 3 polls",
    "include_file_record_offset": "accepted; the log.file.record_offset attribute is not added",
    "file_cache_advise": "accepted and ignored",
    "skip_unmodified_files": "accepted and ignored",
    "initial_buffer_size": "accepted; buffers are sized by Python",
    "max_concurrent_files": "accepted; every matched file is read each poll, one at a time",
    "max_batches": "accepted; every matched file is read each poll",
}


class Config(Model):
    # stanza input operator identity (squashed into the receiver config upstream)
    id: str = ""
    type: str = ""
    output: list[str] = []
    attributes: dict[str, str] = {}
    resource: dict[str, str] = {}
    # matcher.Criteria
    include: list[str] = []
    exclude: list[str] = []
    exclude_older_than: Duration = 0.0
    ordering_criteria: OrderingCriteria = OrderingCriteria()
    # attrs.Resolver
    include_file_name: bool = True
    include_file_path: bool = False
    include_file_name_resolved: bool = False
    include_file_path_resolved: bool = False
    include_file_owner_name: bool = False
    include_file_owner_group_name: bool = False
    include_file_permissions: bool = False
    # fileconsumer.Config
    poll_interval: Duration = 0.2
    max_concurrent_files: int = 1024
    max_batches: int = 0
    start_at: str = "end"
    fingerprint_size: ByteSize = 1000
    initial_buffer_size: ByteSize = 16 * 1024
    max_log_size: ByteSize = 1024 * 1024
    max_log_size_behavior: str = "split"
    encoding: str = "utf-8"
    multiline: MultilineConfig = MultilineConfig()
    preserve_leading_whitespaces: bool = False
    preserve_trailing_whitespaces: bool = False
    force_flush_period: Duration = 0.5
    header: HeaderConfig | None = None
    delete_after_read: bool = False
    include_file_record_number: bool = False
    include_file_record_offset: bool = False
    compression: str = ""
    polls_to_archive: int = 0
    acquire_fs_lock: bool = False
    file_cache_advise: bool = False
    on_truncate: str = "ignore"
    skip_unmodified_files: bool = False
    # adapter.BaseConfig
    operators: list[dict[str, Any]] = []
    storage: ComponentIDText | None = None
    retry_on_failure: RetryOnFailure = RetryOnFailure()

    @field_validator("output", mode="before")
    @classmethod
    def _one_output(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @field_validator("operators", mode="before")
    @classmethod
    def _no_operators(cls, value: Any) -> Any:
        return [] if value is None else value

    @model_validator(mode="after")
    def _check(self) -> "Config":
        # the order of fileconsumer.Config.validate and Build
        if not self.include:
            raise ValueError("'include' must be specified")
        if self.fingerprint_size < 16:
            raise ValueError("'fingerprint_size' must be at least 16 bytes")
        if self.max_log_size <= 0:
            raise ValueError("'max_log_size' must be positive")
        if self.max_concurrent_files < 1:
            raise ValueError("'max_concurrent_files' must be positive")
        if self.max_batches < 0:
            raise ValueError("'max_batches' must not be negative")
        if self.max_log_size_behavior not in ("split", "truncate"):
            raise ValueError("'max_log_size_behavior' must be either 'split' or 'truncate'")
        enc = lookup_encoding(self.encoding)
        if self.delete_after_read and self.start_at == "end":
            raise ValueError("'delete_after_read' cannot be used with 'start_at: end'")
        if self.header is not None and self.start_at == "end":
            raise ValueError("'header' cannot be specified with 'start_at: end'")
        if self.compression not in ("", "gzip", "auto"):
            raise ValueError(f"invalid value for 'compression': {self.compression}")
        if self.on_truncate not in ("ignore", "read_whole_file", "read_new"):
            raise ValueError(f"invalid value for 'on_truncate': {self.on_truncate}")
        if self.start_at not in ("beginning", "end"):
            raise ValueError(f"invalid start_at location '{self.start_at}'")
        ml = self.multiline
        if enc == NOP and (ml.line_end_pattern or ml.line_start_pattern):
            which = "line_end_pattern" if ml.line_end_pattern else "line_start_pattern"
            raise ValueError(f"{which} should not be set when using nop encoding")
        if ml.line_end_pattern and ml.line_start_pattern:
            raise ValueError("only one of line_start_pattern or line_end_pattern can be set")
        for what, pattern in (("line end", ml.line_end_pattern), ("line start", ml.line_start_pattern)):
            if pattern:
                try:
                    compile_go_regex("(?m)" + pattern)
                except Exception as exc:  # noqa: BLE001 - GoRegexpError carries Go's text
                    raise ValueError(f"compile {what} regex: {exc}") from None
        for key, globs in (("include", self.include), ("exclude", self.exclude)):
            try:
                validate_globs(globs)
            except ValueError as exc:
                raise ValueError(f"{key}: parse glob: {exc}") from None
        return self

    def upstream_incompatibilities(self) -> list[str]:
        out = []
        for key, message in _NOT_RUN.items():
            if key in self.model_fields_set:
                out.append(f"{key}: {message}")
        if self.on_truncate != "ignore":
            out.append("on_truncate: only 'ignore' is implemented: a file that shrinks keeps its offset while its "
                       "first bytes match its fingerprint, and is read from its start as a new file when not")
        return out
