"""The human review queue (tier 3): segments wait in the store until a human answers them.

`ReviewQueue.request` stores a segment (its context pack only) with an absolute deadline and
waits; `ReviewQueue.answer` (what `review_submit` calls) records a human's vote and wakes the
waiter. A review still unanswered at its deadline abstains. Both outcomes are decided by one
store transaction each, so an answer racing the deadline either counts or is refused, never
both. The request is durable: re-made after a restart, it keeps its first deadline and returns
an answer given before the restart.

Deadlines are wall-clock (unix milliseconds, like every time in the store) because they must
survive a restart; asyncio's timers are monotonic, so a waiter re-reads the clock at least every
`poll_s` seconds rather than trusting one long timer across a wall-clock jump.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from auditors.judgement import Judgement
from node.store import (
    DEFAULT_PAGE_LIMIT,
    InvalidReviewError,
    ReviewRecord,
    ReviewStatus,
    Store,
)
from protocol.models import Segment, Vote
from protocol.params import BASIS_POINTS
from protocol.votes import compute_confidence_bps

__all__ = [
    "DEADLINE_PASSED",
    "DEFAULT_POLL_S",
    "REVIEW_ID_PATTERN",
    "InvalidReviewIdError",
    "ReviewKey",
    "ReviewQueue",
    "judgement_of",
]

#: `<trace id>:<round>:<segment index>`, decimal without leading zeros, so each review has
#: exactly one id. Out-of-range numbers match but name no review.
REVIEW_ID_PATTERN = r"^0x[0-9a-f]{64}:(0|[1-9][0-9]{0,2}):(0|[1-9][0-9]{0,9})$"
#: The longest a waiter trusts one asyncio timer before re-reading the wall clock.
DEFAULT_POLL_S = 1.0
DEADLINE_PASSED = Judgement(Vote.ABSTAIN, 0.0, "review deadline passed")

_REVIEW_ID = re.compile(REVIEW_ID_PATTERN)
logger = logging.getLogger(__name__)


class InvalidReviewIdError(ValueError):
    """A review id is not `<0x + 64 hex>:<round>:<index>`."""


@dataclass(frozen=True)
class ReviewKey:
    """Which review: a segment of a trace in one round (an escalation round asks again)."""

    trace_id: str
    round: int
    index: int

    @property
    def review_id(self) -> str:
        return f"{self.trace_id}:{self.round}:{self.index}"

    @classmethod
    def parse(cls, review_id: str) -> ReviewKey:
        """The key of a review id; raises InvalidReviewIdError naming the expected form."""
        if _REVIEW_ID.fullmatch(review_id) is None:
            raise InvalidReviewIdError(
                f"review id must be <0x + 64 hex digits>:<round>:<segment index>, "
                f"got {review_id[:100]!r}"
            )
        trace_id, round_, index = review_id.split(":")
        return cls(trace_id, int(round_), int(index))

    @classmethod
    def of(cls, record: ReviewRecord) -> ReviewKey:
        return cls(record.trace_id, record.round, record.index)


def judgement_of(record: ReviewRecord) -> Judgement | None:
    """The review's outcome as a judgement, or None while it is still pending."""
    if record.status is ReviewStatus.EXPIRED:
        return DEADLINE_PASSED
    if record.status is ReviewStatus.ANSWERED and record.vote is not None:
        confidence = (record.confidence_bps or 0) / BASIS_POINTS
        return Judgement(record.vote, confidence, record.rationale or "")
    return None


def _wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass
class _Waiter:
    """Set when the review is answered; shared by every request waiting on one key."""

    answered: asyncio.Event
    count: int = 0


class ReviewQueue:
    """Human reviews over the node's store. Every store call goes through `asyncio.to_thread`.

    `request_listeners` are told each review as it is stored (new or re-made), e.g. to notify
    the operator that a segment is waiting.
    """

    def __init__(
        self,
        store: Store,
        *,
        clock_ms: Callable[[], int] = _wall_clock_ms,
        poll_s: float = DEFAULT_POLL_S,
    ) -> None:
        if not (math.isfinite(poll_s) and poll_s > 0):
            raise ValueError(f"poll_s must be a positive number of seconds, got {poll_s}")
        self._store = store
        self._clock_ms = clock_ms
        self._poll_s = poll_s
        self._waiters: dict[ReviewKey, _Waiter] = {}
        self.request_listeners: list[Callable[[ReviewRecord], None]] = []

    async def request(self, segment: Segment, deadline_s: float, *, round_: int = 0) -> Judgement:
        """Queue `segment` for review and return the human's judgement, or DEADLINE_PASSED
        (ABSTAIN) once `deadline_s` seconds have passed without an answer.

        A review already stored for this (trace, round, index) keeps its first deadline and
        returns its stored answer at once, so re-asking after a restart is safe. Cancelling the
        wait leaves the review pending until its deadline.
        """
        if not (math.isfinite(deadline_s) and deadline_s >= 0):
            raise ValueError(f"deadline_s must be a number of seconds >= 0, got {deadline_s}")
        key = ReviewKey(segment.trace_id, round_, segment.index)
        # Registered before the store write, so an answer right after it is not missed.
        with self._waiting(key) as answered:
            now = self._clock_ms()
            record, created = await asyncio.to_thread(
                self._store.put_review_request,
                segment,
                round_,
                created_at_ms=now,
                deadline_ms=now + math.ceil(deadline_s * 1000),
            )
            self._announce(record, created)
            while (judgement := judgement_of(record)) is None:
                await self._wait(answered, record.deadline_ms)
                # Re-read on every wake, not only on our own event: an answer written by another
                # connection to the database is then seen within one poll period too.
                record = await asyncio.to_thread(
                    self._store.expire_review, *_key_args(key), at_ms=self._clock_ms()
                )
            return judgement

    async def answer(
        self, key: ReviewKey, vote: Vote, confidence: float, rationale: str = ""
    ) -> ReviewRecord:
        """Record a human's answer and wake whoever waits for it; return the answered review.

        Raises InvalidReviewError for a confidence outside [0, 1] or an over-long rationale, and
        the store's UnknownReviewError, ReviewAnsweredError or ReviewDeadlinePassedError.
        """
        if not 0.0 <= confidence <= 1.0:  # NaN fails this too
            raise InvalidReviewError(f"confidence must be in [0, 1], got {confidence}")
        record = await asyncio.to_thread(
            self._store.answer_review,
            *_key_args(key),
            vote=Vote(vote),
            confidence_bps=compute_confidence_bps(confidence),
            rationale=rationale,
            at_ms=self._clock_ms(),
        )
        waiter = self._waiters.get(key)
        if waiter is not None:
            waiter.answered.set()
        return record

    async def pending(self, limit: int = DEFAULT_PAGE_LIMIT) -> list[ReviewRecord]:
        """Reviews a human can still answer, oldest first, at most `limit`."""
        return await asyncio.to_thread(self._store.pending_reviews, self._clock_ms(), limit)

    async def _wait(self, answered: asyncio.Event, deadline_ms: int) -> None:
        """Until an answer, the deadline or one poll period, whichever comes first."""
        remaining_s = (deadline_ms - self._clock_ms()) / 1000
        if remaining_s > 0 and not answered.is_set():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(min(remaining_s, self._poll_s)):
                    await answered.wait()

    @contextlib.contextmanager
    def _waiting(self, key: ReviewKey) -> Iterator[asyncio.Event]:
        waiter = self._waiters.setdefault(key, _Waiter(asyncio.Event()))
        waiter.count += 1
        try:
            yield waiter.answered
        finally:
            waiter.count -= 1
            if waiter.count == 0:
                del self._waiters[key]

    def _announce(self, record: ReviewRecord, created: bool) -> None:
        if created:
            logger.info(
                "segment %d (%s) of %s awaits human review until %d",
                record.index,
                record.segment.level,
                record.trace_id[:10],
                record.deadline_ms,
            )
        for listener in self.request_listeners:
            listener(record)


def _key_args(key: ReviewKey) -> tuple[str, int, int]:
    return key.trace_id, key.round, key.index
