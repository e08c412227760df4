"""Sampling the log records of a logs request, by trace ID or by a record attribute."""

from __future__ import annotations

import logging
import struct
from itertools import compress
from typing import Any

from google.protobuf.message import Message

from otelflow.processors.probabilistic_sampler.carriers import _RecordCarrier
from otelflow.processors.probabilistic_sampler.config import (
    _BUCKET_MASK,
    _BUCKETS,
    LOG_RANDOMNESS_ATTRIBUTE,
    LOG_THRESHOLD_ATTRIBUTE,
    SAMPLING_PRIORITY,
    TRACE_ID_HASH,
    TRACE_ID_W3C,
    Config,
)
from otelflow.processors.probabilistic_sampler.prune import _drop_empty, _keep_only
from otelflow.processors.probabilistic_sampler.samplers import (
    _Decider,
    _EqualizingSampler,
    _HashingSampler,
    _ProportionalSampler,
    make_sampler,
)
from otelflow.processors.probabilistic_sampler.traces import _ZERO_TRACE_ID, fnv1a32_many
from otelflow.processors.sampling.threshold import (
    NEVER_SAMPLE,
    SamplingError,
    probability_to_threshold,
    threshold_to_tvalue,
)


# ---- logs ------------------------------------------------------------------------------------------

class _RecordView:
    """Looks up the attributes a log record's sampling decision needs (the first of each key, as
    pdata's Map.Get), scanning the attributes once, and again only after the carrier changed them."""

    __slots__ = ("record", "keys", "all_keys", "found", "_carrier", "eager")

    def __init__(self, record, keys: tuple[str, ...], all_keys: tuple[str, ...], eager: bool = False):
        self.record = record
        self.eager = eager
        self.keys = keys  # those that occur somewhere in the request
        self.all_keys = all_keys
        self.found: dict[str, Any] | None = None
        self._carrier = None

    def _scan(self) -> dict[str, Any]:
        found: dict[str, Any] = {}
        if self.keys:
            wanted = self.keys
            for kv in self.record.attributes:
                key = kv.key
                if key in wanted and key not in found:
                    found[key] = kv.value
        self.found = found
        return found

    def changed(self) -> None:
        self.found = None
        self.keys = self.all_keys

    def get(self, key: str):
        found = self.found if self.found is not None else self._scan()
        return found.get(key)

    def _string(self, key: str) -> str:
        value = self.get(key)
        if value is None or value.WhichOneof("value") != "string_value":
            return ""
        return value.string_value

    def carrier(self) -> _RecordCarrier:
        if self._carrier is None:
            self._carrier = _RecordCarrier(self, self._string(LOG_THRESHOLD_ATTRIBUTE), self._string(LOG_RANDOMNESS_ATTRIBUTE), self.eager)
        return self._carrier


class _LogsSampler:
    def __init__(self, cfg: Config, logger: logging.Logger):
        self.sampler = make_sampler(cfg, is_logs=True)
        self.decider = _Decider(self.sampler, cfg.fail_closed, logger, "logs sampler")
        self.priority_attribute = cfg.sampling_priority
        self.precision = cfg.sampling_precision
        keys = [LOG_THRESHOLD_ATTRIBUTE, LOG_RANDOMNESS_ATTRIBUTE]
        if isinstance(self.sampler, _HashingSampler) and self.sampler.source_attribute:
            keys.append(self.sampler.source_attribute)
        if self.priority_attribute:
            keys.append(self.priority_attribute)
        self.keys = tuple(dict.fromkeys(keys))
        # attributes whose presence rules out the bulk path (they change the decision or the update)
        self.blocking = tuple(k for k in (LOG_THRESHOLD_ATTRIBUTE, LOG_RANDOMNESS_ATTRIBUTE, self.priority_attribute) if k)
        self.batch = self._fast_path()

    def _fast_path(self):
        """For records without sampling.* or priority attributes and with a trace ID, when the trace ID
        is the source: decide for many trace IDs at once. Returns a function (distinct trace IDs) ->
        list of (sampled, attributes to add, policy), or None for the other configurations."""
        sampler = self.sampler
        if isinstance(sampler, _HashingSampler):
            if not sampler.trace_id_enabled:
                return None
            seed_state, scaled = sampler.seed_state, sampler.scaled
            th = (LOG_THRESHOLD_ATTRIBUTE, threshold_to_tvalue(sampler.threshold))
            dropped = (False, (), TRACE_ID_HASH)

            def kept(h: int) -> tuple:
                hashed = h & _BUCKET_MASK
                unused18 = h >> 18
                rnd = ((_BUCKETS - 1 - hashed) << 42) | ((unused18 ^ (unused18 << 10)) << 14) | hashed
                return (True, ((LOG_RANDOMNESS_ATTRIBUTE, "%014x" % rnd), th), TRACE_ID_HASH)

            def hashing(trace_ids: list[bytes]) -> list:
                return [dropped if h & _BUCKET_MASK >= scaled else kept(h) for h in fnv1a32_many(trace_ids, seed_state)]
            return hashing
        if isinstance(sampler, (_EqualizingSampler, _ProportionalSampler)):
            if isinstance(sampler, _EqualizingSampler):
                threshold = sampler.threshold
            else:
                try:
                    threshold = probability_to_threshold(sampler.ratio, sampler.precision)
                except SamplingError:
                    threshold = NEVER_SAMPLE
            kept_ = (True, ((LOG_THRESHOLD_ATTRIBUTE, threshold_to_tvalue(threshold)),), TRACE_ID_W3C)
            dropped_ = (False, (), TRACE_ID_W3C)
            low56 = (1 << 56) - 1

            def consistent(trace_ids: list[bytes]) -> list:
                halves = struct.unpack(f">{2 * len(trace_ids)}Q", b"".join(trace_ids))[1::2]
                return [kept_ if (low & low56) >= threshold else dropped_ for low in halves]
            return consistent
        return None

    def _priority(self, view: _RecordView):
        def apply(rnd, threshold):
            if not self.priority_attribute:
                return rnd, threshold
            value = view.get(self.priority_attribute)
            if value is None:
                return rnd, threshold
            kind = value.WhichOneof("value")
            if kind == "double_value":
                min_prob = value.double_value / 100.0
            elif kind == "int_value":
                min_prob = float(value.int_value) / 100.0
            else:
                return rnd, threshold
            if min_prob == 0:
                return rnd, threshold
            try:
                priority_threshold = probability_to_threshold(min_prob, self.precision)
            except SamplingError:
                return rnd, threshold
            # the record's own probability replaces the configured one, up or down
            return (rnd[0], SAMPLING_PRIORITY), priority_threshold
        return apply

    def process(self, data: Message, counts: dict) -> bool:
        blob = data.SerializeToString()
        all_keys = self.keys
        keys = tuple(k for k in all_keys if k.encode() in blob)
        batch = self.batch if self.batch is not None and not any(k in keys for k in self.blocking) else None
        eager = self.priority_attribute == LOG_RANDOMNESS_ATTRIBUTE  # priority read after the write
        scopes = []
        for rl in data.resource_logs:
            for sl in rl.scope_logs:
                records = sl.log_records
                scopes.append((records, [r.trace_id for r in records] if batch is not None else None))
        decided: dict[bytes, tuple] = {}
        if batch is not None:
            distinct = set()
            for _, trace_ids in scopes:
                distinct.update(trace_ids)
            plain = [t for t in distinct if len(t) == 16 and t != _ZERO_TRACE_ID]
            decided = dict(zip(plain, batch(plain)))
        for records, trace_ids in scopes:
            results = [decided.get(t) for t in trace_ids] if trace_ids is not None else [None] * len(records)
            if None not in results:  # all decided in bulk
                counts.update(results)
                keep = [result[0] for result in results]
                for i in compress(range(len(keep)), keep):
                    attributes = records[i].attributes
                    for key, value in results[i][1]:  # in the order upstream adds them
                        attributes.add(key=key).value.string_value = value
            else:
                keep = []
                for record, result in zip(records, results):
                    if result is not None:
                        counts[result] += 1
                        if result[0]:
                            for key, value in result[1]:
                                record.attributes.add(key=key).value.string_value = value
                        keep.append(result[0])
                        continue
                    view = _RecordView(record, keys, all_keys, eager)
                    rnd, carrier, error = self.sampler.randomness_from_record(record, view)
                    sampled, policy = self.decider.decide(rnd, carrier, error, self._priority(view))
                    counts[(sampled, None, policy)] += 1
                    keep.append(sampled)
            kept = sum(keep)
            if kept != len(keep):
                _keep_only(records, keep, kept)
        _drop_empty(data.resource_logs, "scope_logs", "log_records")
        return len(data.resource_logs) > 0
