"""XML converters: ParseXML, ParseSimplifiedXML, GetXML, InsertXML, RemoveXML,
ConvertAttributesToElementsXML and ConvertTextToElementsXML (upstream ottlfuncs/func_*xml.go).

ParseXML reads with encoding/xml's decoder rules; the others parse, query and write as
antchfx/xmlquery + antchfx/xpath do (``_xmldoc``, ``_xpath``), so outputs match byte for byte.
No DTD entity is ever expanded (see ``_xmldoc``).
"""

from __future__ import annotations

from ..errors import OttlConfigError, OttlError
from ..functions import FunctionTable, Kind as K, P
from ._util import go_quote, go_trim_space
from ._xmldoc import (ATTRIBUTE, CHARDATA, DOCUMENT, ELEMENT, TEXT, Decoder, Node, XMLSyntaxError,
                      add_child, output_xml, parse_document, remove_from_tree, to_bytes)
from ._xpath import XPathError, compile_xpath, query_all

T = FunctionTable()

MAX_DEPTH = 10_000
_DEPTH_ERR = f"exceeded maximum XML nesting depth of {MAX_DEPTH}"


def _validate(xpath: str):
    try:
        return compile_xpath(xpath)
    except XPathError as e:
        raise OttlConfigError(f"invalid xpath: {e}") from None


def _parse_nodes(text: str) -> Node:
    """parseNodesXML: xmlquery.Parse, dropping the first top-level node (the declaration xmlquery
    adds) unless the input starts with one."""
    keep = text.startswith("<?xml")
    try:
        top = parse_document(text)
    except XMLSyntaxError as e:
        raise OttlError(f"parse xml: {e}") from None
    if not keep and top.first is not None:
        remove_from_tree(top.first)
    return top


# ---------------------------------------------------------------------------------------------
# ParseXML


def parse_xml(text: str) -> dict:
    data = to_bytes(text)
    dec = Decoder(data)

    def tok(wrap: bool):
        try:
            return dec.token()
        except XMLSyntaxError as e:
            raise OttlError(f"unmarshal xml: decode next token: {e}" if wrap else f"unmarshal xml: {e}") from None

    while True:
        t = tok(False)
        if t is None:
            raise OttlError("unmarshal xml: EOF")
        if t[0] == "start":
            break
    root = {"tag": t[2], "text": "", "attrs": t[3], "children": []}
    stack = [root]
    while stack:
        t = tok(True)
        if t is None:  # the decoder reports an open element at EOF itself
            raise OttlError("unmarshal xml: decode next token: EOF")
        kind = t[0]
        if kind == "start":
            if dec.depth > MAX_DEPTH:
                raise OttlError("unmarshal xml: exceeded max depth")
            el = {"tag": t[2], "text": "", "attrs": t[3], "children": []}
            stack[-1]["children"].append(el)
            stack.append(el)
        elif kind == "end":
            stack.pop()
        elif kind == "text":
            stack[-1]["text"] += go_trim_space(t[1])
    if dec.pos != len(dec.data):
        raise OttlError("trailing bytes after parsing xml")
    return _into_map(root)


def _into_map(root: dict) -> dict:
    out: dict = {}
    work = [(root, out)]
    while work:
        el, m = work.pop()
        m["tag"] = el["tag"]
        if el["text"]:
            m["content"] = el["text"]
        if el["attrs"]:
            attrs: dict = {}
            for _space, local, value in el["attrs"]:
                attrs[local] = value
            m["attributes"] = attrs
        if el["children"]:
            kids = []
            for c in el["children"]:
                cm: dict = {}
                kids.append(cm)
                work.append((c, cm))
            m["children"] = kids
    return out


@T.function("ParseXML", P("target", K.STRING_GETTER))
def build_parse_xml(target):
    return lambda ctx: parse_xml(target(ctx))


# ---------------------------------------------------------------------------------------------
# ParseSimplifiedXML


def _leaf_value(node: Node) -> str:
    kids = list(node.children())
    if any(c.type == ELEMENT for c in kids):
        return ""
    for c in kids:
        if c.type in (TEXT, CHARDATA):
            return c.data
    return ""


def simplify(doc: Node) -> dict:
    order: list[Node] = []
    stack = [(doc, 0)]
    while stack:
        n, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise OttlError(_DEPTH_ERR)
        order.append(n)
        for c in n.children():
            if c.type == ELEMENT and c.first is not None and _leaf_value(c) == "":
                stack.append((c, depth + 1))
    maps: dict[int, dict] = {}
    for n in reversed(order):
        kids = list(n.children())
        counts: dict[str, int] = {}
        for c in kids:
            if c.type == ELEMENT:
                counts[c.data] = counts.get(c.data, 0) + 1
        m: dict = {}
        maps[id(n)] = m
        if not counts:
            continue
        for c in kids:
            if c.type != ELEMENT or c.first is None:
                continue
            leaf = _leaf_value(c)
            if counts[c.data] > 1:
                lst = m.get(c.data)
                if lst is None:
                    lst = m[c.data] = []
                if leaf != "":
                    lst.append(leaf)
                    continue
                cm = maps[id(c)]
                if cm:
                    lst.append(cm)
                continue
            if leaf != "":
                m[c.data] = leaf
                continue
            cm = maps[id(c)]
            if cm:
                m[c.data] = cm
    return maps[id(doc)]


@T.function("ParseSimplifiedXML", P("target", K.STRING_GETTER))
def build_parse_simplified_xml(target):
    return lambda ctx: simplify(_parse_nodes(target(ctx)))


# ---------------------------------------------------------------------------------------------
# GetXML, InsertXML, RemoveXML


@T.function("GetXML", P("target", K.STRING_GETTER), P("xpath", K.STRING))
def build_get_xml(target, xpath):
    tree = _validate(xpath)

    def run(ctx):
        text = target(ctx)
        if text == "":
            return ""
        doc = _parse_nodes(text)
        result = Node(DOCUMENT)
        for n in query_all(doc, tree):
            if n.type in (ELEMENT, TEXT):
                add_child(result, n)
            elif n.type in (ATTRIBUTE, CHARDATA):
                add_child(result, Node(TEXT, n.inner_text()))
        return output_xml(result)
    return run


@T.function("InsertXML", P("target", K.STRING_GETTER), P("xpath", K.STRING),
            P("sub_document", K.STRING_GETTER))
def build_insert_xml(target, xpath, sub_document):
    tree = _validate(xpath)

    def run(ctx):
        text = target(ctx)
        doc = Node(ELEMENT, text) if text == "" else _parse_nodes(text)
        sub = _parse_nodes(sub_document(ctx))
        errs = []
        for n in query_all(doc, tree):
            if n.type in (ELEMENT, DOCUMENT):
                c = sub.first
                while c is not None:
                    nxt = c.next
                    add_child(n, c)
                    c = nxt
            else:
                errs.append(f"InsertXML XPath selected non-element: {go_quote(n.data)}")
        if errs:
            raise OttlError("\n".join(errs))
        return output_xml(doc)
    return run


@T.function("RemoveXML", P("target", K.STRING_GETTER), P("xpath", K.STRING))
def build_remove_xml(target, xpath):
    from ._xmldoc import CHARDATA as _CD, COMMENT as _CM
    tree = _validate(xpath)

    def run(ctx):
        text = target(ctx)
        if text == "":
            return ""
        doc = _parse_nodes(text)
        for n in query_all(doc, tree):
            if n.type in (ELEMENT, _CM, _CD):
                remove_from_tree(n)
            elif n.type == ATTRIBUTE:
                n.parent.remove_attr(n.data)
            elif n.type == TEXT:
                n.data = ""
        return output_xml(doc)
    return run


# ---------------------------------------------------------------------------------------------
# ConvertAttributesToElementsXML, ConvertTextToElementsXML


@T.function("ConvertAttributesToElementsXML", P("target", K.STRING_GETTER),
            P("xpath", K.STRING, optional=True))
def build_convert_attributes_to_elements_xml(target, xpath=None):
    tree = _validate(xpath or "//@*")

    def run(ctx):
        doc = _parse_nodes(target(ctx))
        for n in query_all(doc, tree):
            if n.type != ATTRIBUTE:
                continue
            el = Node(ELEMENT, n.data)
            el.first = Node(TEXT, n.inner_text())  # upstream leaves LastChild unset
            add_child(n.parent, el)
            n.parent.remove_attr(n.data)
        return output_xml(doc)
    return run


def _wrap_text(top: Node, name: str) -> None:
    if top.type not in (ELEMENT, DOCUMENT):
        return
    order: list[Node] = []
    stack = [(top, 0)]
    while stack:
        n, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise OttlError(_DEPTH_ERR)
        order.append(n)
        for c in n.children():
            if c.type == ELEMENT:
                stack.append((c, depth + 1))
    for n in reversed(order):
        kids = list(n.children())
        values = sum(1 for c in kids if c.type == TEXT)
        elements = sum(1 for c in kids if c.type == ELEMENT)
        if values == 0 or values + elements <= 1:
            continue
        for c in kids:
            if c.type != TEXT:
                continue
            inner = Node(TEXT, c.data)
            c.type = ELEMENT
            c.data = name
            c.first = c.last = inner


@T.function("ConvertTextToElementsXML", P("target", K.STRING_GETTER),
            P("xpath", K.STRING, optional=True), P("element_name", K.STRING, optional=True))
def build_convert_text_to_elements_xml(target, xpath=None, element_name=None):
    tree = _validate(xpath) if xpath else compile_xpath("/")
    name = element_name or "value"

    def run(ctx):
        doc = _parse_nodes(target(ctx))
        for n in query_all(doc, tree):
            _wrap_text(n, name)
        return output_xml(doc)
    return run


TABLE = T.table()
