"""Canary traces: synthetic arithmetic traces whose every step's correctness is known.

A node mixes canaries into the traces it submits. The network audits them like any trace, so an
auditor voting against a known answer is incoherent with an honest majority's verdict and loses
stake by the normal rule; the node also keeps each auditor's canary record. Half the canaries
carry one planted error (a wrong result that the later steps carry forward, so exactly one step
is wrong). Everything follows from a seed: the node draws it, this module has no randomness.

Known answers cover steps and operations, the levels whose correctness the generator controls;
groups (tactics, strategies, the goal) get none.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass

from protocol.encoding import keccak
from protocol.hdag import build_hdag
from protocol.models import Level, Reveal, Trace, Vote

_NAMES = ("Ana", "Ben", "Chloe", "Dev", "Elif", "Farid", "Grace", "Hugo", "Ines", "Jonas")
_ITEMS = ("apples", "pencils", "stickers", "marbles", "cookies", "stamps", "shells", "cards")
#: Model name on canary traces: the same as a user's submission would carry, nothing telling.
CANARY_MODEL = "example"


@dataclass(frozen=True)
class Canary:
    trace: Trace
    #: Known answer per segment index (steps and operations only).
    answers: Mapping[int, Vote]
    #: The step holding the planted error; -1 for a sound canary.
    planted_step: int


@dataclass(frozen=True)
class CanaryScore:
    """An auditor's votes on known answers: right, wrong, and abstentions."""

    passed: int = 0
    failed: int = 0
    abstained: int = 0

    def __add__(self, other: CanaryScore) -> CanaryScore:
        return CanaryScore(
            self.passed + other.passed,
            self.failed + other.failed,
            self.abstained + other.abstained,
        )


def _draws(seed: bytes) -> Iterator[int]:
    """An endless stream of 256-bit numbers derived from `seed`."""
    counter = 0
    while True:
        yield int.from_bytes(keccak(seed + counter.to_bytes(4, "big")), "big")
        counter += 1


def compute_canary(seed: bytes) -> Canary:
    """The canary of `seed`: three steps (a product, a sum, a difference), a planted error in
    one of them for half the seeds."""
    draws = _draws(seed)
    name, items = _NAMES[next(draws) % len(_NAMES)], _ITEMS[next(draws) % len(_ITEMS)]
    boxes, per_box = 2 + next(draws) % 8, 3 + next(draws) % 9
    loose, given = 1 + next(draws) % 19, 1 + next(draws) % 9
    planted = next(draws) % 6 - 3  # 0..2: a step; negative: sound
    offset = 1 + next(draws) % 9
    product = boxes * per_box + (offset if planted == 0 else 0)
    total = product + loose + (offset if planted == 1 else 0)
    left = total - given + (offset if planted == 2 else 0)
    steps = (
        f"{name} buys {boxes} boxes with {per_box} {items} each, "
        f"so {boxes} * {per_box} = {product} {items}.",
        f"Adding the {loose} loose {items} gives {product} + {loose} = {total} {items}.",
        f"{name} gives away {given} {items}, leaving {total} - {given} = {left} {items}.",
    )
    problem = (
        f"{name} buys {boxes} boxes of {per_box} {items} and {loose} loose {items}, then gives "
        f"away {given}. How many {items} does {name} have left?"
    )
    trace = Trace(problem=problem, steps=steps, answer=str(left), model=CANARY_MODEL)
    planted_step = planted if planted >= 0 else -1
    return Canary(trace, compute_known_answers(trace, planted_step), planted_step)


def compute_known_answers(trace: Trace, planted_step: int) -> dict[int, Vote]:
    """VALID for every step and operation, INVALID inside the planted step (-1: none)."""
    hdag = build_hdag(trace)
    step_starts = sorted(n.span.start for n in hdag.nodes if n.level is Level.STEP)
    answers: dict[int, Vote] = {}
    for index, node in enumerate(hdag.nodes):
        if node.level not in (Level.STEP, Level.OPERATION):
            continue
        step = bisect_right(step_starts, node.span.start) - 1
        answers[index] = Vote.INVALID if step == planted_step else Vote.VALID
    return answers


def compute_canary_scores(
    answers: Mapping[int, Vote], reveals: Iterable[Reveal]
) -> dict[str, CanaryScore]:
    """Each revealing auditor's score on the known answers its reveals cover."""
    scores: dict[str, CanaryScore] = {}
    for reveal in reveals:
        score = scores.get(reveal.auditor, CanaryScore())
        for entry in reveal.votes:
            known = answers.get(entry.segment)
            if known is None:
                continue
            if entry.vote is Vote.ABSTAIN:
                score += CanaryScore(abstained=1)
            elif entry.vote is known:
                score += CanaryScore(passed=1)
            else:
                score += CanaryScore(failed=1)
        scores[reveal.auditor] = score
    return scores
