"""XPath 1.0 over the ``_xmldoc`` tree, as antchfx/xpath evaluates it through xmlquery's navigator.

Compilation is in ``_xpath_parse``. Evaluation is set-based but keeps antchfx's observable choices: results come in the order its iterators yield
them (steps concatenate per context node, unions are left-then-right, nothing is re-sorted), the
navigator skips whitespace-only text siblings (but not a whitespace first child), CDATA and
directives are text nodes, declarations are root nodes, processing instructions are elements,
and the string value of the root is "".
"""

from __future__ import annotations

import math
import re
from decimal import Decimal

from ._util import go_trim_space
from ._xmldoc import (ATTRIBUTE, CHARDATA, COMMENT, DECLARATION, DOCUMENT, ELEMENT, NOTATION,
                      PROCINST, TEXT, Node)
from ._xpath_parse import (ALL_T, ATTR_T, COMMENT_T, ELEMENT_T, ROOT_T, TEXT_T, XPathError,
                           compile_xpath)

# ---------------------------------------------------------------------------------------------
# Navigator: an item is (node, attribute index or -1)


def _ntype(it) -> int:
    n, a = it
    t = n.type
    if t == ELEMENT:
        return ATTR_T if a != -1 else ELEMENT_T
    if t in (TEXT, CHARDATA, NOTATION):
        return TEXT_T
    if t == COMMENT:
        return COMMENT_T
    if t == PROCINST:
        return ELEMENT_T
    return ROOT_T


def _local(it) -> str:
    n, a = it
    return n.attrs[a].local if a != -1 else n.data


def _prefix(it) -> str:
    n, a = it
    if _ntype(it) == ATTR_T:
        return n.attrs[a].space
    return n.prefix


def _value(it) -> str:
    n, a = it
    t = n.type
    if t == COMMENT or t == TEXT:
        return n.data
    if t == ELEMENT:
        return n.attrs[a].value if a != -1 else n.inner_text()
    return ""


def _skippable(n: Node) -> bool:
    return n.type == TEXT and go_trim_space(n.data) == ""


def _next(n: Node):
    n = n.next
    while n is not None and _skippable(n):
        n = n.next
    return n


def _prev(n: Node):
    n = n.prev
    while n is not None and _skippable(n):
        n = n.prev
    return n


def _children(it):
    n, a = it
    if a != -1 or n.first is None:
        return
    c = n.first
    while c is not None:
        yield (c, -1)
        c = _next(c)


def _descendants(it, self_too: bool):
    n, a = it
    if self_too:
        yield it
    if a != -1:
        return
    stack = [n.first] if n.first is not None else []
    while stack:
        c = stack.pop()
        yield (c, -1)
        nxt = _next(c)
        if nxt is not None:
            stack.append(nxt)
        if c.first is not None:
            stack.append(c.first)


def _parent(it):
    n, a = it
    if a != -1:
        return (n, -1)
    return (n.parent, -1) if n.parent is not None else None


def _axis_items(axis: str, it, root):
    if axis == "child":
        return _children(it)
    if axis == "attribute":
        n, a = it
        return ((n, i) for i in range(a + 1, len(n.attrs)))
    if axis in ("descendant", "descendant-or-self"):
        return _descendants(it, axis == "descendant-or-self")
    if axis == "self":
        return iter((it,))
    if axis == "parent":
        p = _parent(it)
        return iter((p,) if p else ())
    if axis in ("ancestor", "ancestor-or-self"):
        def anc():
            if axis == "ancestor-or-self":
                yield it
            p = _parent(it)
            while p is not None:
                yield p
                p = _parent(p)
        return anc()
    if axis == "following-sibling":
        def fs():
            n, a = it
            if a != -1:
                return
            c = _next(n)
            while c is not None:
                yield (c, -1)
                c = _next(c)
        return fs()
    if axis == "preceding-sibling":
        def ps():
            n, a = it
            if a != -1:
                return
            c = _prev(n)
            while c is not None:
                yield (c, -1)
                c = _prev(c)
        return ps()
    if axis == "following":
        def fol():
            cur = it if it[1] == -1 else (it[0], -1)
            while cur is not None:
                sib = _next(cur[0])
                while sib is not None:
                    yield from _descendants((sib, -1), True)
                    sib = _next(sib)
                cur = _parent(cur)
        return fol()
    if axis == "preceding":
        def pre():
            cur = it if it[1] == -1 else (it[0], -1)
            while cur is not None:
                sib = _prev(cur[0])
                while sib is not None:
                    yield from reversed(list(_descendants((sib, -1), True)))
                    sib = _prev(sib)
                cur = _parent(cur)
        return pre()
    return iter(())


def _test(ax):
    _, _axis, typ, local, prefix, _input, _prop = ax
    nametest = local != "" or prefix != ""

    def ok(it):
        if typ != ALL_T and _ntype(it) != typ:
            return False
        return not nametest or (local == _local(it) and prefix == _prefix(it))
    return ok


# ---------------------------------------------------------------------------------------------
# Evaluation


def _num(s: str) -> float:
    s = go_trim_space(s)
    try:
        if not re.fullmatch(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?|[+-]?(inf|infinity|nan)", s, re.I):
            return math.nan
        return float(s)
    except ValueError:
        return math.nan


def _fmt(f: float) -> str:
    if math.isnan(f):
        return "NaN"
    if math.isinf(f):
        return "Infinity" if f > 0 else "-Infinity"
    if f == 0:
        return "0"
    if f.is_integer() and abs(f) < 1e21:
        return str(int(f))
    return format(Decimal(repr(f)), "f")


class _Eval:
    def __init__(self, top: Node):
        self.root = (top, -1)

    # values: list (node-set), str, float, bool
    def as_str(self, v) -> str:
        if isinstance(v, list):
            return _value(v[0]) if v else ""
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, float):
            return _fmt(v)
        return v

    def as_num(self, v) -> float:
        if isinstance(v, list):
            return _num(_value(v[0])) if v else math.nan
        if isinstance(v, bool):
            return 1.0 if v else 0.0
        if isinstance(v, float):
            return v
        return _num(v)

    def as_bool(self, v) -> bool:
        if isinstance(v, list):
            return bool(v)
        if isinstance(v, float):
            return v != 0
        return bool(v)

    def groups(self, n, ctx, in_filter=False):
        kind = n[0]
        if kind == "axis":
            _, axis, _typ, _local, _prefix, inp, _prop = n
            test = _test(n)
            if (not in_filter and axis == "child" and inp is not None and inp[0] == "axis"
                    and inp[1] == "descendant-or-self"):
                grand = [ctx[0]] if inp[5] is None else self.nodeset(inp[5], ctx)
                return [[d for d in _descendants(g, False) if test(d)] for g in grand]
            inputs = [ctx[0]] if inp is None else self.nodeset(inp, ctx)
            out = []
            seen = set() if axis in ("ancestor", "ancestor-or-self") else None
            for item in inputs:
                grp = [x for x in _axis_items(axis, item, self.root) if test(x)]
                if seen is not None:
                    grp2 = []
                    for x in grp:
                        key = (id(x[0]), x[1])
                        if key not in seen:
                            seen.add(key)
                            grp2.append(x)
                    grp = grp2
                out.append(grp)
            return out
        if kind == "filter":
            gs = self.groups(n[1], ctx, in_filter=True)
            cond = n[2]
            out = []
            for g in gs:
                size = len(g)
                keep = []
                for i, item in enumerate(g, 1):
                    v = self.value(cond, (item, i, size))
                    if isinstance(v, bool):
                        ok = v
                    elif isinstance(v, str):
                        ok = v != ""
                    elif isinstance(v, float):
                        ok = not math.isnan(v) and not math.isinf(v) and int(v) == i
                    else:
                        ok = bool(v)
                    if ok:
                        keep.append(item)
                out.append(keep)
            return out
        return [self.nodeset(n, ctx)]

    def nodeset(self, n, ctx) -> list:
        kind = n[0]
        if kind == "root":
            return [self.root]
        if kind in ("axis", "filter"):
            return [x for g in self.groups(n, ctx) for x in g]
        if kind == "group":
            return self.nodeset(n[1], ctx)
        if kind == "op" and n[1] in ("|", "or", "and"):
            left = self.nodeset(n[2], ctx)
            right = self.nodeset(n[3], ctx)
            if n[1] == "or":
                return left + right
            if n[1] == "and":
                return right[-1:] if right else left[-1:]
            out, seen = [], set()
            for x in left + right:
                key = (id(x[0]), x[1])
                if key not in seen:
                    seen.add(key)
                    out.append(x)
            return out
        if kind == "func" and n[1] == "reverse":
            return list(reversed(self.nodeset(n[2][0], ctx)))
        return []

    def value(self, n, ctx):
        kind = n[0]
        if kind == "const":
            return n[1]
        if kind == "group":
            return self.value(n[1], ctx)
        if kind in ("root", "axis", "filter"):
            return self.nodeset(n, ctx)
        if kind == "op":
            op = n[1]
            if op == "|":
                return self.nodeset(n, ctx)
            if op in ("or", "and"):
                left = self.as_bool(self.value(n[2], ctx))
                if op == "or" and left:
                    return True
                if op == "and" and not left:
                    return False
                return self.as_bool(self.value(n[3], ctx))
            a, b = self.value(n[2], ctx), self.value(n[3], ctx)
            if op in ("+", "-", "*", "div", "mod"):
                x, y = self.as_num(a), self.as_num(b)
                try:
                    if op == "+":
                        return x + y
                    if op == "-":
                        return x - y
                    if op == "*":
                        return x * y
                    if op == "div":
                        return x / y if y != 0 else (math.nan if x == 0 or math.isnan(x) else math.copysign(math.inf, x) * math.copysign(1, y))
                    return math.fmod(x, y) if y != 0 else math.nan
                except (ValueError, OverflowError):
                    return math.nan
            return self.compare(op, a, b)
        if kind == "func":
            return self.call(n[1], n[2], ctx)
        return []

    def compare(self, op, a, b) -> bool:
        ta, tb = _vtype(a), _vtype(b)
        if ta == 0 or tb == 0:
            if ta == tb == 0:
                return False  # antchfx defines only and/or between booleans
            return False
        if ta == 3 and tb == 3:
            return any(_cmp_str(op, _value(x), _value(y)) for x in a for y in b)
        if ta == 3:
            return any(_cmp_any(op, _value(x), b) for x in a)
        if tb == 3:
            return any(_cmp_any_r(op, a, _value(y)) for y in b)
        if ta == 1 or tb == 1:
            return _cmp_num(op, self.as_num(a), self.as_num(b))
        return _cmp_str(op, a, b)

    def call(self, name, args, ctx):
        item, pos, size = ctx
        v = lambda i: self.value(args[i], ctx)  # noqa: E731
        s = lambda i: self.as_str(v(i))  # noqa: E731
        if name == "true":
            return True
        if name == "false":
            return False
        if name == "position":
            return float(pos)
        if name == "last":
            return float(size)
        if name == "count":
            x = v(0)
            return float(len(x)) if isinstance(x, list) else 0.0
        if name in ("local-name", "name", "namespace-uri"):
            if args:
                x = v(0)
                if not isinstance(x, list) or not x:
                    return ""
                it = x[0]
            else:
                it = item
            if name == "local-name":
                return _local(it)
            if name == "name":
                p = _prefix(it)
                return f"{p}:{_local(it)}" if p else _local(it)
            nd, a = it
            return nd.attrs[a].uri if a != -1 else nd.uri
        if name == "string":
            return _value(item) if not args else self.as_str(v(0))
        if name == "number":
            return self.as_num(v(0) if args else [item])
        if name == "boolean":
            return self.as_bool(v(0)) if args else False
        if name == "not":
            x = v(0)
            if isinstance(x, bool):
                return not x
            if isinstance(x, list):
                return not x
            return False
        if name == "concat":
            return "".join(self.as_str(self.value(a, ctx)) for a in args)
        if name in ("starts-with", "ends-with", "contains"):
            a, b = s(0), s(1)
            return a.startswith(b) if name == "starts-with" else a.endswith(b) if name == "ends-with" else b in a
        if name == "substring":
            text = s(0)
            start = self.as_num(v(1))
            if math.isnan(start):
                return ""
            st = int(round(start)) - 1 if not math.isinf(start) else (len(text) if start > 0 else 0)
            if len(args) == 3:
                ln = self.as_num(v(2))
                if math.isnan(ln):
                    return ""
                end = st + (int(round(ln)) if not math.isinf(ln) else len(text))
                return text[max(st, 0):max(end, 0)]
            return text[max(st, 0):]
        if name in ("substring-before", "substring-after"):
            a, b = s(0), s(1)
            i = a.find(b)
            if i < 0:
                return ""
            return a[:i] if name == "substring-before" else a[i + len(b):]
        if name == "string-length":
            return float(len(s(0)))
        if name == "normalize-space":
            text = s(0) if args else _value(item)
            return " ".join(text.split())
        if name == "translate":
            a, frm, to = s(0), s(1), s(2)
            table = {}
            for i, ch in enumerate(frm):
                if ord(ch) not in table:
                    table[ord(ch)] = to[i] if i < len(to) else None
            return a.translate(table)
        if name == "lower-case":
            return s(0).lower()
        if name in ("sum", "floor", "ceiling", "round"):
            x = v(0)
            if name == "sum":
                return float(sum(_num(_value(i)) for i in x)) if isinstance(x, list) else self.as_num(x)
            f = self.as_num(x)
            if math.isnan(f) or math.isinf(f):
                return f
            return float(math.floor(f) if name == "floor" else math.ceil(f) if name == "ceiling" else math.floor(f + 0.5))
        if name == "matches":
            try:
                return re.search(s(1), s(0)) is not None
            except re.error:
                return False
        if name == "replace":
            try:
                return re.sub(s(1), s(2).replace("\\", "\\\\"), s(0))
            except re.error:
                return s(0)
        if name == "string-join":
            x = v(0)
            sep = s(1)
            return sep.join(_value(i) for i in x) if isinstance(x, list) else ""
        if name == "reverse":
            return self.nodeset(("func", name, args), ctx)
        return ""


def _vtype(v) -> int:
    if isinstance(v, bool):
        return 0
    if isinstance(v, float):
        return 1
    if isinstance(v, str):
        return 2
    return 3


def _cmp_num(op, a, b) -> bool:
    return {"=": a == b, "!=": a != b, "<": a < b, ">": a > b, "<=": a <= b, ">=": a >= b}[op]


def _cmp_str(op, a: str, b: str) -> bool:
    if op == "=":
        return a == b
    if op == "!=":
        return a != b
    return _cmp_num(op, _num(a), _num(b))


def _cmp_any(op, nodeval: str, other) -> bool:
    if isinstance(other, float):
        return _cmp_num(op, _num(nodeval), other)
    return _cmp_str(op, nodeval, other)


def _cmp_any_r(op, other, nodeval: str) -> bool:
    if isinstance(other, float):
        return _cmp_num(op, other, _num(nodeval))
    return _cmp_str(op, other, nodeval)


def query_all(top: Node, tree) -> list[Node]:
    """xmlquery.QueryAll: the selected nodes; an attribute comes back as a fresh attribute node
    (its parent the element, a text child holding the value), as xmlquery builds it."""
    ev = _Eval(top)
    out = []
    for it in ev.nodeset(tree, (ev.root, 1, 1)):
        if _ntype(it) == ATTR_T:
            n, a = it
            attr = Node(ATTRIBUTE, n.attrs[a].local)
            attr.parent = n
            text = Node(TEXT, n.attrs[a].value)
            attr.first = attr.last = text
            out.append(attr)
        else:
            out.append(it[0])
    return out


__all__ = ["XPathError", "compile_xpath", "query_all", "DOCUMENT", "DECLARATION"]
