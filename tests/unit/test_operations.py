from __future__ import annotations

import itertools

import pytest

from protocol.models import Span
from protocol.operations import compute_numbers, extract_operations, normalize_number


def _operations(text: str) -> list[str]:
    spans = extract_operations(text, Span(start=0, end=len(text)))
    return [text[span.start : span.end] for span in spans]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("so in 10 hours it moves 5 * 10 = 50 degrees.", ["5 * 10 = 50"]),
        ("Final angle = Initial angle + Angle = 32 + 50 = 82 degrees.", ["32 + 50 = 82"]),
        ("so 3,000 / 4 = 750 apples", ["3,000 / 4 = 750"]),
        ("and 20% of 50 = 10.", ["20% of 50 = 10"]),
        ("x = -3", ["x = -3"]),
        ("f(-1)=-1, f(2)=-4", ["f(-1)=-1", "f(2)=-4"]),
        ("5! = 120", ["5! = 120"]),
        ("A = (6 * -3) - (0 + 5) = -18 - 5 = -23.", ["A = (6 * -3) - (0 + 5) = -18 - 5 = -23"]),
        ("so (5 + 3 = 8) holds", ["(5 + 3 = 8)"]),
        ("so 5 + 3 = 8) holds", ["5 + 3 = 8"]),
    ],
)
def test_plain_text_equalities(text: str, expected: list[str]) -> None:
    assert _operations(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (r"\(\frac{1}{2} \times 4 = 2\)", [r"\frac{1}{2} \times 4 = 2"]),
        ("we get $x^2 = 9$ so", ["x^2 = 9"]),
        (r"then \(a \cdot b = 6\).", [r"a \cdot b = 6"]),
        (r"\[ g \nabla 6 = g^2 - 6^2 = 45 \]", [r"g \nabla 6 = g^2 - 6^2 = 45"]),
        (r"\[ \left( x + 1 \right)^2 = 4 \]", [r"\left( x + 1 \right)^2 = 4"]),
        (r"\( x \neq 2 \) and \( y \leq 3 \)", [r"x \neq 2", r"y \leq 3"]),
        (r"\[ \sqrt2 \approx 1.41 \]", [r"\sqrt2 \approx 1.41"]),
    ],
)
def test_latex_equalities(text: str, expected: list[str]) -> None:
    assert _operations(text) == expected


def test_comparisons() -> None:
    text = "x <= 5, y ≥ 3, z ≠ 4 and 3 != 4 while 2 < 7 > 1"
    assert _operations(text) == ["x <= 5", "y ≥ 3", "z ≠ 4", "3 != 4", "2 < 7 > 1"]


def test_word_sorting_chains() -> None:
    text = 'Hence, we have "accuracy" < "beetle" < "boutique". Done.'
    assert _operations(text) == ['"accuracy" < "beetle" < "boutique"']


def test_word_sorting_chain_with_groups_is_one_operation() -> None:
    text = 'We now have: (1) "accuracy" < (2) ["beetle" ? "boutique"] < (4) "durham".'
    assert _operations(text) == ['(1) "accuracy" < (2) ["beetle" ? "boutique"] < (4) "durham"']


@pytest.mark.parametrize(
    "text",
    [
        "x ==> y",
        "a => b and p --> q",
        "see http://example.com/?a=1&b=2 for details",
        "key=value and name=foo",
        "= 5",
        "the total is = ",
        "> ; stack: ( < <",
        "( < < < ( < < > > ) > > >",
        "We add 5 and 10 to get the total.",
        "5 * 10",
        "Let's say = 4",
    ],
)
def test_non_operations_are_skipped(text: str) -> None:
    assert _operations(text) == []


def test_operations_stay_inside_the_step_and_do_not_cross_lines() -> None:
    text = "a = 1\nb = 2 c = 3"
    step = Span(start=6, end=11)
    assert [text[s.start : s.end] for s in extract_operations(text, step)] == ["b = 2"]
    assert _operations(text) == ["a = 1", "b = 2 c = 3"]


def test_operations_are_sorted_and_disjoint() -> None:
    text = "1 + 1 = 2, then 2 * 3 = 6; finally 6 - 1 = 5 and 5 < 6."
    spans = extract_operations(text, Span(start=0, end=len(text)))
    assert len(spans) == 4
    assert all(a.end <= b.start for a, b in itertools.pairwise(spans))


def test_long_unbalanced_run_is_handled_quickly() -> None:
    text = "(" * 20_000 + "x = 1"
    assert _operations(text) == ["x = 1"]


@pytest.mark.parametrize(
    ("raw", "normal"),
    [("1,000", "1000"), ("3.50", "3.5"), ("3.0", "3"), ("007", "7"), ("0", "0"), ("0.25", "0.25")],
)
def test_normalize_number(raw: str, normal: str) -> None:
    assert normalize_number(raw) == normal


def test_compute_numbers_reads_a_range() -> None:
    text = "from 1,000 to 3.50 and x_2 or (1,16)"
    assert compute_numbers(text) == ("1000", "3.5", "2", "1", "16")
    assert compute_numbers(text, 5, 10) == ("1000",)


@pytest.mark.parametrize(
    "text",
    [
        r"so \(y^3 + Cy^2 + 7 = 0\) here",  # read from "^2 + 7 = 0": a capital coefficient
        "we find 2pq + 4 = 10 here",  # "pq" is a product, "4 = 10" its fragment's tail
        "the area is 3 (square units) + 4 + 5 = 12",  # the sum starts before the remark
        r"\[ 5^2 = 3^2 + PQ^2 \]",  # the right side goes on past a two-letter name
        r"\[ \frac{1}{3} \cdot MN = \frac{2}{3} \cdot MN \]",  # both sides cut by MN
        r"so 30 \geq 12\( n \) holds",  # "12 n": the product continues inside the math span
    ],
)
def test_an_operand_cut_by_a_symbol_is_not_an_operation(text: str) -> None:
    assert _operations(text) == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (r"\[ 2 + 3 = 5 = 4 + MN \]", ["2 + 3 = 5"]),  # the links before the cut stay
        (r"\[ y^2 + 1 = 3 + 7 = 10 \]", ["y^2 + 1 = 3 + 7 = 10"]),  # one-letter: nothing cut
        ("Side = 4 + 5 = 9", ["4 + 5 = 9"]),  # after a relation the operand is whole
        ("- 2 + 2 = 4", ["2 + 2 = 4"]),  # a list item, not a cut minus
        ("**Sum: 6 + 7 = 13**", ["6 + 7 = 13"]),  # Markdown bold, not products
        ("Is 3 + 4 = 7?", ["3 + 4 = 7"]),
    ],
)
def test_whole_operands_next_to_cut_markers_are_kept(text: str, expected: list[str]) -> None:
    assert _operations(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("try it:\n\\[ 4 + \\sqrt{9} = 5 \\]\n\\[ 7 = 5 \\]\n(False)", []),
        ("so 7 = 9, which is false. Then 2 + 2 = 4.", ["2 + 2 = 4"]),
        ("we reach 0 = 1, a contradiction", []),
        ("2 + 2 = 5 was our guess, and it is false", ["2 + 2 = 5"]),  # prose ends its reach
        ("By contradiction, 1 + 1 = 2 here", ["1 + 1 = 2"]),  # a method, not a verdict
    ],
)
def test_a_statement_the_text_refutes_is_not_an_operation(text: str, expected: list[str]) -> None:
    assert _operations(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("solve: -14 = x + 2 -16 = x. So", []),  # two equations, or a false chain
        ("a + 3 = 5 -2 = 3", []),  # a true chain, or a false "-2 = 3"
        ("x = 5 -3 = 2", ["x = 5 -3 = 2"]),  # no spaced operator: a careless minus
        ("x + 1 = 3 - 1 = 2", ["x + 1 = 3 - 1 = 2"]),  # a spaced minus is a minus
        ("(-5 + 3) * -2 = 4", ["(-5 + 3) * -2 = 4"]),  # a sign after an operator
        ("3 + 4 = 7 and 2 -1 = 1", ["3 + 4 = 7", "2 -1 = 1"]),  # separate runs
    ],
)
def test_a_run_that_reads_as_two_statements_is_not_an_operation(
    text: str, expected: list[str]
) -> None:
    assert _operations(text) == expected
