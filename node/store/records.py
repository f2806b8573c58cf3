"""What the store hands out: trace states and transitions, and frozen records."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from pydantic import TypeAdapter

from protocol.models import Commit, Reveal, Segment, Trace, TraceVerdict, Vote, VoteEntry

# --- States ------------------------------------------------------------------------------------


class TraceState(StrEnum):
    """A trace's place in the pipeline, stored by name."""

    RECEIVED = "received"
    SUBMITTED = "submitted"
    DISPATCHED = "dispatched"
    COMMITTING = "committing"
    REVEALING = "revealing"
    TALLIED = "tallied"
    FINALIZED = "finalized"
    FAILED = "failed"


TERMINAL_STATES = frozenset({TraceState.FINALIZED, TraceState.FAILED})

_S = TraceState
TRANSITIONS: Mapping[TraceState, frozenset[TraceState]] = {
    _S.RECEIVED: frozenset({_S.SUBMITTED, _S.FAILED}),
    _S.SUBMITTED: frozenset({_S.DISPATCHED, _S.FAILED}),
    _S.DISPATCHED: frozenset({_S.COMMITTING, _S.FAILED}),
    _S.COMMITTING: frozenset({_S.REVEALING, _S.FAILED}),
    _S.REVEALING: frozenset({_S.TALLIED, _S.FAILED}),
    _S.TALLIED: frozenset({_S.FINALIZED, _S.DISPATCHED, _S.FAILED}),
    _S.FINALIZED: frozenset(),
    _S.FAILED: frozenset(),
}
"""Allowed transitions; `tallied -> dispatched` is the escalation round."""

#: Details a transition must carry, by name and type; extra JSON details are kept in history.
_REQUIRED_DETAILS: Mapping[TraceState, Mapping[str, tuple[type, ...]]] = {
    _S.SUBMITTED: {"tx_hash": (str,), "seed": (str,), "snapshot_block": (int,)},
    _S.FINALIZED: {"verdict": (int,), "first_error": (int, type(None)), "tx_hash": (str,)},
    _S.FAILED: {"reason": (str,)},
}
_HASH_DETAILS = frozenset({"tx_hash", "seed"})
_FINAL_VERDICTS = frozenset(TraceVerdict) - {TraceVerdict.NONE}
_HEX_DIGITS = frozenset("0123456789abcdef")
_VOTES_ADAPTER: TypeAdapter[tuple[VoteEntry, ...]] = TypeAdapter(tuple[VoteEntry, ...])


# --- Records -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class TraceRecord:
    """A stored trace with its current state and the details its transitions recorded."""

    trace_id: str
    trace: Trace
    state: TraceState
    #: Position in insertion order: the cursor of `list_traces`.
    seq: int
    received_at_ms: int
    updated_at_ms: int
    submit_tx_hash: str | None
    seed: str | None
    snapshot_block: int | None
    verdict: TraceVerdict | None
    first_error: int | None
    finalize_tx_hash: str | None
    failure_reason: str | None


@dataclass(frozen=True)
class TracePage:
    """One page of `list_traces`; pass `next_after` back as `after`, None on the last page."""

    records: tuple[TraceRecord, ...]
    next_after: int | None


@dataclass(frozen=True)
class HistoryEntry:
    state: TraceState
    details: dict[str, Any]
    at_ms: int


class PutResult(StrEnum):
    """What `put_commit` / `put_reveal` did with a vote."""

    CREATED = "created"
    DUPLICATE = "duplicate"
    EQUIVOCATION = "equivocation"


@dataclass(frozen=True)
class Equivocation:
    """Two different votes for one (kind, trace, round, auditor): the stored one and the newcomer.

    The store compares content only; whether it is slashable evidence (both signatures valid)
    is decided by `protocol.votes.find_commit_equivocation` / `find_reveal_equivocation`.
    """

    kind: str
    first: Commit | Reveal
    second: Commit | Reveal


@dataclass(frozen=True)
class OwnVote:
    """This node's auditor's votes and salt for one trace and round, kept for the reveal."""

    trace_id: str
    round: int
    votes: tuple[VoteEntry, ...]
    salt: str


class ReviewStatus(StrEnum):
    """A review request's place: waiting for a human, answered, or expired (it abstained)."""

    PENDING = "pending"
    ANSWERED = "answered"
    EXPIRED = "expired"


@dataclass(frozen=True)
class CanaryRecord:
    """A canary trace this node submitted: its known answers, and whether it was scored."""

    trace_id: str
    answers: Mapping[int, Vote]
    planted_step: int
    scored: bool


@dataclass(frozen=True)
class ReviewRecord:
    """One human review request: the segment (its context pack only), its deadline and answer.

    `vote`, `confidence_bps`, `rationale` and `answered_at_ms` are set once status is ANSWERED.
    An EXPIRED review has none: it abstained at its deadline. Times are unix milliseconds.
    """

    segment: Segment
    round: int
    status: ReviewStatus
    created_at_ms: int
    deadline_ms: int
    vote: Vote | None
    confidence_bps: int | None
    rationale: str | None
    answered_at_ms: int | None

    @property
    def trace_id(self) -> str:
        return self.segment.trace_id

    @property
    def index(self) -> int:
        return self.segment.index

    def is_pending_at(self, now_ms: int) -> bool:
        """Unanswered and its deadline not reached: an answer would still be accepted."""
        return self.status is ReviewStatus.PENDING and now_ms < self.deadline_ms
