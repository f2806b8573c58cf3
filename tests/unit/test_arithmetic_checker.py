from __future__ import annotations

from fractions import Fraction

import pytest

from auditors.checkers import UnparseableError
from auditors.checkers.numeric import evaluate_expression
from auditors.checkers.relations import check_relation


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("7 * 12", Fraction(84)),
        ("2 * (8 + 5)", Fraction(26)),
        ("3,000 / 4", Fraction(750)),
        ("$15", Fraction(15)),
        ("84 apples", Fraction(84)),
        ("40 square centimetres", Fraction(40)),
        ("2^10", Fraction(1024)),
        ("20%", Fraction(1, 5)),
        ("-3 + 1.5", Fraction(-3, 2)),
        ("6 × 7 ÷ 2", Fraction(21)),
    ],
)
def test_evaluates_exactly(text: str, value: Fraction) -> None:
    assert evaluate_expression(text) == value


@pytest.mark.parametrize(
    ("relation", "holds"),
    [
        ("7 * 12 = 84 apples", True),
        ("6 * 15 = 80 dollars", False),
        ("47 > 52", False),
        ("52 - 47 = 5", True),
        ("1 + 1 = 2 = 4 / 2", True),
        ("1 + 1 = 2 = 5", False),
        ("1 / 3 = 0.33", True),
        ("2 / 3 = 0.66", False),
        ("3 ≤ 3", True),
        ("4 ≠ 4", False),
    ],
)
def test_relation_chains(relation: str, holds: bool) -> None:
    assert check_relation(relation) is holds


@pytest.mark.parametrize(
    "text",
    [
        "x + 1 = 2",
        "the answer = 4",
        "9^9^9 = 1",
        "1 / 0 = 1",
        "(1 + 2 = 3",
        "__import__('os') = 1",
        "no relation here",
        "1" * 500 + " = 1",
    ],
)
def test_unparseable_or_hostile_text_is_refused(text: str) -> None:
    with pytest.raises(UnparseableError):
        check_relation(text)
