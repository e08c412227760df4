"""OTTL's tokens (upstream's participle lexer rules, in upstream's order) and Go string literals."""

from __future__ import annotations

import re
from dataclasses import dataclass

from otelflow.ottl.errors import OttlConfigError


class SyntaxErrorAt(OttlConfigError):
    """A statement that does not parse (kept apart so the parser can backtrack on it)."""


# --------------------------------------------------------------------------------------------
# Tokens (upstream's lexer rules, in upstream's order: the first rule that matches wins)

_TOKEN_RULES = [
    ("Bytes", r"0x[a-fA-F0-9]+"),
    ("Float", r"(?:\d+\.\d*|\d*\.\d+)(?:[eE][-+]?\d+)?"),
    ("Int", r"\d+"),
    ("String", r'"(?:\\.|[^\\"])*"'),
    ("OpComparison", r"==|!=|>=|<=|>|<"),
    ("LambdaArrow", r"=>"),
    ("OpAddSub", r"\+|-"),
    ("OpMultDiv", r"/|\*"),
    ("Equal", r"="),
    ("Punct", r"[(){}:,.\[\]]"),
    ("Ident", r"[A-Za-z][A-Za-z0-9_]*"),
    ("Underscore", r"_(?![A-Za-z0-9_])"),
    ("ws", r"\s+"),
]
_TOKEN_RE = re.compile("|".join(f"(?P<{name}>{pattern})" for name, pattern in _TOKEN_RULES), re.S)
_KEYWORDS = {"nil": "Nil", "not": "OpNot", "or": "OpOr", "and": "OpAnd", "true": "Boolean", "false": "Boolean"}
LOWER = re.compile(r"[a-z][a-z0-9_]*\Z")
UPPER = re.compile(r"[A-Z][A-Z0-9_]*\Z")


@dataclass(frozen=True)
class Token:
    type: str
    text: str
    pos: int


def tokenize(text: str, kind: str) -> list[Token]:
    tokens: list[Token] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN_RE.match(text, pos)
        if m is None:
            line, col = line_col(text, pos)
            raise SyntaxErrorAt(f"{kind} has invalid syntax at {line}:{col}: invalid input text {text[pos:pos + 10]!r}")
        ttype = m.lastgroup
        value = m.group()
        if ttype == "Ident" and value in _KEYWORDS:
            ttype = _KEYWORDS[value]
        if ttype == "Punct":
            ttype = value
        if ttype != "ws":
            tokens.append(Token(ttype, value, pos))
        pos = m.end()
    tokens.append(Token("EOF", "", len(text)))
    return tokens


def line_col(text: str, pos: int) -> tuple[int, int]:
    line = text.count("\n", 0, pos) + 1
    col = pos - (text.rfind("\n", 0, pos) + 1) + 1
    return line, col




def go_unquote(s: str) -> str:
    """strconv.Unquote for a double-quoted Go string literal."""
    body = s[1:-1]
    if "\\" not in body:
        return body
    out = []
    i = 0
    n = len(body)
    simple = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v", "\\": "\\", '"': '"', "'": "'"}
    while i < n:
        c = body[i]
        if c != "\\":
            out.append(c)
            i += 1
            continue
        i += 1
        if i >= n:
            raise SyntaxErrorAt(f"invalid syntax: {s}")
        e = body[i]
        if e in simple:
            out.append(simple[e])
            i += 1
        elif e in "xuU":
            width = {"x": 2, "u": 4, "U": 8}[e]
            digits = body[i + 1:i + 1 + width]
            if len(digits) != width or not all(ch in "0123456789abcdefABCDEF" for ch in digits):
                raise SyntaxErrorAt(f"invalid syntax: {s}")
            code = int(digits, 16)
            if e == "x":
                out.append(chr(code) if code < 0x80 else bytes([code]).decode("latin-1"))
            else:
                out.append(chr(code))
            i += 1 + width
        elif e in "01234567":
            digits = body[i:i + 3]
            if len(digits) != 3 or not all(ch in "01234567" for ch in digits) or int(digits, 8) > 255:
                raise SyntaxErrorAt(f"invalid syntax: {s}")
            out.append(chr(int(digits, 8)))
            i += 3
        else:
            raise SyntaxErrorAt(f"invalid syntax: {s}")
    return "".join(out)
