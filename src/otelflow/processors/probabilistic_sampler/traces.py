"""Sampling the spans of a traces request: priority, the batched hash_seed fast path, and the
per-span decision."""

from __future__ import annotations

import logging
import struct
from itertools import compress

from google.protobuf.message import Message

from otelflow.processors.probabilistic_sampler.config import (
    _BUCKET_MASK,
    _BUCKETS,
    PRIORITY_ATTRIBUTE,
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
from otelflow.processors.sampling.gocompat import FNV32_PRIME, fnv1a32, parse_float
from otelflow.processors.sampling.threshold import (
    ALWAYS_SAMPLE,
    NEVER_SAMPLE,
    SamplingError,
    probability_to_threshold,
    threshold_to_tvalue,
)


# ---- traces ----------------------------------------------------------------------------------------

_DEFER, _MUST, _NEVER = 0, 1, 2


def span_priority(attributes) -> int:
    """The ``sampling.priority`` attribute (the first one): 0 drops, > 0 keeps, else no say."""
    for kv in attributes:
        if kv.key != PRIORITY_ATTRIBUTE:
            continue
        value = kv.value
        kind = value.WhichOneof("value")
        if kind == "int_value":
            number = value.int_value
        elif kind == "double_value":
            number = value.double_value
        elif kind == "string_value":
            number = parse_float(value.string_value)
            if number is None:
                return _DEFER
        else:
            return _DEFER
        if number == 0:
            return _NEVER
        return _MUST if number > 0 else _DEFER
    return _DEFER


def _priority_override(prio: int):
    def apply(rnd, threshold):
        if prio == _NEVER:
            return (rnd[0], SAMPLING_PRIORITY), NEVER_SAMPLE
        if prio == _MUST:
            return (rnd[0], SAMPLING_PRIORITY), ALWAYS_SAMPLE
        return rnd, threshold
    return apply


_PRIORITY_FUNCS = {p: _priority_override(p) for p in (_DEFER, _MUST, _NEVER)}


_ZERO_TRACE_ID = bytes(16)


def fnv1a32_many(items: list[bytes], state: int) -> list[int]:
    """FNV-1a of many 16-byte strings at once, all from the same starting state.

    Each string gets a 64-bit lane of one big integer; a lane holds a 32-bit hash, and multiplying it
    by the 25-bit FNV prime stays below 2**57, so lanes never carry into each other. Sixteen rounds
    of xor / multiply / mask over the big integer replace 16 Python-level steps per string.
    """
    n = len(items)
    if n < 32:
        return [fnv1a32(item, state) for item in items]
    blob = b"".join(items)
    lane_mask = int.from_bytes(b"\xff\xff\xff\xff\x00\x00\x00\x00" * n, "little")
    h = int.from_bytes(struct.pack("<Q", state) * n, "little")
    lanes = bytearray(8 * n)
    prime = FNV32_PRIME
    for i in range(16):
        lanes[0::8] = blob[i::16]
        h = ((h ^ int.from_bytes(lanes, "little")) * prime) & lane_mask
    return list(struct.unpack(f"<{n}Q", h.to_bytes(8 * n, "little")))


class _TracesSampler:
    def __init__(self, cfg: Config, logger: logging.Logger):
        self.sampler = make_sampler(cfg, is_logs=False)
        self.decider = _Decider(self.sampler, cfg.fail_closed, logger, "traces sampler")
        self.batch = self._fast_path()

    def _fast_path(self):
        """For the common span (empty tracestate, no sampling.priority, a trace ID) the decision and the
        new tracestate follow from the trace ID alone: decide for many trace IDs at once, no parsing.
        Returns a function (list of distinct trace IDs) -> list of (sampled, tracestate, policy)."""
        sampler = self.sampler
        if isinstance(sampler, _HashingSampler):
            seed_state, scaled = sampler.seed_state, sampler.scaled
            th = ";th:" + threshold_to_tvalue(sampler.threshold)
            dropped = (False, None, TRACE_ID_HASH)

            def kept(h: int) -> tuple:
                hashed = h & _BUCKET_MASK
                unused18 = h >> 18
                rnd = ((_BUCKETS - 1 - hashed) << 42) | ((unused18 ^ (unused18 << 10)) << 14) | hashed
                return (True, "ot=rv:%014x%s" % (rnd, th), TRACE_ID_HASH)

            def hashing(trace_ids: list[bytes]) -> list:
                # kept when the low 14 bits of the hash are below the bucket count
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
            kept = (True, "ot=th:" + threshold_to_tvalue(threshold), TRACE_ID_W3C)
            dropped = (False, None, TRACE_ID_W3C)
            low56 = (1 << 56) - 1

            def consistent(trace_ids: list[bytes]) -> list:
                # the second 8 bytes of each ID, big-endian; randomness is their low 56 bits
                halves = struct.unpack(f">{2 * len(trace_ids)}Q", b"".join(trace_ids))[1::2]
                return [kept if (low & low56) >= threshold else dropped for low in halves]
            return consistent
        return None

    def decide(self, trace_id: bytes, tracestate: str, prio: int):
        """One span → (sampled, new tracestate or None when unchanged, policy)."""
        if self.batch is not None and not tracestate and prio == _DEFER and len(trace_id) == 16 and trace_id != _ZERO_TRACE_ID:
            return self.batch([trace_id])[0]
        rnd, carrier, error = self.sampler.randomness_from_span(trace_id, tracestate)
        sampled, policy = self.decider.decide(rnd, carrier, error, _PRIORITY_FUNCS[prio])
        new_state = carrier.reserialize() if sampled and carrier is not None else None
        return sampled, new_state, policy

    def process(self, data: Message, counts: dict) -> bool:
        """Sample the request in place; False when nothing is left."""
        may_have_priority = PRIORITY_ATTRIBUTE.encode() in data.SerializeToString()
        # 1. what each span's decision depends on: its trace ID, tracestate and sampling.priority. The
        #    key is the bare trace ID for the common span (no tracestate, no priority), else a tuple.
        scopes = []
        for rs in data.resource_spans:
            for ss in rs.scope_spans:
                spans = ss.spans
                if may_have_priority:
                    keys = [_span_key(s.trace_id, s.trace_state, span_priority(s.attributes)) for s in spans]
                else:
                    keys = [(s.trace_id if not (ts := s.trace_state) else (s.trace_id, ts, _DEFER)) for s in spans]
                scopes.append((spans, keys))
        # 2. decide once per distinct key: in bulk for plain spans, one by one for the rest
        distinct = set()
        for _, keys in scopes:
            distinct.update(keys)
        decided: dict = {}
        others = distinct
        if self.batch is not None:
            plain = [k for k in distinct if k.__class__ is bytes and len(k) == 16 and k != _ZERO_TRACE_ID]
            if plain:
                decided = dict(zip(plain, self.batch(plain)))
                others = distinct.difference(plain) if len(plain) != len(distinct) else ()
        for key in others:
            decided[key] = self.decide(key, "", _DEFER) if key.__class__ is bytes else self.decide(*key)
        # 3. apply: new tracestates on kept spans, drop the rest, then empty scopes and resources
        for spans, keys in scopes:
            results = [decided[key] for key in keys]
            counts.update(results)
            keep = [result[0] for result in results]
            kept = sum(keep)
            for i in compress(range(len(keep)), keep):
                new_state = results[i][1]
                if new_state is not None:
                    key = keys[i]
                    if key.__class__ is bytes or new_state != key[1]:
                        spans[i].trace_state = new_state
            if kept != len(keep):
                _keep_only(spans, keep, kept)
        _drop_empty(data.resource_spans, "scope_spans", "spans")
        return len(data.resource_spans) > 0


def _span_key(trace_id: bytes, tracestate: str, prio: int):
    return trace_id if not tracestate and prio == _DEFER else (trace_id, tracestate, prio)
