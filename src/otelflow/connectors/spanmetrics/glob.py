"""Dimension globs with the syntax of github.com/gobwas/glob (as upstream compiles them, with ``.``
as the separator): ``*`` any run without ``.``, ``**`` any run, ``?`` one character other than
``.``, ``[abc]`` ``[a-z]`` ``[!abc]`` classes, ``{a,b}`` alternatives, ``\\`` escapes."""

from __future__ import annotations

import re

SEPARATOR = "."


def _translate(pattern: str, i: int, in_alt: bool) -> tuple[str, int]:
    out: list[str] = []
    sep = re.escape(SEPARATOR)
    while i < len(pattern):
        c = pattern[i]
        if c == "\\":
            if i + 1 >= len(pattern):
                raise ValueError("unexpected end of pattern after escape")
            out.append(re.escape(pattern[i + 1]))
            i += 2
        elif c == "*":
            if pattern.startswith("**", i):
                out.append(".*")
                i += 2
            else:
                out.append(f"[^{sep}]*")
                i += 1
        elif c == "?":
            out.append(f"[^{sep}]")
            i += 1
        elif c == "[":
            end = pattern.find("]", i + 1)
            if end < 0:
                raise ValueError("unexpected end of input")  # gobwas/glob's lexer words
            body = pattern[i + 1:end]
            negate = body.startswith("!")
            if negate:
                body = body[1:]
            if not body:
                raise ValueError("empty character class")
            if len(body) == 3 and body[1] == "-":
                cls = re.escape(body[0]) + "-" + re.escape(body[2])
            else:
                cls = "".join(re.escape(ch) for ch in body)
            out.append(f"[{'^' if negate else ''}{cls}]")
            i = end + 1
        elif c == "{":
            alternatives = []
            i += 1
            while True:
                part, i = _translate(pattern, i, True)
                alternatives.append(part)
                if i >= len(pattern):
                    raise ValueError("unexpected end of pattern: unclosed {")
                if pattern[i] == ",":
                    i += 1
                    continue
                i += 1  # "}"
                break
            out.append("(?:" + "|".join(alternatives) + ")")
        elif in_alt and c in ",}":
            return "".join(out), i
        else:
            out.append(re.escape(c))
            i += 1
    if in_alt:
        return "".join(out), i
    return "".join(out), i


def compile_glob(pattern: str) -> re.Pattern[str]:
    regex, _ = _translate(pattern, 0, False)
    return re.compile(r"(?s)\A(?:" + regex + r")\Z")
