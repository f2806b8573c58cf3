"""Routing segments to a node's judges by tier, behaviours from settings, group segments."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from auditors import Tier1Checker
from auditors.judgement import ABSTAIN, Judgement
from auditors.tiers import TieredJudge
from node.config import AuditSettings, LlmJudgeSettings
from node.pipeline import make_judge
from protocol.models import Level, Segment, Tier, Vote

VALID = Judgement(Vote.VALID, 1.0, "holds")
INVALID = Judgement(Vote.INVALID, 1.0, "fails")


def _segment(text: str, tier: Tier = Tier.LLM, level: Level = Level.STEP) -> Segment:
    return Segment(
        trace_id="0x" + "ab" * 32,
        index=1,
        node_id="0x" + "cd" * 32,
        level=level,
        tier=tier,
        problem="How many apples?",
        text=text,
    )


class Fixed:
    def __init__(self, judgement: Judgement) -> None:
        self.judgement = judgement
        self.asked = 0

    def judge(self, segment: Segment) -> Judgement:
        self.asked += 1
        return self.judgement


class AsyncFixed(Fixed):
    async def judge(self, segment: Segment) -> Judgement:  # type: ignore[override]
        self.asked += 1
        return self.judgement


async def test_the_most_mechanical_judge_that_decides_wins() -> None:
    checker, llm = Fixed(VALID), AsyncFixed(INVALID)
    judge = TieredJudge({Tier.LLM: llm, Tier.CHECKER: checker})
    assert judge.tiers == (Tier.CHECKER, Tier.LLM)
    assert await judge.judge(_segment("3 + 4 = 7")) == VALID
    assert llm.asked == 0


async def test_an_abstaining_checker_moves_the_segment_up_to_the_llm() -> None:
    llm = AsyncFixed(INVALID)
    judge = TieredJudge({Tier.CHECKER: Fixed(ABSTAIN), Tier.LLM: llm})
    assert await judge.judge(_segment("The plan is sound.")) == INVALID
    assert llm.asked == 1


async def test_tiers_above_the_segment_are_never_asked() -> None:
    llm = AsyncFixed(INVALID)
    judge = TieredJudge({Tier.CHECKER: Fixed(ABSTAIN), Tier.LLM: llm})
    assert await judge.judge(_segment("prose", tier=Tier.CHECKER)) == ABSTAIN
    assert llm.asked == 0


@pytest.mark.parametrize("level", [Level.GOAL, Level.STRATEGY, Level.TACTIC])
def test_a_group_segment_leaves_a_false_claim_to_its_child(level: Level) -> None:
    claims = "Tom has 3 + 4 = 8 apples. He gives 2 away: 8 - 2 = 6."
    judgement = Tier1Checker().judge(_segment(claims, level=level))
    assert judgement.vote is Vote.ABSTAIN
    assert "child" in judgement.rationale
    # The step stating the false claim is where it is judged INVALID.
    assert Tier1Checker().judge(_segment("3 + 4 = 8 apples.")).vote is Vote.INVALID
    # A group whose claims all hold is VALID.
    assert Tier1Checker().judge(_segment("3 + 4 = 7.", level=level)).vote is Vote.VALID


def _votes(judgements: Sequence[Judgement]) -> list[Vote]:
    return [j.vote for j in judgements]


async def test_make_judge_builds_each_behaviour_from_settings() -> None:
    arithmetic = _segment("3 + 4 = 7", tier=Tier.CHECKER)
    honest = make_judge(AuditSettings())
    assert honest is not None and (await honest.judge(arithmetic)).vote is Vote.VALID
    flip = make_judge(AuditSettings(behaviour="flip"))
    assert flip is not None and (await flip.judge(arithmetic)).vote is Vote.INVALID
    assert make_judge(AuditSettings(behaviour="absent")) is None
    draws = [make_judge(AuditSettings(behaviour="random", seed=7)) for _ in range(2)]
    runs = [[await judge.judge(arithmetic) for _ in range(20)] for judge in draws if judge]
    assert _votes(runs[0]) == _votes(runs[1])  # seeded: reproducible
    bloc = {"behaviour": "collude", "bloc_secret": "0x" + "42" * 16, "bloc_fraction": 1.0}
    colluder = make_judge(AuditSettings.model_validate(bloc))
    assert colluder is not None and (await colluder.judge(arithmetic)).vote is Vote.INVALID


async def test_an_llm_only_auditor_leaves_even_arithmetic_to_its_llm() -> None:
    """The tier-mix ablation's LLM-only auditors: with the checkers off the LLM judges alone."""
    llm = Fixed(INVALID)
    arithmetic = _segment("3 + 4 = 7")
    mixed = make_judge(AuditSettings(), llm=llm)
    assert mixed is not None and (await mixed.judge(arithmetic)).vote is Vote.VALID
    assert llm.asked == 0  # the checker decided first
    llm_only = AuditSettings(checkers=False, llm=LlmJudgeSettings(endpoint="local"))
    alone = make_judge(llm_only, llm=llm)
    assert alone is not None and (await alone.judge(arithmetic)).vote is Vote.INVALID
    assert llm.asked == 1
    # A checker-tier segment is below the LLM's tier: nobody on this node judges it.
    assert (await alone.judge(_segment("3 + 4 = 7", tier=Tier.CHECKER))).vote is Vote.ABSTAIN


def test_a_node_with_checkers_off_needs_another_judge() -> None:
    with pytest.raises(ValueError, match="needs llm or human_review"):
        AuditSettings(checkers=False)


async def test_a_copycat_finds_nothing_to_copy_before_reveals() -> None:
    seen: list[Vote] = []
    copycat = make_judge(AuditSettings(behaviour="copycat"), observe=lambda segment: seen)
    assert copycat is not None
    segment = _segment("3 + 4 = 7", tier=Tier.CHECKER)
    assert (await copycat.judge(segment)).vote is Vote.ABSTAIN  # commit time: no reveals yet
    seen.extend([Vote.INVALID, Vote.INVALID, Vote.VALID])
    assert (await copycat.judge(segment)).vote is Vote.INVALID
