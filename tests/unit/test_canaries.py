"""Canary traces: known answers, scores, durable records, and the node's canary service."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Iterator
from pathlib import Path

import pytest

from auditors import Tier1Checker
from node.pipeline.canaries import CanaryService
from node.store import Store, TraceState
from protocol.canaries import CanaryScore, compute_canary, compute_canary_scores
from protocol.hdag import build_hdag
from protocol.models import Level, Reveal, Tier, Vote, VoteEntry
from protocol.segments import build_segments
from tests.unit.test_store import HAPPY_PATH

T0 = 1_700_000_000_000
A, B = "0x" + "aa" * 20, "0x" + "bb" * 20
NO_RATIONALE = "0x" + "00" * 32


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store(tmp_path / "node.db") as opened:
        yield opened


def _reveal(trace_id: str, auditor: str, votes: dict[int, Vote]) -> Reveal:
    entries = tuple(
        VoteEntry(segment=index, vote=vote, confidence=9_000, rationale=NO_RATIONALE)
        for index, vote in sorted(votes.items())
    )
    return Reveal(
        trace_id=trace_id,
        round=0,
        auditor=auditor,
        votes=entries,
        salt="0x" + "5a" * 32,
        signature="0x" + "11" * 65,
    )


def test_a_canary_follows_from_its_seed_and_half_carry_an_error() -> None:
    assert compute_canary(b"seed") == compute_canary(b"seed")
    canaries = [compute_canary(i.to_bytes(4, "big")) for i in range(400)]
    planted = sum(c.planted_step >= 0 for c in canaries)
    assert 150 < planted < 250  # half, within binomial bounds
    assert {c.planted_step for c in canaries} == {-1, 0, 1, 2}


def test_known_answers_cover_steps_and_operations_and_hold_exactly() -> None:
    """The tier-1 checkers agree with every known answer: the answers are right."""
    for seed in range(60):
        canary = compute_canary(seed.to_bytes(4, "big"))
        hdag = build_hdag(canary.trace)
        segments = build_segments(canary.trace, hdag, [Tier.CHECKER] * len(hdag.nodes))
        levels = {hdag.nodes[index].level for index in canary.answers}
        assert levels == {Level.STEP, Level.OPERATION}
        for index, answer in canary.answers.items():
            assert Tier1Checker().judge(segments[index]).vote is answer, (seed, index)
        wrong = [index for index, vote in canary.answers.items() if vote is Vote.INVALID]
        assert bool(wrong) == (canary.planted_step >= 0)


def test_scores_count_right_wrong_and_abstained_votes() -> None:
    answers = {1: Vote.VALID, 2: Vote.INVALID}
    reveals = [
        _reveal("0x" + "ab" * 32, A, {0: Vote.INVALID, 1: Vote.VALID, 2: Vote.INVALID}),
        _reveal("0x" + "ab" * 32, B, {1: Vote.INVALID, 2: Vote.ABSTAIN}),
    ]
    assert compute_canary_scores(answers, reveals) == {
        A: CanaryScore(passed=2),
        B: CanaryScore(failed=1, abstained=1),
    }


def _finalize(store: Store, trace_id: str) -> None:
    for offset, (state, details) in enumerate(HAPPY_PATH, start=1):
        store.advance(trace_id, state, at_ms=T0 + offset, **details)


def test_a_canary_is_stored_with_its_answers_and_scored_once(tmp_path: Path) -> None:
    canary = compute_canary(b"stored")
    path = tmp_path / "node.db"
    with Store(path) as store:
        trace_id, created = store.put_canary(
            canary.trace, canary.answers, canary.planted_step, at_ms=T0
        )
        assert created
        assert store.put_canary(canary.trace, canary.answers, 0, at_ms=T0) == (trace_id, False)
        assert store.unscored_canaries() == []  # not final yet
        _finalize(store, trace_id)
    with Store(path) as store:  # a restart keeps the canary and its answers
        record = store.get_canary(trace_id)
        assert record is not None and dict(record.answers) == dict(canary.answers)
        assert store.unscored_canaries() == [trace_id]
        score = {A: CanaryScore(passed=3, failed=1)}
        assert store.record_canary_scores(trace_id, score)
        assert not store.record_canary_scores(trace_id, score)  # once only
        assert store.canary_scores() == score
        assert store.count_canaries() == (1, 1)
        assert store.unscored_canaries() == []


def test_an_ordinary_trace_has_no_canary_record(store: Store) -> None:
    trace_id, _ = store.put_trace(compute_canary(b"x").trace, at_ms=T0)
    assert store.get_canary(trace_id) is None


async def test_the_service_submits_canaries_at_its_rate_and_scores_them(store: Store) -> None:
    submitted: list[str] = []
    handed_over = asyncio.Event()

    def submit(trace_id: str) -> None:
        submitted.append(trace_id)
        handed_over.set()

    service = CanaryService(store, submit, 1.0, clock_ms=lambda: T0, rng=random.Random(1))
    task = asyncio.create_task(service.run())
    try:
        service.on_trace_accepted("0x" + "01" * 32)
        async with asyncio.timeout(5):
            await handed_over.wait()
    finally:
        task.cancel()
    trace_id = submitted[0]
    record = store.get_canary(trace_id)
    assert record is not None
    trace = store.get_trace(trace_id)
    assert trace is not None and trace.state is TraceState.RECEIVED
    honest = {index: vote for index, vote in record.answers.items()}
    flipped = {i: Vote.VALID if v is Vote.INVALID else Vote.INVALID for i, v in honest.items()}
    store.put_votes([_reveal(trace_id, A, honest), _reveal(trace_id, B, flipped)])
    await service.on_finalized(trace_id)  # not final in the store: scored all the same
    scores = store.canary_scores()
    assert scores[A] == CanaryScore(passed=len(honest))
    assert scores[B] == CanaryScore(failed=len(honest))


class AlwaysZero(random.Random):
    """A draw that would make a canary due at any rate above 0."""

    def random(self) -> float:
        return 0.0


def test_no_canaries_at_rate_zero(store: Store) -> None:
    off = CanaryService(store, lambda _: None, 0.0, clock_ms=lambda: T0, rng=AlwaysZero())
    on = CanaryService(store, lambda _: None, 0.01, clock_ms=lambda: T0, rng=AlwaysZero())
    for _ in range(100):
        off.on_trace_accepted("0x" + "01" * 32)
        on.on_trace_accepted("0x" + "01" * 32)
    assert (off.due, on.due) == (0, 100)
