"""The copycat: votes what the other auditors already revealed, which commit-reveal should deny.

The node injects `observe`, reading the reveals of the same trace and round that it has seen.
A round's reveals open only after its commits close, so an honest protocol leaves the copycat
nothing to copy when it commits; it copies only if reveals leak before commit time.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from auditors.judgement import Judge, Judgement
from protocol.models import Segment, Vote

Observe = Callable[[Segment], Sequence[Vote]]
"""The votes of OTHER auditors on this segment that this node has already seen revealed."""

COPIED = "copied"
"""Prefix of the rationale of a copied vote."""

NOTHING_TO_COPY = "nothing to copy"
"""Prefix of the rationale of a fallback vote (nothing observed, or no majority)."""


def compute_majority(votes: Sequence[Vote]) -> Vote | None:
    """The strict stake-less majority of the VALID and INVALID votes, or None.

    ABSTAIN is ignored since it never decides a verdict; None when no decisive vote was seen or
    VALID and INVALID tie.
    """
    counts = Counter(vote for vote in votes if vote != Vote.ABSTAIN)
    valid, invalid = counts[Vote.VALID], counts[Vote.INVALID]
    if valid == invalid:
        return None
    return Vote.VALID if valid > invalid else Vote.INVALID


def is_copied(judgement: Judgement) -> bool:
    """Whether a copycat's judgement copied observed votes rather than falling back."""
    return judgement.rationale.startswith(COPIED + ":")


@dataclass(frozen=True)
class CopycatJudge:
    """Votes the majority of the observed reveals; otherwise asks `fallback` (say, abstain).

    The rationale starts with `COPIED` or `NOTHING_TO_COPY`, so experiments can count both.
    Confidence of a copy is the observed majority's share of the decisive votes.
    """

    observe: Observe
    fallback: Judge

    def judge(self, segment: Segment) -> Judgement:
        observed = self.observe(segment)
        majority = compute_majority(observed)
        if majority is None:
            return self._fall_back(segment, observed)
        decisive = sum(1 for vote in observed if vote != Vote.ABSTAIN)
        agreeing = sum(1 for vote in observed if vote == majority)
        return Judgement(
            majority,
            agreeing / decisive,
            f"{COPIED}: {majority.name} from {agreeing} of {len(observed)} observed votes",
        )

    def _fall_back(self, segment: Segment, observed: Sequence[Vote]) -> Judgement:
        reason = "no reveal observed" if not observed else "no majority in observed votes"
        judgement = self.fallback.judge(segment)
        rationale = (
            f"{NOTHING_TO_COPY}: {reason} ({len(observed)}); fell back to {judgement.rationale}"
        )
        return Judgement(judgement.vote, judgement.confidence, rationale, judgement.usage)
