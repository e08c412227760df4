"""ContextDef: one OTTL context (span, log, datapoint ...), its path parsers and enums.

A context is built from *path parsers*, one per path context name it accepts (the span context
has parsers for ``span``, ``resource``, ``scope``, ``instrumentation_scope``). A path parser is a
function ``parse(cursor) -> (getter, setter)`` that walks a ``PathCursor``, a port of upstream's
``ottl.Path``: ``cursor.name``, ``cursor.keys()`` and ``cursor.next()`` mark what they hand out as
used, and after the parser ran the root cursor checks that every segment and key was used
(``basePath.isComplete``), which gives upstream's "was not used by the context" errors.

``ContextDef.resolve(prefix, segments, text)`` runs that whole flow once, at config load, and
returns a ``ResolvedPath`` whose ``get``/``set`` attributes are the closures themselves.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence

from ..errors import OttlConfigError
from .base import Segment, TransformContext
from .keys import CKey, compile_keys, get_map_value, set_map, set_map_value

__all__ = [
    "ContextDef", "PathCursor", "ResolvedPath", "PathParser", "Accessor", "segment_error",
    "go_quote", "DOC_BASE",
]

DOC_BASE = "https://github.com/open-telemetry/opentelemetry-collector-contrib/tree/main/pkg/ottl/contexts/"

Getter = Callable[[TransformContext], Any]
Setter = Callable[[TransformContext, Any], None]
Accessor = tuple  # (Getter, Setter)


def go_quote(s: str) -> str:
    """strconv.Quote, for the printable text paths are made of."""
    out = ['"']
    for ch in s:
        o = ord(ch)
        if ch in '"\\':
            out.append("\\" + ch)
        elif ch in _SHORT:
            out.append(_SHORT[ch])
        elif o < 0x20 or o == 0x7F:
            out.append(f"\\x{o:02x}")
        elif not ch.isprintable() and ch != " ":
            out.append(f"\\u{o:04x}" if o <= 0xFFFF else f"\\U{o:08x}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


_SHORT = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\v": "\\v"}


def segment_error(segment: str, full_path: str, context: str, doc_ref: str) -> OttlConfigError:
    """ctxerror.New."""
    return OttlConfigError(
        f"segment {go_quote(segment)} from path {go_quote(full_path)} is not a valid path nor a valid "
        f"OTTL keyword for the {context} context - review {doc_ref} to see all valid paths")


class PathCursor:
    """One segment of a path being resolved (upstream's basePath)."""

    __slots__ = ("context", "name", "_keys", "_next", "fetched", "fetched_keys", "text")

    def __init__(self, context: str, name: str, keys: tuple[CKey, ...] | None, nxt: "PathCursor | None",
                 text: str):
        self.context = context
        self.name = name
        self._keys = keys or None
        self._next = nxt
        self.fetched = False
        self.fetched_keys = False
        self.text = text

    @classmethod
    def chain(cls, context: str, segments: Sequence[Segment], text: str) -> "PathCursor":
        if not segments:
            raise OttlConfigError("cannot make a path from zero fields")
        cur = None
        for seg in reversed(segments):
            cur = cls(context, seg.name, compile_keys(seg.keys), cur, text)
        cur.fetched = True
        return cur

    def keys(self) -> tuple[CKey, ...] | None:
        if self._keys is None:
            return None
        self.fetched_keys = True
        return self._keys

    def next(self) -> "PathCursor | None":
        if self._next is None:
            return None
        self._next.fetched = True
        return self._next

    def string(self) -> str:
        return self.text

    def check_complete(self) -> None:
        p = self
        while p is not None:
            if not p.fetched:
                raise OttlConfigError(f"the path section {go_quote(p.name)} was not used by the context - "
                                      "this likely means you are using extra path sections")
            if p._keys is not None and not p.fetched_keys:
                raise OttlConfigError(f"the keys indexing {go_quote(p.name)} were not used by the context - "
                                      "this likely means you are trying to index a path that does not "
                                      "support indexing")
            p = p._next


PathParser = Callable[[PathCursor], Accessor]


class ResolvedPath:
    """A path ready to run: ``get(ctx)`` and ``set(ctx, value)`` are plain closures."""

    __slots__ = ("text", "get", "set", "context")

    def __init__(self, text: str, get: Getter, set: Setter, context: str = ""):
        self.text = text
        self.get = get
        self.set = set
        self.context = context  # the path context the path was resolved in ("span", "resource" ...)

    def __repr__(self) -> str:
        return f"ResolvedPath({self.text!r})"


def _cache_accessor(cur: PathCursor) -> Accessor:
    """ctxcache: the context's ``cache`` map (ctx.cache, a PMap)."""
    keys = cur.keys()
    if keys is None:
        def get(ctx):
            return ctx.cache

        def set_(ctx, val):
            set_map(ctx.cache, val)
        return get, set_

    def get_k(ctx):
        return get_map_value(ctx, ctx.cache, keys)

    def set_k(ctx, val):
        set_map_value(ctx, ctx.cache, keys, val)
    return get_k, set_k


class ContextDef:
    """An OTTL context.

    * ``name``: the context's name ("span"); ``doc_ref``: its README address used in errors;
    * ``path_context_names``: the prefixes its paths may carry, in upstream's
      ``EnablePathContextNames`` order (``otelcol`` is listed upstream too; see ``parsers``);
    * ``parsers``: prefix → path parser, including the legacy ``instrumentation_scope`` alias;
    * ``enums``: the enum symbols it knows (name → value); ``enum_error``: the error for a symbol
      when it has none (resource, scope, exemplar), else None;
    * ``lower_contexts``: the contexts that accept this context's name as a path prefix (the
      inferrer's fallback candidates, before filtering by what a component registers).
    """

    def __init__(self, name: str, doc_ref: str, path_context_names: Sequence[str],
                 parsers: Mapping[str, PathParser], enums: Mapping[str, int] | None = None,
                 enum_error: str | None = None):
        self.name = name
        self.doc_ref = doc_ref
        self.path_context_names = tuple(path_context_names)
        self.parsers = dict(parsers)
        self.enums = dict(enums or {})
        self.enum_error = enum_error
        self.lower_contexts: tuple[str, ...] = ()

    def __repr__(self) -> str:
        return f"ContextDef({self.name!r})"

    def accepts(self, prefix: str) -> bool:
        """Whether ``prefix`` is one of the path context names (``WithPathContextNames``)."""
        return prefix in self.path_context_names

    def has_enum(self, symbol: str) -> bool:
        return self.enum_error is None and symbol in self.enums

    def parse_enum(self, symbol: str) -> int:
        """The enum's value, or OttlConfigError with the context's parseEnum text."""
        if self.enum_error is not None:
            raise OttlConfigError(self.enum_error)
        try:
            return self.enums[symbol]
        except KeyError:
            raise OttlConfigError(f"enum symbol, {symbol}, not found") from None

    def resolve(self, prefix: str, segments: Sequence[Segment], text: str) -> ResolvedPath:
        """Resolve a path at config load (ctxcommon.PathExpressionParser + basePath.isComplete).

        ``prefix`` is the path's context name ("" for a path written without one: then, as
        upstream, a first segment naming a known path context is taken as the context, else the
        path belongs to this context); ``segments`` are the dotted parts after the prefix; ``text``
        is the path as written (used in error messages)."""
        root = PathCursor.chain(prefix, segments, text)
        path = root
        path_context = prefix
        if path_context == "":
            if path.name not in self.parsers:
                path_context = self.name
            else:
                path_context = path.name
                path = path.next()
                if path is None:
                    raise segment_error(path_context, text, self.name, self.doc_ref)
        if path.name == "cache":
            if path_context != self.name:
                suggestion = text.replace(path_context + ".", self.name + ".", 1)
                raise OttlConfigError(
                    "access to cache must be performed using the same context, please replace "
                    f"{go_quote(text)} with {go_quote(suggestion)}")
            get, set_ = _cache_accessor(path)
        else:
            parser = self.parsers.get(path_context)
            if parser is None:
                raise segment_error(path_context, text, self.name, self.doc_ref)
            get, set_ = parser(path)
        root.check_complete()
        return ResolvedPath(text, get, set_, path_context)

