"""One tracked file: its fingerprint (first fingerprint_size bytes), the offset read up to and the
record number; reads run in a worker thread, one batch of tokens at a time."""

from __future__ import annotations

import gzip
import os
import time
import zlib
from dataclasses import dataclass, field
from typing import BinaryIO

from otelflow.stanza.fileconsumer.split import Splitter

_FIRST_CHUNK = 64 * 1024


@dataclass
class Batch:
    tokens: list[bytes]
    end_offset: int
    first_record: int  # record number of tokens[0], 1-based


@dataclass(eq=False)
class FileReader:
    path: str
    fingerprint: bytes
    offset: int = 0
    record_num: int = 0
    gz: bool = False
    fd: BinaryIO | None = field(default=None, repr=False)
    # when unterminated data was first seen at the current offset (force_flush_period starts then)
    pending_since: float | None = None
    pending_offset: int = -1
    gz_size: int = -1  # compressed size when last read to the end
    _gz_data: bytes | None = field(default=None, repr=False)

    def to_checkpoint(self) -> dict:
        return {"fp": self.fingerprint.hex(), "offset": self.offset, "record_num": self.record_num, "path": self.path, "gz": self.gz}

    @classmethod
    def from_checkpoint(cls, doc: dict) -> "FileReader":
        return cls(path=doc.get("path", ""), fingerprint=bytes.fromhex(doc["fp"]), offset=int(doc["offset"]),
                   record_num=int(doc.get("record_num", 0)), gz=bool(doc.get("gz", False)))

    def close(self) -> None:
        if self.fd is not None:
            try:
                self.fd.close()
            except OSError:
                pass
            self.fd = None
        self._gz_data = None

    def update_fingerprint(self, size: int) -> None:
        """Extend a short fingerprint as the file grows (it still starts with the old one)."""
        if self.fd is None or len(self.fingerprint) >= size or self.gz:
            return
        fp = os.pread(self.fd.fileno(), size, 0)
        if fp.startswith(self.fingerprint):
            self.fingerprint = fp

    def read_batch(self, splitter: Splitter, trim, max_tokens: int, flush_period: float) -> Batch | None:
        """The next tokens from the offset (at most ``max_tokens``), or None when there are none yet."""
        if self.fd is None:
            return None
        if self.gz:
            return self._read_gz(splitter, trim, max_tokens)
        chunk = _FIRST_CHUNK
        while True:
            data = os.pread(self.fd.fileno(), chunk, self.offset)
            if not data:
                return None
            at_end = len(data) < chunk
            tokens, used = splitter.split(data, False, max_tokens, at_end)
            if not used and at_end:
                # an unterminated tail: flushed once it has not grown for force_flush_period
                now = time.monotonic()
                mark = self.offset + len(data)
                if self.pending_offset != mark or self.pending_since is None:
                    self.pending_offset, self.pending_since = mark, now
                    return None
                if flush_period <= 0 or now - self.pending_since < flush_period:
                    return None
                tokens, used = splitter.split(data, True, max_tokens, True)
            if used:
                break
            if at_end:
                return None
            chunk *= 4
        self.pending_since = None
        return Batch([trim(t) for t in tokens] if trim else tokens, self.offset + used, self.record_num + 1)

    def _read_gz(self, splitter: Splitter, trim, max_tokens: int) -> Batch | None:
        """A compressed file is complete when written: decompress once, offsets count decompressed bytes."""
        assert self.fd is not None
        size = os.fstat(self.fd.fileno()).st_size
        if self._gz_data is None:
            if size == self.gz_size:
                return None
            try:
                self.fd.seek(0)
                self._gz_data = gzip.decompress(self.fd.read())
            except (OSError, EOFError, zlib.error):
                self.gz_size = size
                raise
            self.gz_size = size
        data = self._gz_data[self.offset:]
        tokens, used = splitter.split(data, True, max_tokens, True)
        if not used:
            self._gz_data = None
            return None
        return Batch([trim(t) for t in tokens] if trim else tokens, self.offset + used, self.record_num + 1)

