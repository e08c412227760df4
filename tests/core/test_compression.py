"""Content-Encoding decoding as upstream's confighttp decoders accept and refuse it (found by the
fuzz runs against otelcol-ref, see docs/fuzzing.md)."""

import gzip
import zlib

import cramjam
import pytest
import zstandard

from otelflow.core.compression import (
    DecompressionError, TooLargeError, UnsupportedEncodingError, decompress,
)

DATA = b"otlp " * 200


def test_gzip_members_are_concatenated_and_trailing_garbage_is_refused():
    assert decompress("gzip", gzip.compress(DATA[:7]) + gzip.compress(DATA[7:]), 1 << 20) == DATA
    with pytest.raises(DecompressionError) as err:
        decompress("gzip", gzip.compress(DATA) + b"junk", 1 << 20)
    assert not err.value.eager  # found while reading the body, after the method and type checks


def test_eager_header_errors():
    for encoding, body in [("gzip", b""), ("gzip", b"not gzip at all"), ("zlib", b"x"), ("snappy", b"")]:
        with pytest.raises(DecompressionError) as err:
            decompress(encoding, body, 1 << 20)
        assert err.value.eager, encoding
    with pytest.raises(UnsupportedEncodingError):
        decompress("identity", DATA, 1 << 20)
    with pytest.raises(UnsupportedEncodingError):
        decompress("GZIP", gzip.compress(DATA), 1 << 20)  # Go looks the name up exactly


def test_zlib_ignores_trailing_bytes_and_zstd_refuses_a_truncated_frame():
    assert decompress("deflate", zlib.compress(DATA) + b"junk", 1 << 20) == DATA
    frame = zstandard.ZstdCompressor().compress(DATA)
    with pytest.raises(DecompressionError):
        decompress("zstd", frame[:-3], 1 << 20)
    assert decompress("zstd", b"", 1 << 20) == b""


def test_lz4_and_framed_snappy_edge_cases():
    assert decompress("lz4", b"", 1 << 20) == b""
    frame = bytes(cramjam.lz4.compress(DATA))
    assert decompress("lz4", frame[:-4], 1 << 20) == DATA  # no content checksum: pierrec takes it
    # 0x184D2A04 is skippable for pierrec (any 0x184D2Axx), so the rest is skipped
    assert decompress("lz4", bytes.fromhex("042a4d18") + frame[4:], 1 << 20) == b""
    assert decompress("x-snappy-framed", b"", 1 << 20) == b""
    with pytest.raises(DecompressionError):
        decompress("x-snappy-framed", bytes(cramjam.snappy.compress_raw(DATA)), 1 << 20)


@pytest.mark.parametrize("encoding", ["gzip", "zlib", "zstd", "snappy", "x-snappy-framed", "lz4"])
def test_bombs_stop_at_the_limit(encoding):
    compress = {"gzip": gzip.compress, "zlib": zlib.compress, "zstd": zstandard.ZstdCompressor().compress,
                "snappy": lambda b: bytes(cramjam.snappy.compress_raw(b)),
                "x-snappy-framed": lambda b: bytes(cramjam.snappy.compress(b)),
                "lz4": lambda b: bytes(cramjam.lz4.compress(b))}[encoding]
    with pytest.raises(TooLargeError):
        decompress(encoding, compress(b"\0" * (8 << 20)), 1 << 20)
