"""The store's exception tree."""

from __future__ import annotations

from node.store.records import TraceState

# --- Errors ------------------------------------------------------------------------------------


class StoreError(Exception):
    """Base of every error the store raises on purpose."""


class SchemaTooNewError(StoreError):
    """The database was written by a newer version of the node; opening it could corrupt it."""

    def __init__(self, found: int, supported: int) -> None:
        super().__init__(f"database schema version {found} is newer than supported {supported}")
        self.found = found
        self.supported = supported


class UnknownTraceError(StoreError):
    """No trace with this id is stored."""


class IllegalTransitionError(StoreError):
    """The pipeline state machine does not allow this transition."""

    def __init__(self, trace_id: str, current: TraceState, new: TraceState) -> None:
        super().__init__(f"trace {trace_id}: illegal transition {current} -> {new}")
        self.trace_id = trace_id
        self.current = current
        self.new = new


class InvalidDetailsError(StoreError):
    """Transition details are missing a required field or have the wrong type."""


class OversizedError(StoreError):
    """A JSON body exceeds its size limit; nothing was written."""

    def __init__(self, what: str, size: int, limit: int) -> None:
        super().__init__(f"{what} is {size} bytes, over the {limit}-byte limit")
        self.size = size
        self.limit = limit


class OwnVoteConflictError(StoreError):
    """A different own vote vector or salt is already stored for this trace and round.

    Overwriting it would make this node's auditor equivocate after a restart.
    """


class InvalidQueryError(StoreError):
    """A list query has an out-of-range limit."""


class InvalidReviewError(StoreError):
    """A review request or answer has an out-of-range field; nothing was written."""


class ReviewError(StoreError):
    """Base of the errors `answer_review` raises; the review is named in the message."""

    def __init__(self, message: str, trace_id: str, round_: int, index: int) -> None:
        super().__init__(message)
        self.trace_id = trace_id
        self.round = round_
        self.index = index


class UnknownReviewError(ReviewError):
    """No review request is stored for this (trace, round, segment)."""


class ReviewAnsweredError(ReviewError):
    """The review already has an answer; the first one stands (it may be committed already)."""


class ReviewDeadlinePassedError(ReviewError):
    """The review's deadline passed: it abstained, and a late answer would not be counted."""
