"""A colluding bloc that coordinates without communicating.

Members share a secret and a target fraction. Each derives, from
keccak256(secret || bytes32(trace_id) || uint256(segment index)), whether the bloc attacks a
segment: the same inputs give every member the same answer, so no message is ever exchanged.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from auditors.adversaries.basic import compute_flip
from auditors.adversaries.errors import AdversaryConfigError
from auditors.judgement import Judge, Judgement
from protocol.encoding import abi_bytes32, abi_uint, keccak
from protocol.models import Segment, Vote

_DRAW_SPACE = 2.0**256
"""keccak draws are uniform over [0, 2**256); a float power of two scales a fraction exactly."""

ATTACK_CONFIDENCE = 1.0
"""Every member attacks at full confidence, so members' votes agree in confidence too."""


def compute_bloc_draw(secret: bytes, trace_id: str, index: int) -> int:
    """The bloc's shared uniform draw in [0, 2**256) for one segment of one trace."""
    digest = keccak(secret + abi_bytes32(trace_id) + abi_uint(index))
    return int.from_bytes(digest, "big")


@dataclass(frozen=True)
class Bloc:
    """A bloc's shared secret and the fraction of segments it attacks, in [0, 1].

    An empty secret, or a fraction outside [0, 1] or NaN, raises AdversaryConfigError. The
    secret stays out of `repr`, so configurations can be logged.
    """

    secret: bytes = field(repr=False)
    fraction: float

    def __post_init__(self) -> None:
        if not self.secret:
            raise AdversaryConfigError("a bloc needs a non-empty secret")
        if not (math.isfinite(self.fraction) and 0.0 <= self.fraction <= 1.0):
            raise AdversaryConfigError(f"bloc fraction must be in [0, 1], got {self.fraction}")

    def is_attacked(self, segment: Segment) -> bool:
        """Whether the bloc attacks this segment; fraction 0 never does, fraction 1 always."""
        draw = compute_bloc_draw(self.secret, segment.trace_id, segment.index)
        # int < float compares exactly in Python, so the attack rate is exactly `fraction`.
        return draw < self.fraction * _DRAW_SPACE


def compute_attack_vote(honest: Vote) -> Vote:
    """The bloc's wrong answer: the flip of the honest vote, INVALID where honest abstains.

    INVALID on a segment nobody can judge is the most damaging lie (one INVALID segment flags
    the whole trace), and it keeps the attack rate at `fraction` however often honest abstains.
    """
    return Vote.INVALID if honest == Vote.ABSTAIN else compute_flip(honest)


@dataclass(frozen=True)
class ColludeJudge:
    """Votes honestly, except on the segments its bloc attacks, where it votes the wrong answer.

    Members vote identically on an attacked segment as long as their honest judges agree on it
    (always, for the deterministic tier-1 checkers); honest segments get each member's own vote.
    """

    honest: Judge
    bloc: Bloc

    def judge(self, segment: Segment) -> Judgement:
        judgement = self.honest.judge(segment)
        if not self.bloc.is_attacked(segment):
            return judgement
        vote = compute_attack_vote(judgement.vote)
        rationale = f"collude: bloc attacks, {vote.name} against honest {judgement.vote.name}"
        return Judgement(vote, ATTACK_CONFIDENCE, rationale, judgement.usage)
