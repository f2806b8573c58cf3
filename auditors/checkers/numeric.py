"""Exact evaluation of expression trees with Fractions, every operation size-bounded."""

from __future__ import annotations

from collections.abc import Mapping
from fractions import Fraction
from math import isqrt

from auditors.checkers.errors import UnparseableError
from auditors.checkers.expression import Bin, Expr, Neg, Num, Sqrt, Sym, parse_expression
from auditors.checkers.limits import MAX_EXPONENT, MAX_VALUE_BITS

_NO_BINDINGS: Mapping[str, Fraction] = {}


def evaluate_tree(tree: Expr, bindings: Mapping[str, Fraction] = _NO_BINDINGS) -> Fraction:
    """Exact value of `tree` with `bindings` for its symbols.

    UnparseableError on an unbound symbol, a division by zero, an irrational square root, a
    non-integer or too large exponent, or a value wider than MAX_VALUE_BITS.
    """
    if isinstance(tree, Num):
        return tree.value
    if isinstance(tree, Sym):
        if tree.name not in bindings:
            raise UnparseableError(f"unbound symbol {tree.name!r}")
        return bindings[tree.name]
    if isinstance(tree, Neg):
        return -evaluate_tree(tree.operand, bindings)
    if isinstance(tree, Sqrt):
        return _sqrt(evaluate_tree(tree.operand, bindings))
    left = evaluate_tree(tree.left, bindings)
    right = evaluate_tree(tree.right, bindings)
    return _bounded(_apply(tree, left, right))


def evaluate_expression(text: str) -> Fraction:
    """Exact value of plain-text or LaTeX arithmetic, units and currency stripped.

    `x` between operands is multiplication here; any symbol makes it unparseable.
    """
    return evaluate_tree(parse_expression(text, x_is_times=True))


def _apply(tree: Bin, left: Fraction, right: Fraction) -> Fraction:
    if tree.op == "+":
        return left + right
    if tree.op == "-":
        return left - right
    if tree.op == "*":
        return left * right
    if tree.op == "/":
        if right == 0:
            raise UnparseableError("division by zero")
        return left / right
    return _power(left, right)


def _power(base: Fraction, exponent: Fraction) -> Fraction:
    """base ** exponent for a small integer exponent, refused before computing when too wide."""
    if exponent.denominator != 1 or abs(exponent) > MAX_EXPONENT:
        raise UnparseableError("exponent out of range")
    if base == 0 and exponent < 0:
        raise UnparseableError("division by zero")
    width = max(base.numerator.bit_length(), base.denominator.bit_length())
    if width * abs(int(exponent)) > MAX_VALUE_BITS:
        raise UnparseableError("power too large")
    return base ** int(exponent)


def _sqrt(value: Fraction) -> Fraction:
    """The exact square root of a perfect-square rational; irrational roots are refused."""
    if value < 0:
        raise UnparseableError("square root of a negative number")
    numerator, denominator = isqrt(value.numerator), isqrt(value.denominator)
    if numerator**2 != value.numerator or denominator**2 != value.denominator:
        raise UnparseableError("irrational square root")
    return Fraction(numerator, denominator)


def _bounded(value: Fraction) -> Fraction:
    if max(value.numerator.bit_length(), value.denominator.bit_length()) > MAX_VALUE_BITS:
        raise UnparseableError("value too large")
    return value
