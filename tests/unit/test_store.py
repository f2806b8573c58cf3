"""The SQLite store: traces, the pipeline state machine, votes, own votes, schema versions."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from node.store import (
    MAX_DETAILS_BYTES,
    SCHEMA_VERSION,
    TERMINAL_STATES,
    TRANSITIONS,
    IllegalTransitionError,
    InvalidDetailsError,
    InvalidQueryError,
    OversizedError,
    OwnVoteConflictError,
    PutResult,
    SchemaTooNewError,
    Store,
    TraceState,
    UnknownTraceError,
    migrate,
)
from protocol.ids import compute_trace_id
from protocol.models import Commit, Reveal, Trace, TraceVerdict, Vote, VoteEntry

T0 = 1_700_000_000_000
TX = "0x" + "ab" * 32
SEED = "0x" + "cd" * 32
TRACE_ID = "0x" + "11" * 32
AUDITOR = "0x" + "22" * 20
SIG_A = "0x" + "33" * 65
SIG_B = "0x" + "44" * 65
SALT = "0x" + "55" * 32
OTHER_SALT = "0x" + "66" * 32

SUBMITTED = {"tx_hash": TX, "seed": SEED, "snapshot_block": 7}
FINALIZED = {"verdict": TraceVerdict.FLAWED, "first_error": 2, "tx_hash": TX}
HAPPY_PATH: list[tuple[TraceState, dict[str, Any]]] = [
    (TraceState.SUBMITTED, SUBMITTED),
    (TraceState.DISPATCHED, {"round": 0}),
    (TraceState.COMMITTING, {}),
    (TraceState.REVEALING, {}),
    (TraceState.TALLIED, {}),
    (TraceState.FINALIZED, FINALIZED),
]


def make_trace(n: int = 0) -> Trace:
    return Trace(problem=f"problem {n}", steps=(f"step one of {n}", "step two"), answer="4")


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store(tmp_path / "node.db") as opened:
        yield opened


def make_commit(commitment: str = "0x" + "77" * 32, signature: str = SIG_A) -> Commit:
    return Commit(
        trace_id=TRACE_ID, round=0, auditor=AUDITOR, commitment=commitment, signature=signature
    )


def make_reveal(vote: Vote = Vote.VALID, salt: str = SALT, signature: str = SIG_A) -> Reveal:
    entry = VoteEntry(segment=0, vote=vote, confidence=9_000, rationale="0x" + "00" * 32)
    return Reveal(
        trace_id=TRACE_ID, round=0, auditor=AUDITOR, votes=(entry,), salt=salt, signature=signature
    )


# --- Traces ------------------------------------------------------------------------------------


def test_put_trace_is_idempotent_by_content_id(store: Store) -> None:
    trace = make_trace()
    trace_id, created = store.put_trace(trace, at_ms=T0)
    again_id, again_created = store.put_trace(make_trace(), at_ms=T0 + 5)
    assert (trace_id, created) == (compute_trace_id(trace), True)
    assert (again_id, again_created) == (trace_id, False)
    record = store.get_trace(trace_id)
    assert record is not None
    assert record.trace == trace
    assert record.state is TraceState.RECEIVED
    assert record.received_at_ms == T0
    assert len(store.list_traces().records) == 1
    assert [entry.state for entry in store.get_history(trace_id)] == [TraceState.RECEIVED]


def test_put_trace_keeps_record_alias_fields(store: Store) -> None:
    trace = Trace.model_validate(
        {"id": "pb-1", "problem": "p", "steps": ("a", "b"), "label": 1, "source": "gsm8k"}
    )
    trace_id, _ = store.put_trace(trace, at_ms=T0)
    record = store.get_trace(trace_id)
    assert record is not None
    assert record.trace == trace
    assert compute_trace_id(record.trace) == trace_id


def test_get_trace_unknown_is_none(store: Store) -> None:
    assert store.get_trace(TRACE_ID) is None


def test_put_trace_refuses_oversized(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("node.store.traces.MAX_TRACE_BYTES", 64)
    with Store(tmp_path / "node.db") as store:
        with pytest.raises(OversizedError) as info:
            store.put_trace(make_trace(), at_ms=T0)
        assert info.value.limit == 64
        assert store.list_traces().records == ()


def test_list_traces_paginates_with_cursor(store: Store) -> None:
    ids = [store.put_trace(make_trace(n), at_ms=T0 + n)[0] for n in range(7)]
    seen: list[str] = []
    after = None
    pages = 0
    while True:
        page = store.list_traces(limit=3, after=after)
        seen += [record.trace_id for record in page.records]
        pages += 1
        if page.next_after is None:
            break
        after = page.next_after
    assert seen == ids
    assert pages == 3


def test_list_traces_exact_multiple_has_no_empty_last_page(store: Store) -> None:
    for n in range(4):
        store.put_trace(make_trace(n), at_ms=T0)
    first = store.list_traces(limit=2)
    second = store.list_traces(limit=2, after=first.next_after)
    assert len(second.records) == 2
    assert second.next_after is None


def test_list_traces_filters_by_state(store: Store) -> None:
    ids = [store.put_trace(make_trace(n), at_ms=T0)[0] for n in range(5)]
    for trace_id in ids[1::2]:
        store.advance(trace_id, TraceState.FAILED, at_ms=T0 + 1, reason="chain down")
    failed = store.list_traces(state=TraceState.FAILED, limit=1)
    assert [record.trace_id for record in failed.records] == [ids[1]]
    rest = store.list_traces(state=TraceState.FAILED, after=failed.next_after)
    assert [record.trace_id for record in rest.records] == [ids[3]]
    received = store.list_traces(state=TraceState.RECEIVED)
    assert [record.trace_id for record in received.records] == ids[0::2]


@pytest.mark.parametrize("limit", [0, -1, 1_001])
def test_list_traces_refuses_bad_limit(store: Store, limit: int) -> None:
    with pytest.raises(InvalidQueryError):
        store.list_traces(limit=limit)


# --- State machine -----------------------------------------------------------------------------


def test_advance_happy_path_records_details_and_history(store: Store) -> None:
    trace_id, _ = store.put_trace(make_trace(), at_ms=T0)
    for offset, (state, details) in enumerate(HAPPY_PATH, start=1):
        record = store.advance(trace_id, state, at_ms=T0 + offset, **details)
        assert record.state is state
        assert record.updated_at_ms == T0 + offset
    stored = store.get_trace(trace_id)
    assert stored is not None
    assert stored == record
    assert (record.submit_tx_hash, record.seed, record.snapshot_block) == (TX, SEED, 7)
    assert (record.verdict, record.first_error, record.finalize_tx_hash) == (
        TraceVerdict.FLAWED,
        2,
        TX,
    )
    history = store.get_history(trace_id)
    assert [entry.state for entry in history] == [TraceState.RECEIVED] + [s for s, _ in HAPPY_PATH]
    assert [entry.at_ms for entry in history] == list(range(T0, T0 + len(HAPPY_PATH) + 1))
    assert history[1].details == SUBMITTED
    assert history[2].details == {"round": 0}
    assert history[-1].details == {**FINALIZED, "verdict": int(TraceVerdict.FLAWED)}


def test_escalation_round_goes_back_to_dispatched(store: Store) -> None:
    trace_id, _ = store.put_trace(make_trace(), at_ms=T0)
    for state, details in HAPPY_PATH[:5]:
        store.advance(trace_id, state, at_ms=T0, **details)
    record = store.advance(trace_id, TraceState.DISPATCHED, at_ms=T0 + 1, round=1)
    assert record.state is TraceState.DISPATCHED


def _all_pairs() -> list[tuple[TraceState, TraceState]]:
    return [(a, b) for a in TraceState for b in TraceState]


def _details_for(state: TraceState) -> dict[str, Any]:
    by_state: dict[TraceState, dict[str, Any]] = {
        TraceState.SUBMITTED: SUBMITTED,
        TraceState.FINALIZED: FINALIZED,
        TraceState.FAILED: {"reason": "x"},
    }
    return by_state.get(state, {})


def _path_to(state: TraceState) -> list[TraceState]:
    if state is TraceState.FAILED:
        return [TraceState.FAILED]
    order = [s for s, _ in HAPPY_PATH]
    return [] if state is TraceState.RECEIVED else order[: order.index(state) + 1]


@pytest.mark.parametrize(("current", "new"), _all_pairs())
def test_every_transition_pair_follows_the_table(
    store: Store, current: TraceState, new: TraceState
) -> None:
    trace_id, _ = store.put_trace(make_trace(), at_ms=T0)
    for state in _path_to(current):
        store.advance(trace_id, state, at_ms=T0, **_details_for(state))
    if new in TRANSITIONS[current]:
        assert store.advance(trace_id, new, at_ms=T0 + 1, **_details_for(new)).state is new
        return
    with pytest.raises(IllegalTransitionError) as info:
        store.advance(trace_id, new, at_ms=T0 + 1, **_details_for(new))
    assert (info.value.current, info.value.new) == (current, new)
    record = store.get_trace(trace_id)
    assert record is not None
    assert record.state is current
    assert len(store.get_history(trace_id)) == 1 + len(_path_to(current))


def test_terminal_states_have_no_way_out() -> None:
    assert all(not TRANSITIONS[state] for state in TERMINAL_STATES)
    assert all(TraceState.FAILED in TRANSITIONS[s] for s in set(TraceState) - TERMINAL_STATES)


def test_advance_unknown_trace(store: Store) -> None:
    with pytest.raises(UnknownTraceError):
        store.advance(TRACE_ID, TraceState.FAILED, at_ms=T0, reason="x")


@pytest.mark.parametrize(
    ("state", "details"),
    [
        (TraceState.SUBMITTED, {"tx_hash": TX, "seed": SEED}),
        (TraceState.SUBMITTED, {**SUBMITTED, "snapshot_block": "7"}),
        (TraceState.SUBMITTED, {**SUBMITTED, "snapshot_block": True}),
        (TraceState.SUBMITTED, {**SUBMITTED, "tx_hash": "0xabc"}),
        (TraceState.SUBMITTED, {**SUBMITTED, "seed": "0x" + "AB" * 32}),
        (TraceState.FAILED, {}),
    ],
)
def test_advance_refuses_bad_details(
    store: Store, state: TraceState, details: dict[str, Any]
) -> None:
    trace_id, _ = store.put_trace(make_trace(), at_ms=T0)
    with pytest.raises(InvalidDetailsError):
        store.advance(trace_id, state, at_ms=T0, **details)
    assert len(store.get_history(trace_id)) == 1


@pytest.mark.parametrize("verdict", [TraceVerdict.NONE, 9])
def test_finalize_refuses_non_final_verdict(store: Store, verdict: int) -> None:
    trace_id, _ = store.put_trace(make_trace(), at_ms=T0)
    for state, details in HAPPY_PATH[:5]:
        store.advance(trace_id, state, at_ms=T0, **details)
    with pytest.raises(InvalidDetailsError):
        store.advance(trace_id, TraceState.FINALIZED, at_ms=T0, **{**FINALIZED, "verdict": verdict})


def test_finalize_sound_has_no_first_error(store: Store) -> None:
    trace_id, _ = store.put_trace(make_trace(), at_ms=T0)
    for state, details in HAPPY_PATH[:5]:
        store.advance(trace_id, state, at_ms=T0, **details)
    details = {"verdict": TraceVerdict.SOUND, "first_error": None, "tx_hash": TX}
    record = store.advance(trace_id, TraceState.FINALIZED, at_ms=T0, **details)
    assert (record.verdict, record.first_error) == (TraceVerdict.SOUND, None)


def test_advance_refuses_oversized_details(store: Store) -> None:
    trace_id, _ = store.put_trace(make_trace(), at_ms=T0)
    with pytest.raises(OversizedError):
        store.advance(trace_id, TraceState.FAILED, at_ms=T0, reason="x" * MAX_DETAILS_BYTES)
    record = store.get_trace(trace_id)
    assert record is not None
    assert record.state is TraceState.RECEIVED


def test_failed_records_reason(store: Store) -> None:
    trace_id, _ = store.put_trace(make_trace(), at_ms=T0)
    record = store.advance(trace_id, TraceState.FAILED, at_ms=T0 + 9, reason="fee too low")
    assert record.failure_reason == "fee too low"
    assert store.get_history(trace_id)[-1].details == {"reason": "fee too low"}


def test_open_traces_lists_unfinished_only(store: Store) -> None:
    received, _ = store.put_trace(make_trace(0), at_ms=T0)
    finished, _ = store.put_trace(make_trace(1), at_ms=T0)
    failed, _ = store.put_trace(make_trace(2), at_ms=T0)
    tallied, _ = store.put_trace(make_trace(3), at_ms=T0)
    for state, details in HAPPY_PATH:
        store.advance(finished, state, at_ms=T0, **details)
    for state, details in HAPPY_PATH[:5]:
        store.advance(tallied, state, at_ms=T0, **details)
    store.advance(failed, TraceState.FAILED, at_ms=T0, reason="x")
    open_ = store.open_traces()
    assert [(r.trace_id, r.state) for r in open_] == [
        (received, TraceState.RECEIVED),
        (tallied, TraceState.TALLIED),
    ]


def test_concurrent_advances_allow_exactly_one(store: Store) -> None:
    trace_id, _ = store.put_trace(make_trace(), at_ms=T0)
    barrier = threading.Barrier(8)
    outcomes: list[str] = []

    def racer() -> None:
        barrier.wait(timeout=10)
        try:
            store.advance(trace_id, TraceState.SUBMITTED, at_ms=T0, **SUBMITTED)
            outcomes.append("ok")
        except IllegalTransitionError:
            outcomes.append("illegal")

    threads = [threading.Thread(target=racer) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert sorted(outcomes) == ["illegal"] * 7 + ["ok"]
    assert len(store.get_history(trace_id)) == 2


# --- Votes -------------------------------------------------------------------------------------


def test_put_commit_idempotent_and_equivocation_kept(store: Store) -> None:
    first = make_commit()
    assert store.put_commit(first) is PutResult.CREATED
    assert store.put_commit(first) is PutResult.DUPLICATE
    # Another signature over the same commitment is a copy, not a second vote vector.
    assert store.put_commit(make_commit(signature=SIG_B)) is PutResult.DUPLICATE
    second = make_commit(commitment="0x" + "88" * 32)
    assert store.put_commit(second) is PutResult.EQUIVOCATION
    assert store.put_commit(second) is PutResult.EQUIVOCATION
    assert store.get_commits(TRACE_ID, 0) == [first]
    assert store.get_commits(TRACE_ID, 1) == []
    evidence = store.get_equivocations(TRACE_ID)
    assert len(evidence) == 1
    assert (evidence[0].kind, evidence[0].first, evidence[0].second) == ("commit", first, second)


def test_put_reveal_idempotent_and_equivocation_kept(store: Store) -> None:
    first = make_reveal()
    assert store.put_reveal(first) is PutResult.CREATED
    assert store.put_reveal(first) is PutResult.DUPLICATE
    assert store.put_reveal(make_reveal(signature=SIG_B)) is PutResult.DUPLICATE
    flipped = make_reveal(vote=Vote.INVALID)
    resalted = make_reveal(salt=OTHER_SALT)
    assert store.put_reveal(flipped) is PutResult.EQUIVOCATION
    assert store.put_reveal(resalted) is PutResult.EQUIVOCATION
    assert store.get_reveals(TRACE_ID, 0) == [first]
    evidence = store.get_equivocations(TRACE_ID)
    assert [(e.kind, e.first, e.second) for e in evidence] == [
        ("reveal", first, flipped),
        ("reveal", first, resalted),
    ]


def test_votes_are_keyed_by_round_and_auditor(store: Store) -> None:
    other = make_commit().model_copy(update={"auditor": "0x" + "99" * 20})
    later = make_commit().model_copy(update={"round": 1})
    for commit in (make_commit(), other, later):
        assert store.put_commit(commit) is PutResult.CREATED
    assert store.get_commits(TRACE_ID, 0) == [make_commit(), other]
    assert store.get_commits(TRACE_ID, 1) == [later]
    assert store.get_equivocations(TRACE_ID) == []


def test_put_reveal_refuses_oversized(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("node.store.traces.MAX_VOTE_BYTES", 32)
    with Store(tmp_path / "node.db") as store:
        with pytest.raises(OversizedError):
            store.put_reveal(make_reveal())
        assert store.get_reveals(TRACE_ID, 0) == []


# --- Own votes ---------------------------------------------------------------------------------


def test_own_vote_round_trip_and_conflict(store: Store) -> None:
    votes = make_reveal().votes
    assert store.get_own_vote(TRACE_ID, 0) is None
    store.put_own_vote(TRACE_ID, 0, votes, SALT)
    store.put_own_vote(TRACE_ID, 0, votes, SALT)
    own = store.get_own_vote(TRACE_ID, 0)
    assert own is not None
    assert (own.votes, own.salt) == (votes, SALT)
    with pytest.raises(OwnVoteConflictError):
        store.put_own_vote(TRACE_ID, 0, votes, OTHER_SALT)
    with pytest.raises(OwnVoteConflictError):
        store.put_own_vote(TRACE_ID, 0, make_reveal(vote=Vote.INVALID).votes, SALT)
    assert store.get_own_vote(TRACE_ID, 1) is None


def test_own_vote_refuses_bad_salt(store: Store) -> None:
    with pytest.raises(InvalidDetailsError):
        store.put_own_vote(TRACE_ID, 0, make_reveal().votes, "0x12")


# --- Persistence and schema --------------------------------------------------------------------


def test_reopen_reads_everything(tmp_path: Path) -> None:
    path = tmp_path / "node.db"
    with Store(path) as store:
        trace_id, _ = store.put_trace(make_trace(), at_ms=T0)
        store.advance(trace_id, TraceState.SUBMITTED, at_ms=T0 + 1, **SUBMITTED)
        store.put_commit(make_commit())
        store.put_reveal(make_reveal())
        store.put_own_vote(TRACE_ID, 0, make_reveal().votes, SALT)
    with Store(path) as store:
        record = store.get_trace(trace_id)
        assert record is not None
        assert (record.state, record.seed) == (TraceState.SUBMITTED, SEED)
        assert store.put_trace(make_trace(), at_ms=T0) == (trace_id, False)
        assert store.get_commits(TRACE_ID, 0) == [make_commit()]
        assert store.get_reveals(TRACE_ID, 0) == [make_reveal()]
        assert store.get_own_vote(TRACE_ID, 0) is not None
        assert [r.trace_id for r in store.open_traces()] == [trace_id]


def test_database_settings(tmp_path: Path) -> None:
    path = tmp_path / "node.db"
    with Store(path) as store:
        # 2 is FULL: each commit fsyncs the WAL before the call returns.
        assert store._conn.execute("PRAGMA synchronous").fetchone()[0] == 2
        assert store._conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        assert conn.execute("SELECT version FROM schema_version").fetchall() == [(SCHEMA_VERSION,)]
    finally:
        conn.close()


def test_history_rows_need_a_trace(store: Store) -> None:
    # Foreign keys are on: a history row for an unknown trace cannot exist.
    conn = store._conn
    with pytest.raises(sqlite3.IntegrityError):
        conn.execute(
            "INSERT INTO trace_history (trace_id, state, details, at_ms) VALUES (?, ?, ?, ?)",
            (TRACE_ID, "received", "{}", T0),
        )


def test_newer_schema_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "node.db"
    with Store(path):
        pass
    conn = sqlite3.connect(path)
    conn.execute("UPDATE schema_version SET version = ?", (SCHEMA_VERSION + 1,))
    conn.commit()
    conn.close()
    with pytest.raises(SchemaTooNewError) as info:
        Store(path)
    assert (info.value.found, info.value.supported) == (SCHEMA_VERSION + 1, SCHEMA_VERSION)
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("SELECT version FROM schema_version").fetchone() == (
            SCHEMA_VERSION + 1,
        )
    finally:
        conn.close()


def test_migrate_from_empty_and_again_is_a_no_op(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "raw.db", isolation_level=None)
    try:
        assert migrate(conn) == 0
        assert migrate(conn) == SCHEMA_VERSION
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
        assert {"traces", "trace_history", "commits", "reveals", "own_votes"} <= tables
    finally:
        conn.close()
