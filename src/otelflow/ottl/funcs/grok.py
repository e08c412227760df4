"""ExtractGrokPatterns: grok expressions (github.com/elastic/go-grok) on Go regular expressions.

``%{SYNTAX}``, ``%{SYNTAX:ID}`` and ``%{SYNTAX:ID:TYPE}`` are expanded repeatedly (at most 1000
rounds) into named groups; dots in an ID become ``___`` in the group name and come back in the
result's keys. Go allows one group name several times and Python does not, so every named group
is given an internal name and the original names are kept aside.
"""

from __future__ import annotations

import re
from typing import Any

from ..errors import OttlConfigError, OttlError
from ..functions import FunctionTable, Kind as K, P
from ._grok_patterns import COMPLETE, DEFAULT
from ._regex import GoRegexError, compile_go_regex
from ._util import go_quote, literal_of

T = FunctionTable()

_DOT_SEP = "___"
_REUSE = re.compile(r"%{(\w+(?::[\w+.]+(?::\w+)?)?)}", re.ASCII)
_NAMED_GROUP = re.compile(r"(?<!\\)\(\?P?<([A-Za-z0-9_]+)>")


class GrokError(Exception):
    pass


class Grok:
    """A grok parser: its definitions (NewComplete's sets plus the user's) and, once compiled,
    the regular expression with its group names and type hints."""

    def __init__(self):
        self.definitions: dict[str, str] = {}
        for patterns in COMPLETE.values():
            self.definitions.update(patterns)
        self.rx: re.Pattern | None = None
        self.names: list[str] = []
        self.hints: dict[str, str] = {}

    def expand(self, pattern: str, named_only: bool) -> tuple[str, dict[str, str]]:
        hints: dict[str, str] = {}
        expanded = pattern
        for _ in range(1000):
            subs = _REUSE.findall(expanded)
            if not subs:
                break
            for inner in subs:
                parts = inner.split(":")
                grok_id = parts[0]
                target = parts[1].replace(".", _DOT_SEP) if len(parts) > 1 else parts[0]
                if len(parts) == 3:
                    hints[target] = parts[2]
                known = self.definitions.get(grok_id)
                if known is None:
                    known = DEFAULT.get(grok_id)
                if known is None:
                    raise GrokError(f'pattern definition {go_quote(grok_id)} unknown: parsing failed')
                if named_only and len(parts) == 1:
                    repl = "(" + known + ")"
                else:
                    repl = "(?P<" + target + ">" + known + ")"
                expanded = expanded.replace("%{" + inner + "}", repl)
        return expanded, hints

    def compile(self, pattern: str, named_only: bool) -> None:
        expanded, hints = self.expand(pattern, named_only)
        names: list[str] = []

        def rename(m: re.Match) -> str:
            names.append(m.group(1))
            return f"(?P<g{len(names)}>"

        internal = _NAMED_GROUP.sub(rename, expanded)
        try:
            rx = compile_go_regex(internal)
        except GoRegexError as e:
            raise GrokError(str(e).replace(internal, expanded)) from None
        self.rx, self.hints = rx, hints
        self.names = [""] * (rx.groups + 1)
        for internal_name, idx in rx.groupindex.items():
            self.names[idx] = names[int(internal_name[1:]) - 1]

    def has_capture_groups(self) -> bool:
        return self.rx is not None and any(self.names)

    def parse_typed(self, text: str) -> dict[str, Any]:
        out: dict[str, Any] = {}
        m = self.rx.search(text)
        if m is None:
            return out
        for i, name in enumerate(self.names):
            if not name:
                continue
            v = m.group(i)
            if not v:
                continue
            out[name.replace(_DOT_SEP, ".")] = self._convert(v, name)
        return out

    def _convert(self, v: str, name: str) -> Any:
        hint = self.hints.get(name)
        if hint is None or hint == "string":
            return v
        if hint in ("double", "float"):
            from otelflow.processors.sampling.gocompat import parse_float
            f = parse_float(v)
            if f is None:
                raise OttlError(f"strconv.ParseFloat: parsing {go_quote(v)}: invalid syntax")
            return f
        if hint in ("int", "long"):
            return _atoi(v)
        if hint in ("bool", "boolean"):
            if v in ("1", "t", "T", "TRUE", "true", "True"):
                return True
            if v in ("0", "f", "F", "FALSE", "false", "False"):
                return False
            raise OttlError(f"strconv.ParseBool: parsing {go_quote(v)}: invalid syntax")
        raise OttlError(f"invalid type for {name}: type not specified")


def _atoi(v: str) -> int:
    body = v[1:] if v[:1] in "+-" else v
    if not body or not body.isascii() or not body.isdigit():
        raise OttlError(f"strconv.Atoi: parsing {go_quote(v)}: invalid syntax")
    n = int(v)
    if not -(1 << 63) <= n < 1 << 63:
        raise OttlError(f"strconv.Atoi: parsing {go_quote(v)}: value out of range")
    return n


def _invalid(pattern: str, err: Exception) -> str:
    return f"the regex pattern supplied to ExtractGrokPatterns '{go_quote(pattern)}' is not a valid pattern: {err}"


@T.function("ExtractGrokPatterns", P("target", K.STRING_GETTER), P("pattern", K.STRING_GETTER),
            P("named_captures_only", K.BOOL, optional=True),
            P("pattern_definitions", K.STRING, optional=True, is_list=True))
def build_extract_grok_patterns(target, pattern, named_captures_only=None, pattern_definitions=None):
    g = Grok()
    named_only = bool(named_captures_only)
    for i, definition in enumerate(pattern_definitions or ()):
        parts = definition.split("=", 1)
        if len(parts) == 1:
            shown = definition
            raw = definition.encode("utf-8", "surrogateescape")
            if len(raw) > 20:
                shown = raw[:17].decode("utf-8", "replace") + "..."
            raise OttlConfigError(f"pattern {go_quote(shown)} supplied to ExtractGrokPatterns at index {i} has "
                                  "incorrect format, expecting PATTERNNAME=pattern definition")
        if ":" in parts[0]:
            raise OttlConfigError(f"pattern ID {go_quote(parts[0])} should not contain ':'")
        g.definitions[parts[0]] = parts[1]
    is_lit, lit = literal_of(pattern)
    compiled = False
    if is_lit:
        try:
            g.compile(lit, named_only)
        except GrokError as e:
            raise OttlConfigError(_invalid(lit, e)) from None
        compiled = True
    if compiled and named_only and not g.has_capture_groups():
        raise OttlConfigError("at least 1 named capture group must be supplied in the given regex")

    def run(ctx):
        if not compiled:
            p = pattern(ctx)
            try:
                g.compile(p, named_only)
            except GrokError as e:
                raise OttlError(_invalid(p, e)) from None
        if named_only and not g.has_capture_groups():
            raise OttlError("at least 1 named capture group must be supplied in the given regex")
        return g.parse_typed(target(ctx))
    return run


NOT_SUPPORTED: dict[str, str] = {}
TABLE = T.table()
