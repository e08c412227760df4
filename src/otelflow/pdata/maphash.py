"""Order-insensitive identity of an attribute map, as contrib's ``pdatautil.MapHash`` defines it.

Two maps are one identity when they hold the same keys with the same typed values, whatever the
order (nested maps included; slices keep their order). Upstream hashes a canonical byte form with
xxhash; we keep the canonical form (or a 16-byte BLAKE2 digest of it, for bounded state keys).
The fast path uses each entry's protobuf encoding, which is canonical for scalar values.
"""

from __future__ import annotations

import hashlib
import struct

import xxhash

EMPTY = b""


def _value(v) -> bytes:
    kind = v.WhichOneof("value")
    if kind == "kvlist_value":
        return b"\xfc" + _map(v.kvlist_value.values) + b"\xfd"
    if kind == "array_value":
        return b"\xfe" + b"".join(_value(x) for x in v.array_value.values) + b"\xff"
    if kind == "string_value":
        return b"\xf7" + v.string_value.encode("utf-8", "surrogatepass")
    if kind == "bool_value":
        return b"\xf8" if v.bool_value else b"\xf9"
    if kind == "int_value":
        return b"\xfa" + struct.pack("<q", v.int_value)
    if kind == "double_value":
        return b"\xfb" + struct.pack("<d", v.double_value)
    if kind == "bytes_value":
        return b"\xf6" + v.bytes_value
    return b"\xf5"


def _map(kvs) -> bytes:
    # Keys sorted; a repeated key is written once per occurrence with the first value (pcommon's Get).
    first: dict[str, object] = {}
    keys = []
    for kv in kvs:
        keys.append(kv.key)
        first.setdefault(kv.key, kv.value)
    keys.sort()
    return b"".join(b"\xf4" + k.encode("utf-8", "surrogatepass") + _value(first[k]) for k in keys)


def canonical(kvs) -> bytes:
    """The canonical bytes of a repeated KeyValue field (empty for an empty map)."""
    n = len(kvs)
    if n == 0:
        return EMPTY
    simple = True
    for kv in kvs:
        kind = kv.value.WhichOneof("value")
        if kind == "kvlist_value" or kind == "array_value":
            simple = False
            break
    if simple:
        parts = [kv.SerializeToString() for kv in kvs]
        if n == 1:
            return parts[0]
        if len({kv.key for kv in kvs}) == n:
            parts.sort()
            return b"\x00".join(parts)
    return b"\x01" + _map(kvs)


def digest(data: bytes) -> bytes:
    return hashlib.blake2b(data, digest_size=16).digest()


def map_hash(kvs) -> bytes:
    """contrib's ``pdatautil.MapHash`` of an attribute list: two xxhash64 sums of the canonical
    form, 16 raw bytes (all zeros for an empty map), as the kafka exporter keys and the
    loadbalancing exporter's resource and stream IDs use it."""
    if not kvs:
        return bytes(16)
    buf = _map(kvs)
    return struct.pack("<QQ", xxhash.xxh64_intdigest(buf), xxhash.xxh64_intdigest(buf + b"\xf3"))
