"""Expressions as a small typed AST, parsed from whitelisted tokens by recursive descent.

Grammar (precedence low to high): sums, products (explicit or implicit: `2x`, `2(3+4)`,
`(a)(b)`), unary signs, right-associative powers, postfix percent (`20%`, `50% of 80`),
atoms (numbers, one-letter symbols, brackets, `\\frac{a}{b}`, `\\sqrt{a}`). A function letter
directly before a bracket (`f(x)`) is refused: it is an application, not a product.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from auditors.checkers.errors import UnparseableError
from auditors.checkers.limits import MAX_NESTING, MAX_OPERAND_DIGITS
from auditors.checkers.tokens import Token, tokenize


@dataclass(frozen=True, slots=True)
class Num:
    value: Fraction


@dataclass(frozen=True, slots=True)
class Sym:
    name: str


@dataclass(frozen=True, slots=True)
class Neg:
    operand: Expr


@dataclass(frozen=True, slots=True)
class Sqrt:
    operand: Expr


@dataclass(frozen=True, slots=True)
class Bin:
    """A binary operation; `op` is one of + - * / ^."""

    op: str
    left: Expr
    right: Expr


Expr = Num | Sym | Neg | Sqrt | Bin

_ATOM_STARTS = frozenset({"number", "symbol", "open", "frac", "sqrt"})
_CLOSING = {"(": ")", "[": "]", "{": "}"}


def parse_expression(text: str, *, x_is_times: bool = False) -> Expr:
    """The AST of `text`; UnparseableError when it is empty, malformed or out of bounds.

    With `x_is_times`, a lone `x` between two operands is multiplication (`6 x 7`), which is
    how plain-text arithmetic writes it; algebra parses `x` as a symbol.
    """
    tokens = _drop_units(tokenize(text))
    if not tokens:
        raise UnparseableError("empty expression")
    parser = _Parser(tokens, x_is_times)
    tree = parser.expression()
    if parser.peek() is not None:
        raise UnparseableError(f"unexpected {parser.peek()!r}")
    return tree


def _drop_units(tokens: tuple[Token, ...]) -> list[Token]:
    """Drop unit words where a unit may stand: after a number, a closing bracket, a percent
    sign or another dropped unit. A word anywhere else ("the answer = 4") is kept, and the
    parser refuses it."""
    kept: list[Token] = []
    dropping = False
    for token in tokens:
        if token.kind != "unit":
            dropping = False
        elif dropping or (kept and kept[-1].kind in ("number", "close", "percent")):
            dropping = True
            continue
        kept.append(token)
    return kept


class _Parser:
    def __init__(self, tokens: list[Token], x_is_times: bool) -> None:
        self._tokens = tokens
        self._position = 0
        self._depth = 0
        self._x_is_times = x_is_times

    def peek(self, offset: int = 0) -> Token | None:
        index = self._position + offset
        return self._tokens[index] if index < len(self._tokens) else None

    def take(self) -> Token:
        token = self.peek()
        if token is None:
            raise UnparseableError("unexpected end of expression")
        self._position += 1
        return token

    def expression(self) -> Expr:
        tree = self.term()
        while (token := self.peek()) is not None and token.text in ("+", "-"):
            operator = self.take().text
            tree = Bin(operator, tree, self.term())
        return tree

    def term(self) -> Expr:
        tree = self.unary()
        while True:
            operator = self._product_operator(tree)
            if operator is None:
                return tree
            tree = Bin(operator, tree, self.unary())

    def _product_operator(self, left: Expr) -> str | None:
        """`*` or `/` when a product continues (consuming an explicit operator), else None."""
        token = self.peek()
        if token is None:
            return None
        if token.text in ("*", "/") or token.kind == "of" or self._is_times_x(token):
            self.take()
            return "/" if token.text == "/" else "*"
        if token.kind in _ATOM_STARTS and _is_implicit_product(left, token):
            return "*"
        return None

    def _is_times_x(self, token: Token) -> bool:
        following = self.peek(1)
        return (
            self._x_is_times
            and token.text == "x"
            and following is not None
            and following.kind in ("number", "open")
        )

    def unary(self) -> Expr:
        token = self.peek()
        if token is not None and token.text in ("-", "+"):
            self.take()
            operand = self.unary()
            return Neg(operand) if token.text == "-" else operand
        return self.power()

    def power(self) -> Expr:
        base = self.postfix()
        token = self.peek()
        if token is not None and token.text == "^":
            self.take()
            return Bin("^", base, self.unary())
        return base

    def postfix(self) -> Expr:
        tree = self.atom()
        while (token := self.peek()) is not None and token.kind == "percent":
            self.take()
            tree = Bin("/", tree, Num(Fraction(100)))
        return tree

    def atom(self) -> Expr:
        token = self.take()
        if token.kind == "number":
            return _number(token.text)
        if token.kind == "symbol" and not (self._x_is_times and token.text == "x"):
            return Sym(token.text)
        if token.kind == "open":
            return self.group(token)
        if token.kind == "frac":
            return Bin("/", self.braced(), self.braced())
        if token.kind == "sqrt":
            return Sqrt(self.braced())
        raise UnparseableError(f"unexpected {token.text!r}")

    def braced(self) -> Expr:
        token = self.take()
        if token.text != "{":
            raise UnparseableError("LaTeX argument without braces")
        return self.group(token)

    def group(self, opener: Token) -> Expr:
        self._depth += 1
        if self._depth > MAX_NESTING:
            raise UnparseableError("brackets nested too deeply")
        tree = self.expression()
        if self.take().text != _CLOSING[opener.text]:
            raise UnparseableError("unbalanced bracket")
        self._depth -= 1
        return tree


#: Letters conventionally naming functions: `f(x)` is an application, not a product.
FUNCTION_LETTERS = frozenset("fghFGHPQ")


def _is_implicit_product(left: Expr, following: Token) -> bool:
    """`2x`, `2(3)`, `(a)(b)`, `x(x+1)`: yes; `2 3` (two numbers) and `f(x)`: no."""
    if following.kind == "number":
        return False
    return not (
        isinstance(left, Sym) and left.name in FUNCTION_LETTERS and following.kind == "open"
    )


def _number(text: str) -> Num:
    if len(text.replace(".", "")) > MAX_OPERAND_DIGITS:
        raise UnparseableError("operand too long")
    return Num(Fraction(text))


def compute_symbols(tree: Expr) -> frozenset[str]:
    """Names of the symbols in `tree`."""
    if isinstance(tree, Sym):
        return frozenset({tree.name})
    if isinstance(tree, Num):
        return frozenset()
    if isinstance(tree, Bin):
        return compute_symbols(tree.left) | compute_symbols(tree.right)
    return compute_symbols(tree.operand)


def compute_node_count(tree: Expr) -> int:
    """Number of AST nodes, the size bound for symbolic work."""
    if isinstance(tree, Num | Sym):
        return 1
    if isinstance(tree, Bin):
        return 1 + compute_node_count(tree.left) + compute_node_count(tree.right)
    return 1 + compute_node_count(tree.operand)
