"""Fuzzing the OTLP/gRPC receiver over a real channel: random bytes and mutated protobuf get OK or
INTERNAL (what grpc-go answers when its codec cannot unmarshal), messages over the size limit
RESOURCE_EXHAUSTED, compressed or not; the server keeps serving afterwards."""

from __future__ import annotations

import random

import grpc
import pytest
from hypothesis import given, settings, strategies as st

from otelflow.core.component import Signal, STABLE_SIGNALS
from tests.fuzz import corpus
from tests.fuzz.harness import Live, examples, rss_bytes

SIGNALS = st.sampled_from([s for s in Signal if s in STABLE_SIGNALS])
MIB = 1 << 20


@pytest.fixture(scope="module")
def live():
    collector = Live().start()
    before = rss_bytes()
    yield collector
    for signal in [s for s in Signal if s in STABLE_SIGNALS]:
        assert collector.export(signal, corpus.request(random.Random(5), signal).SerializeToString()) == grpc.StatusCode.OK
    grown = rss_bytes() - before
    collector.stop()
    assert grown < 200 << 20, f"RSS grew by {grown >> 20} MiB over the module"


@settings(max_examples=examples(150))
@given(signal=SIGNALS, body=st.binary(max_size=512))
def test_random_bytes_get_ok_or_internal(live, signal, body):
    assert live.export(signal, body) in (grpc.StatusCode.OK, grpc.StatusCode.INTERNAL)


@settings(max_examples=examples(200))
@given(signal=SIGNALS, rng=st.randoms(use_true_random=False), gzip=st.booleans())
def test_mutated_protobuf_gets_ok_or_internal(live, signal, rng, gzip):
    body = corpus.mutate_bytes(rng, corpus.request(rng, signal).SerializeToString())
    compression = grpc.Compression.Gzip if gzip else None
    assert live.export(signal, body, compression) in (grpc.StatusCode.OK, grpc.StatusCode.INTERNAL)


@settings(max_examples=examples(4))
@given(signal=SIGNALS, compressed=st.booleans())
def test_over_max_recv_msg_size_is_resource_exhausted(live, signal, compressed):
    # 4 MiB is gRPC's default max_recv_msg_size_mib; compressed, the limit applies after decompression
    body = b"\x0a\x00" * (3 * MIB)
    compression = grpc.Compression.Gzip if compressed else None
    assert live.export(signal, body, compression) == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert live.export(signal, corpus.request(random.Random(1), signal).SerializeToString()) == grpc.StatusCode.OK


@settings(max_examples=examples(20))
@given(depth=st.integers(min_value=1, max_value=300), kvlist=st.booleans())
def test_deep_nesting_is_ok_or_refused(live, depth, kvlist):
    levels = depth * (3 if kvlist else 2) + 4
    expected = grpc.StatusCode.OK if levels <= 100 else grpc.StatusCode.INTERNAL  # otelflow's documented limit
    assert live.export(Signal.TRACES, corpus.deep_request(depth, kvlist)) == expected
