"""XPath 1.0 as antchfx/xpath compiles it: ``compile_xpath`` follows its scanner, parser and
builder (what compiles, and the error texts of what does not; text after a complete expression is
ignored as it is there). ``_xpath`` evaluates the resulting tree.
"""

from __future__ import annotations

import re

from ._xmlnames import is_first, is_name_char

ROOT_T, ELEMENT_T, ATTR_T, TEXT_T, COMMENT_T, ALL_T = range(6)


class XPathError(Exception):
    pass


# ---------------------------------------------------------------------------------------------
# Scanner and parser

_SINGLE = {",": "comma", "@": "at", "(": "lparen", ")": "rparen", "|": "union", "*": "star",
           "[": "lbracket", "]": "rbracket", "+": "plus", "-": "minus", "=": "eq", "$": "dollar"}


def _is_name(ch: str) -> bool:
    return ch not in ":/" and ch != "" and (is_first(ch) or is_name_char(ch))


class _Scanner:
    def __init__(self, text: str):
        self.text = text
        self.i = 0
        self.typ = ""
        self.name = self.prefix = self.strval = ""
        self.num = 0.0
        self.can_be_func = False

    @property
    def cur(self) -> str:
        return self.text[self.i] if self.i < len(self.text) else ""

    def _skip(self):
        while self.cur and self.cur.isspace():
            self.i += 1

    def _scan_name(self) -> str:
        start = self.i
        while _is_name(self.cur):
            self.i += 1
        return self.text[start:self.i]

    def next(self):
        self._skip()
        c = self.cur
        if c == "":
            self.typ = "eof"
        elif c in _SINGLE or c == "#":
            if c == "#":
                raise XPathError("unknown item: 35")
            self.typ = _SINGLE[c]
            self.i += 1
        elif c in "<>!":
            self.i += 1
            if self.cur == "=":
                self.i += 1
                self.typ = {"<": "le", ">": "ge", "!": "ne"}[c]
            else:
                self.typ = {"<": "lt", ">": "gt", "!": "bang"}[c]
        elif c == ".":
            self.i += 1
            if self.cur == ".":
                self.i += 1
                self.typ = "dotdot"
            elif self.cur.isdigit():
                start = self.i - 1
                while self.cur.isdigit():
                    self.i += 1
                self.typ, self.num = "number", float(self.text[start:self.i])
            else:
                self.typ = "dot"
        elif c == "/":
            self.i += 1
            if self.cur == "/":
                self.i += 1
                self.typ = "slashslash"
            else:
                self.typ = "slash"
        elif c in "\"'":
            end = self.text.find(c, self.i + 1)
            if end < 0:
                raise XPathError("xpath: scanString got unclosed string")
            self.typ, self.strval = "string", self.text[self.i + 1:end]
            self.i = end + 1
        elif c.isdigit():
            start = self.i
            while self.cur.isdigit():
                self.i += 1
            if self.cur == ".":
                self.i += 1
                while self.cur.isdigit():
                    self.i += 1
            self.typ, self.num = "number", float(self.text[start:self.i])
        elif _is_name(c):
            self.typ = "name"
            self.name = self._scan_name()
            self.prefix = ""
            if self.cur == ":":
                self.i += 1
                if self.cur == ":":
                    self.i += 1
                    self.typ = "axe"
                else:
                    self.prefix = self.name
                    if self.cur == "*":
                        self.i += 1
                        self.name = "*"
                    elif _is_name(self.cur):
                        self.name = self._scan_name()
                    else:
                        raise XPathError(f"{self.text} has an invalid qualified name.")
            else:
                self._skip()
                if self.cur == ":":
                    self.i += 1
                    if self.cur == ":":
                        self.i += 1
                        self.typ = "axe"
                    else:
                        raise XPathError(f"{self.text} has an invalid qualified name.")
            self._skip()
            self.can_be_func = self.cur == "("
        else:
            raise XPathError(f"{self.text} has an invalid token.")

    def token_text(self) -> str:
        return self.text


_NODE_TYPES = ("node", "text", "processing-instruction", "comment")
_AXES = ("ancestor", "ancestor-or-self", "attribute", "child", "descendant", "descendant-or-self",
         "following", "following-sibling", "parent", "preceding", "preceding-sibling", "self",
         "namespace")


class _Parser:
    def __init__(self, text: str):
        self.r = _Scanner(text)
        self.r.next()
        self.depth = 0

    def _is_node_type(self):
        return self.r.name in _NODE_TYPES and self.r.prefix == ""

    def _op(self, name):
        return self.r.typ == "name" and self.r.prefix == "" and self.r.name == name

    def _skip(self, typ):
        if self.r.typ != typ:
            raise XPathError(f"{self.r.text} has an invalid token")
        self.r.next()

    def expr(self):
        self.depth += 1
        if self.depth > 200:
            raise XPathError("the xpath query is too complex(depth > 200)")
        n = self._binary(0)
        self.depth -= 1
        return n

    _LEVELS = (("or",), ("and",), ("eq", "ne"), ("lt", "gt", "le", "ge"), ("plus", "minus"),
               ("star", "div", "mod"))
    _OPS = {"eq": "=", "ne": "!=", "lt": "<", "gt": ">", "le": "<=", "ge": ">=", "plus": "+",
            "minus": "-", "star": "*"}

    def _binary(self, level):
        if level == len(self._LEVELS):
            return self._unary()
        left = self._binary(level + 1)
        while True:
            ops = self._LEVELS[level]
            r = self.r
            if r.typ in ops and r.typ in self._OPS:
                op = self._OPS[r.typ]
            elif r.typ == "name" and r.prefix == "" and r.name in ops:
                op = r.name
            else:
                return left
            r.next()
            left = ("op", op, left, self._binary(level + 1))

    def _unary(self):
        minus = False
        while self.r.typ == "minus":
            self.r.next()
            minus = not minus
        n = self._union()
        return ("op", "*", n, ("const", -1.0)) if minus else n

    def _union(self):
        n = self._path()
        while self.r.typ == "union":
            self.r.next()
            n = ("op", "|", n, self._path())
        return n

    def _is_primary(self):
        t = self.r.typ
        if t in ("string", "number", "dollar", "lparen"):
            return True
        return t == "name" and self.r.can_be_func and not self._is_node_type()

    def _path(self):
        if self._is_primary():
            n = self._primary()
            if self.r.typ == "lbracket":
                n = ("filter", n, self._predicate())
            if self.r.typ == "slash":
                self.r.next()
                n = self._relative(n)
            elif self.r.typ == "slashslash":
                self.r.next()
                n = self._relative(("axis", "descendant-or-self", ALL_T, "", "", n, ""))
            return n
        if self.r.typ == "slash":
            self.r.next()
            n = ("root",)
            if self.r.typ in ("dot", "dotdot", "at", "axe", "star", "name"):
                n = self._relative(n)
            return n
        if self.r.typ == "slashslash":
            self.r.next()
            return self._relative(("axis", "descendant-or-self", ALL_T, "", "", ("root",), ""))
        return self._relative(None)

    def _predicate(self):
        self._skip("lbracket")
        n = self.expr()
        self._skip("rbracket")
        return n

    def _relative(self, n):
        while True:
            n = self._step(n)
            if self.r.typ == "slashslash":
                self.r.next()
                n = ("axis", "descendant-or-self", ALL_T, "", "", n, "")
            elif self.r.typ == "slash":
                self.r.next()
            else:
                return n

    def _step(self, n):
        r = self.r
        if r.typ in ("dot", "dotdot"):
            n = ("axis", "self" if r.typ == "dot" else "parent", ALL_T, "", "", n, "")
            r.next()
            if r.typ != "lbracket":
                return n
        else:
            axis = "child"
            if r.typ == "at":
                axis = "attribute"
                r.next()
            elif r.typ == "axe":
                axis = r.name
                r.next()
            elif r.typ == "lparen":
                self._skip("lparen")
                out = self._step(n)
                while r.typ == "comma":
                    r.next()
                    out = ("op", "|", out, self._step(n))
                self._skip("rparen")
                return out
            n = self._node_test(n, axis, ATTR_T if axis == "attribute" else ELEMENT_T)
        while r.typ == "lbracket":
            n = ("filter", n, self._predicate())
        return n

    def _node_test(self, n, axis, match):
        r = self.r
        if r.typ == "name":
            if r.can_be_func and self._is_node_type():
                prop = r.name
                name = ""
                r.next()
                self._skip("lparen")
                if prop == "processing-instruction" and r.typ != "rparen":
                    if r.typ != "string":
                        raise XPathError(f"{r.text} has an invalid token")
                    name = r.strval
                    r.next()
                self._skip("rparen")
                match = {"comment": COMMENT_T, "text": TEXT_T, "node": ALL_T}.get(prop, match)
                return ("axis", axis, match, name, "", n, prop)
            prefix, name = r.prefix, r.name
            r.next()
            if r.name == "*":  # antchfx looks at the scanner's name after advancing
                name = ""
            return ("axis", axis, match, name, prefix, n, "")
        if r.typ == "star":
            r.next()
            return ("axis", axis, match, "", "", n, "")
        raise XPathError("expression must evaluate to a node-set")

    def _primary(self):
        r = self.r
        if r.typ == "string":
            v = ("const", r.strval)
            r.next()
            return v
        if r.typ == "number":
            v = ("const", r.num)
            r.next()
            return v
        if r.typ == "dollar":
            r.next()
            if r.typ != "name":
                raise XPathError(f"{r.text} has an invalid token")
            name = f"{r.prefix}:{r.name}" if r.prefix else r.name
            r.next()
            return ("var", name)
        if r.typ == "lparen":
            r.next()
            n = self.expr()
            if n[0] != "const":
                n = ("group", n)
            self._skip("rparen")
            return n
        name, prefix = r.name, r.prefix
        self._skip("name")
        self._skip("lparen")
        args = []
        if r.typ != "rparen":
            while True:
                args.append(self.expr())
                if r.typ == "rparen":
                    break
                self._skip("comma")
        self._skip("rparen")
        return ("func", name, args)


_ARITY = {
    "matches": (lambda n: n == 2, "xpath: matches function must have two parameters"),
    "substring": (lambda n: n >= 2, "xpath: substring function must have at least two parameter"),
    "substring-before": (lambda n: n == 2, "xpath: substring-before function must have two parameters"),
    "substring-after": (lambda n: n == 2, "xpath: substring-before function must have two parameters"),
    "string-length": (lambda n: n >= 1, "xpath: string-length function must have at least one parameter"),
    "replace": (lambda n: n == 3, "xpath: replace function must have three parameters"),
    "translate": (lambda n: n == 3, "xpath: translate function must have three parameters"),
    "not": (lambda n: n >= 1, "xpath: not function must have at least one parameter"),
    "count": (lambda n: n >= 1, "xpath: count(node-sets) function must with have parameters node-sets"),
    "sum": (lambda n: n >= 1, "xpath: sum(node-sets) function must with have parameters node-sets"),
    "ceiling": (lambda n: n >= 1, "xpath: ceiling(node-sets) function must with have parameters node-sets"),
    "floor": (lambda n: n >= 1, "xpath: ceiling(node-sets) function must with have parameters node-sets"),
    "round": (lambda n: n >= 1, "xpath: ceiling(node-sets) function must with have parameters node-sets"),
    "concat": (lambda n: n >= 2, "xpath: concat() must have at least two arguments"),
    "reverse": (lambda n: n >= 1, "xpath: reverse(node-sets) function must with have parameters node-sets"),
    "string-join": (lambda n: n == 2, "xpath: string-join(node-sets, separator) function requires node-set and argument"),
}
_AT_MOST_ONE = ("name", "local-name", "namespace-uri", "boolean", "number", "string")
_NEEDS_TWO = ("starts-with", "ends-with", "contains")
_OTHER = ("lower-case", "normalize-space", "true", "false", "last", "position")


def _check(n) -> None:
    """antchfx's builder: unknown functions and axes, argument counts, variables."""
    stack = [n]
    while stack:
        n = stack.pop()
        kind = n[0]
        if kind == "axis":
            if n[1] not in _AXES:
                raise XPathError(f"unknown axe type: {n[1]}")
            if n[5] is not None:
                stack.append(n[5])
        elif kind == "filter":
            stack += [n[1], n[2]]
        elif kind == "op":
            stack += [n[2], n[3]]
        elif kind == "group":
            stack.append(n[1])
        elif kind == "var":
            raise XPathError(f"undeclared variable in XPath expression: ${n[1]}")
        elif kind == "func":
            name, args = n[1], n[2]
            if name in _ARITY:
                ok, msg = _ARITY[name]
                if not ok(len(args)):
                    raise XPathError(msg)
                if name == "matches" and args[1][0] == "const" and isinstance(args[1][1], str):
                    try:
                        re.compile(args[1][1])
                    except re.error as e:
                        raise XPathError(f"matches() got error. {e}") from None
            elif name in _AT_MOST_ONE:
                if len(args) > 1:
                    raise XPathError(f"xpath: {name} function must have at most one parameter")
            elif name in _NEEDS_TWO or name == "lower-case":
                need = 2 if name in _NEEDS_TWO else 1
                if len(args) < need:
                    raise XPathError(f"runtime error: index out of range [{len(args)}] with length {len(args)}")
            elif name not in _OTHER:
                raise XPathError(f"not yet support this function {name}()")
            stack += args


def compile_xpath(expr: str):
    """xpath.Compile: the parsed expression, or XPathError with antchfx's message."""
    if expr == "":
        raise XPathError("expr expression is nil")
    tree = _Parser(expr).expr()
    _check(tree)
    return tree
