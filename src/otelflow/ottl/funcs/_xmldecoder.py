"""Go's encoding/xml tokenizer for the OTTL XML functions.

The tokenizer follows encoding/xml's strict Decoder (same tokens, same error texts, same line
numbers). It knows only the five predefined entities and numeric character references: a DTD is
kept as an opaque directive and nothing in it is ever expanded, so there are no external entities
and no entity-expansion blow-up. The document model is in ``_xmldoc``.
"""

from __future__ import annotations

from ._xmlnames import is_first, is_name_char

_XML_URL = "http://www.w3.org/XML/1998/namespace"
_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "apos": "'", "quot": '"'}
_NAME_BYTES = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_:.-")
_SPACE = b" \r\n\t"


class XMLSyntaxError(Exception):
    pass


# ---------------------------------------------------------------------------------------------
# Tokens: ("start", space, local, attrs, begin) with attrs [[space, local, value]], ("end", space,
# local), ("text", str, cdata_looking, begin), ("comment", str), ("procinst", target, inst),
# ("directive", str). ``begin`` is the token's first byte offset.


class Decoder:
    """encoding/xml.Decoder (Strict) over a byte string; ``token()`` is Decoder.Token."""

    def __init__(self, data: bytes, charset_reader: bool = False):
        self.data = data
        self.pos = 0
        self.charset_reader = charset_reader
        self.err: Exception | None = None
        self.stk: list = []          # ("start", space, local) and ("ns", prefix, old, had)
        self.ns: dict[str, str] = {}
        self.need_close: tuple[str, str] | None = None
        self.depth = 0               # open elements (encoding/xml's stkDepth)

    # -- bytes
    def _syntax(self, msg: str) -> XMLSyntaxError:
        line = 1 + self.data.count(b"\n", 0, self.pos)
        return XMLSyntaxError(f"XML syntax error on line {line}: {msg}")

    def _getc(self) -> int | None:
        if self.pos >= len(self.data):
            return None
        b = self.data[self.pos]
        self.pos += 1
        return b

    def _mustgetc(self) -> int:
        b = self._getc()
        if b is None:
            raise self._syntax("unexpected EOF")
        return b

    def _space(self) -> None:
        d, n = self.data, len(self.data)
        while self.pos < n and d[self.pos] in _SPACE:
            self.pos += 1

    def _read_name(self) -> bytes | None:
        start = self.pos
        b = self._mustgetc()
        if b < 0x80 and b not in _NAME_BYTES:
            self.pos -= 1
            return None
        while True:
            b = self._mustgetc()
            if b < 0x80 and b not in _NAME_BYTES:
                self.pos -= 1
                return self.data[start:self.pos]

    def _name(self) -> str | None:
        raw = self._read_name()
        if raw is None:
            return None
        if not _is_name(raw):
            raise self._syntax("invalid XML name: " + raw.decode("utf-8", "replace"))
        return raw.decode("utf-8")

    def _nsname(self) -> tuple[str, str] | None:
        s = self._name()
        if s is None or s.count(":") > 1:
            return None
        space, sep, local = s.partition(":")
        if not sep or not space or not local:
            return "", s
        return space, local

    def _text(self, quote: int, cdata: bool) -> str:
        d = self.data
        buf = bytearray()
        b0 = b1 = 0
        trunc = 0
        while True:
            b = self._getc()
            if b is None:
                if cdata:
                    raise self._syntax("unexpected EOF in CDATA section")
                break
            if quote < 0 and b0 == 0x5D and b1 == 0x5D and b == 0x3E:
                if cdata:
                    trunc = 2
                    break
                raise self._syntax("unescaped ]]> not in CDATA section")
            if b == 0x3C and not cdata:
                if quote >= 0:
                    raise self._syntax("unescaped < inside quoted string")
                self.pos -= 1
                break
            if quote >= 0 and b == quote:
                break
            if b == 0x26 and not cdata:
                before = len(buf)
                buf.append(b)
                text = None
                b = self._mustgetc()
                if b == 0x23:  # '#'
                    buf.append(b)
                    b = self._mustgetc()
                    base = 10
                    if b == 0x78:  # 'x'
                        base = 16
                        buf.append(b)
                        b = self._mustgetc()
                    start = len(buf)
                    while 0x30 <= b <= 0x39 or base == 16 and (0x61 <= b <= 0x66 or 0x41 <= b <= 0x46):
                        buf.append(b)
                        b = self._mustgetc()
                    if b != 0x3B:
                        self.pos -= 1
                    else:
                        digits = bytes(buf[start:])
                        buf.append(b)
                        if digits:
                            n = int(digits, base)
                            if n <= 0x10FFFF:
                                text = "\ufffd" if 0xD800 <= n <= 0xDFFF else chr(n)
                else:
                    self.pos -= 1
                    nstart = self.pos
                    self._read_name()
                    name = d[nstart:self.pos]
                    buf += name
                    b = self._mustgetc()
                    if b != 0x3B:
                        self.pos -= 1
                    else:
                        buf.append(b)
                        if _is_name(name):
                            text = _ENTITIES.get(name.decode("utf-8"))
                if text is not None:
                    del buf[before:]
                    buf += text.encode("utf-8", "surrogatepass")
                    b0 = b1 = 0
                    continue
                ent = bytes(buf[before:]).decode("utf-8", "replace")
                if not ent.endswith(";"):
                    ent += " (no semicolon)"
                raise self._syntax("invalid character entity " + ent)
            if b == 0x0D:
                buf.append(0x0A)
            elif b1 == 0x0D and b == 0x0A:
                pass
            else:
                buf.append(b)
            b0, b1 = b1, b
        if trunc:
            del buf[-trunc:]
        try:
            s = bytes(buf).decode("utf-8")
        except UnicodeDecodeError:
            raise self._syntax("invalid UTF-8") from None
        for ch in s:
            o = ord(ch)
            if not (o in (0x09, 0x0A, 0x0D) or 0x20 <= o <= 0xD7FF or 0xE000 <= o <= 0xFFFD or o >= 0x10000):
                raise self._syntax(f"illegal character code U+{o:04X}")
        return s

    # -- tokens
    def raw_token(self):
        if self.need_close is not None:
            space, local = self.need_close
            self.need_close = None
            return ("end", space, local)
        begin = self.pos
        b = self._getc()
        if b is None:
            return None
        if b != 0x3C:
            self.pos -= 1
            text = self._text(-1, False)
            head = self.data[begin:begin + 8].upper()
            return ("text", text, head == b"![CDATA[", begin)
        b = self._mustgetc()
        if b == 0x2F:  # '/'
            name = self._nsname()
            if name is None:
                raise self._syntax("expected element name after </")
            self._space()
            if self._mustgetc() != 0x3E:
                raise self._syntax(f"invalid characters between </{name[1]} and >")
            return ("end", name[0], name[1])
        if b == 0x3F:  # '?'
            target = self._name()
            if target is None:
                raise self._syntax("expected target name after <?")
            self._space()
            start = self.pos
            b0 = 0
            while True:
                b = self._mustgetc()
                if b0 == 0x3F and b == 0x3E:
                    break
                b0 = b
            inst = self.data[start:self.pos - 2].decode("utf-8", "replace")
            if target == "xml":
                self._check_declaration(inst)
            return ("procinst", target, inst)
        if b == 0x21:  # '!'
            b = self._mustgetc()
            if b == 0x2D:
                if self._mustgetc() != 0x2D:
                    raise self._syntax("invalid sequence <!- not part of <!--")
                start = self.pos
                b0 = b1 = 0
                while True:
                    b = self._mustgetc()
                    if b0 == 0x2D and b1 == 0x2D:
                        if b != 0x3E:
                            raise self._syntax('invalid sequence "--" not allowed in comments')
                        break
                    b0, b1 = b1, b
                return ("comment", self.data[start:self.pos - 3].decode("utf-8", "replace"))
            if b == 0x5B:
                for want in b"CDATA[":
                    if self._mustgetc() != want:
                        raise self._syntax("invalid <![ sequence")
                return ("text", self._text(-1, True), True, begin)
            return ("directive", self._directive(b))
        self.pos -= 1
        name = self._nsname()
        if name is None:
            raise self._syntax("expected element name after <")
        attrs = []
        empty = False
        while True:
            self._space()
            b = self._mustgetc()
            if b == 0x2F:
                empty = True
                if self._mustgetc() != 0x3E:
                    raise self._syntax("expected /> in element")
                break
            if b == 0x3E:
                break
            self.pos -= 1
            aname = self._nsname()
            if aname is None:
                raise self._syntax("expected attribute name in element")
            self._space()
            if self._mustgetc() != 0x3D:
                raise self._syntax("attribute name without = in element")
            self._space()
            q = self._mustgetc()
            if q not in (0x22, 0x27):
                raise self._syntax("unquoted or missing attribute value in element")
            attrs.append([aname[0], aname[1], self._text(q, False)])
        if empty:
            self.need_close = name
        return ("start", name[0], name[1], attrs, begin)

    def _directive(self, first: int) -> str:
        buf = bytearray([first])
        inquote = 0
        depth = 0
        b = None
        pending = None
        while True:
            if pending is None:
                b = self._mustgetc()
                if inquote == 0 and b == 0x3E and depth == 0:
                    break
            else:
                b, pending = pending, None
            buf.append(b)
            if b == inquote:
                inquote = 0
            elif inquote != 0:
                pass
            elif b in (0x27, 0x22):
                inquote = b
            elif b == 0x3E:
                depth -= 1
            elif b == 0x3C:
                matched = True
                for i, want in enumerate(b"!--"):
                    b = self._mustgetc()
                    if b != want:
                        buf += b"!--"[:i]
                        depth += 1
                        pending = b
                        matched = False
                        break
                if matched:
                    del buf[-1]
                    b0 = b1 = 0
                    while True:
                        b = self._mustgetc()
                        if b0 == 0x2D and b1 == 0x2D and b == 0x3E:
                            break
                        b0, b1 = b1, b
                    buf.append(0x20)
        return bytes(buf).decode("utf-8", "replace")

    def _check_declaration(self, content: str) -> None:
        ver = _procinst_param("version", content)
        if ver and ver != "1.0":
            raise XMLSyntaxError(f"xml: unsupported version {_q(ver)}; only version 1.0 is supported")
        enc = _procinst_param("encoding", content)
        if not enc or enc.lower() == "utf-8":
            return
        if not self.charset_reader:
            raise XMLSyntaxError(f"xml: encoding {_q(enc)} declared but Decoder.CharsetReader is nil")
        codec = _CHARSETS.get(enc.strip().lower())
        if codec is None:
            raise XMLSyntaxError(f"xml: opening charset {_q(enc)}: charset: unsupported charset: {_q(enc)}")
        # the rest of the input is in that charset: re-read it as such
        rest = self.data[self.pos:].decode(codec, "replace").encode("utf-8")
        self.data = self.data[:self.pos] + rest

    def token(self):
        """Decoder.Token: raw tokens with namespace translation and end-tag matching."""
        tok = self.raw_token()
        if tok is None:
            if self.stk:
                raise self._syntax("unexpected EOF")
            return None
        kind = tok[0]
        if kind == "start":
            _, space, local, attrs, begin = tok
            for a in attrs:
                if a[0] == "xmlns":
                    self.stk.append(("ns", a[1], self.ns.get(a[1]), a[1] in self.ns))
                    self.ns[a[1]] = a[2]
                if a[0] == "" and a[1] == "xmlns":
                    self.stk.append(("ns", "", self.ns.get(""), "" in self.ns))
                    self.ns[""] = a[2]
            self.stk.append(("start", space, local))
            self.depth += 1
            tspace = self._translate(space, local, True)
            tattrs = [[self._translate(a[0], a[1], False), a[1], a[2]] for a in attrs]
            return ("start", tspace, local, tattrs, begin)
        if kind == "end":
            _, space, local = tok
            top = self.stk.pop() if self.stk else None
            if top is not None and top[0] == "start":
                self.depth -= 1
            if top is None or top[0] != "start":
                raise self._syntax(f"unexpected end element </{local}>")
            if top[2] != local:
                raise self._syntax(f"element <{top[2]}> closed by </{local}>")
            if top[1] != space:
                ns = space or '""'
                raise self._syntax(f"element <{top[2]}> in space {top[1]} closed by </{local}> in space {ns}")
            tspace = self._translate(space, local, True)
            while self.stk and self.stk[-1][0] == "ns":
                _, prefix, old, had = self.stk.pop()
                if had:
                    self.ns[prefix] = old
                else:
                    self.ns.pop(prefix, None)
            return ("end", tspace, local)
        return tok

    def _translate(self, space: str, local: str, is_element: bool) -> str:
        if space == "xmlns":
            return space
        if space == "" and not is_element:
            return space
        if space == "xml":
            space = _XML_URL
        elif space == "" and local == "xmlns":
            return space
        if space in self.ns:
            return self.ns[space]
        return space


_CHARSETS = {"iso-8859-1": "cp1252", "latin1": "cp1252", "l1": "cp1252", "us-ascii": "cp1252",
             "ascii": "cp1252", "windows-1252": "cp1252", "cp1252": "cp1252",
             "iso-8859-15": "iso8859_15", "utf-16": "utf-16", "utf-16le": "utf-16-le",
             "utf-16be": "utf-16-be", "utf8": "utf-8", "unicode-1-1-utf-8": "utf-8"}


def _q(s: str) -> str:
    from ._util import go_quote
    return go_quote(s)


def _procinst_param(param: str, s: str) -> str:
    """encoding/xml's procInst: the value of param="..." in a declaration (or "")."""
    s = s.strip(" \t\r\n")
    idx = 0
    while True:
        i = s.find(param, idx)
        if i < 0:
            return ""
        rest = s[i + len(param):].lstrip(" \t\r\n")
        if rest[:1] != "=":
            idx = i + len(param)
            continue
        rest = rest[1:].lstrip(" \t\r\n")
        if not rest or rest[0] not in "'\"":
            return ""
        end = rest.find(rest[0], 1)
        return "" if end < 0 else rest[1:end]


def _is_name(raw: bytes) -> bool:
    try:
        s = raw.decode("utf-8")
    except UnicodeDecodeError:
        return False
    if not s or not is_first(s[0]):
        return False
    return all(is_name_char(c) for c in s[1:])


def to_bytes(s: str) -> bytes:
    return s.encode("utf-8", "surrogateescape")
