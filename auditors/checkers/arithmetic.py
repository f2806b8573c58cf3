"""Arithmetic claims: every numeric link of every relation chain, judged exactly.

A link whose sides evaluate to numbers is judged with Fractions (`(-79 - 2) * 3 = -243`);
symbols defined as numbers (`A = ... = -79`) in the segment's context or earlier in its text
are substituted (`(A - B) * C = (-79 - 2) * 27`). A link with a lone symbol on one side
(`A = ...`) is a definition or a solution claim, not arithmetic: the algebra checker
judges solutions. Links with unbound symbols are left to the algebra checker too.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from fractions import Fraction

from auditors.checkers.base import Claim, judge_alone
from auditors.checkers.chains import (
    Chain,
    Operand,
    compute_binding,
    compute_bindings,
    drop_first_operand,
    is_bare_number,
    read_chain,
    read_chains,
)
from auditors.checkers.errors import UnparseableError
from auditors.checkers.limits import MAX_CLAIMS, MAX_SEGMENT_CHARS
from auditors.checkers.relations import is_link_true
from auditors.judgement import Judgement
from protocol.models import Level, Segment

_RELATION_HINT = re.compile(r"[=<>≤≥≠≈]|\\(?:ne|le|ge|lt|gt|approx)")
_DIGIT = re.compile(r"\d")
_ROUNDED_DECIMAL = re.compile(r"\d\.\d{3,}")
_DIVISION = re.compile(r"^[^-+*×·]*(?:/|÷|\\div)[^-+*×·/÷]*$")


def compute_segment_chains(segment: Segment) -> tuple[Chain, ...]:
    """The chains a segment asserts: an operation is one chain; any other level, every chain
    the operation extractor finds in its text. Empty when the text is over the size bound.

    An operation's text is the extractor's span alone, which starts at the first token the
    extractor reads: `$76,000 = ...`, `180 minutes / 60 = 3`, `\\log_2 64 = 6` and `BD^{2} = ...`
    reach the operation as `76,000 = ...`, `60 = 3`, `64 = 6`, `{2} = ...`. The step segment
    sees the text before the span and drops such a first operand (`read_chains`); the operation
    cannot, so it drops a first operand that is a bare number, the usual tail of a cut-off
    expression. A genuine link is not lost: the step segment still judges it when the text
    before it shows that nothing was cut.
    """
    if len(segment.text) > MAX_SEGMENT_CHARS:
        return ()
    if segment.level is not Level.OPERATION:
        return read_chains(segment.text)
    try:
        chain = read_chain(segment.text)
    except UnparseableError:
        return ()
    if is_bare_number(chain.operands[0].text):
        chain = drop_first_operand(chain)
    return (chain,) if chain.relations else ()


def compute_context_bindings(segment: Segment) -> dict[str, Fraction]:
    """Numeric definitions visible to the segment: its context's claims, then its own text."""
    context = [chain for claim in segment.context[:MAX_CLAIMS] for chain in read_chains(claim)]
    return compute_bindings([*context, *compute_segment_chains(segment)])


def compute_visible_bindings(
    segment: Segment, chains: tuple[Chain, ...]
) -> list[dict[str, Fraction]]:
    """For each of the segment's `chains`, the bindings visible to it: the context's, except
    for symbols the segment itself sets (`y = ...`), and those of the segment's chains before
    it. A symbol set in the segment is an unknown where it is used before (`(y+6)y/3 = 10508`,
    then `y = ...`), even when the context solved it for another case: substituting a value
    would judge an equation as arithmetic."""
    context = [chain for claim in segment.context[:MAX_CLAIMS] for chain in read_chains(claim)]
    own = compute_bindings(chains)
    assigned = {chain.operands[0].lone_symbol for chain in chains if chain.relations[0] == "="}
    visible = {
        name: value for name, value in compute_bindings(context).items() if name not in assigned
    }
    result: list[dict[str, Fraction]] = []
    for chain in chains:
        result.append(dict(visible))
        binding = compute_binding(chain)
        if binding is not None and binding[0] in own:
            visible[binding[0]] = own[binding[0]]
    return result


class ArithmeticChecker:
    """Judges numeric relation links exactly; abstains on a segment with none it can parse."""

    name = "arithmetic"

    def judge(self, segment: Segment) -> Judgement:
        """This checker alone as a judge (the registry's composite runs them together)."""
        return judge_alone(self, segment)

    def can_judge(self, segment: Segment) -> bool:
        """A digit and a relation sign: the cheapest test that any numeric link may exist."""
        text = segment.text
        return bool(_DIGIT.search(text)) and bool(_RELATION_HINT.search(text))

    def check(self, segment: Segment) -> tuple[Claim, ...]:
        chains = compute_segment_chains(segment)
        claims: list[Claim] = []
        for chain, bindings in zip(chains, compute_visible_bindings(segment, chains), strict=True):
            claims.extend(compute_link_claims(chain, bindings))
        return tuple(claims[:MAX_CLAIMS])


def compute_link_claims(chain: Chain, bindings: Mapping[str, Fraction]) -> list[Claim]:
    """One claim per link whose two sides evaluate to numbers, lone-symbol links skipped."""
    claims: list[Claim] = []
    for index, relation in enumerate(chain.relations):
        left, right = chain.operands[index], chain.operands[index + 1]
        if left.lone_symbol is not None or right.lone_symbol is not None:
            continue
        left_value, right_value = left.evaluate(bindings), right.evaluate(bindings)
        if left_value is None or right_value is None or relation == "≡":
            continue  # numeric ≡ is a congruence (mod n), not an equality
        holds = is_link_true(left_value, relation, right_value, right.text)
        if not holds and relation == "=" and is_lenient_reading(left, right):
            continue
        text = f"{left.text.strip()} {relation} {right.text.strip()}"
        reason = "holds exactly" if holds else f"left side is {_show(left_value)}"
        claims.append(Claim(text, holds, reason))
    return claims


def is_lenient_reading(left: Operand, right: Operand) -> bool:
    """True when a false-looking equality has a common reading under which it holds, so it
    is not judged: a percent on one side only (`0.2 * 100 = 20%`), an integer quotient
    (`3970 / 8 = 496`, remainder elided), square brackets as the integer part
    (`[7.5] = 7`), or a left side computed from rounded decimals (`(2.8284)^2 = 8`, within
    0.1%)."""
    left_value, right_value = left.value, right.value
    if left_value is None or right_value is None:
        return False
    one_percent = ("%" in left.text) != ("%" in right.text)
    if one_percent and left_value in (right_value * 100, right_value / 100):
        return True
    if _is_integer_quotient(left, left_value, right_value):
        return True
    if _is_integer_part(left, left_value, right_value):
        return True
    rounded = _ROUNDED_DECIMAL.search(left.text) is not None
    return rounded and abs(left_value - right_value) <= abs(right_value) / 1000


def _is_integer_quotient(left: Operand, left_value: Fraction, right_value: Fraction) -> bool:
    if _DIVISION.search(left.text) is None or right_value.denominator != 1:
        return False
    return right_value == left_value.numerator // left_value.denominator


def _is_integer_part(left: Operand, left_value: Fraction, right_value: Fraction) -> bool:
    """`[x]` is the integer part of x in many olympiad texts (floor), and in some the nearest
    integer; a non-integer in square brackets claimed equal to an integer less than 1 away
    holds under one of them, so it is not judged. An integer 1 or more away is false under
    both readings, and plain brackets around an integer are read as grouping as before."""
    if not _is_wholly_in_square_brackets(left.text) or right_value.denominator != 1:
        return False
    return left_value.denominator != 1 and abs(left_value - right_value) < 1


def _is_wholly_in_square_brackets(text: str) -> bool:
    """`[x]` or `\\left[ x \\right]`: the first bracket closes at the very end."""
    inner = text.replace("\\left", "").replace("\\right", "").strip()
    if not (inner.startswith("[") and inner.endswith("]")):
        return False
    depth = 0
    for position, character in enumerate(inner):
        depth += {"[": 1, "]": -1}.get(character, 0)
        if depth == 0:
            return position == len(inner) - 1
    return False


def _show(value: Fraction) -> str:
    return str(value.numerator) if value.denominator == 1 else str(value)
