"""The expression language of SidecarSet ``resourcesPolicy.resourcesExpr`` (OpenKruise v1.9).

OpenKruise evaluates ``limits.cpu: "max(cpu*50%, 50m)"`` with a goyacc calculator
(pkg/util/calculator): numbers (``2``, ``1.5``, ``1e3``), percentages (``50%`` = 0.5), quantities
(``40m``, ``512Mi``), one variable (``cpu`` or ``memory``), ``+ - * /``, unary minus, parentheses
and ``max(a, b)`` / ``min(a, b)``. This is our own evaluator of that language, written to give the
same results, quirks included (checked against vectors produced by OpenKruise's calculator,
tests/unit/api/data/resource_expr_vectors.json):

- ``+``/``-`` with a quantity on either side work on quantities (a number n becomes n*1000
  milli-units); ``*``/``/`` need a number on the right (or left, for ``*``) and compute
  ``int64(float64(milliValue) * n)`` milli-units, keeping the quantity's format: ``512Mi*50%`` is
  ``256Mi``, ``1*50%`` is the number 0.5;
- ``max``/``min`` compare a number as milli-units; ties return the left argument;
- a number that does not parse as a float (``5x``) is 0; unknown functions, variables, a quantity
  times a quantity, a division by a quantity or by zero, and a negative result are errors;
- the error, when there are several, is the last one an operation raised (as the parser's actions
  overwrite it), and a syntax error is ``parse error: syntax error at line L, col C``.

Pure: no I/O.
"""

from __future__ import annotations

import json
import math
import re
import unicodedata
from dataclasses import dataclass
from decimal import Decimal

from .quantity import DECIMAL_SI, Quantity, QuantityError, new_milli_quantity, new_quantity, parse

_VALID_UNITS = ("m", "k", "M", "G", "T", "P", "Ki", "Mi", "Gi", "Ti", "Pi")
_MEMORY_WORD = re.compile(r"\bmemory\b", re.ASCII)
_INT64_MIN = -(2**63)


class ExpressionError(ValueError):
    """The expression cannot be evaluated; the message is OpenKruise's."""


@dataclass(frozen=True)
class Value:
    """A calculator value: a plain number (float64) or a quantity."""

    number: float = 0.0
    quantity: Quantity | None = None

    @property
    def is_quantity(self) -> bool:
        return self.quantity is not None


def go_int64(x: float) -> int:
    """Go's ``int64(float64)`` on amd64: truncation; NaN and out-of-range give the minimum int64."""
    if math.isnan(x) or math.isinf(x) or not (-(2.0**63) <= x < 2.0**63):
        return _INT64_MIN
    return int(x)


def go_format_g(x: float) -> str:
    """``fmt.Sprintf("%g", x)``: shortest digits, exponent form below 1e-4 or from 1e6 on."""
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "+Inf" if x > 0 else "-Inf"
    if x == 0:
        return "-0" if math.copysign(1, x) < 0 else "0"
    sign, digits, exp = Decimal(repr(x)).normalize().as_tuple()
    text = "".join(map(str, digits))
    e10 = len(text) - 1 + int(exp)  # exponent of the first digit
    lead = "-" if sign else ""
    if e10 < -4 or e10 >= 6:
        mantissa = text[0] + ("." + text[1:] if len(text) > 1 else "")
        return f"{lead}{mantissa}e{'-' if e10 < 0 else '+'}{abs(e10):02d}"
    if e10 >= len(text) - 1:
        return lead + text + "0" * (e10 - len(text) + 1)
    if e10 >= 0:
        return lead + text[: e10 + 1] + "." + text[e10 + 1 :]
    return lead + "0." + "0" * (-e10 - 1) + text


# -- lexer (pkg/util/calculator/lexer.go): byte by byte, as Go indexes the string -------------------
def _is_space(ch: str) -> bool:
    return ch in "\t\n\v\f\r \x85\xa0"


def _is_digit(ch: str) -> bool:
    return "0" <= ch <= "9"


def _is_letter(ch: str) -> bool:
    return unicodedata.category(ch).startswith("L")


NUMBER, QUANTITY, IDENT, EOF = "NUMBER", "QUANTITY", "IDENT", "EOF"


@dataclass
class _Token:
    kind: str  # NUMBER | QUANTITY | IDENT | EOF | the character itself
    text: str
    col: int  # the lexer's column after reading it (for the syntax error message)
    line: int


class _Lexer:
    def __init__(self, expr: str) -> None:
        # One char per byte of the UTF-8 text: Go's lexer reads bytes as runes.
        self.s = expr.encode("utf-8").decode("latin-1")
        self.pos, self.line, self.col = 0, 1, 1

    def peek(self) -> str:
        return self.s[self.pos] if self.pos < len(self.s) else "\0"

    def next(self) -> str:
        if self.pos >= len(self.s):
            return "\0"
        ch = self.s[self.pos]
        self.pos += 1
        if ch == "\n":
            self.line, self.col = self.line + 1, 1
        else:
            self.col += 1
        return ch

    def back(self) -> None:
        self.pos -= 1
        self.col -= 1

    def read_number(self) -> str:
        start = self.pos
        seen_dot = seen_e = seen_percent = expect_exp_digit = False
        while True:
            ch = self.peek()
            if ch == "\0":
                break
            if _is_digit(ch):
                expect_exp_digit = False
            elif ch == ".":
                if seen_dot or seen_e or seen_percent:
                    break
                seen_dot = True
            elif ch in "eE":
                if seen_e or seen_percent:
                    break
                seen_e = expect_exp_digit = True
            elif ch in "+-":
                if not expect_exp_digit:
                    break
                expect_exp_digit = False
            elif ch == "%":
                if seen_percent:
                    break
                seen_percent = True
            elif _is_letter(ch):
                if not expect_exp_digit:
                    while _is_letter(self.peek()):
                        self.next()
                break
            else:
                break
            self.next()
        return self.s[start : self.pos]

    def read_identifier(self) -> str:
        start = self.pos
        while (ch := self.peek()) != "\0" and (_is_letter(ch) or _is_digit(ch) or ch == "_"):
            self.next()
        return self.s[start : self.pos]

    def token(self) -> _Token:
        while _is_space(self.peek()):
            self.next()
        ch = self.next()
        if ch == "\0":
            return _Token(EOF, "", self.col, self.line)
        if ch in "+-*/(),":
            return _Token(ch, ch, self.col, self.line)
        if ch == "." or _is_digit(ch):
            self.back()
            text = self.read_number()
            return _Token(QUANTITY if _is_quantity(text) else NUMBER, text, self.col, self.line)
        if _is_letter(ch):
            self.back()
            return _Token(IDENT, _go_string(self.read_identifier()), self.col, self.line)
        return _Token(ch, ch, self.col, self.line)


def _go_string(raw: str) -> str:
    """Bytes (one char each) back to text, invalid UTF-8 as U+FFFD (what Go prints)."""
    return raw.encode("latin-1").decode("utf-8", errors="replace")


def _is_quantity(text: str) -> bool:
    """A number followed by one of the units the calculator knows."""
    decoded = _go_string(text)
    num_end = 0
    for i, ch in enumerate(decoded):
        if unicodedata.category(ch) != "Nd" and ch not in ".eE+-":
            num_end = i
            break
    return num_end != 0 and decoded[num_end:] in _VALID_UNITS


def _parse_number(text: str) -> float:
    """parseNumber: a float, ``50%`` = 0.5; what strconv.ParseFloat rejects is 0."""
    try:
        if text.endswith("%"):
            return float(text[:-1]) / 100
        return float(text)
    except ValueError:
        return 0.0


class _SyntaxError(Exception):
    def __init__(self, token: _Token) -> None:
        super().__init__(f"parse error: syntax error at line {token.line}, col {token.col}")


# -- parser and evaluator ---------------------------------------------------------------------------
class _Calc:
    """Recursive descent over the calculator's grammar, evaluating in the order of the LALR
    parser's reductions (post-order, left to right), so that errors overwrite one another alike."""

    def __init__(self, expr: str, variables: dict[str, Value]) -> None:
        self.lex = _Lexer(expr)
        self.variables = variables
        self.tok = self.lex.token()
        self.error: str | None = None

    def fail(self, message: str) -> None:
        self.error = message

    def advance(self) -> _Token:
        tok, self.tok = self.tok, self.lex.token()
        return tok

    def expect(self, kind: str) -> None:
        if self.tok.kind != kind:
            raise _SyntaxError(self.tok)
        self.advance()

    def expr(self) -> Value | None:
        left = self.term()
        while self.tok.kind in ("+", "-"):
            op = self.advance().kind
            right = self.term()
            left = self.add(left, right) if op == "+" else self.sub(left, right)
            if left is None and self.error is None:
                self.fail("invalid addition operation" if op == "+" else "invalid subtraction operation")
        return left

    def term(self) -> Value | None:
        left = self.factor()
        while self.tok.kind in ("*", "/"):
            op = self.advance().kind
            right = self.factor()
            left = self.mul(left, right) if op == "*" else self.div(left, right)
            if left is None and self.error is None:
                self.fail("invalid multiplication operation" if op == "*" else "invalid division operation")
        return left

    def factor(self) -> Value | None:
        tok = self.tok
        if tok.kind == NUMBER:
            self.advance()
            return Value(number=_parse_number(tok.text))
        if tok.kind == QUANTITY:
            self.advance()
            try:
                return Value(quantity=parse(tok.text))
            except QuantityError as e:
                self.fail(str(e))
                return None
        if tok.kind == IDENT:
            self.advance()
            if self.tok.kind == "(":
                return self.call(tok.text)
            value = self.variables.get(tok.text.lower())
            if value is None:
                self.fail(f"undefined variable: {tok.text.lower()}")
            return value
        if tok.kind == "(":
            self.advance()
            value = self.expr()
            self.expect(")")
            return value
        if tok.kind == "-":
            self.advance()
            inner = self.factor()
            if inner is None:
                return None
            if inner.quantity is not None:
                return Value(quantity=inner.quantity.neg())
            return Value(number=-inner.number)
        raise _SyntaxError(tok)

    def call(self, name: str) -> Value | None:
        self.expect("(")
        args = [self.expr()]
        if self.tok.kind == ",":
            self.advance()
            args.append(self.expr())
        self.expect(")")
        result = self.call_func(name, args)
        if result is None and self.error is None:
            self.fail("function call failed")
        return result

    # -- operations (calculator.y) ----------------------------------------------------------------
    @staticmethod
    def to_quantity(v: Value) -> Quantity:
        if v.quantity is not None:
            return v.quantity
        return new_milli_quantity(go_int64(v.number * 1000), DECIMAL_SI)

    def add(self, a: Value | None, b: Value | None) -> Value | None:
        if a is None or b is None:
            return None
        if a.is_quantity or b.is_quantity:
            return Value(quantity=self.to_quantity(a).add(self.to_quantity(b)))
        return Value(number=a.number + b.number)

    def sub(self, a: Value | None, b: Value | None) -> Value | None:
        if a is None or b is None:
            return None
        if a.is_quantity or b.is_quantity:
            return Value(quantity=self.to_quantity(a).add(self.to_quantity(b).neg()))
        return Value(number=a.number - b.number)

    def mul(self, a: Value | None, b: Value | None) -> Value | None:
        if a is None or b is None:
            return None
        if a.quantity is not None and b.quantity is not None:
            self.fail("multiplication of two quantities")
            return None
        if a.quantity is not None:
            return Value(quantity=a.quantity.with_milli(go_int64(float(a.quantity.milli_value()) * b.number)))
        if b.quantity is not None:
            return Value(quantity=b.quantity.with_milli(go_int64(float(b.quantity.milli_value()) * a.number)))
        return Value(number=a.number * b.number)

    def div(self, a: Value | None, b: Value | None) -> Value | None:
        if a is None or b is None:
            return None
        if b.quantity is not None:
            self.fail("division by quantity")
            return None
        if b.number == 0:
            self.fail("division by zero")
            return None
        if a.quantity is not None:
            return Value(quantity=a.quantity.with_milli(go_int64(float(a.quantity.milli_value()) / b.number)))
        return Value(number=a.number / b.number)

    def call_func(self, name: str, args: list[Value | None]) -> Value | None:
        lower = name.lower()
        if lower not in ("max", "min"):
            self.fail(f"unknown function: {name}")
            return None
        if len(args) != 2:
            self.fail(f"{lower} function requires exactly 2 arguments, got {len(args)}")
            return None
        a, b = args
        if a is None or b is None:
            return None
        if not a.is_quantity and not b.is_quantity:
            if lower == "max":
                return a if a.number >= b.number else b
            return a if a.number <= b.number else b
        qa, qb = self.to_quantity(a), self.to_quantity(b)
        if lower == "max":
            return Value(quantity=qa if qa.value >= qb.value else qb)
        return Value(quantity=qa if qa.value <= qb.value else qb)


def evaluate(expr: str, variables: dict[str, Value]) -> Value:
    """Calculator.Parse: the value of ``expr``; ExpressionError (OpenKruise's message) otherwise."""
    calc = _Calc(expr, variables)
    try:
        result = calc.expr()
        if calc.tok.kind != EOF:
            raise _SyntaxError(calc.tok)
    except _SyntaxError as e:
        raise ExpressionError(calc.error or str(e)) from None
    if result is None:
        raise ExpressionError(calc.error or "no result from parser")
    if result.quantity is not None and result.quantity.sign() < 0:
        raise ExpressionError(f"calculation result is negative: {result.quantity}")
    if result.quantity is None and result.number < 0:
        raise ExpressionError(f"calculation result is negative: {go_format_g(result.number)}")
    return result


def validation_error(expr: str, variable: str) -> str | None:
    """OpenKruise's webhook check (validateResourceExpression): ``expr`` evaluated with ``variable``
    bound to the number 1. The message, or None when it evaluates."""
    if not expr:
        return None
    try:
        evaluate(expr, {variable: Value(number=1.0)})
    except ExpressionError as e:
        return f"invalid expression: {e}"
    return None


def evaluate_resource(expr: str, aggregated: Quantity, is_limit: bool) -> Quantity | None:
    """evaluateResourceExpression: the resource value ``expr`` gives over the aggregated one.

    The variable is ``memory`` if the word appears in the expression, else ``cpu`` (whatever the
    field). A plain-number result is millicores for ``cpu`` and whole units for ``memory``. An empty
    expression is unlimited (None) for a limit and 0 for a request.
    """
    if not expr:
        return None if is_limit else new_quantity(0)
    name = "memory" if _MEMORY_WORD.search(expr) else "cpu"
    try:
        result = evaluate(expr, {name: Value(quantity=aggregated)})
    except ExpressionError as e:
        raise ExpressionError(
            f"failed to parse expression {json.dumps(expr, ensure_ascii=False)}: {e}"
        ) from None
    if result.quantity is not None:
        return result.quantity
    if name == "cpu":
        return new_milli_quantity(go_int64(result.number * 1000))
    return new_quantity(go_int64(result.number))
