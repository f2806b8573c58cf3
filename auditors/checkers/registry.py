"""The tier-1 checker registry and the composite judge that runs it.

A checker is any object with a `name`, a cheap `can_judge(segment)` gate and a
`check(segment)` returning the `Claim`s it judged (see `auditors.checkers.base.Checker`). The
composite runs every registered checker whose gate opens and votes:

- INVALID when any judged claim is false (confidence 1: the checks are exact), except on a
  goal, strategy or tactic, which abstains then (see `CompositeChecker.judge`);
- VALID when some claims were judged and all hold;
- ABSTAIN when no checker judged anything, so the segment moves up a tier.

A deployment adds its own checker by building a registry with it::

    from auditors.checkers import CompositeChecker, default_checkers

    class UnitChecker:
        name = "units"
        def can_judge(self, segment): return "km" in segment.text
        def check(self, segment): return (Claim("1 km = 1000 m", True, "exact"),)

    judge = CompositeChecker((*default_checkers(), UnitChecker()))

A checker that raises is treated as abstaining: one faulty plugin must not take the auditor
down, and abstaining is the safe direction (a higher tier judges instead).
"""

from __future__ import annotations

from collections.abc import Iterable

from auditors.checkers.arithmetic import ArithmeticChecker
from auditors.checkers.base import Checker, Claim, compute_claims, compute_judgement
from auditors.checkers.dyck import DyckChecker
from auditors.checkers.equations import AlgebraChecker
from auditors.checkers.ordering import OrderingChecker
from auditors.judgement import Judgement
from protocol.models import Level, Segment, Vote

#: Levels whose text is the claims of their children.
_GROUP_LEVELS = frozenset({Level.GOAL, Level.STRATEGY, Level.TACTIC})


def default_checkers() -> tuple[Checker, ...]:
    """A fresh instance of every built-in checker, in the order they run."""
    return (ArithmeticChecker(), AlgebraChecker(), OrderingChecker(), DyckChecker())


class CompositeChecker:
    """Runs registered checkers on a segment and combines their claims into one vote."""

    def __init__(self, checkers: Iterable[Checker]) -> None:
        self._checkers = tuple(checkers)

    @property
    def checkers(self) -> tuple[Checker, ...]:
        return self._checkers

    def with_checker(self, checker: Checker) -> CompositeChecker:
        """A new composite with `checker` appended; this one is left unchanged."""
        return CompositeChecker((*self._checkers, checker))

    def claims(self, segment: Segment) -> tuple[tuple[str, Claim], ...]:
        """(checker name, claim) for every claim any checker judged, in checker order."""
        found: list[tuple[str, Claim]] = []
        for checker in self._checkers:
            found.extend((checker.name, claim) for claim in compute_claims(checker, segment))
        return tuple(found)

    def judge(self, segment: Segment) -> Judgement:
        """The combined vote; a group segment (goal, strategy, tactic) abstains instead of
        voting INVALID. Its text is its children's claims, so a false one is a child's error,
        judged at the child's own segment; an INVALID group would move the trace's first error
        to the group's first step (every step under an INVALID tactic counts as flawed)."""
        judgement = compute_judgement(self.claims(segment))
        if judgement.vote is Vote.INVALID and segment.level in _GROUP_LEVELS:
            return Judgement(
                Vote.ABSTAIN, 0.0, f"left to the child that states it: {judgement.rationale}"
            )
        return judgement


class Tier1Checker(CompositeChecker):
    """The composite of every built-in tier-1 checker: what a checker-tier auditor runs."""

    def __init__(self) -> None:
        super().__init__(default_checkers())
