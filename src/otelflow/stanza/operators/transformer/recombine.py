"""recombine: joins consecutive entries of one source (source_identifier) into one, split where
is_first_entry / is_last_entry matches. A batch is emitted when the next first line arrives, after
the last line, at max_batch_size entries, past max_log_size bytes, after max_unmatched_batch_size
entries without a match, or force_flush_period after its first entry (the pipeline's flush hook)."""

from __future__ import annotations

import re
from typing import Any, Literal

import pydantic
from pydantic import BeforeValidator
from typing_extensions import Annotated

from otelflow.config.model import Duration
from otelflow.stanza.entry import Entry
from otelflow.stanza.expr import compile_bool
from otelflow.stanza.field import Field, FieldRef
from otelflow.stanza.operator import BuildError, Emit, Transformer, TransformerConfig, log
from otelflow.stanza.registry import register

DEFAULT_SOURCE = "DefaultSourceIdentifier"
_SIZE = re.compile(r"^(\d+\.?\d*)\s*([kKmMgGtTpP]i?[bB])?$")
_UNITS = {"": 1, "kb": 10**3, "kib": 2**10, "mb": 10**6, "mib": 2**20, "gb": 10**9, "gib": 2**30,
          "tb": 10**12, "tib": 2**40, "pb": 10**15, "pib": 2**50}


def parse_byte_size(value: Any) -> int:
    """Upstream's helper.ByteSize: an int, a float, or "1.5MiB"-style text."""
    if isinstance(value, bool):
        raise ValueError("failed to unmarshal to int64, float64, or string")
    if isinstance(value, (int, float)):
        return int(value)
    m = _SIZE.match(str(value))
    if m is None:
        raise ValueError(f"invalid byte size '{value}'")
    return int(float(m.group(1)) * _UNITS[(m.group(2) or "").lower()])


ByteSize = Annotated[int, BeforeValidator(parse_byte_size)]


class RecombineConfig(TransformerConfig):
    type: Literal["recombine"] = "recombine"
    is_first_entry: str = ""
    is_last_entry: str = ""
    max_batch_size: int = 1000
    max_unmatched_batch_size: int = 100
    combine_field: FieldRef | None = None
    combine_with: str = "\n"
    source_identifier: FieldRef = Field("attributes", ("log.file.path",))
    overwrite_with: str = "oldest"
    force_flush_period: Duration = 5.0
    max_sources: int = 1000
    max_log_size: ByteSize = 0

    model_config = pydantic.ConfigDict(arbitrary_types_allowed=True, populate_by_name=True)


class _Batch:
    __slots__ = ("base", "count", "parts", "size", "first_observed", "matched")

    def __init__(self, base: Entry) -> None:
        self.base = base
        self.count = 1
        self.parts: list[str] = []
        self.size = 0
        self.first_observed = base.observed_timestamp
        self.matched = False


class Recombine(Transformer):
    def __init__(self, cfg: RecombineConfig) -> None:
        super().__init__(cfg)
        if cfg.is_first_entry and cfg.is_last_entry:
            raise BuildError("only one of is_first_entry and is_last_entry can be set")
        if not cfg.is_first_entry and not cfg.is_last_entry:
            raise BuildError("one of is_first_entry and is_last_entry must be set")
        self.match_first = bool(cfg.is_first_entry)
        key = "is_first_entry" if self.match_first else "is_last_entry"
        try:
            self.test = compile_bool(cfg.is_first_entry or cfg.is_last_entry)
        except ValueError as exc:
            raise BuildError(f"failed to compile {key}: {exc}", key) from None
        if cfg.combine_field is None:
            raise BuildError("missing required argument 'combine_field'", "combine_field")
        if cfg.overwrite_with not in ("newest", "oldest", ""):
            raise BuildError(f"invalid value '{cfg.overwrite_with}' for parameter 'overwrite_with'", "overwrite_with")
        self.newest = cfg.overwrite_with == "newest"
        self.combine_field: Field = cfg.combine_field
        self.combine_with = cfg.combine_with
        self.source_field: Field = cfg.source_identifier
        self.max_batch = cfg.max_batch_size
        self.max_unmatched = cfg.max_unmatched_batch_size
        self.max_sources = cfg.max_sources
        self.max_log_size = cfg.max_log_size
        self.flush_ns = int(cfg.force_flush_period * 1e9)
        self.batches: dict[str, _Batch] = {}

    def process(self, entry: Entry) -> list[Emit]:
        try:
            if self.skip(entry):
                return [(None, entry)]
            matches = self.test(entry)
        except Exception as exc:  # noqa: BLE001 - entry errors go to on_error
            return self.handle_error(entry, exc)
        source, found = self.source_field.get(entry)
        if isinstance(source, bytes):
            source = source.decode("utf-8", "replace")
        if not found or not isinstance(source, str) or not source:
            source = DEFAULT_SOURCE
        out: list[Emit] = []
        if matches and self.match_first:
            self._flush(source, out)
            self._add(entry, source, matches, out)
        elif matches:
            self._add(entry, source, matches, out)
            self._flush(source, out)
        else:
            self._add(entry, source, matches, out)
        return out

    def _add(self, entry: Entry, source: str, matches: bool, out: list[Emit]) -> None:
        batch = self.batches.get(source)
        if batch is None:
            if len(self.batches) >= self.max_sources:
                log.error("recombine %s: too many sources, flushing all batched logs; consider increasing max_sources", self.id)
                for name in list(self.batches):
                    self._flush(name, out)
            batch = self.batches[source] = _Batch(entry)
        else:
            batch.count += 1
            if self.newest:
                batch.base = entry
        if matches:
            batch.matched = True
        value, found = self.combine_field.get(entry)
        if isinstance(value, bytes):
            value = value.decode("utf-8", "replace")
        if not found or not isinstance(value, str):
            self.note_error(ValueError("entry does not contain the combine_field"), quiet=False)
            return
        if batch.parts:
            batch.parts.append(self.combine_with)
            batch.size += len(self.combine_with.encode())
        batch.parts.append(value)
        batch.size += len(value.encode())
        if ((self.max_log_size > 0 and batch.size > self.max_log_size)
                or (self.max_batch > 0 and batch.count >= self.max_batch)
                or (not batch.matched and self.max_unmatched > 0 and batch.count >= self.max_unmatched)):
            self._flush(source, out)

    def _flush(self, source: str, out: list[Emit]) -> None:
        batch = self.batches.pop(source, None)
        if batch is None:
            return
        try:
            self.combine_field.set(batch.base, "".join(batch.parts))
        except ValueError as exc:
            self.note_error(exc, quiet=False)
            return
        out.append((None, batch.base))

    def flush(self, now_ns: int, force: bool = False) -> list[Emit]:
        out: list[Emit] = []
        for source in list(self.batches):
            batch = self.batches[source]
            if force or now_ns - batch.first_observed >= self.flush_ns:
                self._flush(source, out)
        return out


register("recombine", RecombineConfig, Recombine)
