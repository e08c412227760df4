"""Go (RE2) regular expressions on Python's ``re``: one translator for every Go pattern otelflow
takes (the attributes/resource/filter processors' match properties, tail sampling, OTTL functions).

The two dialects mostly agree; this module rewrites the places where they do not, so that a
pattern means what it means to Go: ``$`` is the end of text (not "before a final newline"),
``\\d \\w \\s \\b`` are ASCII, flags such as ``(?i)`` may appear mid-pattern and hold to the end of
their group, ``(?<name>...)`` names a group, ``\\Q...\\E`` quotes, POSIX classes. What RE2 refuses
(backreferences, look-around, possessive quantifiers, Python-only syntax) is refused with Go's
error text. Unicode classes (``\\pL``), the ungreedy flag and negated POSIX classes are not
supported and refused with a plain error.

``compile_go_regex`` gives the ``re.Pattern`` (group names as Go's, a repeated name refused);
``GoRegexp`` is the matcher of the processors' match properties (regexp.MatchString, Go's
SubexpNames in ``names``, repeated names allowed).
"""

from __future__ import annotations

import re
from functools import lru_cache

_POSIX = {
    "alnum": "0-9A-Za-z", "alpha": "A-Za-z", "ascii": "\\x00-\\x7f", "blank": "\\t ",
    "cntrl": "\\x00-\\x1f\\x7f", "digit": "0-9", "graph": "!-~", "lower": "a-z",
    "print": " -~", "punct": "!-/:-@\\[-`{-~", "space": "\\t\\n\\v\\f\\r ", "upper": "A-Z",
    "word": "0-9A-Za-z_", "xdigit": "0-9A-Fa-f",
}
_PERL = {"d": "0-9", "w": "0-9A-Za-z_", "s": "\\t\\n\\f\\r "}
_SIMPLE_ESCAPES = set("afnrtv")
# Go's \b and \B look at ASCII word characters only, as its \w
# (Python's \B, unlike Go's, never matches in an empty text: spelled out with look-arounds)
_ASSERT_ESCAPES = {"A": "\\A", "z": "\\Z", "b": "(?a:\\b)",
                   "B": "(?:(?<=[0-9A-Za-z_])(?=[0-9A-Za-z_])|(?<![0-9A-Za-z_])(?![0-9A-Za-z_]))"}
# what Python refuses to repeat where Go repeats it (as an empty-width operand): grouped when repeated
_BARE_ASSERTIONS = frozenset(("^", "$", "\\A", "\\Z"))
_NAME_RE = re.compile(r"[A-Za-z0-9_]+")


class GoRegexpError(ValueError):
    """regexp.Compile's error; ``str()`` is Go's text ("error parsing regexp: ...")."""


GoRegexError = GoRegexpError  # the name the OTTL functions use


def _err(code: str, expr: str) -> GoRegexpError:
    return GoRegexpError(f"error parsing regexp: {code}: `{expr}`")


class _Translator:
    """One pass over a Go pattern, writing the Python one to ``out`` and Go's SubexpNames to
    ``names``. With ``repeated_names`` a group name may repeat (as Go allows): the repeat becomes
    an unnamed group in Python, its name kept in ``names`` only."""

    def __init__(self, pattern: str, repeated_names: bool = False):
        self.p = pattern
        self.repeated_names = repeated_names
        self.subexp_names: list[str] = [""]
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
            raise GoRegexpError("error parsing regexp: Unicode character classes (\\p) are not supported by otelflow: "
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
                        raise GoRegexpError("error parsing regexp: negated POSIX classes are not supported by "
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
                    raise GoRegexpError("error parsing regexp: Unicode character classes (\\p) are not supported "
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
        except re.error as e:  # Go names the bad range ("z-a"), Python's message ends with it
            bad = e.msg.rsplit(" ", 1)[-1] if e.msg.startswith("bad character range") else p[start:j]
            raise _err("invalid character class range", bad) from None
        self.out.append(text)
        self.i = j
        self._atom(True)

    def _open(self) -> None:
        p = self.p
        if not p.startswith("(?", self.i):
            self.subexp_names.append("")
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
            self.subexp_names.append(name)
            if name in self.names:  # Go accepts a repeated name; Python's re cannot hold one
                if not self.repeated_names:
                    raise GoRegexpError("error parsing regexp: a repeated group name is not supported by otelflow: "
                                        f"`{p[self.i:self.i + 2 + m.end()]}`")
                self.out.append("(")
            else:
                self.out.append(f"(?P<{name}>")
            self.names.add(name)
            self.frames.append([0, [], self.frames[-1][2]])
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
            raise GoRegexpError("error parsing regexp: the ungreedy flag (?U) is not supported by otelflow: "
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
            # Go would repeat the item before the flags; Python cannot reach it past the group
            # opened here, so a repetition right after them is refused
            self.can_repeat = False
            self.just_repeated = ""
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
        op = c + "?" if p.startswith("?", self.i + 1) else c
        self._repeat(op)
        self.i += len(op)

    def _repeat(self, op: str) -> None:
        """Go's parser.repeat: a repetition right after another is refused with both texts, one
        with nothing before it with its own (each with its lazy ``?``)."""
        if self.just_repeated:
            raise _err("invalid nested repetition operator", self.just_repeated + op)
        if not self.can_repeat:
            raise _err("missing argument to repetition operator", op)
        if self.out and self.out[-1] in _BARE_ASSERTIONS:
            self.out[-1] = f"(?:{self.out[-1]})"
        self.out.append(op)
        self.just_repeated = op

    def _repeat_at(self, i: int) -> bool:
        return re.match(r"\{\d+(,\d*)?\}", self.p[i:]) is not None

    def _brace(self) -> None:
        m = re.match(r"\{(\d+)(,(\d*))?\}(\??)", self.p[self.i:])
        lo = int(m.group(1))
        hi = m.group(3)
        if lo > 1000 or (hi and int(hi) > 1000) or (hi and int(hi) < lo):  # Go checks this first
            raise _err("invalid repeat count", m.group(0).rstrip("?"))
        self._repeat(m.group(0))
        self.i += m.end()


def _translate(pattern: str, repeated_names: bool = False) -> tuple[str, list[str]]:
    """The Python pattern and Go's SubexpNames (index 0, the whole match, is "")."""
    t = _Translator(pattern, repeated_names)
    return t.run(), t.subexp_names


def _compile(pattern: str, translated: str) -> re.Pattern:
    try:
        return re.compile(translated)
    except re.error as e:  # something the translator let through that Python refuses
        raise GoRegexpError(_go_message(pattern, e)) from None


def _go_message(pattern: str, exc: re.error) -> str:
    """Go's text for what Python's ``re`` refused, where the two name the same fault."""
    msg = str(exc.msg)
    pos = exc.pos if exc.pos is not None else 0
    if msg.startswith("missing ), unterminated subpattern"):
        return f"error parsing regexp: missing closing ): `{pattern}`"
    if msg.startswith("unbalanced parenthesis"):
        return f"error parsing regexp: unexpected ): `{pattern}`"
    if msg.startswith("unterminated character set"):
        return f"error parsing regexp: missing closing ]: `{pattern[pos:] if pos < len(pattern) else pattern}`"
    if msg.startswith("nothing to repeat"):
        return f"error parsing regexp: missing argument to repetition operator: `{pattern[pos:pos + 1] or pattern}`"
    if msg.startswith("multiple repeat"):
        return f"error parsing regexp: invalid nested repetition operator: `{pattern}`"
    if msg.startswith("bad character range"):
        return f"error parsing regexp: invalid character class range: `{msg.rsplit(' ', 1)[-1]}`"
    return f"error parsing regexp: {msg}: `{pattern}`"


@lru_cache(maxsize=512)
def compile_go_regex(pattern: str) -> re.Pattern:
    """regexp.Compile; raises GoRegexpError with Go's message."""
    return _compile(pattern, _translate(pattern)[0])


class GoRegexp:
    """A compiled pattern for the processors' match properties: ``search`` is regexp.MatchString
    (unanchored), ``names`` Go's SubexpNames (index 0 is the whole match), a repeated group name
    allowed as in Go."""

    __slots__ = ("pattern", "regex", "names", "search")

    def __init__(self, pattern: str):
        self.pattern = pattern
        translated, self.names = _translate(pattern, repeated_names=True)
        self.regex = _compile(pattern, translated)
        self.search = self.regex.search

    def matches(self, text: str) -> bool:
        return self.search(text) is not None
