"""The SQL tokenizer of the DataDog agent's obfuscator (the one upstream's postgresql receiver
uses), with DBMS ``postgresql``: token kinds, keyword table and the scanner. The filters that turn
its tokens into the obfuscated text are in obfuscate.py."""

from __future__ import annotations

EOF = "\U0010ffff\x00"  # a sentinel no query holds (Go's EndChar)


class ObfuscationError(ValueError):
    pass


# token kinds: a character's own code for punctuation, these above the Unicode range otherwise
(LEX_ERROR, ID, LIMIT, NULL, STRING, DOUBLE_QUOTED_STRING, DOLLAR_QUOTED_STRING, DOLLAR_QUOTED_FUNC, NUMBER,
 BOOLEAN_LITERAL, VALUE_ARG, LIST_ARG, COMMENT, VARIABLE, SAVEPOINT, PREPARED_STATEMENT, ESCAPE_SEQUENCE,
 NULL_SAFE_EQUAL, LE, GE, NE, NOT, AS, ALTER, DROP, CREATE, GRANT, REVOKE, COMMIT, BEGIN, TRUNCATE, SELECT,
 FROM, UPDATE, DELETE, INSERT, INTO, JOIN, TABLE_NAME, COLON_CAST, JSON_SELECT, JSON_SELECT_TEXT,
 JSON_SELECT_PATH, JSON_SELECT_PATH_TEXT, JSON_CONTAINS, JSON_CONTAINS_LEFT, JSON_KEY_EXISTS, JSON_ANY_KEYS_EXIST,
 JSON_ALL_KEYS_EXIST, JSON_DELETE, FILTERED_GROUPABLE, FILTERED_GROUPABLE_PARENTHESIS, FILTERED,
 FILTERED_BRACKETED_IDENTIFIER) = range(57346, 57346 + 54)
END = 0x110000 + 1

KEYWORDS = {"NULL": NULL, "TRUE": BOOLEAN_LITERAL, "FALSE": BOOLEAN_LITERAL, "SAVEPOINT": SAVEPOINT,
            "LIMIT": LIMIT, "AS": AS, "ALTER": ALTER, "CREATE": CREATE, "GRANT": GRANT, "REVOKE": REVOKE,
            "COMMIT": COMMIT, "BEGIN": BEGIN, "TRUNCATE": TRUNCATE, "DROP": DROP, "SELECT": SELECT, "FROM": FROM,
            "UPDATE": UPDATE, "DELETE": DELETE, "INSERT": INSERT, "INTO": INTO, "JOIN": JOIN}
REPLACED = frozenset({DOLLAR_QUOTED_STRING, STRING, NUMBER, NULL, VARIABLE, PREPARED_STATEMENT, BOOLEAN_LITERAL,
                      ESCAPE_SEQUENCE})
PLAIN = frozenset("=,;()+*&|^]")


def is_space(c: str) -> bool:
    """Go's unicode.IsSpace."""
    if c == EOF:
        return False
    return c in "\t\n\v\f\r \x85\xa0" if ord(c) <= 0xFF else c.isspace()


def is_leading_letter(c: str) -> bool:
    return c != EOF and (c.isalpha() or c in "_@")


def is_letter(c: str) -> bool:
    return is_leading_letter(c) or c == "#"


def is_digit(c: str) -> bool:
    return "0" <= c <= "9" and len(c) == 1


def digit_val(c: str) -> int:
    if len(c) != 1:
        return 16
    if "0" <= c <= "9":
        return ord(c) - 48
    if "a" <= c <= "f":
        return ord(c) - 87
    if "A" <= c <= "F":
        return ord(c) - 55
    return 16


def _valid_after_operator(c: str) -> bool:
    return c in "(`'\"+-" or is_space(c) or is_letter(c) or is_digit(c)


class Tokenizer:
    """The DataDog tokenizer's reading model: ``last`` is the character just read, ``base``..``base+off``
    what was read since the last ``take()`` (which keeps ``last`` for the next token)."""

    def __init__(self, sql: str, literal_escapes: bool):
        self.s = sql
        self.base = 0
        self.off = 0
        self.last = "\x00"
        self.pos = 0
        self.curlys = 0
        self.literal_escapes = literal_escapes
        self.seen_escape = False
        self.err: str | None = None

    def advance(self) -> None:
        i = self.base + self.off
        if i >= len(self.s):
            self.pos += 1
            self.last = EOF
            return
        if self.last != "\x00" or self.pos > 0:
            self.pos += 1
        self.off += 1
        self.last = self.s[i]

    def take(self) -> str:
        if self.last == EOF:
            out = self.s[self.base:self.base + self.off]
            self.base += self.off
            self.off = 0
            return out
        out = self.s[self.base:self.base + self.off - 1]
        self.base += self.off - 1
        self.off = 1
        return out

    def fail(self, message: str) -> tuple[int, str]:
        if self.err is None:
            self.err = f"at position {self.pos}: {message}"
        return LEX_ERROR, self.take()

    def skip_blank(self) -> None:
        while is_space(self.last):
            self.advance()
        self.take()

    def scan(self) -> tuple[int, str | None]:  # noqa: C901 - one branch per leading character, as upstream
        if self.last == "\x00":
            self.advance()
        self.skip_blank()
        ch = self.last
        if is_leading_letter(ch) and ch != "@":
            return self.identifier()
        if is_digit(ch):
            return self.number(False)
        self.advance()
        nxt = self.last
        if ch == EOF:
            return (LEX_ERROR, None) if self.err else (END, None)
        if ch == ":":
            if nxt == ":":
                self.advance()
                return COLON_CAST, "::"
            if is_space(nxt):
                return ord(ch), self.take()
            if nxt != "=":
                return self.bind_var()
            return ord(ch), self.take()  # ":=" reads as ":" then "="
        if ch == "~":
            if nxt == "*":
                self.advance()
                return ord("~"), "~*"
            return ord(ch), self.take()
        if ch == "?":
            if nxt == "|":
                self.advance()
                return JSON_ANY_KEYS_EXIST, "?|"
            if nxt == "&":
                self.advance()
                return JSON_ALL_KEYS_EXIST, "?&"
            return JSON_KEY_EXISTS, self.take()
        if ch in PLAIN or ch == "[":
            return ord(ch), self.take()
        if ch == ".":
            if is_digit(nxt):
                return self.number(True)
            return ord(ch), self.take()
        if ch == "/":
            if nxt == "/":
                self.advance()
                return self.line_comment()
            if nxt == "*":
                self.advance()
                return self.block_comment()
            return ord(ch), self.take()
        if ch == "-":
            if nxt == "-":
                self.advance()
                return self.line_comment()
            if nxt == ">":
                self.advance()
                if self.last == ">":
                    self.advance()
                    return JSON_SELECT_TEXT, "->>"
                return JSON_SELECT, "->"
            if is_digit(nxt):
                return self.number(False)
            if nxt == ".":
                self.advance()
                if is_digit(self.last):
                    return self.number(True)
                self.last = "."
                self.pos -= 1
            return ord(ch), self.take()
        if ch == "#":
            if nxt == ">":
                self.advance()
                if self.last == ">":
                    self.advance()
                    return JSON_SELECT_PATH_TEXT, "#>>"
                return JSON_SELECT_PATH, "#>"
            if nxt == "-":
                self.advance()
                return JSON_DELETE, "#-"
            return ord(ch), self.take()
        if ch == "<":
            if nxt == ">":
                self.advance()
                return NE, "<>"
            if nxt == "=":
                self.advance()
                if self.last == ">":
                    self.advance()
                    return NULL_SAFE_EQUAL, "<=>"
                return LE, "<="
            if nxt == "@":
                self.advance()
                return JSON_CONTAINS_LEFT, "<@"
            return ord(ch), self.take()
        if ch == ">":
            if nxt == "=":
                self.advance()
                return GE, ">="
            return ord(ch), self.take()
        if ch == "!":
            if nxt == "=":
                self.advance()
                return NE, "!="
            if nxt == "~":
                self.advance()
                if self.last == "*":
                    self.advance()
                    return NE, "!~*"
                return NE, "!~"
            if _valid_after_operator(nxt):
                return NOT, self.take()
            return self.fail(f'unexpected char "{nxt}" after "!"')
        if ch == "'":
            return self.string(ch, STRING)
        if ch == '"':
            return self.string(ch, DOUBLE_QUOTED_STRING)
        if ch == "`":
            return self.string(ch, ID)
        if ch == "%":
            if nxt == "(":
                return self.variable_identifier()
            if is_letter(nxt):
                self.advance()
                return VARIABLE, self.take()
            return ord(ch), self.take()
        if ch == "$":
            if is_digit(nxt) or nxt == "?":
                return self.prepared_statement()
            return self.dollar_quoted()
        if ch == "@":
            if nxt == ">":
                self.advance()
                return JSON_CONTAINS, "@>"
            return ord(ch), self.take()
        if ch == "{":
            if self.pos == 1 or self.curlys > 0:
                self.curlys += 1
                return ord(ch), self.take()
            return self.escape_sequence()
        if ch == "}":
            if self.curlys == 0:
                return self.fail(f"unexpected byte {ord(ch)}")
            self.curlys -= 1
            return ord(ch), self.take()
        return self.fail(f"unexpected byte {ord(ch)}")

    def identifier(self) -> tuple[int, str]:
        self.advance()
        while is_letter(self.last) or is_digit(self.last) or (self.last != EOF and self.last in ".*$"):
            self.advance()
        text = self.take()
        return KEYWORDS.get(text.upper(), ID), text

    def variable_identifier(self) -> tuple[int, str]:
        self.advance()
        while self.last != ")" and self.last != EOF:
            self.advance()
        self.advance()
        if not is_letter(self.last):
            return self.fail("invalid character after variable identifier")
        self.advance()
        return VARIABLE, self.take()

    def dollar_quoted(self) -> tuple[int, str]:
        kind, tag = self.string("$", STRING)
        if kind == LEX_ERROR:
            return kind, self.take()
        delim = tag if tag == "$$" else f"${tag}$"
        got = 0
        out: list[str] = []
        while True:
            ch = self.last
            self.advance()
            if ch == EOF:
                self.fail("unexpected EOF in dollar-quoted string")
                return LEX_ERROR, "".join(out)
            if chr(ord(ch) & 0xFF) == delim[got]:  # Go compares the rune's low byte
                got += 1
                if got == len(delim):
                    break
                continue
            if got:
                out.append(delim[:got])
                got = 0
            out.append(ch)
        return DOLLAR_QUOTED_STRING, "".join(out)

    def prepared_statement(self) -> tuple[int, str]:
        if self.last == "?":
            self.advance()
            return PREPARED_STATEMENT, self.take()
        kind, text = self.number(False)
        if kind == LEX_ERROR:
            return self.fail("invalid number")
        return PREPARED_STATEMENT, text

    def escape_sequence(self) -> tuple[int, str]:
        while self.last != "}" and self.last != EOF:
            self.advance()
        if self.last == EOF:
            return self.fail("unexpected EOF in escape sequence")
        self.advance()
        return ESCAPE_SEQUENCE, self.take()

    def bind_var(self) -> tuple[int, str]:
        kind = VALUE_ARG
        if self.last == ":":
            kind = LIST_ARG
            self.advance()
        if not is_letter(self.last) and not is_digit(self.last):
            return self.fail("bind variables should start with letters or digits")
        while is_letter(self.last) or is_digit(self.last) or self.last == ".":
            self.advance()
        return kind, self.take()

    def mantissa(self, base: int) -> None:
        while digit_val(self.last) < base:
            self.advance()

    def number(self, seen_point: bool) -> tuple[int, str]:
        if seen_point:
            self.mantissa(10)
            self._exponent()
        elif self.last == "0":
            self.advance()
            if self.last in ("x", "X"):
                self.advance()
                self.mantissa(16)
            else:
                self.mantissa(8)
                if self.last in ("8", "9"):
                    self.mantissa(10)
                if self.last in (".", "e", "E"):
                    self._fraction()
        else:
            self.mantissa(10)
            self._fraction()
        text = self.take()
        if not text:
            self.fail("Parse error: ended up with zero-length number.")
            return LEX_ERROR, ""
        return NUMBER, text

    def _fraction(self) -> None:
        if self.last == ".":
            self.advance()
            self.mantissa(10)
        self._exponent()

    def _exponent(self) -> None:
        if self.last in ("e", "E"):
            self.advance()
            if self.last in ("+", "-"):
                self.advance()
            self.mantissa(10)

    def string(self, delim: str, kind: int) -> tuple[int, str]:
        out: list[str] = []
        while True:
            ch = self.last
            self.advance()
            if ch == delim:
                if self.last == delim:
                    self.advance()  # a doubled delimiter stands for itself
                else:
                    break
            elif ch == "\\":
                self.seen_escape = True
                if not self.literal_escapes:
                    ch = self.last
                    self.advance()
            if ch == EOF:
                self.fail("unexpected EOF in string")
                return LEX_ERROR, "".join(out)
            out.append(ch)
        text = "".join(out)
        if (kind == ID and not text) or all(is_space(c) for c in text):
            return kind, delim + delim  # an empty or blank one keeps its delimiters
        return kind, text

    def line_comment(self) -> tuple[int, str]:
        while self.last != EOF:
            if self.last == "\n":
                self.advance()
                break
            self.advance()
        return COMMENT, self.take()

    def block_comment(self) -> tuple[int, str]:
        while True:
            if self.last == "*":
                self.advance()
                if self.last == "/":
                    self.advance()
                    break
                continue
            if self.last == EOF:
                return self.fail("unexpected EOF in comment")
            self.advance()
        return COMMENT, self.take()
