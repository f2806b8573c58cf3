"""The human review queue: segments waiting for an expert's vote until their deadline."""

from __future__ import annotations

import sqlite3

from node.store.base import (
    DEFAULT_PAGE_LIMIT,
    MAX_PAGE_LIMIT,
    MAX_RATIONALE_CHARS,
    MAX_TRACE_BYTES,
    StoreBase,
    _encode,
)
from node.store.errors import (
    InvalidQueryError,
    InvalidReviewError,
    ReviewAnsweredError,
    ReviewDeadlinePassedError,
    UnknownReviewError,
)
from node.store.records import ReviewRecord, ReviewStatus
from protocol.models import Segment, Vote
from protocol.params import BASIS_POINTS

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


class ReviewTables(StoreBase):
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
