"""The vote publisher: votes of a burst share one message; a lone vote goes out as itself."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from node.pipeline.publisher import VotePublisher
from protocol.eip712 import compute_domain_separator
from protocol.messages import (
    MAX_VOTE_BATCH_ITEMS,
    TOPIC_VOTES,
    CommitMessage,
    GossipMessage,
    RevealMessage,
    VoteBatch,
)
from protocol.models import Vote, VoteEntry
from protocol.votes import make_commit, make_reveal

DOMAIN = compute_domain_separator(31337, "0x" + "11" * 20)
KEY = "0x" + f"{2:064x}"
SALT = "0x" + "5a" * 32
VOTES = (VoteEntry(segment=0, vote=Vote.VALID, confidence=9_000, rationale="0x" + "00" * 32),)


def _commit(trace: int) -> CommitMessage:
    trace_id = "0x" + f"{trace:064x}"
    return CommitMessage(commit=make_commit(KEY, trace_id, 0, VOTES, SALT, DOMAIN))


def _reveal(trace: int) -> RevealMessage:
    trace_id = "0x" + f"{trace:064x}"
    return RevealMessage(reveal=make_reveal(KEY, trace_id, 0, VOTES, SALT, DOMAIN))


class Gossip:
    def __init__(self, failure: Exception | None = None) -> None:
        self.sent: list[tuple[str, GossipMessage]] = []
        self.failure = failure

    async def publish(self, topic: str, message: GossipMessage) -> None:
        if self.failure is not None:
            raise self.failure
        self.sent.append((topic, message))


async def _running(publisher: VotePublisher) -> AsyncIterator[None]:
    task = asyncio.create_task(publisher.run())
    try:
        yield
    finally:
        task.cancel()


@pytest.fixture
def gossip() -> Gossip:
    return Gossip()


async def test_a_burst_shares_one_batch_and_a_lone_vote_goes_alone(gossip: Gossip) -> None:
    publisher = VotePublisher(gossip, linger_s=0.01)
    async for _ in _running(publisher):
        burst = [_commit(1), _reveal(2), _commit(3)]
        await asyncio.gather(*(publisher.publish(vote) for vote in burst))
        await publisher.publish(_commit(4))
    assert [topic for topic, _ in gossip.sent] == [TOPIC_VOTES, TOPIC_VOTES]
    batch, lone = (message for _, message in gossip.sent)
    assert isinstance(batch, VoteBatch)
    assert batch.messages() == (_commit(1), _commit(3), _reveal(2))
    assert lone == _commit(4)


async def test_batches_hold_at_most_the_wire_limit(gossip: Gossip) -> None:
    publisher = VotePublisher(gossip, linger_s=0.01)
    count = MAX_VOTE_BATCH_ITEMS + 3
    async for _ in _running(publisher):
        await asyncio.gather(*(publisher.publish(_commit(i)) for i in range(count)))
    sizes = [len(m.commits) if isinstance(m, VoteBatch) else 1 for _, m in gossip.sent]
    assert sizes == [MAX_VOTE_BATCH_ITEMS, 3]


async def test_without_batching_every_vote_is_its_own_message(gossip: Gossip) -> None:
    publisher = VotePublisher(gossip, batching=False)
    await asyncio.gather(publisher.publish(_commit(1)), publisher.publish(_commit(2)))
    assert [m for _, m in gossip.sent] == [_commit(1), _commit(2)]


async def test_a_failed_send_reaches_every_voter_of_the_batch() -> None:
    publisher = VotePublisher(Gossip(failure=ConnectionError("host stopped")), linger_s=0.01)
    async for _ in _running(publisher):
        results = await asyncio.gather(
            publisher.publish(_commit(1)), publisher.publish(_commit(2)), return_exceptions=True
        )
    assert all(isinstance(result, ConnectionError) for result in results)


def test_the_wait_grows_with_the_traces_in_flight_up_to_its_ceiling(gossip: Gossip) -> None:
    def wait_with(in_flight: int) -> float:
        publisher = VotePublisher(
            gossip, linger_s=0.05, max_linger_s=1.0, traces_in_flight=lambda: in_flight
        )
        return publisher.linger_s()

    waits = [wait_with(in_flight) for in_flight in (0, 1, 6, 20, 500)]
    assert waits == pytest.approx([0.05, 0.05, 0.3, 1.0, 1.0])
    unbatched = VotePublisher(gossip, batching=False, linger_s=0.05, traces_in_flight=lambda: 20)
    assert unbatched.linger_s() == 0.0  # nothing waits, so peers need not wait for it


async def test_votes_of_traces_in_flight_wait_longer_and_share_a_message(gossip: Gossip) -> None:
    """With many traces in flight, votes that come 50 ms apart still leave together."""
    publisher = VotePublisher(gossip, linger_s=0.01, max_linger_s=0.5, traces_in_flight=lambda: 30)

    async def later(delay_s: float, vote: CommitMessage) -> None:
        await asyncio.sleep(delay_s)
        await publisher.publish(vote)

    async for _ in _running(publisher):
        await asyncio.gather(later(0, _commit(1)), later(0.05, _commit(2)), later(0.1, _commit(3)))
    assert len(gossip.sent) == 1
    batch = gossip.sent[0][1]
    assert isinstance(batch, VoteBatch) and len(batch.commits) == 3
