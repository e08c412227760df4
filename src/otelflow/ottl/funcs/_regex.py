"""Go (RE2) regular expressions on Python's ``re``, and Go's replacement-template expansion.

The two dialects mostly agree; this module rewrites the places where they do not, so that a
pattern means what it means to Go: ``$`` is the end of text (not "before a final newline"),
``\\d \\w \\s`` are ASCII, flags such as ``(?i)`` may appear mid-pattern and hold to the end of
their group, ``(?<name>...)`` names a group. What RE2 refuses (backreferences, look-around,
possessive quantifiers, Python-only syntax) is refused with Go's error text. Unicode classes
(``\\pL``) are not supported and refused with a plain error.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Iterator

from ..errors import OttlConfigError, OttlError

_POSIX = {
    "alnum": "0-9A-Za-z", "alpha": "A-Za-z", "ascii": "\\x00-\\x7f", "blank": "\\t ",
    "cntrl": "\\x00-\\x1f\\x7f", "digit": "0-9", "graph": "!-~", "lower": "a-z",
    "print": " -~", "punct": "!-/:-@\\[-`{-~", "space": "\\t\\n\\v\\f\\r ", "upper": "A-Z",
    "word": "0-9A-Za-z_", "xdigit": "0-9A-Fa-f",
}
_PERL = {"d": "0-9", "w": "0-9A-Za-z_", "s": "\\t\\n\\f\\r "}
_SIMPLE_ESCAPES = set("afnrtv")
_ASSERT_ESCAPES = {"A": "\\A", "z": "\\Z", "b": "\\b", "B": "\\B"}
_NAME_RE = re.compile(r"[A-Za-z0-9_]+")


class GoRegexError(ValueError):
    """regexp.Compile's error; ``str()`` is Go's text ("error parsing regexp: ...")."""


def _err(code: str, expr: str) -> GoRegexError:
    return GoRegexError(f"error parsing regexp: {code}: `{expr}`")


class _Translator:
    def __init__(self, pattern: str):
        self.p = pattern
        self.i = 0
        self.out: list[str] = []
        # one frame per open group: [scoped flag groups opened in it, their flag strings, multiline]
        self.frames: list[list] = [[0, [], False]]
        self.names: set[str] = set()
        self.can_repeat = False   # the last item may take a quantifier
        self.just_repeated = ""   # the last item was a quantifier (its text)

    def run(self) -> str:
        p = self.p
        while self.i < len(p):
            c = p[self.i]
            if c == "\\":
                self._escape()
            elif c == "[":
                self._cls()
            elif c == "(":
                self._open()
            elif c == ")":
                self._close()
            elif c == "|":
                self._bar()
            elif c in "*+?":
                self._quant(c)
            elif c == "{" and self._repeat_at(self.i):
                self._brace()
            elif c == "$":
                self.out.append("$" if self.frames[-1][2] else "\\Z")
                self._atom(False)
                self.i += 1
            elif c == "^":
                self.out.append("^")
                self._atom(False)
                self.i += 1
            else:
                self.out.append(re.escape(c) if c not in "." else c)
                self._atom(True)
                self.i += 1
        if len(self.frames) > 1:
            raise _err("missing closing )", p)
        self.out.append(")" * self.frames[0][0])
        return "".join(self.out)

    def _atom(self, repeatable: bool) -> None:
        self.can_repeat = True  # Go allows repeating empty-width assertions too
        self.just_repeated = ""

    def _escape(self) -> None:
        p, i = self.p, self.i
        if i + 1 >= len(p):
            raise _err("trailing backslash at end of expression", "")
        c = p[i + 1]
        self.i += 2
        if c in _PERL or c.lower() in _PERL:
            neg = c.isupper()
            self.out.append(("[^" if neg else "[") + _PERL[c.lower()] + "]")
        elif c in _ASSERT_ESCAPES:
            self.out.append(_ASSERT_ESCAPES[c])
        elif c in _SIMPLE_ESCAPES:
            self.out.append("\\" + c)
        elif c == "Q":
            end = p.find("\\E", self.i)
            lit = p[self.i:] if end < 0 else p[self.i:end]
            self.i = len(p) if end < 0 else end + 2
            self.out.append("".join(re.escape(ch) for ch in lit))
        elif c == "x":
            self.out.append(self._hex())
        elif c in "01234567":
            self.out.append(self._octal(c))
        elif c in "pP":
            raise GoRegexError("error parsing regexp: Unicode character classes (\\p) are not supported by otelflow: "
                               f"`{p[i:i + 3]}`")
        elif c.isalnum() or ord(c) > 0x7F:
            raise _err("invalid escape sequence", "\\" + c)
        else:
            self.out.append(re.escape(c))
        self._atom(True)

    def _hex(self) -> str:
        p = self.p
        if self.i < len(p) and p[self.i] == "{":
            end = p.find("}", self.i)
            digits = p[self.i + 1:end] if end > 0 else ""
            if end < 0 or not digits or not all(ch in "0123456789abcdefABCDEF" for ch in digits) \
                    or int(digits, 16) > 0x10FFFF:
                raise _err("invalid escape sequence", p[self.i - 2:(end + 1 if end > 0 else len(p))])
            self.i = end + 1
            return re.escape(chr(int(digits, 16)))
        digits = p[self.i:self.i + 2]
        if len(digits) < 2 or not all(ch in "0123456789abcdefABCDEF" for ch in digits):
            raise _err("invalid escape sequence", p[self.i - 2:self.i + 2])
        self.i += 2
        return re.escape(chr(int(digits, 16)))

    def _octal(self, first: str) -> str:
        p = self.p
        nxt = p[self.i:self.i + 1]
        if first != "0" and not (nxt and nxt in "01234567"):
            raise _err("invalid escape sequence", "\\" + first)
        digits = first
        while len(digits) < 3 and self.i < len(p) and p[self.i] in "01234567":
            digits += p[self.i]
            self.i += 1
        return re.escape(chr(int(digits, 8)))

    def _cls(self) -> None:
        p = self.p
        start = self.i
        j = self.i + 1
        parts = ["["]
        if j < len(p) and p[j] == "^":
            parts.append("^")
            j += 1
        first = True
        while True:
            if j >= len(p):
                raise _err("missing closing ]", p[start:])
            c = p[j]
            if c == "]" and not first:
                j += 1
                break
            first = False
            if c == "[" and p.startswith("[:", j):
                end = p.find(":]", j + 2)
                name = p[j + 2:end] if end > 0 else ""
                neg = name.startswith("^")
                if end > 0 and name.lstrip("^") in _POSIX:
                    rng = _POSIX[name.lstrip("^")]
                    if neg:
                        raise GoRegexError("error parsing regexp: negated POSIX classes are not supported by "
                                           f"otelflow: `{p[j:end + 2]}`")
                    parts.append(rng)
                    j = end + 2
                    continue
                if end > 0:
                    raise _err("invalid character class range", p[j:end + 2])
            if c == "\\":
                if j + 1 >= len(p):
                    raise _err("missing closing ]", p[start:])
                e = p[j + 1]
                j += 2
                if e in _PERL:
                    parts.append(_PERL[e])
                elif e.lower() in _PERL:
                    parts.append("\\" + e)  # Python's \D \W \S: Unicode-aware where Go's are ASCII
                elif e in _SIMPLE_ESCAPES:
                    parts.append("\\" + e)
                elif e == "x":
                    self.i = j
                    parts.append(self._hex())
                    j = self.i
                elif e in "01234567":
                    self.i = j
                    parts.append(self._octal(e))
                    j = self.i
                elif e in "pP":
                    raise GoRegexError("error parsing regexp: Unicode character classes (\\p) are not supported "
                                       f"by otelflow: `{p[j - 2:j + 1]}`")
                elif e.isalnum() or ord(e) > 0x7F:
                    raise _err("invalid escape sequence", "\\" + e)
                else:
                    parts.append(re.escape(e))
                continue
            if c == "-":
                # Go: a '-' is literal only first or last; elsewhere it makes a range
                nxt = p[j + 1:j + 2]
                prev_is_start = parts[-1] in ("[", "^")
                if nxt == "]" or prev_is_start:
                    parts.append("\\-")
                else:
                    parts.append("-")
                j += 1
                continue
            parts.append("\\" + c if c in "[&~|^" else c)
            j += 1
        parts.append("]")
        text = "".join(parts)
        try:
            re.compile(text)
        except re.error:
            raise _err("invalid character class range", p[start:j]) from None
        self.out.append(text)
        self.i = j
        self._atom(True)

    def _open(self) -> None:
        p = self.p
        if not p.startswith("(?", self.i):
            self.frames.append([0, [], self.frames[-1][2]])
            self.out.append("(")
            self.i += 1
            self.can_repeat = False
            self.just_repeated = ""
            return
        rest = p[self.i + 2:]
        m = re.match(r"P?<([^>]*)>", rest)
        if m and not rest.startswith(("<=", "<!")):
            name = m.group(1)
            if not name or not _NAME_RE.fullmatch(name):
                raise _err("invalid named capture", p[self.i:self.i + 2 + m.end()])
            if name in self.names:  # Go accepts a repeated name; Python's re cannot hold one
                raise GoRegexError("error parsing regexp: a repeated group name is not supported by otelflow: "
                                   f"`{p[self.i:self.i + 2 + m.end()]}`")
            self.names.add(name)
            self.frames.append([0, [], self.frames[-1][2]])
            self.out.append(f"(?P<{name}>")
            self.i += 2 + m.end()
            self.can_repeat = False
            return
        m = re.match(r"([imsU]*)(?:-([imsU]*))?([:)])", rest)
        if not m or (m.group(2) is not None and m.group(2) == "") or not (m.group(1) or m.group(2) is not None
                                                                          or m.group(3) == ":"):
            tail = p[self.i:self.i + 3]
            if m is None and re.match(r"[imsU-]*$", rest):
                raise _err("missing closing )", p)
            raise _err("invalid or unsupported Perl syntax", tail)
        on, off, end = m.group(1), m.group(2) or "", m.group(3)
        if "U" in on or "U" in off:
            raise GoRegexError("error parsing regexp: the ungreedy flag (?U) is not supported by otelflow: "
                               f"`{p[self.i:self.i + 2 + m.end()]}`")
        flags = on + ("-" + off if off else "")
        multiline = self.frames[-1][2]
        if "m" in on:
            multiline = True
        if "m" in off:
            multiline = False
        self.i += 2 + m.end()
        if end == ":":
            self.frames.append([0, [], multiline])
            self.out.append(f"(?{flags}:" if flags else "(?:")
            self.can_repeat = False
        else:
            frame = self.frames[-1]
            if flags:
                frame[0] += 1
                frame[1].append(flags)
                self.out.append(f"(?{flags}:")
            frame[2] = multiline

    def _close(self) -> None:
        if len(self.frames) == 1:
            raise _err("unexpected )", self.p)
        frame = self.frames.pop()
        self.out.append(")" * frame[0] + ")")
        self.i += 1
        self._atom(True)

    def _bar(self) -> None:
        frame = self.frames[-1]
        self.out.append(")" * frame[0] + "|" + "".join(f"(?{f}:" for f in frame[1]))
        self.i += 1
        self.can_repeat = False
        self.just_repeated = ""

    def _quant(self, c: str) -> None:
        p = self.p
        j = self.i + 1
        op = c
        if self.just_repeated:
            raise _err("invalid nested repetition operator", self.just_repeated + c)
        if not self.can_repeat:
            raise _err("missing argument to repetition operator", c)
        if j < len(p) and p[j] == "?":
            op += "?"
            j += 1
        self.out.append(op)
        self.i = j
        self.just_repeated = op

    def _repeat_at(self, i: int) -> bool:
        return re.match(r"\{\d+(,\d*)?\}", self.p[i:]) is not None

    def _brace(self) -> None:
        m = re.match(r"\{(\d+)(,(\d*))?\}(\??)", self.p[self.i:])
        text = m.group(0)
        if self.just_repeated:
            raise _err("invalid nested repetition operator", self.just_repeated + text.rstrip("?"))
        if not self.can_repeat:
            raise _err("missing argument to repetition operator", text.rstrip("?"))
        lo = int(m.group(1))
        hi = m.group(3)
        if lo > 1000 or (hi and int(hi) > 1000) or (hi and int(hi) < lo):
            raise _err("invalid repeat count", text.rstrip("?"))
        self.out.append(text)
        self.i += len(text)
        self.just_repeated = text.rstrip("?")


@lru_cache(maxsize=512)
def compile_go_regex(pattern: str) -> re.Pattern:
    """regexp.Compile; raises GoRegexError with Go's message."""
    translated = _Translator(pattern).run()
    try:
        return re.compile(translated)
    except re.error as e:  # something the translator let through that Python refuses
        raise GoRegexError(f"error parsing regexp: {e}: `{pattern}`") from None


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
