"""Upstream's consistent-hash ring, position for position, so that otelflow and otelcol-ref pick the
same backend for the same key and backend list.

Facts (loadbalancingexporter v0.161.0): 131071 positions; 200 points per endpoint, point ``i`` at
``crc32(endpoint + uint32_le(i)) % 131071``; candidates ordered by (position, hash, endpoint); a taken
position moves ahead linearly at most 10 times, else the point is dropped; a key lands at
``crc32(key) % 131071`` and belongs to the first point at or after it, wrapping to the first point."""

from __future__ import annotations

import bisect
import struct
import zlib
from collections.abc import Iterable

MAX_POSITIONS = 131071
WEIGHT = 200
PROBE_LIMIT = 10


class HashRing:
    """Sorted ring points and their endpoints; immutable once built."""

    def __init__(self, endpoints: Iterable[str]):
        candidates: list[tuple[int, int, str]] = []
        for endpoint in endpoints:
            prefix = zlib.crc32(endpoint.encode())
            for i in range(WEIGHT):
                h = zlib.crc32(struct.pack("<I", i), prefix)
                candidates.append((h % MAX_POSITIONS, h, endpoint))
        candidates.sort()
        taken: dict[int, str] = {}
        for pos, _, endpoint in candidates:
            probed = 0
            while pos in taken and probed < PROBE_LIMIT:
                pos = (pos + 1) % MAX_POSITIONS
                probed += 1
            if probed >= PROBE_LIMIT:
                continue
            taken[pos] = endpoint
        self.positions = sorted(taken)
        self.endpoints = [taken[p] for p in self.positions]

    def __eq__(self, other: object) -> bool:
        return isinstance(other, HashRing) and self.positions == other.positions and self.endpoints == other.endpoints

    def __bool__(self) -> bool:
        return bool(self.positions)

    def endpoint_for(self, key: bytes) -> str:
        """The endpoint owning ``key``, or "" for an empty ring."""
        if not self.positions:
            return ""
        i = bisect.bisect_left(self.positions, zlib.crc32(key) % MAX_POSITIONS)
        return self.endpoints[i if i < len(self.endpoints) else 0]
