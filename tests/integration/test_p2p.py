"""The libp2p bridge against real py-libp2p hosts on 127.0.0.1.

Node A runs as a trio guest on the test's asyncio loop (the production mode); B and C run
`trio.run` in threads of their own, since trio allows one run per thread.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import pytest
from libp2p.peer.id import ID
from libp2p.utils.varint import encode_varint_prefixed

from node.identity import derive_identity, encode_base58
from node.p2p import FetchError, P2PConfig, P2PNode, P2PNotRunningError
from node.p2p.bridge import GOSSIPSUB_PROTOCOL
from protocol.eip712 import compute_domain_separator
from protocol.gossip import Outcome, Verdict
from protocol.messages import (
    TOPIC_TRACES,
    TOPIC_VOTES,
    CommitMessage,
    GossipMessage,
    encode_gossip_message,
)
from protocol.models import Vote, VoteEntry
from protocol.votes import make_commit
from tests.gossip_recorder import GossipRecorder

DOMAIN = compute_domain_separator(31337, "0x" + "11" * 20)
AUDITOR_KEY = "0x" + f"{2:064x}"
TRACE_ID = "0x" + "ab" * 32
VOTES = (VoteEntry(segment=0, vote=Vote.VALID, confidence=9_000, rationale="0x" + "00" * 32),)
TIMEOUT = 10.0


def _commit(i: int = 0) -> CommitMessage:
    salt = "0x" + f"{i + 1:064x}"
    return CommitMessage(commit=make_commit(AUDITOR_KEY, TRACE_ID, 0, VOTES, salt, DOMAIN))


async def _until(predicate: Callable[[], bool]) -> None:
    """For state that trio updates without telling asyncio: check it, bounded in time."""
    async with asyncio.timeout(TIMEOUT):
        while not predicate():
            await asyncio.sleep(0.01)


@dataclass
class Net:
    a: P2PNode
    b: P2PNode
    c: P2PNode
    inbox_b: GossipRecorder
    inbox_c: GossipRecorder


@pytest.fixture
async def net() -> AsyncIterator[Net]:
    inbox_b, inbox_c = GossipRecorder(), GossipRecorder()
    keys = [derive_identity("0x" + f"{i:064x}").host_key for i in (11, 12, 13)]
    a = P2PNode(keys[0])
    b = P2PNode(keys[1], inbox_b, threaded=True)
    c = P2PNode(keys[2], inbox_c, threaded=True)
    nodes = (a, b, c)
    try:
        for node in nodes:
            await node.start()
        started = time.monotonic()
        await a.connect(b.listen_addrs[0])
        print(f"connect: {(time.monotonic() - started) * 1000:.0f} ms")
        await a.connect(c.listen_addrs[0])
        await b.connect(c.listen_addrs[0])
        for x, y in ((a, b), (a, c), (b, c)):
            for topic in (TOPIC_VOTES, TOPIC_TRACES):
                await x.wait_for_mesh(y.peer_id, topic)
                await y.wait_for_mesh(x.peer_id, topic)
        yield Net(a, b, c, inbox_b, inbox_c)
    finally:
        for node in nodes:
            await node.stop()
    assert _bridge_threads() == []


def _bridge_threads() -> list[str]:
    """Threads our hosts start: their trio runs and py-libp2p's seen-cache sweepers."""
    return [
        t.name
        for t in threading.enumerate()
        if t.name.startswith("p2p-") or "_background_cleanup" in t.name
    ]


async def test_peer_id_is_the_identity_modules(net: Net) -> None:
    identity = derive_identity("0x" + f"{11:064x}")
    assert net.a.peer_id == encode_base58(identity.peer_id)
    assert net.a.listen_addrs[0].startswith("/ip4/127.0.0.1/tcp/")
    assert set(net.a.connected_peers()) == {net.b.peer_id, net.c.peer_id}


async def test_commit_arrives_equal_at_the_other_nodes(net: Net) -> None:
    message = _commit()
    started = time.monotonic()
    await net.a.publish(TOPIC_VOTES, message)
    await net.inbox_b.wait_for(1, TIMEOUT)
    print(f"one gossip hop: {(time.monotonic() - started) * 1000:.1f} ms")
    await net.inbox_c.wait_for(1, TIMEOUT)
    assert net.inbox_b.messages == [(TOPIC_VOTES, message, net.a.peer_id)]
    assert net.inbox_c.messages == [(TOPIC_VOTES, message, net.a.peer_id)]


async def test_a_burst_of_100_all_arrive(net: Net) -> None:
    messages = [_commit(i) for i in range(100)]
    started = time.monotonic()
    await asyncio.gather(*(net.a.publish(TOPIC_VOTES, m) for m in messages))
    try:
        # Paced at 100/s this takes about 1 s; the margin is for a loaded CI host.
        await net.inbox_b.wait_for(100, 3 * TIMEOUT)
        await net.inbox_c.wait_for(100, 3 * TIMEOUT)
    finally:
        print("dropped on the way out:", [node.dropped_messages for node in (net.a, net.b, net.c)])
    print(f"100 messages delivered in {(time.monotonic() - started) * 1000:.0f} ms")
    assert net.a.dropped_messages == 0
    assert sorted(encode_gossip_message(m) for _, m, _ in net.inbox_b.messages) == sorted(
        encode_gossip_message(m) for m in messages
    )
    assert len(net.inbox_c.messages) == 100


async def test_a_small_mesh_keeps_the_configured_heartbeat(net: Net) -> None:
    """Two mesh peers against a degree of 6: py-libp2p's adaptive gossip would rate the network
    unhealthy and stretch the heartbeat (and the message cache's lifetime) to 30-60 s."""
    router = net.a._pubsub.router
    router.last_health_update = 0  # the health update runs at most every 30 s
    router._update_network_health()
    router._adapt_gossip_parameters()
    assert router.heartbeat_interval == P2PConfig().heartbeat_interval


async def test_equivocation_check_keeps_digests_not_messages(net: Net) -> None:
    await net.a.publish(TOPIC_VOTES, _commit())
    await net.inbox_b.wait_for(1, TIMEOUT)
    kept = net.b._pubsub.router.equivocation_detection
    assert kept and all(isinstance(value, bytes) for value in kept.values())


async def test_an_unreadable_pubsub_rpc_costs_the_sender_its_stream_not_our_host(net: Net) -> None:
    """py-libp2p's Pubsub let a protobuf DecodeError stop the whole receiving host."""
    target = ID.from_base58(net.b.peer_id)

    async def send_garbage() -> None:
        stream = await net.a._host.new_stream(target, [GOSSIPSUB_PROTOCOL])
        await stream.write(encode_varint_prefixed(b"\xff\xff\xff\xff"))

    await net.a._call_in_trio(send_garbage)
    await _until(lambda: net.b.unreadable_rpcs == 1)
    # B still gossips both ways, with C and with the peer that sent the garbage.
    await net.c.publish(TOPIC_VOTES, _commit(1))
    await net.inbox_b.wait_for(1, TIMEOUT)
    await net.b.publish(TOPIC_VOTES, _commit(2))
    await net.inbox_c.wait_for(1, TIMEOUT)
    await net.a.publish(TOPIC_VOTES, _commit(3))
    await net.inbox_b.wait_for(2, TIMEOUT)
    assert net.b.unreadable_rpcs == 1 and net.a.unreadable_rpcs == 0


async def test_malformed_bytes_are_rejected_and_counted(net: Net) -> None:
    await net.a.publish_raw(TOPIC_VOTES, b'{"kind": "commit", "commit": 7}')
    await net.a.publish_raw(TOPIC_VOTES, b"\xff not json")
    await net.a.publish(TOPIC_VOTES, _commit())
    await net.inbox_b.wait_for(1, TIMEOUT)
    await _until(lambda: net.b.penalties.get(net.a.peer_id) == 2)
    await _until(lambda: net.c.penalties.get(net.a.peer_id) == 2)
    assert [m for _, m, _ in net.inbox_b.messages] == [_commit()]
    assert net.a.penalties == {}


@pytest.mark.parametrize(("outcome", "penalized"), [(Outcome.REJECT, 1), (Outcome.IGNORE, 0)])
async def test_validator_verdicts_stop_delivery(net: Net, outcome: Outcome, penalized: int) -> None:
    seen: list[tuple[str, GossipMessage]] = []

    def validator_of(name: str) -> Callable[[GossipMessage], Verdict]:
        def validator(message: GossipMessage) -> Verdict:
            seen.append((name, message))
            return Verdict(outcome, "test")

        return validator

    # Both receivers judge alike, so neither relays the message to the other.
    net.b.validator, net.c.validator = validator_of("b"), validator_of("c")
    await net.a.publish(TOPIC_VOTES, _commit(1))
    receivers = (net.b, net.c)
    # The bridge records a penalty after the validator returns, on trio's side: wait for it.
    await _until(
        lambda: (
            len(seen) == 2
            and all(node.penalties.get(net.a.peer_id, 0) == penalized for node in receivers)
        )
    )
    for node in receivers:
        assert node.penalties.get(net.a.peer_id, 0) == penalized
    net.b.validator = net.c.validator = None
    await net.a.publish(TOPIC_VOTES, _commit(2))
    await net.inbox_b.wait_for(1, TIMEOUT)
    await net.inbox_c.wait_for(1, TIMEOUT)
    assert [m for _, m, _ in net.inbox_b.messages] == [_commit(2)]
    assert [m for _, m, _ in net.inbox_c.messages] == [_commit(2)]
    assert sorted(name for name, _ in seen) == ["b", "c"]


async def test_fetch_round_trip(net: Net) -> None:
    requests: list[tuple[str, bytes]] = []

    async def serve(peer: str, request: bytes) -> bytes:
        requests.append((peer, request))
        return b"segment:" + request

    net.b.fetch_handler = serve
    started = time.monotonic()
    assert await net.a.request(net.b.peer_id, b"0x1234") == b"segment:0x1234"
    print(f"fetch round trip: {(time.monotonic() - started) * 1000:.1f} ms")
    big = bytes(200_000)
    assert await net.c.request(net.b.peer_id, big) == b"segment:" + big
    assert requests == [(net.a.peer_id, b"0x1234"), (net.c.peer_id, big)]
    assert (net.a.fetches_sent, net.a.fetches_answered, net.c.fetches_sent) == (1, 1, 1)
    await _until(lambda: net.b.fetches_served == 2)


async def test_fetch_failures_are_fetch_errors(net: Net) -> None:
    with pytest.raises(FetchError, match="ended"):
        await net.a.request(net.b.peer_id, b"nobody serves this")

    async def oversized(peer: str, request: bytes) -> bytes:
        return bytes(net.b.config.max_fetch_bytes + 1)

    net.b.fetch_handler = oversized
    with pytest.raises(FetchError, match="ended"):
        await net.a.request(net.b.peer_id, b"too big an answer")
    with pytest.raises(FetchError, match="exceeds"):
        await net.a.request(net.b.peer_id, bytes(net.a.config.max_fetch_bytes + 1))
    assert (net.a.fetches_sent, net.a.fetches_answered) == (3, 0)


async def test_fetch_times_out_explicitly() -> None:
    keys = [derive_identity("0x" + f"{i:064x}").host_key for i in (21, 22)]
    client = P2PNode(keys[0], config=P2PConfig(fetch_timeout=0.5))
    server = P2PNode(keys[1], threaded=True)
    release = asyncio.Event()

    async def stall(peer: str, request: bytes) -> bytes:
        await release.wait()
        return b"late"

    server.fetch_handler = stall
    try:
        await client.start()
        await server.start()
        await client.connect(server.listen_addrs[0])
        with pytest.raises(FetchError, match=r"within 0\.5 s"):
            await client.request(server.peer_id, b"x")
    finally:
        release.set()
        await client.stop()
        await server.stop()


async def test_a_stopped_node_refuses_work() -> None:
    node = P2PNode(derive_identity("0x" + f"{31:064x}").host_key)
    await node.start()
    await node.stop()
    await node.stop()
    with pytest.raises(P2PNotRunningError):
        await node.publish(TOPIC_VOTES, _commit())
