"""Tier-1 arithmetic and algebra checkers: exact numeric links, LaTeX, symbolic identities,
equation solutions, and an evaluator that agrees with Fraction arithmetic."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from auditors.checkers import AlgebraChecker, ArithmeticChecker, Tier1Checker
from auditors.checkers.chains import is_bare_number
from auditors.checkers.numeric import evaluate_expression
from protocol.models import Level, Segment, Tier, Vote

ZERO = "0x" + "0" * 64


def make_segment(
    text: str, level: Level = Level.STEP, context: tuple[str, ...] = (), problem: str = "p"
) -> Segment:
    return Segment(
        trace_id=ZERO,
        index=0,
        node_id=ZERO,
        level=level,
        tier=Tier.CHECKER,
        problem=problem,
        text=text,
        context=context,
    )


@pytest.mark.parametrize(
    ("text", "value"),
    [
        (r"\frac{3}{4} + \frac{1}{4}", Fraction(1)),
        (r"3 \times 4 \cdot 2", Fraction(24)),
        (r"12 \div 4", Fraction(3)),
        (r"\left( 2 + 3 \right)^{2}", Fraction(25)),
        (r"$2^{10}$", Fraction(1024)),
        (r"\sqrt{16} + 1", Fraction(5)),
        ("(-17) + -3", Fraction(-20)),
        ("−5 + 2", Fraction(-3)),
        ("50% of 80", Fraction(40)),
        (r"25\% \cdot 8", Fraction(2)),
        ("1{,}000 + 2,500", Fraction(3500)),
        ("€12.50 + 2.50 dollars", Fraction(15)),
        ("2(3 + 4)", Fraction(14)),
    ],
)
def test_evaluates_latex_and_plain_text_exactly(text: str, value: Fraction) -> None:
    assert evaluate_expression(text) == value


@pytest.mark.parametrize(
    ("text", "vote"),
    [
        (r"So $\frac{1}{2} + \frac{1}{3} = \frac{5}{6}$.", Vote.VALID),
        (r"So $\frac{1}{2} + \frac{1}{3} = \frac{2}{5}$.", Vote.INVALID),
        (r"We get \(3 \times 4 = 12\) apples.", Vote.VALID),
        ("B = ((-2) - (-18)) = 16.", Vote.VALID),
        ("B = ((-2) - (-18)) = -20.", Vote.INVALID),
        ("The tip is 15% of 80 = 12 dollars.", Vote.VALID),
        ("It costs 1,250 + 250 = 1,400 dollars.", Vote.INVALID),
        ("Since 47 > 52, we stop.", Vote.INVALID),
        ("The ratio is 2/3 ≈ 0.67.", Vote.VALID),
        ("Nothing to compute here.", Vote.ABSTAIN),
    ],
)
def test_arithmetic_checker_votes(text: str, vote: Vote) -> None:
    assert ArithmeticChecker().judge(make_segment(text)).vote is vote


def test_symbols_defined_in_context_are_substituted() -> None:
    context = ("Let's calculate A = (2 * 3) = 6.", "Let's calculate B = (1 + 1) = 2.")
    good = make_segment("A * B = 6 * 2 = 12.", context=context)
    bad = make_segment("A * B = 6 * 3 = 18.", context=context)
    assert ArithmeticChecker().judge(good).vote is Vote.VALID
    assert ArithmeticChecker().judge(bad).vote is Vote.INVALID


def test_a_definition_alone_is_not_judged() -> None:
    segment = make_segment("where A = (6 * -3) and B = (0 + 5)")
    assert ArithmeticChecker().judge(segment).vote is Vote.ABSTAIN


@pytest.mark.parametrize(
    ("text", "vote"),
    [
        ("Expanding, (x+1)^2 = x^2 + 2x + 1.", Vote.VALID),
        ("Expanding, (x+1)^2 = x^2 + 2x + 2.", Vote.INVALID),
        ("So (x+1)^2 = (x+1)(x+1) = x^2 + x + 1.", Vote.INVALID),
        (r"\frac{x^2 - 1}{x - 1} = x + 1", Vote.VALID),
        # Fractional coefficients: sympy's cancel can leave `1/4 - 1/4` unevaluated.
        (r"So \((t + \frac{1}{2})^2 = t^2 + t + \frac{1}{4}\).", Vote.VALID),
        (r"So \((y - \frac{2}{3})^2 = y^2 - \frac{4}{3}y + \frac{4}{9}\).", Vote.VALID),
        (r"So \((y - \frac{2}{3})^2 = y^2 - \frac{4}{3}y + \frac{5}{9}\).", Vote.INVALID),
        (r"a^2 - b^2 \equiv (a-b)(a+b)", Vote.VALID),
        (r"x^2 + 1 \equiv 2x", Vote.INVALID),
        ("From 2x + 3 = 11 we get x = 4.", Vote.VALID),
        ("From 2x + 3 = 11 we get x = 5.", Vote.INVALID),
        ("x^2 = 9, so x = -3.", Vote.VALID),
        ("The line is 3x = x + 8.", Vote.ABSTAIN),
    ],
)
def test_algebra_checker_votes(text: str, vote: Vote) -> None:
    assert AlgebraChecker().judge(make_segment(text)).vote is vote


def test_solution_checked_against_an_equation_in_the_context() -> None:
    segment = make_segment("Therefore y = 7.", context=("We have 3y - 1 = 20.",))
    wrong = make_segment("Therefore y = 6.", context=("We have 3y - 1 = 20.",))
    assert Tier1Checker().judge(segment).vote is Vote.VALID
    assert Tier1Checker().judge(wrong).vote is Vote.INVALID


def test_function_application_is_not_a_product() -> None:
    assert Tier1Checker().judge(make_segment("f(x) = x^2 + 1")).vote is Vote.ABSTAIN


_LEAVES = st.integers(min_value=-50, max_value=50).map(Fraction)


def _expressions() -> st.SearchStrategy[tuple[str, Fraction]]:
    leaves = _LEAVES.map(lambda value: (f"({value})" if value < 0 else str(value), value))
    return st.recursive(leaves, _combine, max_leaves=12)


def _combine(
    children: st.SearchStrategy[tuple[str, Fraction]],
) -> st.SearchStrategy[tuple[str, Fraction]]:
    return (
        st.tuples(children, st.sampled_from(["+", "-", "*", "/"]), children)
        .filter(lambda parts: not (parts[1] == "/" and parts[2][1] == 0))
        .map(_apply)
    )


def _apply(parts: tuple[tuple[str, Fraction], str, tuple[str, Fraction]]) -> tuple[str, Fraction]:
    (left_text, left), operator, (right_text, right) = parts
    value = {"+": left + right, "-": left - right, "*": left * right}.get(operator)
    return f"({left_text} {operator} {right_text})", left / right if value is None else value


@settings(max_examples=200, deadline=None)
@given(_expressions())
def test_the_evaluator_agrees_with_fraction_arithmetic(expression: tuple[str, Fraction]) -> None:
    text, value = expression
    assert evaluate_expression(text) == value
    claim = make_segment(f"{text} = {value.numerator}/{value.denominator}", Level.OPERATION)
    # A lone leaf (`7 = 7/1`) is a bare first operand, which an operation drops as maybe cut.
    expected = Vote.ABSTAIN if is_bare_number(text) else Vote.VALID
    assert ArithmeticChecker().judge(claim).vote is expected


@pytest.mark.parametrize(
    "text",
    [
        "Convert minutes to hours: 180 minutes / 60 = 3 hours.",  # read as "60 = 3"
        r"so \(\log_2{8} = 3\).",  # read as "{8} = 3"
        "That is 0.2 * 100 = 20%.",
        "Divide: 3970 ÷ 8 = 496 remainder 2.",
        r"We have 2^{-1} + 3^{-1} \equiv 4 + 5 \pmod 7.",
    ],
)
def test_common_readings_are_not_misjudged(text: str) -> None:
    assert Tier1Checker().judge(make_segment(text)).vote is not Vote.INVALID


def test_a_cut_off_first_operand_still_leaves_later_links_judged() -> None:
    segment = make_segment("Number of dozens = cookies / 12 = 66 / 12 = 6 dozen.")
    assert Tier1Checker().judge(segment).vote is Vote.INVALID


@pytest.mark.parametrize(
    ("text", "vote"),
    [
        # Spans of "$45,000 = 0.2 * ...", "240 minutes / 60 = 4", "log_3 81 = 4", "AB^{2} = ...".
        ("45,000 = 0.2", Vote.ABSTAIN),
        ("60 = 4", Vote.ABSTAIN),
        ("{81} = 4", Vote.ABSTAIN),
        ("15 = 45 / 15 = 3", Vote.VALID),
        ("15 = 45 / 15 = 4", Vote.INVALID),
        ("45 / 15 = 4", Vote.INVALID),
    ],
)
def test_an_operation_drops_a_bare_number_it_may_have_been_cut_from(text: str, vote: Vote) -> None:
    assert Tier1Checker().judge(make_segment(text, Level.OPERATION)).vote is vote


def test_a_step_still_judges_a_bare_number_nothing_cuts_off() -> None:
    assert Tier1Checker().judge(make_segment("Since 8 = 3 + 4, we stop.")).vote is Vote.INVALID


def test_a_cut_off_chain_in_the_context_leaves_the_segment_judged() -> None:
    # "60 = 4" loses its cut-off first operand and with it its only relation; that empty chain
    # once made the checker raise, so the whole segment abstained.
    context = ("It takes 240 minutes / 60 = 4 hours.",)
    segment = make_segment("So 4 * 3 = 13 hours in all.", context=context)
    assert Tier1Checker().judge(segment).vote is Vote.INVALID
    assert Tier1Checker().judge(make_segment("So 240 minutes / 60 = 5 hours.")).vote is Vote.ABSTAIN


def test_a_symbol_is_substituted_only_after_its_definition() -> None:
    # y is an unknown in the equation; its later (rounded) value must not be substituted back.
    text = "We need (y+2)y = 50, so y = (-2 + 14.28)/2 = 6.14. Then y * 2 = 12.28."
    assert Tier1Checker().judge(make_segment(text)).vote is Vote.VALID
    wrong = "We need (y+2)y = 50, so y = (-2 + 14.28)/2 = 6.14. Then y * 2 = 12.5."
    assert Tier1Checker().judge(make_segment(wrong)).vote is Vote.INVALID


def test_a_symbol_the_segment_sets_again_is_not_taken_from_the_context() -> None:
    context = ("Case 1: y + 3 = 10, so y = 10 - 3 = 7.",)
    text = "Case 2: 2y = 10, so y = 10 / 2."
    assert Tier1Checker().judge(make_segment(text, context=context)).vote is not Vote.INVALID
    uses = make_segment("Then y * 3 = 22.", context=context)
    assert Tier1Checker().judge(uses).vote is Vote.INVALID


@pytest.mark.parametrize(
    "text",
    [
        r"By the law of cosines \[ 7^2 = 5^2 + PQ^2 - 2 \cdot 5 \cdot PQ \cdot \frac{1}{2} \]",
        r"so \(t^3 + Dt^2 + 40 = 0\) has a root",
        "count 5 (the ends) + 4 + 3 = 12 ways",
        r"so 50 \leq 16\( m \) holds",
        r"Take $20\%$ of $\$2.50 = 0.50$ off.",
        "Check: \\[ 3 + \\sqrt{4} = 1 \\]\n\\[ 5 = 1 \\]\n(False)",
    ],
)
def test_fragments_and_refuted_statements_are_not_judged(text: str) -> None:
    assert Tier1Checker().judge(make_segment(text)).vote is not Vote.INVALID


@pytest.mark.parametrize(
    "text",
    [
        r"By the law of cosines \[ 7^2 = 5^2 + 3^2 \]",
        r"so \(2^3 + 2^2 + 40 = 50\) holds",
        "count 5 + 4 + 3 = 13 ways",
        r"so 50 \leq 16 holds",
        r"Take $\$2.50 = 0.50$ off.",
        "Check: \\[ 3 + \\sqrt{4} = 1 \\]\n\\[ 5 = 1 \\]\n(True)",
    ],
)
def test_the_same_shapes_written_whole_and_false_are_invalid(text: str) -> None:
    assert Tier1Checker().judge(make_segment(text)).vote is Vote.INVALID


@pytest.mark.parametrize(
    ("text", "vote"),
    [
        # Cases and trials: the values are tried or excluded, not claimed as solutions.
        (r"For \(n = 2\): \((n+1)^n - 1 = 3^2 - 1 = 8\), and for \(n = 3\) it is 63.", None),
        (r"Given \(y^2 - 5y + 4 = 0\), the domain excludes \(y = 0\).", None),
        (r"Given \(y^2 - 5y + 4 = 0\), none of the roots is \(y = 0\).", None),
        (r"Given \(y^2 - 5y + 4 = 0\), substitute \(y = 2\) to test it.", None),
        (r"Given \(y^2 - 5y + 4 = 0\), \(y = 2\) does not satisfy it.", None),
        # The same equations with the values claimed: judged.
        (r"Given \(y^2 - 5y + 4 = 0\), the root is \(y = 2\).", Vote.INVALID),
        (r"Given \(y^2 - 5y + 4 = 0\), the root is \(y = 4\).", Vote.VALID),
        (r"From \(3t - 1 = 2^3 - 1\) we get \(t = 2\).", Vote.INVALID),
        # A link that substitutes symbols bound elsewhere is no identity claim.
        (r"\(v = \frac{d}{t} = \frac{3s}{2s^2} = \frac{3}{2s}\)", Vote.VALID),
        (r"\(v = \frac{d}{t} = \frac{3s}{2s^2} = \frac{3}{s}\)", Vote.INVALID),
    ],
)
def test_solutions_are_judged_only_where_claimed(text: str, vote: Vote | None) -> None:
    result = AlgebraChecker().judge(make_segment(text)).vote
    assert result is not Vote.INVALID if vote is None else result is vote


@pytest.mark.parametrize(
    ("text", "vote"),
    [
        (r"\[ \left[ \frac{15}{2} \right] = [7.5] = 7 \]", Vote.VALID),  # integer part
        (r"\[ [7.5] = 8 \]", Vote.ABSTAIN),  # nearest integer, in some texts
        (r"\[ \left[ \frac{15}{2} \right] = [7.5] = 6 \]", Vote.INVALID),
        (r"\[ [3 + 4] = 8 \]", Vote.INVALID),  # brackets around an integer group it
        (r"\[ (7.5) = 7 \]", Vote.INVALID),
    ],
)
def test_square_brackets_around_a_non_integer_may_be_its_integer_part(
    text: str, vote: Vote
) -> None:
    assert ArithmeticChecker().judge(make_segment(text)).vote is vote


@pytest.mark.parametrize(
    ("problem", "vote"),
    [
        # Squaring a root equation yields extraneous candidates that a text states, then rejects.
        (r"Solve \(\sqrt{z + 3} = z - 3\).", Vote.ABSTAIN),
        (r"Solve \(z + 3 = 3z - 3\).", Vote.INVALID),
    ],
)
def test_a_value_failing_a_root_equation_may_be_an_extraneous_candidate(
    problem: str, vote: Vote
) -> None:
    segment = make_segment("z = 1", level=Level.OPERATION, problem=problem)
    assert AlgebraChecker().judge(segment).vote is vote
