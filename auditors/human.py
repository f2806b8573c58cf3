"""Tier 3, human experts: a judge that hands each segment to a review queue and waits.

The queue is an injected client (the node's `node.review.ReviewQueue` in production), so this
layer imports nothing from `node/`. What a human sees is the segment's context pack only: its
level, the problem, the claims it depends on and its text, never the whole trace.
"""

from __future__ import annotations

import math
from contextvars import ContextVar
from typing import Protocol

from auditors.judgement import Judgement
from protocol.models import Segment

__all__ = ["AUDIT_ROUND", "DEFAULT_REVIEW_DEADLINE_S", "HumanReviewJudge", "ReviewClient"]

#: How long a human gets for one segment before the review abstains.
DEFAULT_REVIEW_DEADLINE_S = 600.0
#: The audit round the current task judges in. `AsyncJudge.judge` takes a segment only, and the
#: judges between the auditor and this one (tiers, adversaries) do not know of rounds: the
#: node's auditor service sets this around a round's judgements instead.
AUDIT_ROUND: ContextVar[int] = ContextVar("audit_round", default=0)


class ReviewClient(Protocol):
    """A human review queue: asks for a review and waits for the answer or the deadline."""

    async def request(
        self, segment: Segment, deadline_s: float, *, round_: int = 0
    ) -> Judgement: ...


class HumanReviewJudge:
    """An `AsyncJudge` whose votes come from humans through a `ReviewClient`.

    A review left unanswered for `deadline_s` seconds abstains (the queue decides that), so a
    judgement always arrives; it is never faster than the human, so the caller's commit window
    must leave room for `deadline_s`.
    """

    def __init__(self, client: ReviewClient, deadline_s: float = DEFAULT_REVIEW_DEADLINE_S) -> None:
        if not (math.isfinite(deadline_s) and deadline_s > 0):
            raise ValueError(f"deadline_s must be a positive number of seconds, got {deadline_s}")
        self._client = client
        self.deadline_s = deadline_s

    async def judge(self, segment: Segment, round_: int | None = None) -> Judgement:
        """The human's judgement of `segment` in `round_`, or ABSTAIN once the deadline passes.

        `round_` (None: `AUDIT_ROUND`) keys the review: an escalation round asks again rather
        than reusing round 0's answer or expiry.
        """
        round_ = AUDIT_ROUND.get() if round_ is None else round_
        return await self._client.request(segment, self.deadline_s, round_=round_)
