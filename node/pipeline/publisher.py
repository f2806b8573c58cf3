"""Publishes this node's votes, batching the ones that are ready together.

py-libp2p spends its CPU per message (framing, encryption, signatures, validation hops), not per
byte, and a busy auditor produces commits and reveals of many traces in bursts. The first vote
of a burst waits for the others, then every waiting vote leaves as one `VoteBatch` (a lone vote
as itself). Whoever publishes waits until GossipSub has taken its vote, as with a direct publish.

How long the first vote waits grows with the traces in flight: `linger_s` per trace whose
current round this node sees collecting votes, at most `max_linger_s`. With one trace in flight
no other vote is coming, so a long wait would only add to the audit's latency; with many, the
phases already wait on the nodes' CPU, and a longer wait lets the votes of different traces
share a message. Measured on the five-node devnet with 32 traces in flight: a fixed 50 ms sent
16 messages per trace, 0.3 s 8.5 with 35% less CPU per trace, 0.6 s 6.5. Traces whose rounds
are closed do not count: they only wait for their verdict to be seen on-chain (up to a chain
poll after it landed), and would double the wait of the next lone trace. Two other signals
were tried and dropped: sending a lone vote at once when the node looked idle sent most votes
alone under load (a third more CPU per trace), and the recent rate of votes cannot tell load
from one trace's four phases in quick succession.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from protocol.messages import (
    MAX_GOSSIP_MESSAGE_BYTES,
    MAX_VOTE_BATCH_ITEMS,
    TOPIC_VOTES,
    GossipMessage,
    VoteMessage,
    encode_gossip_message,
    make_vote_batch,
)

#: How long the first vote of a burst waits for the others, per trace in flight. With one
#: trace, a lone audit pays it once per phase (four times); 10 ms batched 1.4 votes a message
#: under load, 50 ms 2.2.
DEFAULT_LINGER_S = 0.05
#: The longest wait, however many traces are in flight: a tenth of the default commit window,
#: so a lingering vote never makes its round look congested (`node.pipeline.admission`).
DEFAULT_MAX_LINGER_S = 1.0
#: Room left in a batch for its own framing beside the votes' encodings.
_BATCH_FRAMING_BYTES = 1_024

Vote = VoteMessage


class Gossip(Protocol):
    """What the publisher needs of the libp2p bridge (`P2PNode`)."""

    async def publish(self, topic: str, message: GossipMessage) -> None: ...


@dataclass
class _Waiting:
    message: Vote
    size: int
    taken: asyncio.Future[None]


class VotePublisher:
    """`publish` from any task; `run` is the service that sends."""

    def __init__(
        self,
        p2p: Gossip,
        *,
        batching: bool = True,
        linger_s: float = DEFAULT_LINGER_S,
        max_linger_s: float = DEFAULT_MAX_LINGER_S,
        traces_in_flight: Callable[[], int] = lambda: 1,
    ) -> None:
        self._p2p = p2p
        self._batching = batching
        self._linger_s = linger_s
        self._max_linger_s = max_linger_s
        self._traces_in_flight = traces_in_flight
        self._waiting: list[_Waiting] = []
        self._ready = asyncio.Event()

    async def publish(self, message: Vote) -> None:
        """Returns once GossipSub has taken the vote (alone or in a batch)."""
        if not self._batching:
            await self._p2p.publish(TOPIC_VOTES, message)
            return
        taken = asyncio.get_running_loop().create_future()
        self._waiting.append(_Waiting(message, len(encode_gossip_message(message)), taken))
        self._ready.set()
        await taken

    async def run(self) -> None:
        while True:
            await self._ready.wait()
            await asyncio.sleep(self.linger_s())  # the rest of the burst joins meanwhile
            self._ready.clear()
            while self._waiting:
                await self._send(self._take_batch())

    def linger_s(self) -> float:
        """How long the first vote of a burst waits now (0 without batching: none waits)."""
        if not self._batching:
            return 0.0
        traces = max(1, self._traces_in_flight())
        return min(self._max_linger_s, self._linger_s * traces)

    def _take_batch(self) -> list[_Waiting]:
        """The longest prefix of the waiting votes that fits one message."""
        budget = MAX_GOSSIP_MESSAGE_BYTES - _BATCH_FRAMING_BYTES
        count = 0
        for item in self._waiting[:MAX_VOTE_BATCH_ITEMS]:
            if count and item.size > budget:
                break
            budget -= item.size
            count += 1
        batch, self._waiting = self._waiting[:count], self._waiting[count:]
        return batch

    async def _send(self, batch: list[_Waiting]) -> None:
        messages = [item.message for item in batch]
        try:
            if len(messages) == 1:
                await self._p2p.publish(TOPIC_VOTES, messages[0])
            else:
                await self._p2p.publish(TOPIC_VOTES, make_vote_batch(messages))
        except Exception as exc:  # each publisher gets the failure, as with its own publish
            for item in batch:
                if not item.taken.done():
                    item.taken.set_exception(exc)
            return
        for item in batch:
            if not item.taken.done():
                item.taken.set_result(None)
