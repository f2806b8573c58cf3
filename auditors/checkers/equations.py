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
from auditors.checkers.expression import Bin, Expr, Neg, Sqrt, compute_symbols
from auditors.checkers.limits import MAX_CLAIMS
from auditors.checkers.relations import is_link_true
from auditors.judgement import Judgement
from protocol.models import Segment, Span
from protocol.operations import extract_operations

_MOD = re.compile(r"\bmod\b|\\pmod|\\bmod|\\mod")
_SYMBOL = re.compile(r"(?<![A-Za-z\\])[A-Za-z](?![A-Za-z])")
# The clause around a binding, which says whether the text claims it or only tries it.
_CLAUSE_CHARS = 160
_CLAUSE_START = re.compile(r"[.;:!?](?=\s)|\n|,\s")
_CLAUSE_END = re.compile(r"[.;:!?](?=\s|$)|\n|,\s")
# A word just before the binding that makes it a case or a trial: `for p = 2`, `if x = 1`,
# `substitute x = 3`, `plug in x = 3`; math delimiters between word and binding are skipped.
_TRIAL_BEFORE = re.compile(
    r"\b(?:for|if|when|whether|suppose|assume|assuming|let|at|case|substitut\w*|plug\w*|put\w*"
    r"|try\w*|test\w*|check\w*)(?:\s+in(?:to)?)?[\s$\\(\[]*$",
    re.IGNORECASE,
)
# A negation or exclusion in the same clause: `none of the solutions include x = 0`,
# `x = 3 does not satisfy`, `x = 5 is extraneous`.
_NEGATION = re.compile(
    r"\b(?:except|unless|exclud\w*|not|none|no|never|cannot|extraneous|reject\w*)\b|n't\b",
    re.IGNORECASE,
)


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
            unclaimed = compute_unclaimed_operations(segment.text)
            claimed = [chain for chain in chains if chain.text not in unclaimed]
            claims.extend(_compute_solution_claims(claimed, equations))
        return tuple(claims[:MAX_CLAIMS])


def compute_unclaimed_operations(text: str) -> frozenset[str]:
    """Texts of the operations the text states as a case, a trial or an exclusion rather than
    a result: `for p = 2`, `substitute x = 3`, `except where x = 0`, `x = 3 does not satisfy`.

    Every occurrence of such a text is left unjudged as a solution, also where it is claimed:
    abstaining on a claim costs a tier, judging a trial as a claim a false INVALID.
    """
    unclaimed: set[str] = set()
    for span in extract_operations(text, Span(start=0, end=len(text))):
        before = _CLAUSE_START.split(text[max(0, span.start - _CLAUSE_CHARS) : span.start])[-1]
        after = _CLAUSE_END.split(text[span.end : span.end + _CLAUSE_CHARS])[0]
        trial = _TRIAL_BEFORE.search(before) is not None
        if trial or _NEGATION.search(before) or _NEGATION.search(after):
            unclaimed.add(text[span.start : span.end])
    return frozenset(unclaimed)


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
    # later links are rewritings of one expression, so they claim an identity, unless the
    # symbols change: `-\frac{b}{2a} = -\frac{5k+3}{2k}` substitutes values given elsewhere.
    same_symbols = compute_symbols(left.tree) == compute_symbols(right.tree)
    if chain.relations[index] == "≡" or (index >= 1 and same_symbols):
        return Claim(text, False, "not an identity")
    return None


def _compute_equations(chains: Iterable[Chain]) -> list[_Equation]:
    """Links in exactly one unknown where neither side is that unknown alone, outside
    evaluation chains: `(p-1)^p + 1 = 2^3 + 1 = 9` evaluates an expression at a value bound
    elsewhere (its numeric links say so), it states no equation in p to solve."""
    equations: list[_Equation] = []
    for chain in chains:
        if sum(operand.value is not None for operand in chain.operands) >= 2:
            continue
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
    """Whether the value satisfies the equation; None when unknown, and None for a value that
    fails an equation with its unknown under a root: squaring such an equation yields
    extraneous candidates, which a text states and then rejects (`x = 3` of `(x-6)(x-3) = 0`
    against `2 + \\sqrt{x-2} = x-2`)."""
    if equation.left.tree is None and equation.left.value is None:
        return None
    left = equation.left.evaluate(bindings)
    right = equation.right.evaluate(bindings)
    if left is None or right is None:
        return None
    holds = is_link_true(left, "=", right, equation.right.text)
    if not holds and _has_root_of_unknown(equation):
        return None
    return holds


def _has_root_of_unknown(equation: _Equation) -> bool:
    sides = (equation.left.tree, equation.right.tree)
    return any(side is not None and _is_under_root(side, equation.unknown) for side in sides)


def _is_under_root(tree: Expr, name: str) -> bool:
    """True when `name` occurs inside a square root somewhere in `tree`."""
    if isinstance(tree, Sqrt):
        return name in compute_symbols(tree.operand)
    if isinstance(tree, Bin):
        return _is_under_root(tree.left, name) or _is_under_root(tree.right, name)
    if isinstance(tree, Neg):
        return _is_under_root(tree.operand, name)
    return False
