"""Where a span or a log record keeps its sampling state: the span's ``tracestate`` (``ot=rv:…;th:…``)
and a record's ``sampling.randomness`` / ``sampling.threshold`` attributes."""

from __future__ import annotations

from typing import TYPE_CHECKING

from otelflow.processors.probabilistic_sampler.config import LOG_RANDOMNESS_ATTRIBUTE, LOG_THRESHOLD_ATTRIBUTE, MISSING
from otelflow.processors.sampling.threshold import (
    ALL_PROBABILITIES_RANDOMNESS,
    ALWAYS_SAMPLE,
    ERR_INCONSISTENT,
    NEVER_SAMPLE,
    InconsistentSampling,
    SamplingError,
    randomness_to_rvalue,
    rvalue_to_randomness,
    threshold_to_tvalue,
    tvalue_to_threshold,
)
from otelflow.processors.sampling.tracestate import W3CTraceState

if TYPE_CHECKING:  # the logs module builds on this one
    from otelflow.processors.probabilistic_sampler.logs import _RecordView


# A randomness value travels with its policy name: (randomness, policy). Missing randomness is
# (ALL_PROBABILITIES_RANDOMNESS, MISSING), as upstream returns for it.

_MISSING_RND = (ALL_PROBABILITIES_RANDOMNESS, MISSING)


class _SpanCarrier:
    """The sampling information of a span: its parsed tracestate."""

    __slots__ = ("state",)

    def __init__(self, state: W3CTraceState):
        self.state = state

    def threshold(self) -> tuple[int, bool]:
        otel = self.state.otel
        return otel.threshold, otel.tvalue != ""

    def explicit_randomness(self) -> tuple[int, bool]:
        otel = self.state.otel
        return otel.randomness, otel.rvalue != ""

    def set_explicit_randomness(self, randomness: int) -> None:
        self.state.otel.set_randomness(randomness)

    def clear_threshold(self) -> None:
        self.state.otel.clear_threshold()

    def update_threshold(self, threshold: int) -> None:
        self.state.otel.update_threshold(threshold)

    def reserialize(self) -> str:
        return self.state.serialize()


def _first_index(attrs, key: str) -> int:
    for i, kv in enumerate(attrs):
        if kv.key == key:
            return i
    return -1


def _put_str(attrs, key: str, value: str) -> None:
    i = _first_index(attrs, key)
    if i >= 0:
        attrs[i].value.Clear()
        attrs[i].value.string_value = value
    else:
        attrs.add(key=key).value.string_value = value


def _remove(attrs, key: str) -> None:
    # pdata's Map.Remove: the last entry takes the place of the removed one
    i = _first_index(attrs, key)
    if i < 0:
        return
    last = len(attrs) - 1
    if i != last:
        attrs[i].CopyFrom(attrs[last])
    del attrs[last]


class _RecordCarrier:
    """The sampling information of a log record: its sampling.* attributes (string values only).

    Upstream writes sampling.randomness into every record it hashes, then sampling.threshold into
    those it keeps. Only kept records leave the processor, so the randomness is written when the
    threshold is (same order, same result), unless something reads it in between (``eager``).
    """

    __slots__ = ("record", "view", "tvalue", "threshold_", "rvalue", "randomness", "error", "pending", "eager")

    def __init__(self, view: "_RecordView", tvalue_text: str, rvalue_text: str, eager: bool):
        self.view = view
        self.record = view.record
        self.tvalue, self.threshold_, self.rvalue, self.randomness = "", ALWAYS_SAMPLE, "", 0
        self.pending = False
        self.eager = eager
        errors = []
        if tvalue_text:
            try:
                self.threshold_ = tvalue_to_threshold(tvalue_text)
                self.tvalue = tvalue_text
            except SamplingError as exc:
                errors.append(str(exc))
        if rvalue_text:
            try:
                self.randomness = rvalue_to_randomness(rvalue_text)
                self.rvalue = rvalue_text
            except SamplingError as exc:
                errors.append(str(exc))
        self.error: str | None = "; ".join(errors) or None

    def threshold(self) -> tuple[int, bool]:
        return self.threshold_, self.tvalue != ""

    def explicit_randomness(self) -> tuple[int, bool]:
        return self.randomness, self.rvalue != ""

    def set_explicit_randomness(self, randomness: int) -> None:
        self.randomness = randomness
        self.rvalue = randomness_to_rvalue(randomness)
        self.pending = True
        if self.eager:
            self._write_randomness()

    def _write_randomness(self) -> None:
        if self.pending:
            self.pending = False
            _put_str(self.record.attributes, LOG_RANDOMNESS_ATTRIBUTE, self.rvalue)
            self.view.changed()

    def clear_threshold(self) -> None:
        self.threshold_, self.tvalue = NEVER_SAMPLE, ""
        _remove(self.record.attributes, LOG_THRESHOLD_ATTRIBUTE)
        self.view.changed()

    def update_threshold(self, threshold: int) -> None:
        self._write_randomness()
        existing, has = self.threshold()
        if has and threshold < existing:
            raise InconsistentSampling(ERR_INCONSISTENT)
        _put_str(self.record.attributes, LOG_THRESHOLD_ATTRIBUTE, threshold_to_tvalue(threshold))
        self.view.changed()

    def reserialize(self) -> None:
        return None
