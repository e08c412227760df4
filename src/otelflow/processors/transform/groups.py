"""Turning the transform config's statement groups into runnable groups, as upstream's
ParserCollection does for the transform processor (pkg/ottl parser_collection.go and
transformprocessor/internal/common, v0.161.0).

A group with ``context`` has every context-less path of its statements prefixed with that context
(``attributes`` becomes ``span.attributes``) and its conditions parsed as upstream parses them
there, without path context names. A group without ``context`` gets it inferred from its statements
and conditions (upstream's priorityContextInferrer); its paths must then all carry a context.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from otelflow.ottl import grammar as g
from otelflow.ottl.collection import ConditionSequence, StatementSequence, infer_context
from otelflow.ottl.compiler import Parser
from otelflow.ottl.treewalk import statement_paths
from otelflow.ottl.contexts import CONTEXTS
from otelflow.ottl.errors import OttlConfigError

from .functions import SIGNAL_CONTEXTS, condition_functions, not_supported, statement_functions


@dataclass
class Group:
    context: str
    statements: StatementSequence
    conditions: ConditionSequence | None
    shared_cache: bool


# ------------------------------------------------------------------------------ Go formatting


def _quote_ascii(s: str) -> str:
    """strconv.QuoteToASCII."""
    out = ['"']
    for ch in s:
        o = ord(ch)
        if ch in '"\\':
            out.append("\\" + ch)
        elif ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif o < 0x20 or o == 0x7F:
            out.append(f"\\x{o:02x}")
        elif o < 0x7F:
            out.append(ch)
        elif o <= 0xFFFF:
            out.append(f"\\u{o:04x}")
        else:
            out.append(f"\\U{o:08x}")
    out.append('"')
    return "".join(out)


def _quote(s: str) -> str:
    """strconv.Quote (%q): printable non-ASCII characters stay as they are."""
    out = ['"']
    for ch in s:
        o = ord(ch)
        if ch in '"\\':
            out.append("\\" + ch)
        elif ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif o < 0x20 or o == 0x7F:
            out.append(f"\\x{o:02x}")
        elif o > 0x7F and not ch.isprintable():
            out.append(f"\\u{o:04x}" if o <= 0xFFFF else f"\\U{o:08x}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


_ESCAPES = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\v": "\\v"}


def plus_q(items) -> str:
    """Go's %+q of a []string."""
    return "[" + " ".join(_quote_ascii(s) for s in items) + "]"


def plain_v(items) -> str:
    """Go's %v of a []string."""
    return "[" + " ".join(items) + "]"


# ------------------------------------------------------------------------------ parsing


def prepend_context(text: str, context: str, valid: tuple[str, ...]) -> str:
    """Parser.prependContextToStatementPaths: ``context.`` inserted before every path whose
    context is not one of ``valid``; the statement's syntax errors come out unwrapped."""
    tree = g.parse_statement(text)
    offsets = sorted({p.pos for p in statement_paths(tree) if p.context not in valid}, reverse=True)
    for pos in offsets:
        text = text[:pos] + context + "." + text[pos:]
    return text


def _parse_statements(parser: Parser, texts: list[str]) -> list:
    parsed, errors = [], []
    for text in texts:
        try:
            parsed.append(parser.parse_statement(text))
        except OttlConfigError as e:
            errors.append(f"unable to parse OTTL statement {_quote(text)}: {e}")
    if errors:
        raise OttlConfigError("\n".join(errors))
    return parsed


def _parse_conditions(parser: Parser, texts: list[str], legacy: bool) -> list:
    parsed, errors = [], []
    for text in texts:
        try:
            parsed.append(parser.parse_condition(text, prepend_context=legacy))
        except OttlConfigError as e:
            errors.append(f"unable to parse OTTL condition {_quote(text)}: {e}")
    if errors:
        raise OttlConfigError("\n".join(errors))
    return parsed


def _infer(signal: str, statements: list[str], conditions: list[str]) -> str:
    registered = SIGNAL_CONTEXTS[signal]
    supported = plus_q(registered)
    try:
        inferred = infer_context(statements, conditions, candidates={c: CONTEXTS[c] for c in registered},
                                 functions={c: statement_functions(c) for c in registered})
    except OttlConfigError as e:
        raise OttlConfigError(f"unable to infer a valid context ({supported}) from statements {plus_q(statements)} "
                              f"and conditions {plus_q(conditions)}: {e}") from None
    if not inferred:
        # upstream's arguments land in these places
        raise OttlConfigError(f"unable to infer context from statements {supported} and conditions "
                              f"{plus_q(statements)}, path's first segment must be a valid context name "
                              f"{plus_q(conditions)}, and at least one context must be capable of parsing all "
                              "statements")
    if inferred not in registered:
        raise OttlConfigError(f'context "{inferred}" inferred from the statements {plus_q(statements)} and '
                              f"conditions {plus_q(conditions)} is not a supported context: {supported}")
    return inferred


def compile_group(signal: str, group, default_error_mode: str, logger: logging.Logger) -> Group:
    """One ContextStatements of ``signal`` ("traces", "metrics", "logs") compiled, or
    OttlConfigError with upstream's message."""
    error_mode = group.error_mode or default_error_mode
    statements, conditions = list(group.statements), list(group.conditions)
    explicit = bool(group.context)
    if explicit:
        context = group.context
        if context not in SIGNAL_CONTEXTS[signal]:
            raise OttlConfigError(f'unknown context "{context}" for statements: {plain_v(statements)}')
        valid = CONTEXTS[context].path_context_names
        texts = [prepend_context(s, context, valid) for s in statements]
        changed = {f"[{i}]": {"original": o, "modified": m}
                   for i, (o, m) in enumerate(zip(statements, texts)) if o != m}
        if changed:
            logger.info("one or more paths were modified to include their context prefix, please rewrite them "
                        "accordingly", extra={"values": changed})
    else:
        context = _infer(signal, statements, conditions)
        texts = statements
    ctx_def = CONTEXTS[context]
    parser = Parser(ctx_def, statement_functions(context), not_supported(context))
    parsed = _parse_statements(parser, texts)
    condition_seq = None
    if conditions:
        cparser = Parser(ctx_def, condition_functions(context), not_supported(context))
        condition_seq = ConditionSequence(_parse_conditions(cparser, conditions, explicit), error_mode, logger)
    return Group(context, StatementSequence(parsed, error_mode, logger), condition_seq, bool(group.shared_cache))


def compile_groups(signal: str, groups, default_error_mode: str, logger: logging.Logger) -> list[Group]:
    """Every group of a signal; the errors of all groups together ("; "-joined, as multierr)."""
    out, errors = [], []
    for group in groups:
        try:
            out.append(compile_group(signal, group, default_error_mode, logger))
        except OttlConfigError as e:
            errors.append(str(e))
    if errors:
        raise OttlConfigError("; ".join(errors))
    return out
