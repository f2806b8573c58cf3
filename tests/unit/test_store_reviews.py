"""The store's human review table: idempotent requests, deadlines, answers, restarts, migration."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from node.store import (
    MAX_PAGE_LIMIT,
    MAX_RATIONALE_CHARS,
    SCHEMA_VERSION,
    InvalidQueryError,
    InvalidReviewError,
    ReviewAnsweredError,
    ReviewDeadlinePassedError,
    ReviewStatus,
    Store,
    UnknownReviewError,
    migrate,
)
from protocol.models import Level, Segment, Tier, Trace, Vote

T0 = 1_700_000_000_000
DEADLINE = T0 + 60_000
TRACE_ID = "0x" + "11" * 32


def make_segment(index: int = 3, trace_id: str = TRACE_ID) -> Segment:
    return Segment(
        trace_id=trace_id,
        index=index,
        node_id="0x" + "22" * 32,
        level=Level.STEP,
        tier=Tier.HUMAN,
        problem="What is 2 + 3?",
        text="2 + 3 = 6",
        context=("we add 2 and 3",),
        proof=("0x" + "33" * 32,),
    )


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store(tmp_path / "node.db") as opened:
        yield opened


def put(store: Store, segment: Segment | None = None, round_: int = 0, at: int = T0) -> None:
    store.put_review_request(
        segment or make_segment(), round_, created_at_ms=at, deadline_ms=at + 60_000
    )


def answer(store: Store, index: int = 3, at: int = T0 + 1, round_: int = 0) -> None:
    store.answer_review(
        TRACE_ID,
        round_,
        index,
        vote=Vote.INVALID,
        confidence_bps=8_000,
        rationale="3 + 2 is 5",
        at_ms=at,
    )


def test_request_stores_the_segment_pending_until_its_deadline(store: Store) -> None:
    record, created = store.put_review_request(
        make_segment(), 0, created_at_ms=T0, deadline_ms=DEADLINE
    )
    assert created
    assert record.segment == make_segment()
    assert (record.trace_id, record.round, record.index) == (TRACE_ID, 0, 3)
    assert (record.status, record.created_at_ms, record.deadline_ms) == (
        ReviewStatus.PENDING,
        T0,
        DEADLINE,
    )
    assert (record.vote, record.confidence_bps, record.rationale, record.answered_at_ms) == (
        None,
        None,
        None,
        None,
    )
    assert store.get_review(TRACE_ID, 0, 3) == record


def test_request_again_keeps_the_first_deadline_and_answer(store: Store) -> None:
    put(store)
    answer(store)
    again, created = store.put_review_request(
        make_segment(), 0, created_at_ms=T0 + 5_000, deadline_ms=T0 + 999_000
    )
    assert not created
    assert again.deadline_ms == DEADLINE
    assert again.created_at_ms == T0
    assert (again.status, again.vote) == (ReviewStatus.ANSWERED, Vote.INVALID)
    assert len(store.pending_reviews(T0)) == 0


def test_each_round_and_segment_is_its_own_review(store: Store) -> None:
    put(store, make_segment(3), 0)
    put(store, make_segment(3), 1, at=T0 + 1)
    put(store, make_segment(4), 0, at=T0 + 2)
    keys = [(r.round, r.index) for r in store.pending_reviews(T0 + 10)]
    assert keys == [(0, 3), (1, 3), (0, 4)]


def test_pending_is_oldest_first_bounded_and_excludes_answered_and_late(store: Store) -> None:
    for index in range(5):
        put(store, make_segment(index), at=T0 + index)
    answer(store, index=1)
    assert [r.index for r in store.pending_reviews(T0 + 10)] == [0, 2, 3, 4]
    assert [r.index for r in store.pending_reviews(T0 + 10, limit=2)] == [0, 2]
    # Review 0 is due at T0 + 60_000: at that instant it is no longer pending.
    assert [r.index for r in store.pending_reviews(T0 + 60_000)] == [2, 3, 4]
    assert store.pending_reviews(T0 + 60_004) == []


@pytest.mark.parametrize("limit", [0, -1, MAX_PAGE_LIMIT + 1])
def test_pending_refuses_bad_limit(store: Store, limit: int) -> None:
    with pytest.raises(InvalidQueryError):
        store.pending_reviews(T0, limit)


def test_answer_records_vote_confidence_rationale_and_time(store: Store) -> None:
    put(store)
    record = store.answer_review(
        TRACE_ID, 0, 3, vote=Vote.VALID, confidence_bps=10_000, rationale="", at_ms=T0 + 7
    )
    assert (record.status, record.vote, record.confidence_bps) == (
        ReviewStatus.ANSWERED,
        Vote.VALID,
        10_000,
    )
    assert (record.rationale, record.answered_at_ms) == ("", T0 + 7)
    assert store.get_review(TRACE_ID, 0, 3) == record


def test_answer_unknown_review(store: Store) -> None:
    put(store)
    with pytest.raises(UnknownReviewError, match=f"no review {TRACE_ID}:1:3") as info:
        answer(store, round_=1)
    assert (info.value.trace_id, info.value.round, info.value.index) == (TRACE_ID, 1, 3)
    assert store.get_review(TRACE_ID, 1, 3) is None


def test_second_answer_is_refused_and_the_first_stands(store: Store) -> None:
    put(store)
    answer(store)
    with pytest.raises(ReviewAnsweredError, match="already answered"):
        store.answer_review(
            TRACE_ID, 0, 3, vote=Vote.VALID, confidence_bps=1, rationale="", at_ms=T0 + 2
        )
    record = store.get_review(TRACE_ID, 0, 3)
    assert record is not None
    assert (record.vote, record.answered_at_ms) == (Vote.INVALID, T0 + 1)


def test_answer_at_or_after_the_deadline_is_refused(store: Store) -> None:
    put(store)
    with pytest.raises(ReviewDeadlinePassedError, match="deadline passed"):
        answer(store, at=DEADLINE)
    record = store.get_review(TRACE_ID, 0, 3)
    assert record is not None
    assert record.status is ReviewStatus.PENDING  # nothing written
    answer(store, at=DEADLINE - 1)  # one millisecond earlier still counts


def test_expire_marks_only_a_due_unanswered_review(store: Store) -> None:
    put(store)
    assert store.expire_review(TRACE_ID, 0, 3, at_ms=DEADLINE - 1).status is ReviewStatus.PENDING
    expired = store.expire_review(TRACE_ID, 0, 3, at_ms=DEADLINE)
    assert (expired.status, expired.vote) == (ReviewStatus.EXPIRED, None)
    # An expired review refuses answers forever, whatever clock the answer carries.
    with pytest.raises(ReviewDeadlinePassedError):
        answer(store, at=T0)
    put(store, make_segment(4))
    answer(store, index=4)
    assert store.expire_review(TRACE_ID, 0, 4, at_ms=DEADLINE + 1).status is ReviewStatus.ANSWERED
    with pytest.raises(UnknownReviewError):
        store.expire_review(TRACE_ID, 0, 9, at_ms=DEADLINE)


@pytest.mark.parametrize(
    ("confidence_bps", "rationale"),
    [(-1, ""), (10_001, ""), (True, ""), (5_000, "x" * (MAX_RATIONALE_CHARS + 1))],
)
def test_answer_refuses_out_of_range_fields(
    store: Store, confidence_bps: int, rationale: str
) -> None:
    put(store)
    with pytest.raises(InvalidReviewError):
        store.answer_review(
            TRACE_ID,
            0,
            3,
            vote=Vote.VALID,
            confidence_bps=confidence_bps,
            rationale=rationale,
            at_ms=T0 + 1,
        )
    record = store.get_review(TRACE_ID, 0, 3)
    assert record is not None
    assert record.status is ReviewStatus.PENDING


@pytest.mark.parametrize(("round_", "deadline"), [(-1, DEADLINE), (256, DEADLINE), (0, T0 - 1)])
def test_request_refuses_bad_round_or_deadline(store: Store, round_: int, deadline: int) -> None:
    with pytest.raises(InvalidReviewError):
        store.put_review_request(make_segment(), round_, created_at_ms=T0, deadline_ms=deadline)
    assert store.pending_reviews(T0) == []


def test_reviews_survive_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "node.db"
    with Store(path) as store:
        put(store, make_segment(3))
        put(store, make_segment(4), at=T0 + 1)
        answer(store, index=4)
    with Store(path) as store:
        assert [r.index for r in store.pending_reviews(T0 + 10)] == [3]
        answered = store.get_review(TRACE_ID, 0, 4)
        assert answered is not None
        assert (answered.vote, answered.confidence_bps, answered.rationale) == (
            Vote.INVALID,
            8_000,
            "3 + 2 is 5",
        )
        answer(store, index=3)
    with Store(path) as store:
        assert store.pending_reviews(T0 + 10) == []


def test_the_stored_segment_is_the_context_pack_not_the_trace(store: Store) -> None:
    trace = Trace(problem="What is 2 + 3?", steps=("a secret first step", "2 + 3 = 6"))
    store.put_trace(trace, at_ms=T0)
    put(store)
    row = store._conn.execute("SELECT segment FROM reviews").fetchone()
    assert "a secret first step" not in row[0]
    assert Segment.model_validate_json(row[0]) == make_segment()


def test_migration_from_version_1_adds_the_reviews_table(tmp_path: Path) -> None:
    path = tmp_path / "node.db"
    conn = sqlite3.connect(path, isolation_level=None)
    migrate(conn, target=1)
    conn.execute("INSERT INTO own_votes VALUES (?, ?, ?, ?)", (TRACE_ID, 0, "[]", "0x" + "55" * 32))
    conn.close()
    with Store(path) as store:
        assert store.get_own_vote(TRACE_ID, 0) is not None
        put(store)
        assert [r.index for r in store.pending_reviews(T0)] == [3]
        version = store._conn.execute("SELECT version FROM schema_version").fetchone()[0]
        assert version == SCHEMA_VERSION
