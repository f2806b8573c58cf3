"""Adversaries that need nothing but the segment: flip, random, always-valid, abstain.

All are pure: the random one draws from an injected `random.Random`, never the global one.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from auditors.judgement import Judge, Judgement
from protocol.models import Segment, Vote

_FLIPPED = {Vote.VALID: Vote.INVALID, Vote.INVALID: Vote.VALID, Vote.ABSTAIN: Vote.ABSTAIN}

RANDOM_CONFIDENCE = 0.5
"""A coin flip knows nothing, and says so."""


def compute_flip(vote: Vote) -> Vote:
    """VALID <-> INVALID; ABSTAIN stays ABSTAIN."""
    return _FLIPPED[vote]


@dataclass(frozen=True)
class FlipJudge:
    """Votes the opposite of the honest judgement (VALID <-> INVALID); abstains where it does.

    Keeps the honest confidence, so the lie is as confident as the truth would have been.
    """

    honest: Judge

    def judge(self, segment: Segment) -> Judgement:
        judgement = self.honest.judge(segment)
        flipped = compute_flip(judgement.vote)
        return Judgement(flipped, judgement.confidence, f"flipped: {judgement.rationale}")


@dataclass(frozen=True)
class RandomJudge:
    """Votes VALID or INVALID uniformly at random, never ABSTAIN, with confidence 0.5.

    Determinism comes only from `rng`'s seed: the same seed and the same sequence of segments
    give the same votes (judging the segments in another order permutes the draws).
    """

    rng: random.Random

    def judge(self, segment: Segment) -> Judgement:
        # getrandbits is stable across Python versions, unlike choice()'s algorithm.
        vote = Vote.VALID if self.rng.getrandbits(1) else Vote.INVALID
        return Judgement(vote, RANDOM_CONFIDENCE, f"random: {vote.name} by coin flip")


@dataclass(frozen=True)
class AlwaysValidJudge:
    """The lazy auditor: VALID on everything with confidence 1.0, without reading the segment."""

    def judge(self, segment: Segment) -> Judgement:
        return Judgement(Vote.VALID, 1.0, "always-valid: VALID without judging")


@dataclass(frozen=True)
class AbstainJudge:
    """ABSTAIN on everything: the copycat's default when it has nothing to copy."""

    def judge(self, segment: Segment) -> Judgement:
        return Judgement(Vote.ABSTAIN, 0.0, "abstain: ABSTAIN without judging")
