"""DigestGossipSub: py-libp2p's equivocation check, answered from digests instead of messages.

py-libp2p's own GossipSub is the oracle: both see the same messages and must agree on every
outcome and penalty, while the digest version keeps no message.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from libp2p.peer.id import ID
from libp2p.pubsub.gossipsub import GossipSub
from libp2p.pubsub.pb import rpc_pb2
from libp2p.pubsub.rpc_queue import RpcQueue

from node.p2p.gossipsub import DigestGossipSub, compute_message_digest

ORIGIN = b"\x00\x24\x08\x01\x12\x20" + bytes(range(32))
OTHER = b"\x00\x24\x08\x01\x12\x20" + bytes(range(1, 33))


def _message(origin: bytes, seqno: int, data: bytes, topics: list[str]) -> Any:
    return rpc_pb2.Message(
        from_id=origin, seqno=seqno.to_bytes(8, "big"), data=data, topicIDs=topics
    )


def _router(cls: type[Any]) -> Any:
    return cls(protocols=["/meshsub/1.0.0"], degree=6, degree_low=4, degree_high=12)


SEQUENCE = [
    _message(ORIGIN, 1, b"vote", ["/trust/1/votes"]),
    _message(ORIGIN, 1, b"vote", ["/trust/1/votes"]),  # the same copy again: passes
    _message(ORIGIN, 1, b"vote!", ["/trust/1/votes"]),  # other data: equivocation
    _message(ORIGIN, 1, b"vote", ["/trust/1/traces"]),  # other topic: equivocation
    _message(ORIGIN, 2, b"vote!", ["/trust/1/votes"]),  # a new sequence number: passes
    _message(OTHER, 1, b"vote!", ["/trust/1/votes"]),  # another origin: passes
    _message(OTHER, 1, b"vote!", ["/trust/1/votes", "/trust/1/traces"]),  # extra topic
]


def test_outcomes_and_penalties_match_py_libp2p() -> None:
    ours, theirs = _router(DigestGossipSub), _router(GossipSub)
    outcomes = [
        (ours._check_equivocation(msg), theirs._check_equivocation(msg)) for msg in SEQUENCE
    ]
    assert [a for a, _ in outcomes] == [b for _, b in outcomes]
    assert [a for a, _ in outcomes] == [True, True, False, False, True, True, False]
    for origin in (ORIGIN, OTHER):
        peer = ID(origin)
        penalty = ours.scorer.equivocation_penalties[peer]
        assert penalty == theirs.scorer.equivocation_penalties[peer] > 0


def test_no_message_is_kept() -> None:
    router = _router(DigestGossipSub)
    for msg in SEQUENCE:
        router._check_equivocation(msg)
    assert len(router.equivocation_detection) == 3
    assert all(
        isinstance(v, bytes) and len(v) == 16 for v in router.equivocation_detection.values()
    )


def test_the_library_cleanup_still_bounds_the_map() -> None:
    router = _router(DigestGossipSub)
    for seqno in range(1_001):
        router._check_equivocation(_message(ORIGIN, seqno, b"x", ["/trust/1/votes"]))
    router._periodic_security_cleanup()
    assert len(router.equivocation_detection) == 500


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ((b"ab", ["c"]), (b"a", ["bc"])),
        ((b"", ["a", "b"]), (b"", ["ab"])),
        ((b"", ["a", "b"]), (b"", ["b", "a"])),
        ((b"x", []), (b"x", [""])),
    ],
)
def test_digest_separates_fields(a: tuple[bytes, list[str]], b: tuple[bytes, list[str]]) -> None:
    assert compute_message_digest(*a) != compute_message_digest(*b)


def test_messages_dropped_at_a_full_peer_queue_are_counted() -> None:
    """py-libp2p only logs them at debug level; the node's status reports the count."""
    router = _router(DigestGossipSub)
    peer = ID(OTHER)
    queue = RpcQueue(max_size=2)
    router.pubsub = SimpleNamespace(peer_queues={peer: queue})
    for seqno in range(5):
        router.send_rpc(peer, rpc_pb2.RPC(publish=[_message(ORIGIN, seqno, b"vote", ["t"])]))
    assert len(queue) == 2
    assert router.dropped_messages == 3
    control = rpc_pb2.RPC(control=rpc_pb2.ControlMessage(graft=[rpc_pb2.ControlGraft(topicID="t")]))
    router.send_rpc(peer, control, priority=True)
    assert router.dropped_messages == 3  # control is retried by GossipSub, not a lost message
