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

import json
import sqlite3
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter

from protocol.canaries import CanaryScore
from protocol.encoding import canonical_json
from protocol.ids import compute_trace_id
from protocol.models import Commit, Reveal, Segment, Trace, TraceVerdict, Vote, VoteEntry
from protocol.params import BASIS_POINTS, MAX_RECORD_BYTES

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

SCHEMA_VERSION = 3
MAX_TRACE_BYTES = MAX_RECORD_BYTES
MAX_VOTE_BYTES = 1_048_576
MAX_DETAILS_BYTES = 16_384
DEFAULT_PAGE_LIMIT = 100
MAX_PAGE_LIMIT = 1_000
DEFAULT_BUSY_TIMEOUT_MS = 5_000
#: A reviewer's rationale is a short note kept off-chain, not an essay.
MAX_RATIONALE_CHARS = 4_000


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


# --- Schema ------------------------------------------------------------------------------------

_MIGRATIONS: tuple[tuple[str, ...], ...] = (
    # Version 1.
    (
        """CREATE TABLE traces (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            trace_id TEXT NOT NULL UNIQUE,
            body TEXT NOT NULL,
            state TEXT NOT NULL,
            received_at_ms INTEGER NOT NULL,
            updated_at_ms INTEGER NOT NULL,
            submit_tx_hash TEXT,
            seed TEXT,
            snapshot_block INTEGER,
            verdict INTEGER,
            first_error INTEGER,
            finalize_tx_hash TEXT,
            failure_reason TEXT
        )""",
        "CREATE INDEX traces_by_state ON traces (state, seq)",
        """CREATE TABLE trace_history (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            trace_id TEXT NOT NULL REFERENCES traces (trace_id),
            state TEXT NOT NULL,
            details TEXT NOT NULL,
            at_ms INTEGER NOT NULL
        )""",
        "CREATE INDEX history_by_trace ON trace_history (trace_id, id)",
        # Votes need no trace row: auditors store votes for traces submitted on other nodes.
        """CREATE TABLE commits (
            trace_id TEXT NOT NULL,
            round INTEGER NOT NULL,
            auditor TEXT NOT NULL,
            body TEXT NOT NULL,
            PRIMARY KEY (trace_id, round, auditor)
        )""",
        """CREATE TABLE reveals (
            trace_id TEXT NOT NULL,
            round INTEGER NOT NULL,
            auditor TEXT NOT NULL,
            body TEXT NOT NULL,
            PRIMARY KEY (trace_id, round, auditor)
        )""",
        """CREATE TABLE equivocations (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            kind TEXT NOT NULL CHECK (kind IN ('commit', 'reveal')),
            trace_id TEXT NOT NULL,
            round INTEGER NOT NULL,
            auditor TEXT NOT NULL,
            first_body TEXT NOT NULL,
            second_body TEXT NOT NULL,
            UNIQUE (kind, trace_id, round, auditor, second_body)
        )""",
        "CREATE INDEX equivocations_by_trace ON equivocations (trace_id, id)",
        """CREATE TABLE own_votes (
            trace_id TEXT NOT NULL,
            round INTEGER NOT NULL,
            votes TEXT NOT NULL,
            salt TEXT NOT NULL,
            PRIMARY KEY (trace_id, round)
        )""",
    ),
    # Version 2: the human review queue. `segment` holds the Segment model (the context pack an
    # auditor receives), never the trace; answer columns stay NULL until status is 'answered'.
    (
        """CREATE TABLE reviews (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            trace_id TEXT NOT NULL,
            round INTEGER NOT NULL,
            segment_index INTEGER NOT NULL,
            segment TEXT NOT NULL,
            status TEXT NOT NULL CHECK (status IN ('pending', 'answered', 'expired')),
            created_at_ms INTEGER NOT NULL,
            deadline_ms INTEGER NOT NULL,
            vote INTEGER,
            confidence_bps INTEGER CHECK (confidence_bps BETWEEN 0 AND 10000),
            rationale TEXT,
            answered_at_ms INTEGER,
            UNIQUE (trace_id, round, segment_index)
        )""",
        "CREATE INDEX reviews_by_status ON reviews (status, seq)",
    ),
    # Version 3: canary traces this node submitted, with their known answers, and the running
    # canary record of every auditor that revealed on them.
    (
        """CREATE TABLE canaries (
            trace_id TEXT PRIMARY KEY REFERENCES traces (trace_id),
            answers TEXT NOT NULL,
            planted_step INTEGER NOT NULL,
            scored INTEGER NOT NULL DEFAULT 0
        )""",
        """CREATE TABLE canary_scores (
            auditor TEXT PRIMARY KEY,
            passed INTEGER NOT NULL,
            failed INTEGER NOT NULL,
            abstained INTEGER NOT NULL
        )""",
    ),
)


def _read_version(conn: sqlite3.Connection) -> int:
    conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
    row = conn.execute("SELECT version FROM schema_version").fetchone()
    return 0 if row is None else int(row[0])


def migrate(conn: sqlite3.Connection, target: int = SCHEMA_VERSION) -> int:
    """Bring the schema up to `target` in one transaction and return the version found.

    Raises SchemaTooNewError, without writing, when the database is newer than `target`.
    `conn` must be in autocommit mode (`isolation_level=None`).
    """
    conn.execute("BEGIN IMMEDIATE")
    try:
        found = _read_version(conn)
        if found > target:
            raise SchemaTooNewError(found, target)
        for statements in _MIGRATIONS[found:target]:
            for statement in statements:
                conn.execute(statement)
        conn.execute("DELETE FROM schema_version")
        conn.execute("INSERT INTO schema_version (version) VALUES (?)", (max(found, target),))
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
    return found


# --- Helpers -----------------------------------------------------------------------------------


def _encode(value: Any, what: str, limit: int) -> str:
    raw = canonical_json(value)
    if len(raw) > limit:
        raise OversizedError(what, len(raw), limit)
    return raw.decode("utf-8")


def _validate_details(state: TraceState, details: Mapping[str, Any]) -> None:
    for name, types in _REQUIRED_DETAILS.get(state, {}).items():
        if name not in details:
            raise InvalidDetailsError(f"{state} needs detail {name!r}")
        value: Any = details[name]
        if isinstance(value, bool) or not isinstance(value, types):
            raise InvalidDetailsError(f"detail {name!r} has type {type(value).__name__}")
        if name in _HASH_DETAILS and not _is_hash(str(value)):
            raise InvalidDetailsError(f"detail {name!r} is not 0x-prefixed 32-byte hex")
    if state is TraceState.FINALIZED and details["verdict"] not in _FINAL_VERDICTS:
        raise InvalidDetailsError(f"verdict {details['verdict']!r} is not a final verdict")


def _is_same_vote(kind: str, stored: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
    """Same content: a copy with another signature is a duplicate, not equivocation."""
    if kind == "commit":
        return bool(stored["commitment"] == new["commitment"])
    return bool((stored["votes"], stored["salt"]) == (new["votes"], new["salt"]))


def _is_hash(value: str) -> bool:
    return len(value) == 66 and value.startswith("0x") and set(value[2:]) <= _HEX_DIGITS


_TRACE_COLUMNS = (
    "trace_id, body, state, seq, received_at_ms, updated_at_ms, submit_tx_hash, seed, "
    "snapshot_block, verdict, first_error, finalize_tx_hash, failure_reason"
)


_REVIEW_COLUMNS = (
    "round, segment, status, created_at_ms, deadline_ms, vote, confidence_bps, rationale, "
    "answered_at_ms"
)
_REVIEW_KEY = "trace_id = ? AND round = ? AND segment_index = ?"


def _review_record(row: sqlite3.Row) -> ReviewRecord:
    return ReviewRecord(
        segment=Segment.model_validate_json(row["segment"]),
        round=row["round"],
        status=ReviewStatus(row["status"]),
        created_at_ms=row["created_at_ms"],
        deadline_ms=row["deadline_ms"],
        vote=None if row["vote"] is None else Vote(row["vote"]),
        confidence_bps=row["confidence_bps"],
        rationale=row["rationale"],
        answered_at_ms=row["answered_at_ms"],
    )


def _validate_answer(confidence_bps: int, rationale: str) -> None:
    if isinstance(confidence_bps, bool) or not 0 <= confidence_bps <= BASIS_POINTS:
        raise InvalidReviewError(f"confidence must be in [0, {BASIS_POINTS}] basis points")
    if len(rationale) > MAX_RATIONALE_CHARS:
        raise InvalidReviewError(f"rationale exceeds {MAX_RATIONALE_CHARS} characters")


def _record(row: sqlite3.Row) -> TraceRecord:
    return TraceRecord(
        trace_id=row["trace_id"],
        trace=Trace.model_validate_json(row["body"]),
        state=TraceState(row["state"]),
        seq=row["seq"],
        received_at_ms=row["received_at_ms"],
        updated_at_ms=row["updated_at_ms"],
        submit_tx_hash=row["submit_tx_hash"],
        seed=row["seed"],
        snapshot_block=row["snapshot_block"],
        verdict=None if row["verdict"] is None else TraceVerdict(row["verdict"]),
        first_error=row["first_error"],
        finalize_tx_hash=row["finalize_tx_hash"],
        failure_reason=row["failure_reason"],
    )


# --- Store -------------------------------------------------------------------------------------


class Store:
    """The node's SQLite store. Thread-safe: one connection, every call under one lock."""

    def __init__(self, path: Path | str, busy_timeout_ms: int = DEFAULT_BUSY_TIMEOUT_MS) -> None:
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(
            str(path), isolation_level=None, check_same_thread=False, timeout=busy_timeout_ms / 1000
        )
        try:
            self._conn.row_factory = sqlite3.Row
            self._conn.execute("PRAGMA journal_mode=WAL")
            # synchronous is per connection: every table holds accepted traces or votes, so all
            # commits fsync the WAL.
            self._conn.execute("PRAGMA synchronous=FULL")
            self._conn.execute("PRAGMA foreign_keys=ON")
            migrate(self._conn)
        except BaseException:
            self._conn.close()
            raise

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One IMMEDIATE transaction, committed (durably) before the block's caller returns."""
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            yield self._conn

    # --- Traces --------------------------------------------------------------------------------

    def put_trace(self, trace: Trace, *, at_ms: int) -> tuple[str, bool]:
        """Store a trace in state `received`; the same content returns its id and created=False."""
        with self._write() as conn:
            return self._insert_trace(conn, trace, at_ms)

    def _insert_trace(self, conn: sqlite3.Connection, trace: Trace, at_ms: int) -> tuple[str, bool]:
        trace_id = compute_trace_id(trace)
        body = _encode(trace.canonical_fields(), "trace", MAX_TRACE_BYTES)
        cursor = conn.execute(
            "INSERT INTO traces (trace_id, body, state, received_at_ms, updated_at_ms) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT (trace_id) DO NOTHING",
            (trace_id, body, TraceState.RECEIVED, at_ms, at_ms),
        )
        created = cursor.rowcount == 1
        if created:
            self._add_history(conn, trace_id, TraceState.RECEIVED, "{}", at_ms)
        return trace_id, created

    def get_trace(self, trace_id: str) -> TraceRecord | None:
        with self._read() as conn:
            row = conn.execute(
                f"SELECT {_TRACE_COLUMNS} FROM traces WHERE trace_id = ?", (trace_id,)
            ).fetchone()
        return None if row is None else _record(row)

    def list_traces(
        self,
        state: TraceState | None = None,
        limit: int = DEFAULT_PAGE_LIMIT,
        after: int | None = None,
    ) -> TracePage:
        """Traces in insertion order, optionally in one state, starting after cursor `after`."""
        if not 1 <= limit <= MAX_PAGE_LIMIT:
            raise InvalidQueryError(f"limit must be in [1, {MAX_PAGE_LIMIT}], got {limit}")
        query = f"SELECT {_TRACE_COLUMNS} FROM traces WHERE seq > ?"
        params: list[Any] = [after if after is not None else 0]
        if state is not None:
            query += " AND state = ?"
            params.append(TraceState(state))
        query += " ORDER BY seq LIMIT ?"
        params.append(limit + 1)
        with self._read() as conn:
            rows = conn.execute(query, params).fetchall()
        records = tuple(_record(row) for row in rows[:limit])
        next_after = records[-1].seq if len(rows) > limit else None
        return TracePage(records, next_after)

    def open_traces(self) -> list[TraceRecord]:
        """Every trace not finalized or failed, oldest first: what to resume after a restart."""
        with self._read() as conn:
            rows = conn.execute(
                f"SELECT {_TRACE_COLUMNS} FROM traces WHERE state NOT IN (?, ?) ORDER BY seq",
                (TraceState.FINALIZED, TraceState.FAILED),
            ).fetchall()
        return [_record(row) for row in rows]

    def advance(
        self, trace_id: str, new_state: TraceState, *, at_ms: int, **details: Any
    ) -> TraceRecord:
        """Move a trace to `new_state`, durably, and record it in the history.

        Raises UnknownTraceError, IllegalTransitionError, InvalidDetailsError or OversizedError,
        writing nothing. Details must be JSON values; required ones are in `_REQUIRED_DETAILS`.
        """
        new_state = TraceState(new_state)
        _validate_details(new_state, details)
        encoded = _encode(details, "details", MAX_DETAILS_BYTES)
        with self._write() as conn:
            row = conn.execute(
                "SELECT state FROM traces WHERE trace_id = ?", (trace_id,)
            ).fetchone()
            if row is None:
                raise UnknownTraceError(trace_id)
            current = TraceState(row["state"])
            if new_state not in TRANSITIONS[current]:
                raise IllegalTransitionError(trace_id, current, new_state)
            conn.execute(
                "UPDATE traces SET state = ?, updated_at_ms = ? WHERE trace_id = ?",
                (new_state, at_ms, trace_id),
            )
            self._set_columns(conn, trace_id, new_state, details)
            self._add_history(conn, trace_id, new_state, encoded, at_ms)
            record = conn.execute(
                f"SELECT {_TRACE_COLUMNS} FROM traces WHERE trace_id = ?", (trace_id,)
            ).fetchone()
        return _record(record)

    @staticmethod
    def _set_columns(
        conn: sqlite3.Connection, trace_id: str, state: TraceState, details: Mapping[str, Any]
    ) -> None:
        if state is TraceState.SUBMITTED:
            sql = "UPDATE traces SET submit_tx_hash = ?, seed = ?, snapshot_block = ?"
            values: tuple[Any, ...] = (
                details["tx_hash"],
                details["seed"],
                details["snapshot_block"],
            )
        elif state is TraceState.FINALIZED:
            sql = "UPDATE traces SET verdict = ?, first_error = ?, finalize_tx_hash = ?"
            values = (int(details["verdict"]), details["first_error"], details["tx_hash"])
        elif state is TraceState.FAILED:
            sql, values = "UPDATE traces SET failure_reason = ?", (details["reason"],)
        else:
            return
        conn.execute(sql + " WHERE trace_id = ?", (*values, trace_id))

    @staticmethod
    def _add_history(
        conn: sqlite3.Connection, trace_id: str, state: TraceState, details: str, at_ms: int
    ) -> None:
        conn.execute(
            "INSERT INTO trace_history (trace_id, state, details, at_ms) VALUES (?, ?, ?, ?)",
            (trace_id, state, details, at_ms),
        )

    def get_history(self, trace_id: str) -> list[HistoryEntry]:
        """The trace's transitions, oldest first; empty for an unknown trace."""
        with self._read() as conn:
            rows = conn.execute(
                "SELECT state, details, at_ms FROM trace_history WHERE trace_id = ? ORDER BY id",
                (trace_id,),
            ).fetchall()
        return [
            HistoryEntry(TraceState(row["state"]), json.loads(row["details"]), row["at_ms"])
            for row in rows
        ]

    # --- Votes ---------------------------------------------------------------------------------

    def put_commit(self, commit: Commit) -> PutResult:
        """Store a commit once per (trace, round, auditor); a different commitment is evidence.

        A copy with the same commitment but another signature is a duplicate, not evidence.
        """
        return self.put_votes([commit])[0]

    def put_reveal(self, reveal: Reveal) -> PutResult:
        """Store a reveal once per (trace, round, auditor); different votes or salt are evidence."""
        return self.put_votes([reveal])[0]

    def put_votes(self, votes: Sequence[Commit | Reveal]) -> list[PutResult]:
        """`put_commit` / `put_reveal` for many votes in one durable transaction (one fsync):
        how the node stores gossip in bursts."""
        with self._write() as conn:
            return [self._insert_vote(conn, vote) for vote in votes]

    @staticmethod
    def _insert_vote(conn: sqlite3.Connection, vote: Commit | Reveal) -> PutResult:
        kind = "commit" if isinstance(vote, Commit) else "reveal"
        fields = vote.model_dump(mode="json")
        body = _encode(fields, kind, MAX_VOTE_BYTES)
        key = (vote.trace_id, vote.round, vote.auditor)
        table = "commits" if kind == "commit" else "reveals"
        row = conn.execute(
            f"SELECT body FROM {table} WHERE trace_id = ? AND round = ? AND auditor = ?", key
        ).fetchone()
        if row is None:
            conn.execute(f"INSERT INTO {table} VALUES (?, ?, ?, ?)", (*key, body))
            return PutResult.CREATED
        if _is_same_vote(kind, json.loads(row["body"]), fields):
            return PutResult.DUPLICATE
        conn.execute(
            "INSERT INTO equivocations (kind, trace_id, round, auditor, first_body, "
            "second_body) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
            (kind, *key, row["body"], body),
        )
        return PutResult.EQUIVOCATION

    def get_commits(self, trace_id: str, round_: int) -> list[Commit]:
        """The first commit of each auditor for this trace and round, by auditor."""
        return [
            Commit.model_validate_json(b) for b in self._vote_bodies("commits", trace_id, round_)
        ]

    def get_reveals(self, trace_id: str, round_: int) -> list[Reveal]:
        """The first reveal of each auditor for this trace and round, by auditor."""
        return [
            Reveal.model_validate_json(b) for b in self._vote_bodies("reveals", trace_id, round_)
        ]

    def _vote_bodies(self, table: str, trace_id: str, round_: int) -> list[str]:
        with self._read() as conn:
            rows = conn.execute(
                f"SELECT body FROM {table} WHERE trace_id = ? AND round = ? ORDER BY auditor",
                (trace_id, round_),
            ).fetchall()
        return [row["body"] for row in rows]

    def get_equivocations(self, trace_id: str) -> list[Equivocation]:
        """Conflicting vote pairs seen for this trace, in the order they were seen."""
        with self._read() as conn:
            rows = conn.execute(
                "SELECT kind, first_body, second_body FROM equivocations WHERE trace_id = ? "
                "ORDER BY id",
                (trace_id,),
            ).fetchall()
        result = []
        for row in rows:
            model: type[Commit] | type[Reveal] = Commit if row["kind"] == "commit" else Reveal
            result.append(
                Equivocation(
                    row["kind"],
                    model.model_validate_json(row["first_body"]),
                    model.model_validate_json(row["second_body"]),
                )
            )
        return result

    # --- Own votes -----------------------------------------------------------------------------

    def put_own_vote(
        self, trace_id: str, round_: int, votes: Sequence[VoteEntry], salt: str
    ) -> None:
        """Keep this node's votes and salt, durably, before its commit is published.

        Storing the same again is a no-op; anything different raises OwnVoteConflictError.
        """
        encoded = _encode(
            [entry.model_dump(mode="json") for entry in votes], "own votes", MAX_VOTE_BYTES
        )
        if not _is_hash(salt):
            raise InvalidDetailsError("salt is not 0x-prefixed 32-byte hex")
        with self._write() as conn:
            row = conn.execute(
                "SELECT votes, salt FROM own_votes WHERE trace_id = ? AND round = ?",
                (trace_id, round_),
            ).fetchone()
            if row is None:
                conn.execute(
                    "INSERT INTO own_votes VALUES (?, ?, ?, ?)", (trace_id, round_, encoded, salt)
                )
            elif (row["votes"], row["salt"]) != (encoded, salt):
                raise OwnVoteConflictError(f"own vote for {trace_id} round {round_} differs")

    def pending_own_votes(self, auditor: str) -> list[OwnVote]:
        """This node's votes whose reveal (by `auditor`, its account) is not stored yet: what
        to commit and reveal again after a restart."""
        with self._read() as conn:
            rows = conn.execute(
                "SELECT o.trace_id, o.round, o.votes, o.salt FROM own_votes o "
                "LEFT JOIN reveals r ON r.trace_id = o.trace_id AND r.round = o.round "
                "AND r.auditor = ? WHERE r.trace_id IS NULL ORDER BY o.trace_id, o.round",
                (auditor,),
            ).fetchall()
        return [
            OwnVote(
                row["trace_id"],
                row["round"],
                _VOTES_ADAPTER.validate_json(row["votes"]),
                row["salt"],
            )
            for row in rows
        ]

    def get_own_vote(self, trace_id: str, round_: int) -> OwnVote | None:
        with self._read() as conn:
            row = conn.execute(
                "SELECT votes, salt FROM own_votes WHERE trace_id = ? AND round = ?",
                (trace_id, round_),
            ).fetchone()
        if row is None:
            return None
        votes = _VOTES_ADAPTER.validate_json(row["votes"])
        return OwnVote(trace_id, round_, votes, row["salt"])

    # --- Canaries ------------------------------------------------------------------------------

    def put_canary(
        self, trace: Trace, answers: Mapping[int, Vote], planted_step: int, *, at_ms: int
    ) -> tuple[str, bool]:
        """Store a canary trace (state `received`, like any trace) and its known answers in one
        transaction; a trace already known returns its id and created=False, unchanged."""
        encoded = json.dumps({str(index): int(vote) for index, vote in answers.items()})
        with self._write() as conn:
            trace_id, created = self._insert_trace(conn, trace, at_ms)
            if created:
                conn.execute(
                    "INSERT INTO canaries (trace_id, answers, planted_step) VALUES (?, ?, ?)",
                    (trace_id, encoded, planted_step),
                )
        return trace_id, created

    def get_canary(self, trace_id: str) -> CanaryRecord | None:
        with self._read() as conn:
            row = conn.execute(
                "SELECT answers, planted_step, scored FROM canaries WHERE trace_id = ?",
                (trace_id,),
            ).fetchone()
        if row is None:
            return None
        answers = {int(index): Vote(vote) for index, vote in json.loads(row["answers"]).items()}
        return CanaryRecord(trace_id, answers, row["planted_step"], bool(row["scored"]))

    def unscored_canaries(self) -> list[str]:
        """Finalized canaries whose votes are not in the canary record yet."""
        with self._read() as conn:
            rows = conn.execute(
                "SELECT c.trace_id FROM canaries c JOIN traces t USING (trace_id) "
                "WHERE c.scored = 0 AND t.state = ?",
                (TraceState.FINALIZED,),
            ).fetchall()
        return [row["trace_id"] for row in rows]

    def record_canary_scores(self, trace_id: str, scores: Mapping[str, CanaryScore]) -> bool:
        """Add one canary's scores to the auditors' records, once: False if it was scored."""
        with self._write() as conn:
            cursor = conn.execute(
                "UPDATE canaries SET scored = 1 WHERE trace_id = ? AND scored = 0", (trace_id,)
            )
            if cursor.rowcount != 1:
                return False
            for auditor, score in scores.items():
                conn.execute(
                    "INSERT INTO canary_scores VALUES (?, ?, ?, ?) ON CONFLICT (auditor) DO "
                    "UPDATE SET passed = passed + excluded.passed, "
                    "failed = failed + excluded.failed, abstained = abstained + excluded.abstained",
                    (auditor, score.passed, score.failed, score.abstained),
                )
        return True

    def canary_scores(self) -> dict[str, CanaryScore]:
        with self._read() as conn:
            rows = conn.execute("SELECT * FROM canary_scores ORDER BY auditor").fetchall()
        return {
            row["auditor"]: CanaryScore(row["passed"], row["failed"], row["abstained"])
            for row in rows
        }

    def count_canaries(self) -> tuple[int, int]:
        """(canaries submitted, canaries scored)."""
        with self._read() as conn:
            row = conn.execute("SELECT COUNT(*) AS n, SUM(scored) AS s FROM canaries").fetchone()
        return row["n"], row["s"] or 0

    # --- Human reviews -------------------------------------------------------------------------

    def put_review_request(
        self, segment: Segment, round_: int, *, created_at_ms: int, deadline_ms: int
    ) -> tuple[ReviewRecord, bool]:
        """Queue a segment for human review, pending until `deadline_ms`; return it and created.

        Keyed by (trace, round, segment index). Asking again returns the stored request
        unchanged with created=False: its first deadline and any answer stand, so a request
        re-made after a restart does not get a fresh deadline.
        """
        if not 0 <= round_ <= 255:
            raise InvalidReviewError(f"round must be in [0, 255], got {round_}")
        if deadline_ms < created_at_ms:
            raise InvalidReviewError("the deadline lies before the request")
        body = _encode(segment.model_dump(mode="json"), "segment", MAX_TRACE_BYTES)
        key = (segment.trace_id, round_, segment.index)
        with self._write() as conn:
            cursor = conn.execute(
                "INSERT INTO reviews (trace_id, round, segment_index, segment, status, "
                "created_at_ms, deadline_ms) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                (*key, body, ReviewStatus.PENDING, created_at_ms, deadline_ms),
            )
            row = conn.execute(
                f"SELECT {_REVIEW_COLUMNS} FROM reviews WHERE {_REVIEW_KEY}", key
            ).fetchone()
        return _review_record(row), cursor.rowcount == 1

    def get_review(self, trace_id: str, round_: int, index: int) -> ReviewRecord | None:
        with self._read() as conn:
            row = conn.execute(
                f"SELECT {_REVIEW_COLUMNS} FROM reviews WHERE {_REVIEW_KEY}",
                (trace_id, round_, index),
            ).fetchone()
        return None if row is None else _review_record(row)

    def pending_reviews(self, now_ms: int, limit: int = DEFAULT_PAGE_LIMIT) -> list[ReviewRecord]:
        """Unanswered reviews whose deadline is after `now_ms`, oldest request first, at most
        `limit` (in [1, MAX_PAGE_LIMIT], else InvalidQueryError)."""
        if not 1 <= limit <= MAX_PAGE_LIMIT:
            raise InvalidQueryError(f"limit must be in [1, {MAX_PAGE_LIMIT}], got {limit}")
        with self._read() as conn:
            rows = conn.execute(
                f"SELECT {_REVIEW_COLUMNS} FROM reviews WHERE status = ? AND deadline_ms > ? "
                "ORDER BY seq LIMIT ?",
                (ReviewStatus.PENDING, now_ms, limit),
            ).fetchall()
        return [_review_record(row) for row in rows]

    def answer_review(
        self,
        trace_id: str,
        round_: int,
        index: int,
        *,
        vote: Vote,
        confidence_bps: int,
        rationale: str,
        at_ms: int,
    ) -> ReviewRecord:
        """Record a human's answer, durably, and return the answered review.

        Raises UnknownReviewError, ReviewAnsweredError (the first answer stands),
        ReviewDeadlinePassedError (at or after the deadline, even if not yet marked expired) or
        InvalidReviewError, writing nothing.
        """
        _validate_answer(confidence_bps, rationale)
        key = (trace_id, round_, index)
        with self._write() as conn:
            record = self._review_for_update(conn, key)
            if record.status is ReviewStatus.ANSWERED:
                raise ReviewAnsweredError(f"review {_name(key)} is already answered", *key)
            if not record.is_pending_at(at_ms):
                raise ReviewDeadlinePassedError(f"review {_name(key)}: deadline passed", *key)
            conn.execute(
                "UPDATE reviews SET status = ?, vote = ?, confidence_bps = ?, rationale = ?, "
                f"answered_at_ms = ? WHERE {_REVIEW_KEY}",
                (ReviewStatus.ANSWERED, int(Vote(vote)), confidence_bps, rationale, at_ms, *key),
            )
            return self._review_for_update(conn, key)

    def expire_review(self, trace_id: str, round_: int, index: int, *, at_ms: int) -> ReviewRecord:
        """Mark a still-unanswered review expired if `at_ms` is at or past its deadline, and
        return it as stored. Done in one transaction with the check, so an answer racing the
        deadline either lands first (and counts) or is refused: never both."""
        key = (trace_id, round_, index)
        with self._write() as conn:
            record = self._review_for_update(conn, key)
            if record.status is not ReviewStatus.PENDING or at_ms < record.deadline_ms:
                return record
            conn.execute(
                f"UPDATE reviews SET status = ? WHERE {_REVIEW_KEY}", (ReviewStatus.EXPIRED, *key)
            )
            return self._review_for_update(conn, key)

    @staticmethod
    def _review_for_update(conn: sqlite3.Connection, key: tuple[str, int, int]) -> ReviewRecord:
        row = conn.execute(
            f"SELECT {_REVIEW_COLUMNS} FROM reviews WHERE {_REVIEW_KEY}", key
        ).fetchone()
        if row is None:
            raise UnknownReviewError(f"no review {_name(key)}", *key)
        return _review_record(row)


def _name(key: tuple[str, int, int]) -> str:
    """How messages name a review: the same `trace:round:index` form the RPC uses as its id."""
    return ":".join(str(part) for part in key)
