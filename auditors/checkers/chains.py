"""Relation chains read from a segment: each operand parsed once, numerically and symbolically.

Also derives the bindings a text establishes: `A = (6 * -7) = -42` binds A to -42, the value
the text claims for it (right or wrong: a later use of A is judged against what was claimed).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from fractions import Fraction

from auditors.checkers.errors import UnparseableError
from auditors.checkers.expression import Expr, Sym, parse_expression
from auditors.checkers.numeric import evaluate_expression, evaluate_tree
from auditors.checkers.relations import split_chain
from auditors.checkers.tokens import Token, tokenize
from protocol.models import Span
from protocol.operations import extract_operations


@dataclass(frozen=True)
class Operand:
    """One side of a relation: its text, its exact value when it has no symbol, its tree."""

    text: str
    value: Fraction | None
    tree: Expr | None

    @property
    def lone_symbol(self) -> str | None:
        """The symbol's name when the operand is just one symbol (`x`, `A`), else None."""
        return self.tree.name if isinstance(self.tree, Sym) else None

    def evaluate(self, bindings: Mapping[str, Fraction]) -> Fraction | None:
        """The exact value with `bindings` for its symbols, None when some stay unbound."""
        if self.value is not None:
            return self.value
        if self.tree is None:
            return None
        try:
            return evaluate_tree(self.tree, bindings)
        except UnparseableError:
            return None


@dataclass(frozen=True)
class Chain:
    """`operands[0] relations[0] operands[1] ...` as written."""

    text: str
    operands: tuple[Operand, ...]
    relations: tuple[str, ...]


def read_chain(text: str) -> Chain:
    """The chain of `text`; UnparseableError when it holds no relation or is too long.

    An operand neither evaluator understands is kept with `value` and `tree` None.
    """
    operand_texts, relations = split_chain(text)
    return Chain(text, tuple(_read_operand(part) for part in operand_texts), relations)


def read_chains(text: str) -> tuple[Chain, ...]:
    """Every chain the protocol's operation extractor finds in `text`, in text order.

    A chain cut off from what precedes it (`180 minutes / 60 = 3` read as `60 = 3`,
    `\\log_2{8} = 3` as `{8} = 3`) loses its first operand, which is not what the text claims;
    one left with no relation is not returned (every returned chain has two operands or more,
    which the readers of `operands[0]` rely on).
    """
    if not text:
        return ()
    spans = extract_operations(text, Span(start=0, end=len(text)))
    chains: list[Chain] = []
    for span in spans:
        try:
            chain = read_chain(text[span.start : span.end])
        except UnparseableError:
            continue
        if is_cut_off(text, span.start):
            chain = drop_first_operand(chain)
        if chain.relations:
            chains.append(chain)
    return tuple(chains)


# A relation before the span is no cut: the extractor has already dropped what stood to its
# left (prose, or the fragment of an expression it could not read whole), and the span's own
# first operand is whole (`= cookies / 12 = 66 / 12 = 6` reaches here as `66 / 12 = 6`).
_CUT_BEFORE = re.compile(
    r"(?:[-+*/×÷·⋅^_{}]|\\(?:times|cdot|div)|\b(?:of|times|per|by|over)"
    r"|_\{?\w+\}?|\\[A-Za-z]+)$"
)


def is_cut_off(text: str, start: int) -> bool:
    """True when the text just before `start` continues the expression: an operator, a
    subscript or command, a joining word (`of`, `per`), or a character glued to it."""
    before = text[max(0, start - 40) : start]
    glued = bool(before) and not before[-1].isspace() and before[-1] not in "($\\\"'[:"
    # `\\$` is a LaTeX dollar sign: `of $\\$1.50 = ...` is cut after "of" like `of $1.50`.
    stripped = before.rstrip(" \t$€£\\")
    return glued or (bool(stripped) and _CUT_BEFORE.search(stripped) is not None)


def is_bare_number(text: str) -> bool:
    """True when `text` is one number and nothing else but a sign, brackets or braces
    (`76,000`, `{8}`, `-16`): what is left of an expression cut off before its last number."""
    try:
        tokens = [token for token in tokenize(text) if token.kind not in ("open", "close")]
    except UnparseableError:
        return False
    if tokens and tokens[0] == Token("op", "-"):
        tokens = tokens[1:]
    return len(tokens) == 1 and tokens[0].kind == "number"


def drop_first_operand(chain: Chain) -> Chain:
    """The chain without its (truncated) first operand and first relation."""
    if len(chain.operands) <= 2:
        return Chain(chain.text, (), ())
    return Chain(chain.text, chain.operands[1:], chain.relations[1:])


def _read_operand(text: str) -> Operand:
    try:
        return Operand(text, evaluate_expression(text), None)
    except UnparseableError:
        pass
    try:
        return Operand(text, None, parse_expression(text))
    except UnparseableError:
        return Operand(text, None, None)


def compute_bindings(chains: Iterable[Chain]) -> dict[str, Fraction]:
    """Symbols defined as numbers by `X = <numbers> ... = v` chains, bound to the claimed v.

    A symbol given two different values is dropped: which one a later use means is unknown.
    """
    bindings: dict[str, Fraction] = {}
    conflicting: set[str] = set()
    for chain in chains:
        binding = compute_binding(chain)
        if binding is None:
            continue
        name, value = binding
        if bindings.setdefault(name, value) != value:
            conflicting.add(name)
    return {name: value for name, value in bindings.items() if name not in conflicting}


def compute_binding(chain: Chain) -> tuple[str, Fraction] | None:
    """Only computed definitions (`A = expr = v`) bind: a bare `k = 1` is as often a case,
    an index or a guess as a definition, and binding it would misjudge later uses of k."""
    name = chain.operands[0].lone_symbol
    if name is None or len(chain.operands) < 3 or any(op != "=" for op in chain.relations):
        return None
    values = [operand.value for operand in chain.operands[1:]]
    last = values[-1]
    return None if last is None else (name, last)
