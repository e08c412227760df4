"""Hash converters. Murmur3 is written out here (a few lines, no C dependency); XXH3/XXH128 use the
``xxhash`` package, the reference implementation's binding."""

from __future__ import annotations

import base64
import hashlib

from ..errors import OttlError
from ..functions import FunctionTable, Kind as K, P
from ._util import int64_wrap, utf8
from .conversions import _parse_ip

T = FunctionTable()


def _hexdigest(name: str, algo: str):
    @T.function(name, P("target", K.STRING_GETTER))
    def build(target):
        return lambda ctx: hashlib.new(algo, utf8(target(ctx))).hexdigest()
    return build


_hexdigest("SHA1", "sha1")
_hexdigest("SHA256", "sha256")
_hexdigest("SHA512", "sha512")
_hexdigest("MD5", "md5")


def fnv1a64(data: bytes) -> int:
    h = 0xCBF29CE484222325
    for b in data:
        h = ((h ^ b) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


@T.function("FNV", P("target", K.STRING_GETTER))
def build_fnv(target):
    return lambda ctx: int64_wrap(fnv1a64(utf8(target(ctx))))


# ---------------------------------------------------------------------------------------------
# MurmurHash3 (x86 32-bit and x64 128-bit, seed 0), as github.com/twmb/murmur3

_M32 = 0xFFFFFFFF
_M64 = 0xFFFFFFFFFFFFFFFF


def _rotl32(x: int, r: int) -> int:
    return ((x << r) | (x >> (32 - r))) & _M32


def _rotl64(x: int, r: int) -> int:
    return ((x << r) | (x >> (64 - r))) & _M64


def murmur3_32(data: bytes, seed: int = 0) -> int:
    c1, c2 = 0xCC9E2D51, 0x1B873593
    h = seed
    n = len(data) // 4
    for i in range(n):
        k = int.from_bytes(data[4 * i:4 * i + 4], "little")
        k = _rotl32((k * c1) & _M32, 15) * c2 & _M32
        h ^= k
        h = (_rotl32(h, 13) * 5 + 0xE6546B64) & _M32
    tail = data[4 * n:]
    k = 0
    if len(tail) >= 3:
        k ^= tail[2] << 16
    if len(tail) >= 2:
        k ^= tail[1] << 8
    if len(tail) >= 1:
        k ^= tail[0]
        k = _rotl32((k * c1) & _M32, 15) * c2 & _M32
        h ^= k
    h ^= len(data)
    h ^= h >> 16
    h = (h * 0x85EBCA6B) & _M32
    h ^= h >> 13
    h = (h * 0xC2B2AE35) & _M32
    h ^= h >> 16
    return h


def _fmix64(k: int) -> int:
    k ^= k >> 33
    k = (k * 0xFF51AFD7ED558CCD) & _M64
    k ^= k >> 33
    k = (k * 0xC4CEB9FE1A85EC53) & _M64
    k ^= k >> 33
    return k


def murmur3_128(data: bytes, seed: int = 0) -> tuple[int, int]:
    c1, c2 = 0x87C37B91114253D5, 0x4CF5AD432745937F
    h1 = h2 = seed
    n = len(data) // 16
    for i in range(n):
        k1 = int.from_bytes(data[16 * i:16 * i + 8], "little")
        k2 = int.from_bytes(data[16 * i + 8:16 * i + 16], "little")
        k1 = _rotl64((k1 * c1) & _M64, 31) * c2 & _M64
        h1 ^= k1
        h1 = (_rotl64(h1, 27) + h2) & _M64
        h1 = (h1 * 5 + 0x52DCE729) & _M64
        k2 = _rotl64((k2 * c2) & _M64, 33) * c1 & _M64
        h2 ^= k2
        h2 = (_rotl64(h2, 31) + h1) & _M64
        h2 = (h2 * 5 + 0x38495AB5) & _M64
    tail = data[16 * n:]
    k1 = k2 = 0
    for j in range(len(tail) - 1, 7, -1):
        k2 ^= tail[j] << (8 * (j - 8))
    if len(tail) > 8:
        k2 = _rotl64((k2 * c2) & _M64, 33) * c1 & _M64
        h2 ^= k2
    for j in range(min(len(tail), 8) - 1, -1, -1):
        k1 ^= tail[j] << (8 * j)
    if tail:
        k1 = _rotl64((k1 * c1) & _M64, 31) * c2 & _M64
        h1 ^= k1
    h1 ^= len(data)
    h2 ^= len(data)
    h1 = (h1 + h2) & _M64
    h2 = (h2 + h1) & _M64
    h1 = _fmix64(h1)
    h2 = _fmix64(h2)
    h1 = (h1 + h2) & _M64
    h2 = (h2 + h1) & _M64
    return h1, h2


@T.function("Murmur3Hash", P("target", K.STRING_GETTER))
def build_murmur3(target):
    return lambda ctx: murmur3_32(utf8(target(ctx))).to_bytes(4, "little").hex()


@T.function("Murmur3Hash128", P("target", K.STRING_GETTER))
def build_murmur3_128(target):
    def run(ctx):
        h1, h2 = murmur3_128(utf8(target(ctx)))
        return (h1.to_bytes(8, "little") + h2.to_bytes(8, "little")).hex()
    return run


@T.function("XXH3", P("target", K.STRING_GETTER))
def build_xxh3(target):
    import xxhash
    return lambda ctx: xxhash.xxh3_64_hexdigest(utf8(target(ctx)))


@T.function("XXH128", P("target", K.STRING_GETTER))
def build_xxh128(target):
    import xxhash
    return lambda ctx: xxhash.xxh3_128_hexdigest(utf8(target(ctx)))


# ---------------------------------------------------------------------------------------------
# Community ID (v1)

_PROTOCOLS = {"ICMP": 1, "TCP": 6, "UDP": 17, "RSVP": 46, "ICMP6": 58, "SCTP": 132}


def _endpoint(ctx, ip_getter, port_getter, which: str) -> tuple[bytes, int]:
    try:
        ip_text = ip_getter(ctx)
    except OttlError as e:
        raise OttlError(f"failed to get {which} IP: {e}") from None
    try:
        port = port_getter(ctx)
    except OttlError as e:
        raise OttlError(f"failed to get {which} port: {e}") from None
    if port < 0 or port > 65535:
        raise OttlError(f"{which} port must be between 0 and 65535, got {port}")
    ip = _parse_ip(ip_text)
    if ip is None:
        raise OttlError(f"invalid {which} IP: {ip_text}")
    return ip.packed, port


@T.function("CommunityID", P("source_ip", K.STRING_GETTER), P("source_port", K.INT_GETTER),
            P("destination_ip", K.STRING_GETTER), P("destination_port", K.INT_GETTER),
            P("protocol", K.STRING_GETTER, optional=True), P("seed", K.INT_GETTER, optional=True))
def build_community_id(source_ip, source_port, destination_ip, destination_port, protocol=None, seed=None):
    def run(ctx):
        src, sport = _endpoint(ctx, source_ip, source_port, "source")
        dst, dport = _endpoint(ctx, destination_ip, destination_port, "destination")
        proto = 6
        if protocol is not None:
            try:
                name = protocol(ctx)
            except OttlError as e:
                raise OttlError(f"failed to get protocol: {e}") from None
            if name not in _PROTOCOLS:
                raise OttlError(f"unsupported protocol: {name}")
            proto = _PROTOCOLS[name]
        sd = 0
        if seed is not None:
            try:
                sd = seed(ctx)
            except OttlError as e:
                raise OttlError(f"failed to get seed: {e}") from None
            if sd < 0 or sd > 65535:
                raise OttlError(f"seed must be between 0 and 65535, got {sd}")
        if len(src) != len(dst):
            swap = len(src) > len(dst)
        else:
            swap = src > dst or (src == dst and sport > dport)
        if swap:
            src, dst, sport, dport = dst, src, dport, sport
        tup = sd.to_bytes(2, "big") + src + dst + bytes([proto, 0]) + sport.to_bytes(2, "big") + dport.to_bytes(2, "big")
        return "1:" + base64.b64encode(hashlib.sha1(tup).digest()).decode()
    return run


TABLE = T.table()
