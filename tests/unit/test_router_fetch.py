"""Anti-entropy asks the peers that can hold a missing vote: its auditor's own node first, and
the others only when that node does not answer; and answers for a round-0 reveal of an open
trace in clear only once it is public."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from node.p2p.bridge import FetchError
from node.pipeline.router import GossipRouter
from protocol.messages import (
    RevealMessage,
    SealedRevealMessage,
    decode_gossip_message,
)
from tests.unit.test_session import Clock, _abstaining_reveal, _session, sealed_header

AUDITOR_A, AUDITOR_B = "0x" + "aa" * 20, "0x" + "bb" * 20
PEER_OF = {AUDITOR_A: "peer-a", AUDITOR_B: "peer-b"}
TRACE_ID = "0x" + "11" * 32


@dataclass
class FakeP2P:
    """Answers every fetch with nothing held, except the peers listed as failing."""

    connected: list[str]
    failing: set[str] = field(default_factory=set)
    asked: list[str] = field(default_factory=list)
    penalties: dict[str, int] = field(default_factory=dict)

    def connected_peers(self) -> list[str]:
        return list(self.connected)

    async def request(self, peer: str, request: bytes) -> bytes:
        self.asked.append(peer)
        if peer in self.failing:
            raise FetchError(f"no response from {peer}")
        return b""


@dataclass
class FakeChain:
    def peer_of(self, address: str) -> str | None:
        return PEER_OF.get(address)


@dataclass
class FakeSessions:
    chain: FakeChain = field(default_factory=FakeChain)


@dataclass
class FakeSession:
    trace_id: str = TRACE_ID


def fetch(p2p: FakeP2P, auditors: list[str]) -> list[str]:
    # Asking never touches the store; only an answer with a vote reaches validation.
    router = GossipRouter(FakeSessions(), None, p2p, "0x" + "cc" * 20)  # type: ignore[arg-type]
    asyncio.run(router.fetch_votes(FakeSession(), "commit", 0, auditors))  # type: ignore[arg-type]
    return p2p.asked


def test_an_own_node_holding_no_vote_ends_the_search_for_it() -> None:
    p2p = FakeP2P(connected=["peer-x", "peer-a", "peer-b", "peer-y"])
    assert fetch(p2p, [AUDITOR_A, AUDITOR_B]) == ["peer-a", "peer-b"]


def test_the_other_peers_are_asked_when_the_own_node_does_not_answer() -> None:
    p2p = FakeP2P(connected=["peer-x", "peer-a", "peer-y"], failing={"peer-a"})
    assert fetch(p2p, [AUDITOR_A]) == ["peer-a", "peer-x", "peer-y"]


def test_the_other_peers_are_asked_when_the_own_node_is_not_connected() -> None:
    p2p = FakeP2P(connected=["peer-x", "peer-y"])
    assert fetch(p2p, [AUDITOR_A]) == ["peer-x", "peer-y"]


def test_an_empty_answer_from_another_peer_does_not_end_the_search() -> None:
    p2p = FakeP2P(connected=["peer-x", "peer-a", "peer-y"], failing={"peer-a", "peer-x"})
    assert fetch(p2p, [AUDITOR_A]) == ["peer-a", "peer-x", "peer-y"]


def test_an_open_traces_round_zero_reveal_is_served_sealed_until_it_is_public() -> None:
    """A node holds its own auditor's round-0 reveal in clear (and the submitter holds all of
    them, opened): a fetch gets the sealed copy until the reveal was made public."""
    session = _session(Clock())
    auditor = sorted(session.assigned(0))[0]
    reveal = _abstaining_reveal(session, auditor)
    sealed = sealed_header(session, auditor)
    serve = GossipRouter._serve_open_round_zero_reveal
    assert serve(session, auditor) == b""
    session.record_reveal(reveal)
    assert serve(session, auditor) == b""  # private, and no sealed copy to give
    session.record_sealed_reveal(sealed)
    assert decode_gossip_message(serve(session, auditor)) == SealedRevealMessage(sealed=sealed)
    session.record_reveal(reveal, public=True)
    assert decode_gossip_message(serve(session, auditor)) == RevealMessage(reveal=reveal)
