"""Symbolic equalities through sympy, built from our own AST (never from text) and size-bounded.

sympy never parses untrusted text here: the tree comes from the whitelisted tokenizer, and
it is refused before any sympy call when it has too many nodes or symbols, or when its
polynomial degree (an upper bound computed on the tree) could make expansion blow up.
"""

from __future__ import annotations

import importlib
from enum import Enum
from fractions import Fraction
from functools import cache
from typing import Any

from auditors.checkers.errors import UnparseableError
from auditors.checkers.expression import Bin, Expr, Neg, Num, Sqrt, Sym
from auditors.checkers.expression import compute_node_count as _node_count
from auditors.checkers.expression import compute_symbols as _symbols
from auditors.checkers.limits import MAX_SYMBOLIC_DEGREE, MAX_SYMBOLIC_NODES, MAX_SYMBOLS


class Identity(Enum):
    """How two expressions compare for every value of their symbols."""

    #: Equal as rational functions (an identity, such as (x+1)^2 = x^2+2x+1).
    HOLDS = "holds"
    #: They differ by a nonzero constant: false whatever the symbols' values.
    NEVER = "never"
    #: The difference depends on the symbols: an equation, or a wrong identity.
    DEPENDS = "depends"


def compute_identity(left: Expr, right: Expr) -> Identity:
    """Compare `left` and `right` symbolically; UnparseableError when out of bounds.

    Domain conditions are ignored ((x^2-1)/(x-1) = x+1 holds), as a textbook would.
    """
    _validate_bounds(left, right)
    sympy = _sympy()
    combined = sympy.together(_to_sympy(left) - _to_sympy(right))
    # Zero is decided on the expanded numerator: `cancel` can return an unevaluated sum of
    # rationals (`1/16 - 1/16` for `(x + 1/4)^2 - (x^2 + x/2 + 1/16)`), which is no symbol
    # and not `== 0`, so a true identity with fractional coefficients read as NEVER.
    numerator, _ = sympy.fraction(combined)
    if sympy.expand(numerator) == 0:
        return Identity.HOLDS
    if not sympy.cancel(combined).free_symbols:
        return Identity.NEVER
    return Identity.DEPENDS


@cache
def _sympy() -> Any:
    """sympy, imported on the first symbolic claim: it costs a node ~33 MB of memory, and
    most traces never need it."""
    return importlib.import_module("sympy")


def _validate_bounds(left: Expr, right: Expr) -> None:
    if _node_count(left) + _node_count(right) > MAX_SYMBOLIC_NODES:
        raise UnparseableError("expression too large for symbolic checking")
    if len(_symbols(left) | _symbols(right)) > MAX_SYMBOLS:
        raise UnparseableError("too many symbols")
    if compute_degree_bound(left) + compute_degree_bound(right) > MAX_SYMBOLIC_DEGREE:
        raise UnparseableError("degree too high for symbolic checking")


def compute_degree_bound(tree: Expr) -> int:
    """An upper bound of the total degree of numerator plus denominator of `tree`.

    Powers need a small integer exponent: a symbolic or huge one is refused.
    """
    if isinstance(tree, Num):
        return 0
    if isinstance(tree, Sym):
        return 1
    if isinstance(tree, Neg | Sqrt):
        return compute_degree_bound(tree.operand)
    left = compute_degree_bound(tree.left)
    if tree.op == "^":
        return left * abs(_integer_exponent(tree.right))
    right = compute_degree_bound(tree.right)
    return max(left, right) if tree.op in ("+", "-") else left + right


def _integer_exponent(tree: Expr) -> int:
    sign = 1
    if isinstance(tree, Neg):
        sign, tree = -1, tree.operand
    if not isinstance(tree, Num) or tree.value.denominator != 1:
        raise UnparseableError("symbolic checking needs an integer exponent")
    if tree.value > MAX_SYMBOLIC_DEGREE:
        raise UnparseableError("exponent too large for symbolic checking")
    return sign * int(tree.value)


def _to_sympy(tree: Expr) -> Any:
    if isinstance(tree, Num):
        return _rational(tree.value)
    if isinstance(tree, Sym):
        return _sympy().Symbol(tree.name)
    if isinstance(tree, Neg):
        return -_to_sympy(tree.operand)
    if isinstance(tree, Sqrt):
        return _sympy().sqrt(_to_sympy(tree.operand))
    left = _to_sympy(tree.left)
    if tree.op == "^":
        return left ** _sympy().Integer(_integer_exponent(tree.right))
    right = _to_sympy(tree.right)
    return _combine(tree.op, left, right)


def _combine(op: str, left: Any, right: Any) -> Any:
    if op == "+":
        return left + right
    if op == "-":
        return left - right
    if op == "*":
        return left * right
    if right == 0:
        raise UnparseableError("division by zero")
    return left / right


def _rational(value: Fraction) -> Any:
    return _sympy().Rational(value.numerator, value.denominator)


def is_symbolic(tree: Bin | Expr) -> bool:
    """True when the tree holds at least one symbol."""
    return bool(_symbols(tree))
