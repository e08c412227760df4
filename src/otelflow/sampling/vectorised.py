"""Every span of a record batch encoded at once with Arrow compute kernels: no Python per span.

A span's bytes are the concatenation, row by row (``binary_join_element_wise``), of: the trace ID
field, start and end times as fixed64 (the int64 columns' little-endian buffers reinterpreted as
8-byte binaries), the span's name/kind/trace-state/status bytes and each attribute a policy reads —
both taken (``take``) from small tables holding each distinct value's encoding once — framed as a
ScopeSpans entry. The result's data buffer holds the spans back to back in row order, so the spans
of rows [i, j) are one slice of it. ``None`` when a batch has something this does not cover (a trace
ID that is not 16 bytes, a span of 16 KiB or more): the caller encodes that batch span by span.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from otelflow.sampling.encode import VARINT, Encoder

_VARINTS = pa.array(VARINT, pa.binary())
_MAX = len(VARINT)


def _fixed64(col: pa.Array) -> pa.Array:
    """int64 values as 8-byte little-endian binaries (the column's own buffer, reinterpreted)."""
    col = col.cast(pa.int64())
    fixed = pa.FixedSizeBinaryArray.from_buffers(pa.binary(8), len(col), [None, col.buffers()[1]], offset=col.offset)
    return fixed.cast(pa.binary())


def _table(values: list, encode) -> pa.Array:
    return pa.array([encode(v) for v in values], pa.binary())


def spans(batch: pa.RecordBatch, enc: Encoder, keys: list[str]) -> tuple[bytes, list[int]] | None:
    """(data, offsets): the framed spans of the batch's rows back to back, and where each starts."""
    tid = batch.column("tid")
    if len(tid) == 0:
        return b"", [0]
    if pc.min_max(pc.binary_length(tid)).as_py() != {"min": 16, "max": 16}:
        return None
    name = pc.dictionary_encode(batch.column("name"))
    state = pc.dictionary_encode(batch.column("trace_state"))
    kind, code = batch.column("kind").cast(pa.int64()), batch.column("status_code").cast(pa.int64())
    if pc.min_max(kind).as_py()["min"] < 0 or pc.min_max(code).as_py()["min"] < 0:
        return None
    ns = len(state.dictionary)
    # one integer per (name, trace state, kind, status): its distinct values index the heads table
    combined = pc.add(pc.multiply(pc.add(pc.multiply(pc.add(pc.multiply(
        name.indices.cast(pa.int64()), ns), state.indices.cast(pa.int64())), 256), kind), 256), code)
    heads = pc.dictionary_encode(combined)
    names, states = name.dictionary.to_pylist(), state.dictionary.to_pylist()

    def head(k: int) -> bytes:
        rest, c = divmod(k, 256)
        rest, kd = divmod(rest, 256)
        n, s = divmod(rest, ns)
        return enc.head(names[n], kd, states[s], c)

    parts = [pa.scalar(b"\x0a\x10"), tid, pa.scalar(b"\x39"), _fixed64(batch.column("start_ns")), pa.scalar(b"\x41"),
             _fixed64(batch.column("end_ns")), pc.take(_table(heads.dictionary.to_pylist(), head), heads.indices)]
    for i, key in enumerate(keys):
        values = pc.dictionary_encode(batch.column(f"a{i}"))
        table = _table(values.dictionary.to_pylist(), lambda v, key=key: enc.attr(key, v))
        parts.append(pc.take(table, values.indices))  # null where the span lacks the key
    body = pc.binary_join_element_wise(*parts, b"", null_handling="replace", null_replacement=b"")
    lengths = pc.binary_length(body)
    if pc.max(lengths).as_py() >= _MAX:
        return None
    framed = pc.binary_join_element_wise(pa.scalar(b"\x12"), pc.take(_VARINTS, lengths), body, b"")
    offsets = pa.Array.from_buffers(pa.int32(), len(framed) + 1, [None, framed.buffers()[1]], offset=framed.offset)
    offs = offsets.to_pylist()
    data = framed.buffers()[2].to_pybytes()
    return data, offs
