"""Algebra claims: symbolic identities and solutions of one-unknown equations.

Identities. A link with symbols on both sides is compared with sympy (bounded, see
`algebra`). Equal as rational functions: the claim holds. Differing by a nonzero constant
(`(x+1)^2 = x^2+2x+2`): false for every value, so false however it is read. Otherwise it may
be an equation to solve, so it is judged false only when it is asserted as an identity: `≡`,
or a link after the first of a chain of rewritings (`(x+1)^2 = (x+1)(x+1) = x^2+x+1`);
`≡` next to `mod` is a congruence and is not judged.

Solutions. `x = 4` (a lone symbol and a number) is checked against every equation in the one
unknown x stated in the segment's text, context or problem (`2x + 3 = 11`): it holds when it
satisfies them all, fails when it satisfies none, and is not judged when it satisfies some
(those equations may belong to different sub-problems).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from fractions import Fraction

from auditors.checkers.algebra import Identity, compute_identity, is_symbolic
from auditors.checkers.arithmetic import compute_segment_chains
from auditors.checkers.base import Claim, judge_alone
from auditors.checkers.chains import Chain, Operand, read_chains
from auditors.checkers.errors import UnparseableError
from auditors.checkers.expression import compute_symbols
from auditors.checkers.limits import MAX_CLAIMS
from auditors.checkers.relations import is_link_true
from auditors.judgement import Judgement
from protocol.models import Segment

_MOD = re.compile(r"\bmod\b|\\pmod|\\bmod|\\mod")
_SYMBOL = re.compile(r"(?<![A-Za-z\\])[A-Za-z](?![A-Za-z])")


@dataclass(frozen=True)
class _Equation:
    unknown: str
    left: Operand
    right: Operand
    text: str


class AlgebraChecker:
    """Judges symbolic identities and claimed solutions; abstains when it finds neither."""

    name = "algebra"

    def judge(self, segment: Segment) -> Judgement:
        """This checker alone as a judge (the registry's composite runs them together)."""
        return judge_alone(self, segment)

    def can_judge(self, segment: Segment) -> bool:
        """An equality sign and a one-letter symbol somewhere in the text."""
        text = segment.text
        has_equality = "=" in text or "≡" in text or "\\equiv" in text
        return has_equality and _SYMBOL.search(text) is not None

    def check(self, segment: Segment) -> tuple[Claim, ...]:
        chains = compute_segment_chains(segment)
        congruences = _MOD.search(segment.text) or _MOD.search(segment.problem)
        claims = [
            claim
            for chain in chains
            for claim in _compute_identity_claims(chain)
            if not (congruences and "≡" in claim.text)
        ]
        if len(claims) < MAX_CLAIMS:
            equations = _compute_equations(_compute_visible_chains(segment, chains))
            claims.extend(_compute_solution_claims(chains, equations))
        return tuple(claims[:MAX_CLAIMS])


def _compute_visible_chains(segment: Segment, own: tuple[Chain, ...]) -> list[Chain]:
    context = [chain for claim in segment.context[:MAX_CLAIMS] for chain in read_chains(claim)]
    return [*read_chains(segment.problem), *context, *own]


def _compute_identity_claims(chain: Chain) -> list[Claim]:
    claims: list[Claim] = []
    for index, relation in enumerate(chain.relations):
        left, right = chain.operands[index], chain.operands[index + 1]
        if relation not in ("=", "≡") or not _are_symbolic_expressions(left, right):
            continue
        claim = _judge_identity(chain, index, left, right)
        if claim is not None:
            claims.append(claim)
    return claims


def _are_symbolic_expressions(left: Operand, right: Operand) -> bool:
    """Both sides parsed, both hold a symbol, neither is a lone symbol (a definition)."""
    if left.tree is None or right.tree is None:
        return False
    if left.lone_symbol is not None or right.lone_symbol is not None:
        return False
    return is_symbolic(left.tree) and is_symbolic(right.tree)


def _judge_identity(chain: Chain, index: int, left: Operand, right: Operand) -> Claim | None:
    if left.tree is None or right.tree is None:
        return None
    try:
        identity = compute_identity(left.tree, right.tree)
    except UnparseableError:
        return None
    text = f"{left.text.strip()} {chain.relations[index]} {right.text.strip()}"
    if identity is Identity.HOLDS:
        return Claim(text, True, "identity holds symbolically")
    if identity is Identity.NEVER:
        return Claim(text, False, "the sides differ by a nonzero constant")
    # The first link of a chain may be the equation being worked on (`2b = (2p)^2 + 2 = ...`);
    # later links are rewritings of one expression, so they claim an identity.
    if chain.relations[index] == "≡" or index >= 1:
        return Claim(text, False, "not an identity")
    return None


def _compute_equations(chains: Iterable[Chain]) -> list[_Equation]:
    """Links in exactly one unknown where neither side is that unknown alone."""
    equations: list[_Equation] = []
    for chain in chains:
        for index, relation in enumerate(chain.relations):
            left, right = chain.operands[index], chain.operands[index + 1]
            unknown = _single_unknown(left, right)
            if relation == "=" and unknown is not None:
                equations.append(_Equation(unknown, left, right, chain.text))
    return equations


def _single_unknown(left: Operand, right: Operand) -> str | None:
    if left.lone_symbol is not None or right.lone_symbol is not None:
        return None
    symbols = frozenset().union(*(_operand_symbols(side) for side in (left, right)))
    return next(iter(symbols)) if len(symbols) == 1 else None


def _operand_symbols(operand: Operand) -> frozenset[str]:
    if operand.value is not None:
        return frozenset()
    if operand.tree is None:
        return frozenset({"?", "??"})  # unparsed: never a one-unknown equation
    return compute_symbols(operand.tree)


def _compute_solution_claims(chains: Iterable[Chain], equations: list[_Equation]) -> list[Claim]:
    claims: list[Claim] = []
    for chain in chains:
        solution = _claimed_solution(chain)
        if solution is None:
            continue
        name, value = solution
        relevant = [equation for equation in equations if equation.unknown == name]
        claim = _judge_solution(name, value, relevant)
        if claim is not None:
            claims.append(claim)
    return claims


def _claimed_solution(chain: Chain) -> tuple[str, Fraction] | None:
    """(x, v) for a chain `x = ... = v` of equalities whose last side is a number."""
    name = chain.operands[0].lone_symbol
    last = chain.operands[-1].value
    if name is None or last is None or any(op != "=" for op in chain.relations):
        return None
    return name, last


def _judge_solution(name: str, value: Fraction, equations: list[_Equation]) -> Claim | None:
    verdicts = [_satisfies(equation, {name: value}) for equation in equations]
    known = [verdict for verdict in verdicts if verdict is not None]
    if not known or (any(known) and not all(known)):
        return None
    text = f"{name} = {value}"
    if all(known):
        return Claim(text, True, f"satisfies {len(known)} equation(s) in {name}")
    return Claim(text, False, f"does not satisfy {equations[0].text.strip()!r}")


def _satisfies(equation: _Equation, bindings: dict[str, Fraction]) -> bool | None:
    if equation.left.tree is None and equation.left.value is None:
        return None
    left = equation.left.evaluate(bindings)
    right = equation.right.evaluate(bindings)
    if left is None or right is None:
        return None
    return is_link_true(left, "=", right, equation.right.text)
