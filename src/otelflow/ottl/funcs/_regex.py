"""Go regular expressions for the OTTL functions: compiling a function's pattern argument (with
newDynamicRegex's error texts) and Go's matching and replacement-template rules.

The pattern translator itself (Go RE2 syntax to Python's ``re``) is ``otelflow.pdata.goregexp``,
shared with the processors' match properties; ``compile_go_regex`` and ``GoRegexError`` are
re-exported here for the functions.
"""

from __future__ import annotations

import re
from typing import Iterator

from otelflow.pdata.goregexp import GoRegexError, compile_go_regex

from ..errors import OttlConfigError, OttlError

__all__ = ["GoRegexError", "compile_go_regex", "regex_for", "dynamic_regex", "go_finditer", "expand_go",
           "replace_all", "subexp_names"]


def regex_for(func_name: str, pattern: str, *, config: bool) -> re.Pattern:
    """newDynamicRegex: compile or fail with "the regex pattern supplied to F '"p"' is not a valid
    pattern: ..." (a config error for a literal pattern, a runtime error otherwise)."""
    from ._util import go_quote
    try:
        return compile_go_regex(pattern)
    except GoRegexError as e:
        msg = f"the regex pattern supplied to {func_name} '{go_quote(pattern)}' is not a valid pattern: {e}"
        raise (OttlConfigError(msg) if config else OttlError(msg)) from None


def dynamic_regex(func_name: str, getter):
    """A literal pattern is compiled once at build time; a dynamic one per call (as upstream)."""
    from ._util import literal_of
    is_lit, pattern = literal_of(getter)
    if is_lit:
        compiled = regex_for(func_name, pattern, config=True)
        return lambda ctx: compiled

    def compile_now(ctx):
        # upstream returns regexp.Compile's bare error for a dynamic pattern
        try:
            return compile_go_regex(getter(ctx))
        except GoRegexError as e:
            raise OttlError(str(e)) from None
    return compile_now


# ---------------------------------------------------------------------------------------------
# Matching and replacing with Go's rules


def go_finditer(rx: re.Pattern, s: str) -> Iterator[re.Match]:
    """Regexp.FindAll*: an empty match right after the previous match is dropped (Python keeps it)."""
    prev_end = -1
    for m in rx.finditer(s):
        if m.start() == m.end() and m.start() == prev_end:
            continue
        prev_end = m.end()
        yield m


def expand_go(template: str, m: re.Match) -> str:
    """Regexp.Expand: ``$1``, ``${1}``, ``$name``, ``${name}``, ``$$``; a name is the longest run of
    letters, digits and underscores ("$1x" is the group named "1x"); an unknown or unmatched
    group is empty; a malformed ``$`` is kept as is."""
    out: list[str] = []
    i = 0
    n = len(template)
    while i < n:
        j = template.find("$", i)
        if j < 0:
            out.append(template[i:])
            break
        out.append(template[i:j])
        rest = template[j:]
        if rest.startswith("$$"):
            out.append("$")
            i = j + 2
            continue
        name, consumed = _extract(rest)
        if name is None:
            out.append("$")
            i = j + 1
            continue
        i = j + consumed
        out.append(_group_text(m, name))
    return "".join(out)


def _extract(rest: str) -> tuple[str | None, int]:
    if len(rest) < 2:
        return None, 0
    brace = rest[1] == "{"
    k = 2 if brace else 1
    start = k
    while k < len(rest) and (rest[k].isascii() and (rest[k].isalnum() or rest[k] == "_")):
        k += 1
    if k == start:
        return None, 0
    name = rest[start:k]
    if brace:
        if k >= len(rest) or rest[k] != "}":
            return None, 0
        k += 1
    return name, k


def _group_text(m: re.Match, name: str) -> str:
    num = -1
    if name.isdigit() and not (name[0] == "0" and len(name) > 1) and len(name) <= 8:
        num = int(name)
    if num >= 0:
        if num <= m.re.groups:
            return m.group(num) or ""
        return ""
    idx = m.re.groupindex.get(name)
    if idx is not None:
        return m.group(idx) or ""
    return ""


def replace_all(rx: re.Pattern, s: str, template: str) -> str:
    """Regexp.ReplaceAllString."""
    out: list[str] = []
    last = 0
    for m in go_finditer(rx, s):
        out.append(s[last:m.start()])
        out.append(expand_go(template, m))
        last = m.end()
    out.append(s[last:])
    return "".join(out)


def subexp_names(rx: re.Pattern) -> list[str]:
    """Regexp.SubexpNames: "" for the whole match and unnamed groups."""
    names = [""] * (rx.groups + 1)
    for name, idx in rx.groupindex.items():
        names[idx] = name
    return names
