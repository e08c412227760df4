"""gobwas/glob patterns (replace_match, replace_all_matches), compiled to a Python regex.

Compiled without separators, so ``*`` and ``**`` match any run of characters. The lexer's quirks
are kept: a range holds either one ``lo-hi`` pair or a list of characters (``[a-z0-9]`` is an
error), ``!`` negates it, ``{a,b}`` left open runs to the end, ``\\`` escapes the next character.
"""

from __future__ import annotations

import re
from functools import lru_cache


class GlobError(ValueError):
    pass


@lru_cache(maxsize=512)
def compile_glob(pattern: str) -> re.Pattern:
    out: list[str] = []
    depth = 0
    i = 0
    n = len(pattern)
    while i < n:
        c = pattern[i]
        if c == "{":
            depth += 1
            out.append("(?:")
            i += 1
        elif c == "," and depth:
            out.append("|")
            i += 1
        elif c == "}" and depth:
            depth -= 1
            out.append(")")
            i += 1
        elif c == "[":
            i = _range(pattern, i + 1, out)
        elif c == "?":
            out.append(".")
            i += 1
        elif c == "*":
            out.append(".*")
            i += 2 if pattern[i + 1:i + 2] == "*" else 1
        else:
            breakers = "?*[{},"  if depth else "?*[{"
            text: list[str] = []
            escaped = False
            while i < n:
                ch = pattern[i]
                if not escaped:
                    if ch == "\\":
                        escaped = True
                        i += 1
                        continue
                    if ch in breakers:
                        break
                escaped = False
                text.append(ch)
                i += 1
            out.append(re.escape("".join(text)))
    out.append(")" * depth)
    return re.compile("".join(out), re.DOTALL)


def _range(p: str, i: int, out: list[str]) -> int:
    n = len(p)
    negate = False
    if i < n and p[i] == "!":
        negate = True
        i += 1
    if i >= n:
        raise GlobError("unexpected end of input")
    if i + 1 < n and p[i + 1] == "-":
        lo = p[i]
        if i + 2 >= n:
            raise GlobError("unexpected end of input")
        hi = p[i + 2]
        i += 3
        if i >= n:
            raise GlobError("unexpected end of input")
        if p[i] != "]":
            raise GlobError("expected close range character")
        if hi < lo:
            raise GlobError(f"hi character '{hi}' should be greater than lo '{lo}'")
        body = re.escape(lo) + "-" + re.escape(hi)
        out.append(("[^" if negate else "[") + body + "]")
        return i + 1
    chars: list[str] = []
    escaped = False
    while i < n:
        ch = p[i]
        if not escaped:
            if ch == "\\":
                escaped = True
                i += 1
                continue
            if ch == "]":
                break
        escaped = False
        chars.append(ch)
        i += 1
    if i >= n:
        raise GlobError("unexpected end of input")
    if not chars:
        out.append("(?s:.)" if negate else "(?!)")  # an empty list: never (or, negated, any one)
    else:
        out.append(("[^" if negate else "[") + "".join(re.escape(ch) for ch in chars) + "]")
    return i + 1


def glob_match(rx: re.Pattern, s: str) -> bool:
    return rx.fullmatch(s) is not None
