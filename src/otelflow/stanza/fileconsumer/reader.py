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
    gz_size: int = -1  # compressed size of the stream being (or last) read
    _gz_data: bytes | None = field(default=None, repr=False)
    _gz_pos: int = 0

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

    def same_file(self) -> bool:
        """The open file still starts with the fingerprint. Checked after each read: a file truncated
        and rewritten under the handle (copytruncate between planning and reading) must not be read
        as the file it was; the next poll matches the copy and the new content by fingerprint."""
        assert self.fd is not None
        return os.pread(self.fd.fileno(), len(self.fingerprint), 0) == self.fingerprint

    def read_batch(self, splitter: Splitter, trim, max_tokens: int, flush_period: float) -> Batch | None:
        """The next tokens from the offset (at most ``max_tokens``), or None when there are none yet."""
        if self.fd is None:
            return None
        if self.gz:
            return self._read_gz(splitter, trim, max_tokens)
        chunk = _FIRST_CHUNK
        while True:
            data = os.pread(self.fd.fileno(), chunk, self.offset)
            if not data or not self.same_file():
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
        """As upstream: the offset of a compressed file counts compressed bytes. What was appended
        since (whole gzip members) is decompressed at once and cut into batches; the offset moves to
        the compressed end only with the last batch, so an interrupted read is redone whole."""
        assert self.fd is not None
        if self._gz_data is None:
            size = os.fstat(self.fd.fileno()).st_size
            if size <= self.offset:
                return None
            self.fd.seek(self.offset)
            raw = self.fd.read(size - self.offset)
            try:
                self._gz_data = gzip.decompress(raw)
            except (OSError, EOFError, zlib.error):
                if size == self.gz_size:
                    return None  # the same broken stream: reported once already
                self.gz_size = size
                raise
            self._gz_pos, self.gz_size = 0, size
        data = self._gz_data
        tokens, used = splitter.split(data, True, max_tokens, True, self._gz_pos)
        self._gz_pos += used
        end = self.offset
        if self._gz_pos >= len(data) or not used:
            end, self._gz_data = self.gz_size, None
        return Batch([trim(t) for t in tokens] if trim else tokens, end, self.record_num + 1)
