"""Which files to read: include globs (doublestar: ``**`` spans directories, ``{a,b}`` alternatives)
minus exclude globs, optionally minus files not modified within ``exclude_older_than``."""

from __future__ import annotations

import glob
import os
import re
import time


def expand_braces(pattern: str) -> list[str]:
    """``a/{b,c}/*.log`` -> ``a/b/*.log``, ``a/c/*.log`` (nested braces expand too)."""
    depth, start = 0, -1
    for i, ch in enumerate(pattern):
        if ch == "{":
            if depth == 0:
                start = i
            depth += 1
        elif ch == "}" and depth:
            depth -= 1
            if depth == 0:
                options, level, cur = [], 0, ""
                for c in pattern[start + 1:i]:
                    if c == "," and level == 0:
                        options.append(cur)
                        cur = ""
                        continue
                    level += (c == "{") - (c == "}")
                    cur += c
                options.append(cur)
                head, tail = pattern[:start], pattern[i + 1:]
                return [p for opt in options for p in expand_braces(head + opt + tail)]
    return [pattern]


def glob_regex(pattern: str) -> re.Pattern[str]:
    """doublestar.PathMatch as a regular expression over a whole path."""
    out, i, n = [], 0, len(pattern)
    while i < n:
        ch = pattern[i]
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif ch == "*":
            out.append("[^/]*")
            i += 1
        elif ch == "?":
            out.append("[^/]")
            i += 1
        elif ch == "[":
            j = pattern.find("]", i + 2)
            if j < 0:
                raise ValueError(f"syntax error in pattern: {pattern}")
            body = pattern[i + 1:j]
            if body.startswith(("!", "^")):
                body = "^" + body[1:]
            out.append("[" + body.replace("\\", "\\\\") + "]")
            i = j + 1
        elif ch == "\\" and i + 1 < n:
            out.append(re.escape(pattern[i + 1]))
            i += 2
        else:
            out.append(re.escape(ch))
            i += 1
    return re.compile("".join(out) + r"\Z")


def validate(patterns: list[str]) -> None:
    for p in patterns:
        for q in expand_braces(p):
            glob_regex(q)


class Finder:
    def __init__(self, include: list[str], exclude: list[str], exclude_older_than: float = 0.0):
        self.include = [q for p in include for q in expand_braces(p)]
        self.exclude = [glob_regex(q) for p in exclude for q in expand_braces(p)]
        self.exclude_older_than = exclude_older_than

    def find(self) -> list[str]:
        """Matching regular files, sorted, each once."""
        found: dict[str, None] = {}
        for pattern in self.include:
            for path in sorted(glob.glob(pattern, recursive=True)):
                found.setdefault(path, None)
        out = []
        cutoff = time.time() - self.exclude_older_than if self.exclude_older_than else None
        for path in found:
            if any(rx.match(path) for rx in self.exclude):
                continue
            try:
                st = os.stat(path)
            except OSError:
                continue
            if not os.path.isfile(path):
                continue
            if cutoff is not None and st.st_mtime < cutoff:
                continue
            out.append(path)
        return out
