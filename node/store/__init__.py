"""The node's durable store: one SQLite database (WAL) for traces, their pipeline state, votes
and the human review queue.

Every write commits with `synchronous=FULL` before the method returns, so whatever a caller has
been told is stored survives SIGKILL and power loss. The API is synchronous; the daemon calls it
through `asyncio.to_thread`, so one connection is shared by threads and serialized by a lock
(SQLite allows one writer at a time anyway). No method reads a clock: times are passed in.

Trace states follow the pipeline of the design:

    received -> submitted -> dispatched -> committing -> revealing -> tallied -> finalized
    tallied -> dispatched          (escalation: the next round re-dispatches unresolved segments)
    any non-terminal state -> failed
"""

from __future__ import annotations

from node.store.base import (
    DEFAULT_PAGE_LIMIT,
    MAX_DETAILS_BYTES,
    MAX_PAGE_LIMIT,
    MAX_RATIONALE_CHARS,
    MAX_TRACE_BYTES,
    MAX_VOTE_BYTES,
)
from node.store.canaries import CanaryTables
from node.store.errors import (
    IllegalTransitionError,
    InvalidDetailsError,
    InvalidQueryError,
    InvalidReviewError,
    OversizedError,
    OwnVoteConflictError,
    ReviewAnsweredError,
    ReviewDeadlinePassedError,
    ReviewError,
    SchemaTooNewError,
    StoreError,
    UnknownReviewError,
    UnknownTraceError,
)
from node.store.records import (
    TERMINAL_STATES,
    TRANSITIONS,
    CanaryRecord,
    Equivocation,
    HistoryEntry,
    OwnVote,
    PutResult,
    ReviewRecord,
    ReviewStatus,
    TracePage,
    TraceRecord,
    TraceState,
)
from node.store.reviews import ReviewTables
from node.store.schema import SCHEMA_VERSION, migrate

__all__ = [
    "DEFAULT_PAGE_LIMIT",
    "MAX_DETAILS_BYTES",
    "MAX_PAGE_LIMIT",
    "MAX_RATIONALE_CHARS",
    "MAX_TRACE_BYTES",
    "MAX_VOTE_BYTES",
    "SCHEMA_VERSION",
    "TERMINAL_STATES",
    "TRANSITIONS",
    "CanaryRecord",
    "Equivocation",
    "HistoryEntry",
    "IllegalTransitionError",
    "InvalidDetailsError",
    "InvalidQueryError",
    "InvalidReviewError",
    "OversizedError",
    "OwnVote",
    "OwnVoteConflictError",
    "PutResult",
    "ReviewAnsweredError",
    "ReviewDeadlinePassedError",
    "ReviewError",
    "ReviewRecord",
    "ReviewStatus",
    "SchemaTooNewError",
    "Store",
    "StoreError",
    "TracePage",
    "TraceRecord",
    "TraceState",
    "UnknownReviewError",
    "UnknownTraceError",
    "migrate",
]


class Store(CanaryTables, ReviewTables):
    """The node's SQLite store. Thread-safe: one connection, every call under one lock."""
