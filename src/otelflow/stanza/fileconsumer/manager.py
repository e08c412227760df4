"""Polling: find the files, fingerprint them, match them with the files already known, read.

A file is the same file when its fingerprint starts with a known file's fingerprint, whatever its
path: a file renamed by rotation continues at its offset, a copy made by copytruncate continues the
original, and the truncated original (new first bytes) is a new file. Within one poll the files
that continue known ones are read before new files, and files seen in the previous poll but gone
now (renamed out of the include globs) are read to their end first through the handle kept open,
so that the lines of one log stream leave in order. Known files not seen for 3 polls are forgotten.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

from otelflow.stanza.fileconsumer.finder import Finder
from otelflow.stanza.fileconsumer.reader import FileReader

_KEEP_POLLS = 3


@dataclass
class PollPlan:
    lost: list[FileReader]     # seen last poll, gone now: read to the end, then close
    readers: list[FileReader]  # this poll's files, continuing ones first


class Tracker:
    """Known files across polls; all methods run in one worker thread at a time."""

    def __init__(self, finder: Finder, fingerprint_size: int, start_at_beginning: bool, compression: str,
                 max_files: int, log: logging.Logger):
        self.finder = finder
        self.fp_size = fingerprint_size
        self.from_beginning = start_at_beginning
        self.compression = compression
        self.max_files = max_files
        self.log = log
        self.current: list[FileReader] = []          # matched in the last poll (handles open)
        self.archive: list[list[FileReader]] = []    # older polls' files, newest first (handles closed)
        self.first_poll = True
        self._warned: set[str] = set()
        self._warned_none = False

    def known(self) -> list[FileReader]:
        return self.current + [r for gen in self.archive for r in gen]

    def restore(self, readers: list[FileReader]) -> None:
        self.archive = [readers]

    def _warn_once(self, key: str, message: str, *args) -> None:
        if key not in self._warned:
            self._warned.add(key)
            self.log.warning(message, *args)

    def plan(self) -> PollPlan:
        paths = self.finder.find()
        if not paths:
            if not self._warned_none:
                self._warned_none = True
                self.log.warning("no files match the configured criteria")
        opened: list[tuple[int, str, object, bytes]] = []
        seen_fps: set[bytes] = set()
        for path in paths:
            try:
                fd = open(path, "rb")
            except OSError as exc:
                self._warn_once("open:" + path, "failed to open file path=%s error=%s", path, exc)
                continue
            try:
                fp = os.pread(fd.fileno(), self.fp_size, 0)
                mtime = os.fstat(fd.fileno()).st_mtime_ns
            except OSError as exc:
                fd.close()
                self._warn_once("read:" + path, "failed to read file path=%s error=%s", path, exc)
                continue
            if not fp or fp in seen_fps:  # empty files wait; a duplicate (a copy being made) is skipped
                fd.close()
                continue
            seen_fps.add(fp)
            opened.append((mtime, path, fd, fp))

        candidates = self.known()
        continuing: list[FileReader] = []
        new: list[FileReader] = []
        matched_ids: set[int] = set()
        # oldest first: of two files rotated since the last poll, the older one's lines come first
        opened.sort(key=lambda t: (t[0], t[1]))
        for _, path, fd, fp in opened:
            match = None
            for r in candidates:
                if id(r) not in matched_ids and r.fingerprint and fp.startswith(r.fingerprint):
                    match = r
                    break
            if match is not None:
                matched_ids.add(id(match))
                if match.fd is not None and match.fd is not fd:
                    match.close()
                match.fd, match.path = fd, path  # type: ignore[assignment]
                if len(match.fingerprint) < len(fp):
                    match.fingerprint = fp
                continuing.append(match)
                continue
            gz = self.compression == "gzip" or (self.compression == "auto" and path.endswith(".gz"))
            reader = FileReader(path=path, fingerprint=fp, fd=fd, gz=gz)  # type: ignore[arg-type]
            if self.first_poll and not self.from_beginning:
                try:
                    reader.offset = os.fstat(fd.fileno()).st_size  # type: ignore[attr-defined]
                except OSError:
                    pass
            new.append(reader)
        lost = [r for r in self.current if id(r) not in matched_ids and r.fd is not None]
        readers = continuing + new
        # archive: last poll's unmatched files become the newest generation
        unmatched_prev = [r for r in self.current if id(r) not in matched_ids]
        older = [[r for r in gen if id(r) not in matched_ids] for gen in self.archive]
        self.archive = [unmatched_prev, *older][:_KEEP_POLLS]
        self.current = readers
        self.first_poll = False
        return PollPlan(lost, readers)

    def close_all(self) -> None:
        for r in self.known():
            r.close()
