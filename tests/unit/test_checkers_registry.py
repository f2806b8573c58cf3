"""The checker registry: composition rules, a deployment's own plugin, faulty plugins."""

from __future__ import annotations

from auditors import ArithmeticChecker as PublicArithmeticChecker
from auditors import Tier1Checker as PublicTier1Checker
from auditors.checkers import Claim, CompositeChecker, Tier1Checker, default_checkers
from protocol.models import Level, Segment, Tier, Vote

ZERO = "0x" + "0" * 64


def make_segment(text: str) -> Segment:
    return Segment(
        trace_id=ZERO,
        index=0,
        node_id=ZERO,
        level=Level.STEP,
        tier=Tier.CHECKER,
        problem="p",
        text=text,
    )


class KilometreChecker:
    """A deployment's own plugin: judges "<n> km = <m> m" conversions."""

    name = "units"

    def can_judge(self, segment: Segment) -> bool:
        return " km = " in segment.text

    def check(self, segment: Segment) -> tuple[Claim, ...]:
        left, _, right = segment.text.partition(" km = ")
        kilometres, metres = int(left.split()[-1]), int(right.split()[0])
        return (Claim(segment.text, kilometres * 1000 == metres, "1 km = 1000 m"),)


class BrokenChecker:
    name = "broken"

    def can_judge(self, segment: Segment) -> bool:
        return True

    def check(self, segment: Segment) -> tuple[Claim, ...]:
        raise RuntimeError("a bug in a plugin")


def test_a_deployment_registers_its_own_checker() -> None:
    judge = Tier1Checker().with_checker(KilometreChecker())
    assert judge.judge(make_segment("The walk is 3 km = 3000 m")).vote is Vote.VALID
    assert judge.judge(make_segment("The walk is 3 km = 300 m")).vote is Vote.INVALID
    assert Tier1Checker().judge(make_segment("The walk is 3 km = 300 m")).vote is Vote.ABSTAIN


def test_invalid_when_any_claim_fails_valid_when_all_hold() -> None:
    judge = Tier1Checker()
    assert judge.judge(make_segment("2 + 2 = 4 and 3 * 3 = 9")).vote is Vote.VALID
    invalid = judge.judge(make_segment("2 + 2 = 4 and 3 * 3 = 10"))
    assert invalid.vote is Vote.INVALID
    assert "3 * 3 = 10" in invalid.rationale
    assert judge.judge(make_segment("No claims at all.")).vote is Vote.ABSTAIN


def test_a_raising_plugin_abstains_and_the_others_still_judge() -> None:
    judge = CompositeChecker((*default_checkers(), BrokenChecker()))
    assert judge.judge(make_segment("2 + 2 = 5")).vote is Vote.INVALID
    assert CompositeChecker((BrokenChecker(),)).judge(make_segment("x")).vote is Vote.ABSTAIN


def test_public_names() -> None:
    assert PublicTier1Checker is Tier1Checker
    assert PublicArithmeticChecker().judge(make_segment("7 * 12 = 84")).vote is Vote.VALID
    assert {checker.name for checker in Tier1Checker().checkers} == {
        "arithmetic",
        "algebra",
        "ordering",
        "dyck",
    }
