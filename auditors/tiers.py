"""Routing a segment to this node's judges: the most mechanical one able to judge it wins.

A node may hold several tiers (a checker, an LLM evaluator, a human review queue). A segment of
tier T is offered to the node's judges of tiers 1..T in order, and the first that does not
abstain decides: an arithmetic step routed to the LLM tier by its level is still judged exactly
when the checker can parse it, and the checker's abstention moves it up a tier inside the node
before the protocol moves it up a tier across the network. Tiers above the segment's are never
asked: sortition drew this node for tier T, not for a more expensive tier.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping

from auditors.judgement import ABSTAIN, AsyncJudge, Judge, Judgement
from protocol.models import Segment, Tier, Vote


class TieredJudge:
    """An `AsyncJudge` over one judge per tier (sync or async); ABSTAIN when none decides."""

    def __init__(self, judges: Mapping[Tier, Judge | AsyncJudge]) -> None:
        self._judges = dict(sorted(judges.items(), key=lambda item: int(item[0])))

    @property
    def tiers(self) -> tuple[Tier, ...]:
        return tuple(self._judges)

    async def judge(self, segment: Segment) -> Judgement:
        for tier, judge in self._judges.items():
            if int(tier) > int(segment.tier):
                break
            judgement = judge.judge(segment)
            if inspect.isawaitable(judgement):
                judgement = await judgement
            if judgement.vote is not Vote.ABSTAIN:
                return judgement
        return ABSTAIN
