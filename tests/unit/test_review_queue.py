"""ReviewQueue and HumanReviewJudge: an answer wakes the waiter, the deadline abstains, and a
request re-made after a restart returns what the store holds. Waits are on events, bounded."""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from auditors import AsyncJudge, HumanReviewJudge, Judgement, ReviewClient
from auditors.human import AUDIT_ROUND
from auditors.tiers import TieredJudge
from node.review import (
    DEADLINE_PASSED,
    InvalidReviewIdError,
    ReviewKey,
    ReviewQueue,
    judgement_of,
)
from node.store import (
    InvalidReviewError,
    ReviewAnsweredError,
    ReviewDeadlinePassedError,
    ReviewRecord,
    ReviewStatus,
    Store,
    UnknownReviewError,
)
from protocol.models import Level, Segment, Tier, Vote

T0 = 1_700_000_000_000
TRACE_ID = "0x" + "11" * 32
KEY = ReviewKey(TRACE_ID, 0, 3)
#: Long enough that only an answer (or the fake clock) can end a wait within a test's timeout.
HOUR_S = 3_600.0
TIMEOUT_S = 5.0


def make_segment(index: int = 3) -> Segment:
    return Segment(
        trace_id=TRACE_ID,
        index=index,
        node_id="0x" + "22" * 32,
        level=Level.STEP,
        tier=Tier.HUMAN,
        problem="What is 2 + 3?",
        text="2 + 3 = 6",
        context=("we add 2 and 3",),
    )


class FakeClock:
    """Unix milliseconds that only the test moves."""

    def __init__(self, now_ms: int = T0) -> None:
        self.now_ms = now_ms

    def __call__(self) -> int:
        return self.now_ms


class Requested:
    """Sets an event when the queue has stored a request: the test's cue that it is waiting."""

    def __init__(self, queue: ReviewQueue) -> None:
        self.records: list[ReviewRecord] = []
        self.event = asyncio.Event()
        queue.request_listeners.append(self._on_request)

    def _on_request(self, record: ReviewRecord) -> None:
        self.records.append(record)
        self.event.set()

    async def wait(self) -> ReviewRecord:
        async with asyncio.timeout(TIMEOUT_S):
            await self.event.wait()
        self.event.clear()
        return self.records[-1]


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "node.db"


@pytest.fixture
def store(path: Path) -> Iterator[Store]:
    with Store(path) as opened:
        yield opened


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def queue(store: Store, clock: FakeClock) -> AsyncIterator[ReviewQueue]:
    yield ReviewQueue(store, clock_ms=clock, poll_s=HOUR_S)


async def finish(task: asyncio.Task[Judgement]) -> Judgement:
    async with asyncio.timeout(TIMEOUT_S):
        return await task


async def test_an_answer_wakes_the_waiter(queue: ReviewQueue, store: Store) -> None:
    requested = Requested(queue)
    task = asyncio.create_task(queue.request(make_segment(), HOUR_S))
    record = await requested.wait()
    assert (record.status, record.deadline_ms) == (ReviewStatus.PENDING, T0 + 3_600_000)
    assert not task.done()
    assert [r.index for r in await queue.pending()] == [3]
    answered = await queue.answer(KEY, Vote.INVALID, 0.75, "3 + 2 is 5")
    assert answered.confidence_bps == 7_500
    # poll_s is an hour: only the answer's event can end this wait in time.
    assert await finish(task) == Judgement(Vote.INVALID, 0.75, "3 + 2 is 5")
    assert await queue.pending() == []
    assert queue._waiters == {}


async def test_an_answer_from_another_connection_is_seen_on_the_next_poll(
    path: Path, store: Store, clock: FakeClock
) -> None:
    queue = ReviewQueue(store, clock_ms=clock, poll_s=0.01)
    requested = Requested(queue)
    task = asyncio.create_task(queue.request(make_segment(), HOUR_S))
    await requested.wait()
    with Store(path) as other:  # e.g. an operator's tool on the same database: no event
        other.answer_review(
            TRACE_ID, 0, 3, vote=Vote.VALID, confidence_bps=5_000, rationale="", at_ms=T0
        )
    assert await finish(task) == Judgement(Vote.VALID, 0.5, "")


async def test_two_waiters_on_one_review_both_get_the_answer(queue: ReviewQueue) -> None:
    requested = Requested(queue)
    first = asyncio.create_task(queue.request(make_segment(), HOUR_S))
    await requested.wait()
    second = asyncio.create_task(queue.request(make_segment(), HOUR_S))
    await requested.wait()
    await queue.answer(KEY, Vote.VALID, 1.0)
    expected = Judgement(Vote.VALID, 1.0, "")
    assert (await finish(first), await finish(second)) == (expected, expected)


async def test_the_deadline_abstains_on_the_injected_clock(store: Store, clock: FakeClock) -> None:
    # A short poll so the waiter re-reads the fake clock; the deadline itself is a minute away.
    queue = ReviewQueue(store, clock_ms=clock, poll_s=0.01)
    requested = Requested(queue)
    task = asyncio.create_task(queue.request(make_segment(), 60.0))
    await requested.wait()
    clock.now_ms = T0 + 60_000
    assert await finish(task) == DEADLINE_PASSED
    assert Judgement(Vote.ABSTAIN, 0.0, "review deadline passed") == DEADLINE_PASSED
    record = store.get_review(TRACE_ID, 0, 3)
    assert record is not None
    assert record.status is ReviewStatus.EXPIRED
    with pytest.raises(ReviewDeadlinePassedError):
        await queue.answer(KEY, Vote.VALID, 1.0)


async def test_the_deadline_abstains_in_real_time(store: Store) -> None:
    # The real clock and a 50 ms deadline: the timer, not the poll (an hour), ends the wait.
    queue = ReviewQueue(store, poll_s=HOUR_S)
    judgement = await finish(asyncio.create_task(queue.request(make_segment(), 0.05)))
    assert judgement == DEADLINE_PASSED


async def test_a_zero_deadline_abstains_at_once(queue: ReviewQueue) -> None:
    assert await finish(asyncio.create_task(queue.request(make_segment(), 0))) == DEADLINE_PASSED
    with pytest.raises(ReviewDeadlinePassedError):
        await queue.answer(KEY, Vote.VALID, 1.0)


async def test_answer_errors(queue: ReviewQueue) -> None:
    with pytest.raises(UnknownReviewError):
        await queue.answer(KEY, Vote.VALID, 1.0)
    requested = Requested(queue)
    task = asyncio.create_task(queue.request(make_segment(), HOUR_S))
    await requested.wait()
    for confidence in (-0.1, 1.5, math.nan):
        with pytest.raises(InvalidReviewError):
            await queue.answer(KEY, Vote.VALID, confidence)
    assert not task.done()
    await queue.answer(KEY, Vote.ABSTAIN, 0.0, "unsure")
    with pytest.raises(ReviewAnsweredError):
        await queue.answer(KEY, Vote.VALID, 1.0)
    assert await finish(task) == Judgement(Vote.ABSTAIN, 0.0, "unsure")


async def test_restart_then_answer_returns_it_to_the_re_made_request(
    path: Path, store: Store, clock: FakeClock
) -> None:
    queue = ReviewQueue(store, clock_ms=clock, poll_s=HOUR_S)
    requested = Requested(queue)
    task = asyncio.create_task(queue.request(make_segment(), 60.0))
    await requested.wait()
    task.cancel()  # the node stops while the review is pending
    with pytest.raises(asyncio.CancelledError):
        await task
    store.close()
    clock.now_ms = T0 + 30_000
    with Store(path) as reopened:
        queue = ReviewQueue(reopened, clock_ms=clock, poll_s=HOUR_S)
        requested = Requested(queue)
        assert [r.index for r in await queue.pending()] == [3]
        task = asyncio.create_task(queue.request(make_segment(), 60.0))
        record = await requested.wait()
        assert record.deadline_ms == T0 + 60_000  # the first deadline, not a fresh minute
        await queue.answer(KEY, Vote.VALID, 0.9, "fine")
        assert await finish(task) == Judgement(Vote.VALID, 0.9, "fine")


async def test_restart_returns_an_answer_given_before_it(
    path: Path, store: Store, clock: FakeClock
) -> None:
    queue = ReviewQueue(store, clock_ms=clock, poll_s=HOUR_S)
    requested = Requested(queue)
    task = asyncio.create_task(queue.request(make_segment(), 60.0))
    await requested.wait()
    await queue.answer(KEY, Vote.INVALID, 0.6)
    before = await finish(task)
    store.close()
    clock.now_ms = T0 + 10 * 60_000  # long past the deadline: the answer still stands
    with Store(path) as reopened:
        queue = ReviewQueue(reopened, clock_ms=clock, poll_s=HOUR_S)
        again = await finish(asyncio.create_task(queue.request(make_segment(), HOUR_S)))
    assert again == before == Judgement(Vote.INVALID, 0.6, "")


async def test_restart_after_the_deadline_abstains_at_once(
    path: Path, store: Store, clock: FakeClock
) -> None:
    queue = ReviewQueue(store, clock_ms=clock, poll_s=HOUR_S)
    requested = Requested(queue)
    task = asyncio.create_task(queue.request(make_segment(), 60.0))
    await requested.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    store.close()
    clock.now_ms = T0 + 61_000
    with Store(path) as reopened:
        queue = ReviewQueue(reopened, clock_ms=clock, poll_s=HOUR_S)
        judgement = await finish(asyncio.create_task(queue.request(make_segment(), HOUR_S)))
    assert judgement == DEADLINE_PASSED


async def test_rounds_are_separate_reviews(queue: ReviewQueue) -> None:
    requested = Requested(queue)
    round_0 = asyncio.create_task(queue.request(make_segment(), HOUR_S))
    await requested.wait()
    round_1 = asyncio.create_task(queue.request(make_segment(), HOUR_S, round_=1))
    await requested.wait()
    await queue.answer(ReviewKey(TRACE_ID, 1, 3), Vote.VALID, 1.0)
    assert await finish(round_1) == Judgement(Vote.VALID, 1.0, "")
    assert not round_0.done()
    await queue.answer(KEY, Vote.INVALID, 1.0)
    assert (await finish(round_0)).vote is Vote.INVALID


@pytest.mark.parametrize("deadline_s", [-1.0, math.inf, math.nan])
async def test_request_refuses_a_bad_deadline(queue: ReviewQueue, deadline_s: float) -> None:
    with pytest.raises(ValueError, match="deadline_s"):
        await queue.request(make_segment(), deadline_s)
    assert await queue.pending() == []


def test_review_ids_round_trip_and_refuse_other_forms() -> None:
    assert KEY.review_id == f"{TRACE_ID}:0:3"
    assert ReviewKey.parse(KEY.review_id) == KEY
    for bad in [
        f"{TRACE_ID}:00:3",
        f"{TRACE_ID}:0:03",
        f"{TRACE_ID}:0",
        f"{TRACE_ID}:-1:3",
        f"{TRACE_ID.upper()}:0:3",
        f"{TRACE_ID}:0:3 ",
        "0x11:0:3",
    ]:
        with pytest.raises(InvalidReviewIdError, match="review id must be"):
            ReviewKey.parse(bad)


def test_judgement_of_a_pending_review_is_none(store: Store) -> None:
    record, _ = store.put_review_request(make_segment(), 0, created_at_ms=T0, deadline_ms=T0 + 1)
    assert judgement_of(record) is None


# --- HumanReviewJudge ----------------------------------------------------------------------------


class ScriptedClient:
    """A ReviewClient that answers at once and remembers what it was asked."""

    def __init__(self) -> None:
        self.asked: list[tuple[Segment, float, int]] = []

    async def request(self, segment: Segment, deadline_s: float, *, round_: int = 0) -> Judgement:
        self.asked.append((segment, deadline_s, round_))
        return Judgement(Vote.VALID, 0.5, "scripted")


async def test_human_judge_asks_its_client_with_its_deadline() -> None:
    client = ScriptedClient()
    judge: AsyncJudge = HumanReviewJudge(client, deadline_s=30.0)
    assert await judge.judge(make_segment()) == Judgement(Vote.VALID, 0.5, "scripted")
    assert client.asked == [(make_segment(), 30.0, 0)]


async def test_human_judge_over_the_real_queue(queue: ReviewQueue) -> None:
    client: ReviewClient = queue  # the node's queue is a ReviewClient as it is
    judge = HumanReviewJudge(client, deadline_s=HOUR_S)
    requested = Requested(queue)
    task = asyncio.create_task(judge.judge(make_segment(), round_=1))
    record = await requested.wait()
    assert record.round == 1
    await queue.answer(ReviewKey.of(record), Vote.INVALID, 1.0, "wrong sum")
    assert await finish(task) == Judgement(Vote.INVALID, 1.0, "wrong sum")


async def test_human_judge_behind_a_tiered_judge_keys_the_review_by_the_audit_round() -> None:
    """Judges between the auditor and the human know no rounds: AUDIT_ROUND carries it."""
    client = ScriptedClient()
    judge = TieredJudge({Tier.HUMAN: HumanReviewJudge(client, deadline_s=30.0)})
    token = AUDIT_ROUND.set(1)
    try:
        await asyncio.create_task(judge.judge(make_segment()))  # a task copies the context
    finally:
        AUDIT_ROUND.reset(token)
    await judge.judge(make_segment())
    assert [round_ for _, _, round_ in client.asked] == [1, 0]


@pytest.mark.parametrize("deadline_s", [0.0, -1.0, math.inf, math.nan])
def test_human_judge_refuses_a_bad_deadline(deadline_s: float) -> None:
    with pytest.raises(ValueError, match="deadline_s"):
        HumanReviewJudge(ScriptedClient(), deadline_s=deadline_s)
