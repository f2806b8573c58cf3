"""Adversarial judging policies, for experiments and for testing the protocol's defences.

They wrap an honest judge, so an adversary sees exactly what an honest auditor would.
"""

from __future__ import annotations

from auditors.judgement import Judge, Judgement
from protocol.models import Segment, Vote

_FLIPPED = {Vote.VALID: Vote.INVALID, Vote.INVALID: Vote.VALID, Vote.ABSTAIN: Vote.ABSTAIN}


class FlipJudge:
    """Votes the opposite of the honest judgement (VALID <-> INVALID); abstains where it does."""

    def __init__(self, honest: Judge) -> None:
        self._honest = honest

    def judge(self, segment: Segment) -> Judgement:
        judgement = self._honest.judge(segment)
        flipped = _FLIPPED[judgement.vote]
        return Judgement(flipped, judgement.confidence, f"flipped: {judgement.rationale}")
