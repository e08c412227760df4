"""OTTL's grammar: text to a syntax tree, with upstream's tokens and precedence.

Upstream describes the grammar with participle struct tags (pkg/ottl/grammar.go); this is a
hand-written recursive-descent parser for the same language, backtracking where upstream relies on
lookahead (a comparison is tried before a constant, a literal before a math expression). The tree
is plain dataclasses; compiler.py turns it into closures once, at config load.
"""

from __future__ import annotations

from typing import Any

from otelflow.ottl.errors import OttlConfigError
from otelflow.ottl.lexer import LOWER as _LOWER
from otelflow.ottl.lexer import UPPER as _UPPER
from otelflow.ottl.lexer import SyntaxErrorAt as _SyntaxError
from otelflow.ottl.lexer import Token, go_unquote, tokenize
from otelflow.ottl.lexer import line_col as _line_col
# The tree's node types, re-exported: the compiler refers to them as grammar.X.
from otelflow.ottl.syntax import (And, ArgNode, BoolCall, BoolConst, BoolExpr, CallNode, Comparison, EnumNode, FieldNode,
                                  KeyNode, LambdaNode, ListNode, Literal, MapNode, MathNode, NegNode, Not, Or, PathNode,
                                  StatementNode, Value)


# --------------------------------------------------------------------------------------------
# Parser


class _Parser:
    def __init__(self, text: str, kind: str):
        self.text = text
        self.kind = kind
        self.tokens = tokenize(text, kind)
        self.i = 0

    # -- helpers
    @property
    def tok(self) -> Token:
        return self.tokens[self.i]

    def peek(self, n: int = 1) -> Token:
        return self.tokens[min(self.i + n, len(self.tokens) - 1)]

    def next(self) -> Token:
        t = self.tokens[self.i]
        self.i += 1
        return t

    def accept(self, ttype: str) -> Token | None:
        if self.tok.type == ttype:
            return self.next()
        return None

    def expect(self, ttype: str, what: str | None = None) -> Token:
        if self.tok.type != ttype:
            self.fail(what or repr(ttype))
        return self.next()

    def fail(self, expected: str | None = None):
        t = self.tok
        line, col = _line_col(self.text, t.pos)
        near = self.text[t.pos:t.pos + 10].strip()
        found = "EOF" if t.type == "EOF" else f'"{t.text}"'
        exp = f" (expected {expected})" if expected else ""
        where = f" near `{near}`" if near else ""
        raise _SyntaxError(f"{self.kind} has invalid syntax at {line}:{col}{where}: unexpected token {found}{exp}")

    # -- statement / condition
    def statement(self) -> StatementNode:
        if self.tok.type != "Ident":
            self.fail("<lowercase>")
        call = self.call()
        where = None
        if self.tok.type == "Ident" and self.tok.text == "where":
            self.next()
            where = self.bool_expr()
        self.expect("EOF", "<EOF>")
        return StatementNode(call, where)

    def condition(self) -> BoolExpr:
        expr = self.bool_expr()
        self.expect("EOF", "<EOF>")
        return expr

    def value_expression(self) -> Value:
        v = self.value()
        self.expect("EOF", "<EOF>")
        return v

    def bool_expr(self) -> BoolExpr:
        terms = [self.term()]
        while self.accept("OpOr"):
            terms.append(self.term())
        return terms[0] if len(terms) == 1 else Or(terms)

    def term(self) -> BoolExpr:
        values = [self.bool_value()]
        while self.accept("OpAnd"):
            values.append(self.bool_value())
        return values[0] if len(values) == 1 else And(values)

    def bool_value(self) -> BoolExpr:
        negate = self.accept("OpNot") is not None
        node = self._bool_value_inner()
        return Not(node) if negate else node

    def _bool_value_inner(self) -> BoolExpr:
        start = self.i
        # A comparison first (value op value), as upstream's ordered alternatives do.
        try:
            left = self.value()
            if self.tok.type == "OpComparison":
                op = self.next().text
                right = self.value()
                return Comparison(left, op, right)
        except _SyntaxError:
            pass
        self.i = start
        if self.tok.type == "Boolean":
            return BoolConst(self.next().text == "true")
        if self.tok.type == "Ident" and self.peek().type == "(":
            return BoolCall(self.call())
        if self.accept("("):
            inner = self.bool_expr()
            self.expect(")", '")"')
            return inner
        self.fail("<boolean expression>")

    # -- values
    def value(self) -> Value:
        t = self.tok
        if t.type == "Nil":
            self.next()
            return Literal(None, "nil")
        if t.type == "Bytes":
            self.next()
            digits = t.text[2:]
            if len(digits) % 2:
                raise _SyntaxError(f"byte literals must have an even number of hexadecimal digits, but got {t.text}: "
                                   f"encoding/hex: odd length hex string")
            return Literal(bytes.fromhex(digits), "bytes")
        if t.type == "String":
            self.next()
            return Literal(go_unquote(t.text), "string")
        if t.type == "Boolean":
            self.next()
            return Literal(t.text == "true", "bool")
        if t.type == "{":
            return self.map_value()
        if t.type == "[":
            return self.list_value()
        if t.type == "(" and self._looks_like_lambda():
            return self.lambda_value()
        if t.type == "Ident" and _UPPER.match(t.text) and self.peek().type != "(":
            self.next()
            return EnumNode(t.text, t.pos)
        if t.type in ("Ident", "Int", "Float", "OpAddSub", "("):
            return self.math_expr()
        self.fail("<value>")

    def _looks_like_lambda(self) -> bool:
        j = self.i + 1
        toks = self.tokens
        if toks[j].type == ")":
            return toks[j + 1].type == "LambdaArrow"
        while True:
            if toks[j].type not in ("Ident", "Underscore"):
                return False
            j += 1
            if toks[j].type == ",":
                j += 1
                continue
            return toks[j].type == ")" and toks[j + 1].type == "LambdaArrow"

    def lambda_value(self) -> LambdaNode:
        pos = self.tok.pos
        self.expect("(")
        params = []
        while self.tok.type != ")":
            params.append(self.next().text)
            self.accept(",")
        self.expect(")")
        self.expect("LambdaArrow")
        # A value body unless a boolean operator follows it (upstream's negative lookahead).
        start = self.i
        try:
            body = self.value()
            if self.tok.type in ("OpOr", "OpAnd", "OpComparison"):
                raise _SyntaxError("bool body")
            return LambdaNode(params, pos, body_value=body)
        except _SyntaxError:
            self.i = start
        return LambdaNode(params, pos, body_expr=self.bool_expr())

    def map_value(self) -> MapNode:
        self.expect("{")
        items = []
        while self.tok.type != "}":
            key = self.expect("String", "<string>")
            self.expect(":", '":"')
            items.append((go_unquote(key.text), self.value()))
            self.accept(",")
        self.expect("}")
        return MapNode(items)

    def list_value(self) -> ListNode:
        self.expect("[")
        items = []
        if self.tok.type != "]":
            items.append(self.value())
            while self.accept(","):
                items.append(self.value())
        self.expect("]", '"]"')
        return ListNode(items)

    def math_expr(self) -> Value:
        left = self.math_term()
        while self.tok.type == "OpAddSub":
            op = self.next().text
            left = MathNode(op, left, self.math_term())
        return left

    def math_term(self) -> Value:
        left = self.math_value()
        while self.tok.type == "OpMultDiv":
            op = self.next().text
            left = MathNode(op, left, self.math_value())
        return left

    def math_value(self) -> Value:
        sign = None
        if self.tok.type == "OpAddSub":
            sign = self.next().text
        if self.accept("("):
            inner = self.math_expr()
            self.expect(")", '")"')
            return NegNode(inner) if sign == "-" else inner
        lit = self.math_literal()
        if sign == "-":
            if isinstance(lit, Literal) and lit.kind in ("int", "float"):
                return Literal(-lit.value, lit.kind + "_negated")
            return NegNode(lit)
        return lit

    def math_literal(self) -> Value:
        t = self.tok
        if t.type == "Float":
            self.next()
            return Literal(float(t.text), "float")
        if t.type == "Int":
            self.next()
            v = int(t.text)
            if v > 2**63 - 1:
                raise _SyntaxError(f'{self.kind} has invalid syntax: strconv.ParseInt: parsing "{t.text}": value out of range')
            return Literal(v, "int")
        if t.type == "Ident":
            if self.peek().type == "(":
                return self.call()
            return self.path()
        self.fail("<value>")

    def call(self) -> CallNode:
        name_tok = self.expect("Ident", "<function name>")
        self.expect("(", '"("')
        args: list[ArgNode] = []
        if self.tok.type != ")":
            args.append(self.argument())
            while self.accept(","):
                args.append(self.argument())
        self.expect(")", '")"')
        keys = self.keys()
        return CallNode(name_tok.text, args, keys, name_tok.pos)

    def argument(self) -> ArgNode:
        name = None
        if self.tok.type == "Ident" and self.tok.text[:1].islower() and self.peek().type == "Equal":
            name = self.next().text
            self.next()
        t = self.tok
        if t.type == "Ident" and t.text[:1].isupper() and not _UPPER.match(t.text) and self.peek().type != "(":
            self.next()
            return ArgNode(name, None, function_name=t.text)
        return ArgNode(name, self.value())

    def keys(self) -> list[KeyNode]:
        keys = []
        while self.tok.type == "[":
            self.next()
            t = self.tok
            if t.type == "String" and self.peek().type == "]":
                self.next()
                keys.append(KeyNode(string=go_unquote(t.text)))
            elif t.type == "Int" and self.peek().type == "]":
                self.next()
                keys.append(KeyNode(int=int(t.text)))
            else:
                keys.append(KeyNode(expr=self.math_expr()))
            self.expect("]", '"]"')
        return keys

    def path(self) -> PathNode:
        start = self.tok.pos
        context = ""
        if self.tok.type == "Ident" and self.peek().type == "." and self.peek(2).type == "Ident":
            context = self._lower_ident()
            self.next()
        fields = [FieldNode(self._lower_ident(), self.keys())]
        while self.tok.type == "." and self.peek().type == "Ident":
            self.next()
            fields.append(FieldNode(self._lower_ident(), self.keys()))
        end = self.tokens[self.i - 1]
        return PathNode(context, fields, start, self.text[start:end.pos + len(end.text)])

    def _lower_ident(self) -> str:
        t = self.tok
        if t.type != "Ident" or not _LOWER.match(t.text):
            self.fail("<lowercase>")
        self.next()
        return t.text


# --------------------------------------------------------------------------------------------
# Upstream's custom checks after parsing


def _check_names(node: Any, errors: list[str], in_value: bool = False) -> None:
    if isinstance(node, StatementNode):
        if not node.editor.is_editor:
            errors.append(f"editor names must start with a lowercase letter but got '{node.editor.name}'")
        for a in node.editor.args:
            _check_names(a.value, errors, True)
        if node.where is not None:
            _check_names(node.where, errors)
    elif isinstance(node, CallNode):
        if in_value and node.is_editor:
            errors.append(f"converter names must start with an uppercase letter but got '{node.name}'")
        for a in node.args:
            _check_names(a.value, errors, True)
        for k in node.keys:
            _check_names(k.expr, errors, True)
    elif isinstance(node, (Comparison,)):
        _check_names(node.left, errors, True)
        _check_names(node.right, errors, True)
    elif isinstance(node, BoolCall):
        _check_names(node.call, errors, True)
    elif isinstance(node, Not):
        _check_names(node.operand, errors)
    elif isinstance(node, (And, Or)):
        for o in node.operands:
            _check_names(o, errors)
    elif isinstance(node, MathNode):
        _check_names(node.left, errors, True)
        _check_names(node.right, errors, True)
    elif isinstance(node, NegNode):
        _check_names(node.operand, errors, True)
    elif isinstance(node, ListNode):
        for v in node.items:
            _check_names(v, errors, True)
    elif isinstance(node, MapNode):
        for _, v in node.items:
            _check_names(v, errors, True)
    elif isinstance(node, PathNode):
        for f in node.fields:
            for k in f.keys:
                _check_names(k.expr, errors, True)
    elif isinstance(node, LambdaNode):
        _check_names(node.body_value, errors, True)
        _check_names(node.body_expr, errors)


def _checked(tree: Any) -> Any:
    errors: list[str] = []
    _check_names(tree, errors)
    if errors:
        raise OttlConfigError("; ".join(errors))
    return tree


def parse_statement(text: str) -> StatementNode:
    return _checked(_Parser(text, "statement").statement())


def parse_condition(text: str) -> BoolExpr:
    return _checked(_Parser(text, "condition").condition())


def parse_value_expression(text: str) -> Value:
    return _checked(_Parser(text, "expression").value_expression())
