"""SQL obfuscation for ``db.query.text``, as upstream's postgresql receiver does it: the DataDog
agent's token-based obfuscator (no ``obfuscation_mode``) with DBMS ``postgresql`` and SQL aliases
kept.

A tokenizer splits the query; filters then drop comments and ``;``, turn literals (strings, numbers,
``NULL``, booleans, ``$1`` parameters, dollar-quoted bodies) into ``?``, and fold a run of them
(``(1, 2, 3)``, ``(1, 2), (3, 4)``) into one ``( ? )``. Tokens are re-joined with single spaces, so
``f(x)`` reads ``f ( x )``. A query the tokenizer cannot read gives :class:`ObfuscationError`
(upstream then records an empty text). Backslashes start escapes in strings until a query fails
only because of one; from then on they are literal (a process-wide switch, as upstream's).
"""

from __future__ import annotations

import threading

from otelflow.receivers.postgresql.sqltokens import (  # noqa: F401 (ObfuscationError: re-exported)
    AS, COMMENT, DELETE, DOUBLE_QUOTED_STRING, END, FILTERED, FILTERED_BRACKETED_IDENTIFIER, FILTERED_GROUPABLE,
    FILTERED_GROUPABLE_PARENTHESIS, ID, LEX_ERROR, REPLACED, SAVEPOINT, SELECT, UPDATE, ObfuscationError, Tokenizer,
)


def _groupable(kind: int) -> int:
    return FILTERED_GROUPABLE_PARENTHESIS if kind == ord("(") else FILTERED_GROUPABLE


def _is_groupable(kind: int) -> bool:
    return kind in (FILTERED_GROUPABLE, FILTERED_GROUPABLE_PARENTHESIS)


def _discard(kind: int, last: int, text: str | None) -> tuple[int, str | None]:
    """Comments and ``;`` go; aliases stay (KeepSQLAlias)."""
    if last == FILTERED_BRACKETED_IDENTIFIER and kind != ord("]"):
        if kind != ID:
            raise ObfuscationError(f"expected identifier in bracketed filter, got {kind}")
        return FILTERED_BRACKETED_IDENTIFIER, None
    if last == AS and kind == ord("["):
        return FILTERED_BRACKETED_IDENTIFIER, None
    if last in (FILTERED_BRACKETED_IDENTIFIER, AS):
        return kind, text
    if kind == COMMENT:
        return FILTERED, None
    if kind == ord(";"):
        return _groupable(kind), None
    return kind, text


def _replace(kind: int, last: int, text: str | None) -> tuple[int, str | None]:
    if last == SAVEPOINT:
        return _groupable(kind), "?"
    if last == ord("=") and kind == DOUBLE_QUOTED_STRING:
        return _groupable(kind), "?"
    if kind in REPLACED or kind == ord("?"):
        return _groupable(kind), "?"
    return kind, text


class _Grouping:
    """Keeps one ``?`` of a run of replaced values and one group of a run of groups."""

    def __init__(self) -> None:
        self.values = 0
        self.groups = 0

    def __call__(self, kind: int, last: int, text: str | None) -> tuple[int, str | None]:
        if (last == ord("(") and _is_groupable(kind)) or (kind == ord("(") and self.groups > 0):
            self.groups += 1
        subquery = kind in (SELECT, DELETE, UPDATE, ID)
        if self.groups > 0 and last == FILTERED_GROUPABLE_PARENTHESIS and subquery:
            self.values = self.groups = 0
            return kind, "( " + (text or "")
        if _is_groupable(kind):
            self.values += 1
            if self.values > 1:
                return _groupable(kind), None
        elif self.values > 0 and kind in (ord(","), ord("?")):
            return _groupable(kind), None
        elif self.groups > 1:
            return _groupable(kind), None
        elif kind not in (ord(","), ord("("), ord(")")):
            self.values = self.groups = 0
        return kind, text


def _attempt(tokenizer: Tokenizer) -> str:
    out: list[str] = []
    last = 0
    grouping = _Grouping()
    while True:
        kind, text = tokenizer.scan()
        if kind == END:
            break
        if kind == LEX_ERROR:
            raise ObfuscationError(tokenizer.err or "lex error")
        kind, text = _discard(kind, last, text)
        kind, text = _replace(kind, last, text)
        kind, text = grouping(kind, last, text)
        if text is not None:
            if out and kind != ord(",") and not (kind == ord("=") and last == ord(":")):
                out.append(" ")
            out.append(text)
        last = kind
    if not out:
        raise ObfuscationError("result is empty")
    return "".join(out)


class Obfuscator:
    def __init__(self) -> None:
        self.literal_escapes = False
        self._lock = threading.Lock()

    def obfuscate(self, query: str) -> str:
        literal = self.literal_escapes
        tokenizer = Tokenizer(query, literal)
        try:
            return _attempt(tokenizer)
        except ObfuscationError:
            if not tokenizer.seen_escape:
                raise
        result = _attempt(Tokenizer(query, not literal))  # raises the second failure
        with self._lock:
            self.literal_escapes = not literal  # right first time from now on, as upstream
        return result


OBFUSCATOR = Obfuscator()


def obfuscate_sql(query: str) -> str:
    return OBFUSCATOR.obfuscate(query)
