"""antchfx/xmlquery's document model for the OTTL XML functions: ``parse_document`` builds the tree
xmlquery.Parse builds (its synthesised declaration, its sibling links, namespace prefixes) over
``_xmldecoder``'s tokens, and ``output_xml`` is its OutputXML(false). Walks are iterative: documents
may nest deeper than Python's recursion limit.
"""

from __future__ import annotations

from ._util import go_trim_space
from ._xmldecoder import _XML_URL, Decoder, XMLSyntaxError, to_bytes

DOCUMENT, DECLARATION, ELEMENT, TEXT, CHARDATA, COMMENT, ATTRIBUTE, NOTATION, PROCINST = range(9)

__all__ = ["Decoder", "XMLSyntaxError", "to_bytes"]


class Attr:
    __slots__ = ("space", "local", "value", "uri")

    def __init__(self, space: str, local: str, value: str, uri: str = ""):
        self.space, self.local, self.value, self.uri = space, local, value, uri


class Node:
    __slots__ = ("parent", "first", "last", "prev", "next", "type", "data", "prefix", "uri",
                 "attrs", "pi", "level")

    def __init__(self, type_: int, data: str = "", level: int = 0, attrs=None):
        self.parent = self.first = self.last = self.prev = self.next = None
        self.type = type_
        self.data = data
        self.prefix = ""
        self.uri = ""
        self.attrs: list[Attr] = attrs if attrs is not None else []
        self.pi: tuple[str, str] | None = None
        self.level = level

    def children(self):
        # Re-parenting a node that is still linked elsewhere (GetXML/InsertXML do, as upstream
        # does) can make sibling chains loop; upstream then recurses forever. Stop at a repeat.
        seen = set()
        c = self.first
        while c is not None and id(c) not in seen:
            seen.add(id(c))
            yield c
            c = c.next

    def inner_text(self) -> str:
        out = []
        stack = [self]
        while stack:
            n = stack.pop()
            if n.type in (TEXT, CHARDATA):
                out.append(n.data)
            elif n.type != COMMENT:
                stack.extend(reversed(list(n.children())))
        return "".join(out)

    def select_attr(self, space: str, local: str) -> str:
        for a in self.attrs:
            if a.space == space and a.local == local:
                return a.value
        return ""

    def remove_attr(self, key: str) -> None:
        space, local = split_name(key)
        for i, a in enumerate(self.attrs):
            if a.space == space and a.local == local:
                del self.attrs[i]
                return


def split_name(key: str) -> tuple[str, str]:
    i = key.find(":")
    return (key[:i], key[i + 1:]) if i > 0 else ("", key)


def add_child(parent: Node, n: Node) -> None:
    n.parent = parent
    n.next = None
    if parent.first is None:
        parent.first = n
        n.prev = None
    else:
        parent.last.next = n
        n.prev = parent.last
    parent.last = n


def add_sibling(sibling: Node, n: Node) -> None:
    t = sibling.next
    while t is not None:
        sibling = t
        t = t.next
    n.parent = sibling.parent
    sibling.next = n
    n.prev = sibling
    n.next = None
    if sibling.parent is not None:
        sibling.parent.last = n


def remove_from_tree(n: Node) -> None:
    p = n.parent
    if p is None:
        return
    if p.first is n:
        if p.last is n:
            p.first = p.last = None
        else:
            p.first = n.next
            n.next.prev = None
    else:
        if p.last is n:
            p.last = n.prev
            n.prev.next = None
        else:
            n.prev.next = n.next
            n.next.prev = n.prev
    n.parent = n.prev = n.next = None


def _place(p: "_Builder", node: Node, level: int) -> None:
    prev = p.prev
    if level == prev.level:
        add_sibling(prev, node)
    elif level > prev.level:
        add_child(prev, node)
    else:
        for _ in range(prev.level - level - 1):
            prev = prev.parent
        p.prev = prev
        add_sibling(prev.parent, node)


class _Builder:
    __slots__ = ("prev", "level")


def parse_document(text: str) -> Node:
    """xmlquery.Parse: the document node, or XMLSyntaxError with xmlquery's text."""
    data = to_bytes(text)
    dec = Decoder(data, charset_reader=True)
    doc = Node(DOCUMENT)
    p = _Builder()
    p.prev, p.level = doc, 0
    space2prefix: dict[str, tuple[str, int]] = {_XML_URL: ("xml", 0)}
    while True:
        tok = dec.token()
        if tok is None:
            break
        kind = tok[0]
        if kind == "start":
            _, space, local, attrs, begin = tok
            if p.level == 0:
                decl = Node(DECLARATION, "xml", 1, [Attr("", "version", "1.0")])
                add_child(p.prev, decl)
                p.level = 1
                p.prev = decl
            for a in attrs:
                if a[1] == "xmlns":
                    cur = space2prefix.get(a[2])
                    if cur is None or cur[1] >= p.level:
                        space2prefix[a[2]] = ("", p.level)
                elif a[0] == "xmlns":
                    space2prefix[a[2]] = (a[1], p.level)
            if space and space not in space2prefix:
                raise XMLSyntaxError(f"xmlquery: invalid XML document, namespace {space} is missing")
            node_attrs = []
            for a in attrs:
                pref = space2prefix.get(a[0])
                node_attrs.append(Attr(pref[0] if pref is not None else a[0], a[1], a[2], a[0]))
            node = Node(ELEMENT, local, p.level, node_attrs)
            node.uri = space
            _place(p, node, p.level)
            if space:
                v = space2prefix.get(space)
                if v is not None:
                    want = f"{v[0]}:{local}".encode("utf-8")
                    raw = data[begin:begin + len(want) + 1]
                    if raw.startswith(want) or raw.startswith(b"<" + want):
                        node.prefix = v[0]
            p.prev = node
            p.level += 1
        elif kind == "end":
            p.level -= 1
        elif kind == "text":
            _, s, cdata, _begin = tok
            _place(p, Node(CHARDATA if cdata else TEXT, s, p.level), p.level)
        elif kind == "comment":
            _place(p, Node(COMMENT, tok[1], p.level), p.level)
        elif kind == "procinst":
            _, target, inst = tok
            level = p.level + 1 if p.prev.type == DOCUMENT else p.level
            node = Node(DECLARATION, target, level)
            for pair in inst.split(" "):
                pair = go_trim_space(pair)
                i = pair.find("=")
                if i > 0:
                    key = pair[:i]
                    sp, lo = split_name(key)
                    if not any(a.space == sp and a.local == lo for a in node.attrs):
                        node.attrs.append(Attr(sp, lo, pair[i + 1:].strip("\"'")))
            if target != "xml":
                node.type = PROCINST
                node.pi = (target, go_trim_space(inst))
            _place(p, node, level)
            p.prev = node
            p.level = level
        elif kind == "directive":
            _place(p, Node(NOTATION, tok[1], p.level), p.level)
    d = doc
    while d is not None:
        if any(c.type == ELEMENT for c in d.children()):
            return doc
        d = d.next
    raise XMLSyntaxError("xmlquery: invalid XML document")


def _escape(s: str) -> str:
    """html.EscapeString."""
    if not any(c in s for c in "<>&'\""):
        return s
    return (s.replace("&", "&amp;").replace("'", "&#39;").replace("<", "&lt;")
            .replace(">", "&gt;").replace('"', "&#34;"))


def _preserve(n: Node, past: bool) -> bool:
    v = n.select_attr("xml", "space")
    if v == "preserve":
        return True
    if v == "default":
        return False
    return past


def output_xml(top: Node) -> str:
    """Node.OutputXML(false): the children of ``top`` as xmlquery writes them."""
    out: list[str] = []
    open_ids: set[int] = set()
    base = _preserve(top, True)
    stack: list = [(c, base) for c in reversed(list(top.children()))]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            out.append(item)
            continue
        n, preserve = item
        if isinstance(n, int):  # end of an element's subtree
            open_ids.discard(n)
            continue
        if id(n) in open_ids:  # a node inside itself (see children()): written once
            continue
        preserve = _preserve(n, preserve)
        t = n.type
        if t == TEXT:
            out.append(_escape(n.data if preserve else go_trim_space(n.data)))
            continue
        if t == CHARDATA:
            out.append(f"<![CDATA[{n.data}]]>")
            continue
        if t == COMMENT:
            out.append(f"<!--{n.data}-->")
            continue
        if t == NOTATION:
            out.append(f"<!{n.data}>")
            continue
        if t == PROCINST:
            target, inst = n.pi or (n.data, "")
            out.append(f"<?{target} {inst}?>" if inst else f"<?{target}?>")
            continue
        name = f"{n.prefix}:{n.data}" if n.prefix else n.data
        out.append(("<?" if t == DECLARATION else "<") + name)
        for a in n.attrs:
            aname = f"{a.space}:{a.local}" if a.space else a.local
            out.append(f' {aname}="{_escape(a.value)}"')
        out.append("?>" if t == DECLARATION else ">")
        if t != DECLARATION:
            stack.append(f"</{name}>")
        open_ids.add(id(n))
        stack.append((id(n), None))
        stack.extend((c, preserve) for c in reversed(list(n.children())))
    return "".join(out)
