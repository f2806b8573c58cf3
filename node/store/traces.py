"""Traces, their state history, commits and reveals, and this node's own votes."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping, Sequence
from typing import Any

from node.store.base import (
    DEFAULT_PAGE_LIMIT,
    MAX_DETAILS_BYTES,
    MAX_PAGE_LIMIT,
    MAX_TRACE_BYTES,
    MAX_VOTE_BYTES,
    StoreBase,
    _encode,
)
from node.store.errors import (
    IllegalTransitionError,
    InvalidDetailsError,
    InvalidQueryError,
    OwnVoteConflictError,
    UnknownTraceError,
)
from node.store.records import (
    _FINAL_VERDICTS,
    _HASH_DETAILS,
    _HEX_DIGITS,
    _REQUIRED_DETAILS,
    _VOTES_ADAPTER,
    TRANSITIONS,
    Equivocation,
    HistoryEntry,
    OwnVote,
    PutResult,
    TracePage,
    TraceRecord,
    TraceState,
)
from protocol.ids import compute_trace_id
from protocol.models import Commit, Reveal, Trace, TraceVerdict, VoteEntry

# --- Helpers -----------------------------------------------------------------------------------


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


class TraceTables(StoreBase):
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
