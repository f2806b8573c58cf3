"""What a tier-1 checker is (a cheap gate and claim extraction) and how claims become a vote."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from auditors.judgement import ABSTAIN, Judgement
from protocol.models import Segment, Vote

#: Longest rationale kept in a judgement (the rationale is hashed on-chain, stored off-chain).
MAX_RATIONALE_CHARS = 300


@dataclass(frozen=True)
class Claim:
    """One mechanically checked claim of a segment: its text, whether it holds, and why."""

    text: str
    holds: bool
    reason: str


class Checker(Protocol):
    """A tier-1 checker plugin: pure, synchronous, bounded in time and memory.

    `can_judge` is a cheap test (a regex or keyword scan) for claims this checker understands.
    `check` returns the claims it judged; an empty tuple means it abstains. Neither may do I/O.
    """

    @property
    def name(self) -> str: ...

    def can_judge(self, segment: Segment) -> bool: ...

    def check(self, segment: Segment) -> tuple[Claim, ...]: ...


def compute_claims(checker: Checker, segment: Segment) -> tuple[Claim, ...]:
    """The claims `checker` judged on `segment`; none when its gate is closed or it raised.

    A checker tripped by hostile input (recursion, memory, a bug) abstains instead of taking
    the auditor down: abstaining is the safe direction, a higher tier judges instead.
    """
    try:
        if not checker.can_judge(segment):
            return ()
        return tuple(checker.check(segment))
    except Exception:
        return ()


def compute_judgement(claims: Sequence[tuple[str, Claim]]) -> Judgement:
    """From (checker name, claim) pairs: INVALID on any false claim, VALID when at least one
    was judged and all hold, ABSTAIN when there are none."""
    if not claims:
        return ABSTAIN
    false = [(name, claim) for name, claim in claims if not claim.holds]
    if false:
        name, claim = false[0]
        rationale = f"{name}: {claim.text} -- {claim.reason}"
        return Judgement(Vote.INVALID, 1.0, rationale[:MAX_RATIONALE_CHARS])
    names = sorted({name for name, _ in claims})
    rationale = f"{len(claims)} claim(s) hold ({', '.join(names)})"
    return Judgement(Vote.VALID, 1.0, rationale[:MAX_RATIONALE_CHARS])


def judge_alone(checker: Checker, segment: Segment) -> Judgement:
    """The vote of one checker used on its own as a judge."""
    return compute_judgement([(checker.name, claim) for claim in compute_claims(checker, segment)])
