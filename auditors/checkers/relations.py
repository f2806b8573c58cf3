"""Relation chains (`a = b = c`, `a < b`, `a \\leq b`): splitting them and judging one link."""

from __future__ import annotations

import re
from fractions import Fraction

from auditors.checkers.errors import UnparseableError
from auditors.checkers.limits import MAX_RELATION_CHARS
from auditors.checkers.numeric import evaluate_expression

_RELATION = re.compile(
    r"(<=|>=|!=|==|≤|≥|≠|≈|≡|=|<|>"
    r"|\\(?:neq|ne|leq|le|geq|ge|lt|gt|approx|equiv)(?![A-Za-z]))"
)
_NORMALIZED = {
    "==": "=",
    "≤": "<=",
    "≥": ">=",
    "≠": "!=",
    "\\neq": "!=",
    "\\ne": "!=",
    "\\leq": "<=",
    "\\le": "<=",
    "\\geq": ">=",
    "\\ge": ">=",
    "\\lt": "<",
    "\\gt": ">",
    "\\approx": "≈",
    "\\equiv": "≡",
}
#: Relative error accepted for `≈` when the right side gives no decimals to round to.
APPROXIMATION_TOLERANCE = Fraction(1, 100)


def split_chain(text: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(operands, relations) of a chain: n + 1 operand texts around n normalised relations.

    UnparseableError when the text is too long or holds no relation.
    """
    if len(text) > MAX_RELATION_CHARS:
        raise UnparseableError("relation too long")
    pieces = _RELATION.split(text)
    if len(pieces) < 3:
        raise UnparseableError("no relation")
    relations = tuple(_NORMALIZED.get(op, op) for op in pieces[1::2])
    return tuple(pieces[::2]), relations


def is_link_true(left: Fraction, relation: str, right: Fraction, right_text: str) -> bool:
    """Whether `left relation right` holds; a decimal right side written with d places accepts
    a left side that rounds to it ("1/3 = 0.33"), and `≈` also accepts a 1% relative error."""
    rounded = _rounded_like(right, left, right_text)
    if relation == "≈":
        return rounded == right or abs(left - right) <= APPROXIMATION_TOLERANCE * abs(right)
    return {
        "=": left == rounded,
        "≡": left == rounded,
        "<": left < right,
        ">": left > right,
        "<=": left <= right,
        ">=": left >= right,
        "!=": left != right,
    }[relation]


def check_relation(text: str) -> bool:
    """True when every link of a numeric relation chain holds; UnparseableError when some
    operand is not plain arithmetic (symbols included) or the text holds no relation.

    Rounded results ("1/3 = 0.33") are accepted when they match to the decimals written.
    """
    operands, relations = split_chain(text)
    values = [evaluate_expression(operand) for operand in operands]
    return all(
        is_link_true(values[index], relation, values[index + 1], operands[index + 1])
        for index, relation in enumerate(relations)
    )


def _rounded_like(right: Fraction, left: Fraction, right_text: str) -> Fraction:
    """If `right` is a decimal written with d places and `left` rounds to it, return `left`."""
    match = re.search(r"\d\.(\d+)", right_text)
    if match is None:
        return right
    places = len(match.group(1))
    return left if round(left, places) == right else right
