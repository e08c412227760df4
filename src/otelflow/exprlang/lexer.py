"""Tokens of expr-lang (github.com/expr-lang/expr): numbers, quoted strings, names, word and symbol
operators. Each token carries its source offset so parse errors can point at it."""

from __future__ import annotations

import re
from typing import Any

Token = tuple[str, Any, int]  # (kind: "lit" | "name" | "op" | "eof", value, offset)

_TOKEN = re.compile(
    r"""\s*(?:
    (?P<num>0[xX][0-9a-fA-F_]+|(?:\d[\d_]*)?\.\d[\d_]*(?:[eE][+-]?\d+)?|\d[\d_]*(?:[eE][+-]?\d+)?)
  | (?P<str>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`)
  | (?P<name>[A-Za-z_$][A-Za-z0-9_$]*)
  | (?P<op>\?\?|\?\.|\.\.|==|!=|<=|>=|&&|\|\||\*\*|[-+*/%^<>!?:.,()\[\]{}|])
    )""",
    re.VERBOSE,
)
WORD_OPS = {"and", "or", "not", "in", "matches", "contains", "startsWith", "endsWith"}
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", '"': '"', "'": "'", "0": "\0", "a": "\a", "b": "\b",
            "f": "\f", "v": "\v"}


def tokens(source: str) -> list[Token]:
    """Split ``source``; raises ValueError at the first character no token starts with."""
    out: list[Token] = []
    pos = 0
    while pos < len(source):
        if source[pos:].strip() == "":
            break
        m = _TOKEN.match(source, pos)
        if m is None or m.end() == pos:
            col = len(source[pos:]) - len(source[pos:].lstrip()) + pos
            raise ValueError(f"unexpected token {source[col]!r} (1:{col + 1})")
        kind = m.lastgroup or ""
        text = m.group(kind)
        start = m.start(kind)
        if kind == "num":
            clean = text.replace("_", "")
            value: Any = int(clean, 16) if clean[:2] in ("0x", "0X") else (
                float(clean) if any(c in clean for c in ".eE") else int(clean))
            out.append(("lit", value, start))
        elif kind == "str":
            out.append(("lit", unquote(text), start))
        elif kind == "name":
            if text in ("true", "false"):
                out.append(("lit", text == "true", start))
            elif text == "nil":
                out.append(("lit", None, start))
            elif text in WORD_OPS:
                out.append(("op", text, start))
            else:
                out.append(("name", text, start))
        else:
            out.append(("op", text, start))
        pos = m.end()
    out.append(("eof", None, len(source)))
    return out


def unquote(text: str) -> str:
    """A string literal's value: backquotes are raw, single and double quotes take Go escapes."""
    if text[0] == "`":
        return text[1:-1]
    body = text[1:-1]
    out: list[str] = []
    i = 0
    while i < len(body):
        c = body[i]
        if c != "\\":
            out.append(c)
            i += 1
            continue
        nxt = body[i + 1]
        if nxt in _ESCAPES:
            out.append(_ESCAPES[nxt])
            i += 2
        elif nxt in "xuU":
            width = {"x": 2, "u": 4, "U": 8}[nxt]
            out.append(chr(int(body[i + 2:i + 2 + width], 16)))
            i += 2 + width
        else:
            raise ValueError(f"invalid char escape \\{nxt}")
    return "".join(out)
