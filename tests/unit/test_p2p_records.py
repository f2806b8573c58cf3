"""The signed-peer-record cache answers as py-libp2p does, verifying each record once."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from libp2p import new_host
from libp2p.peer.id import ID
from libp2p.peer.peerstore import env_to_send_in_RPC
from libp2p.pubsub.pb import rpc_pb2
from libp2p.pubsub.utils import maybe_consume_signed_record

from node.p2p.records import MAX_REMEMBERED_RECORDS, RECHECK_S, RecordCache


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class CountingConsume:
    """py-libp2p's own check, counted."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, rpc: Any, host: Any, peer_id: ID) -> bool:
        self.calls += 1
        return maybe_consume_signed_record(rpc, host, peer_id)


@pytest.fixture
def hosts() -> Iterator[tuple[Any, Any]]:
    # Hosts that never listen: records carry no addresses, which is enough to sign and check.
    yield new_host(), new_host()


def _rpc_with_record(record: bytes) -> rpc_pb2.RPC:
    rpc = rpc_pb2.RPC()
    rpc.senderRecord = record
    return rpc


def test_a_valid_record_is_verified_once_then_again_after_the_recheck_interval(
    hosts: tuple[Any, Any],
) -> None:
    sender, receiver = hosts
    consume, clock = CountingConsume(), Clock()
    cache = RecordCache(consume, env_to_send_in_RPC, clock)
    rpc = _rpc_with_record(env_to_send_in_RPC(sender)[0])

    assert all(cache.consume_signed_record(rpc, receiver, sender.get_id()) for _ in range(5))
    assert consume.calls == 1

    clock.now += RECHECK_S
    assert cache.consume_signed_record(rpc, receiver, sender.get_id())
    assert consume.calls == 2  # consumed for real again, which renews its TTL


def test_a_record_claimed_by_another_peer_is_refused_every_time(
    hosts: tuple[Any, Any],
) -> None:
    sender, receiver = hosts
    impostor = new_host()
    consume = CountingConsume()
    cache = RecordCache(consume, env_to_send_in_RPC, Clock())
    rpc = _rpc_with_record(env_to_send_in_RPC(sender)[0])

    assert cache.consume_signed_record(rpc, receiver, sender.get_id())
    # The same bytes relayed by someone else: py-libp2p refuses them, and so does the cache.
    for _ in range(3):
        assert not cache.consume_signed_record(rpc, receiver, impostor.get_id())
    assert consume.calls == 4


def test_garbage_and_missing_records_answer_as_py_libp2p(hosts: tuple[Any, Any]) -> None:
    sender, receiver = hosts
    cache = RecordCache(CountingConsume(), env_to_send_in_RPC, Clock())
    garbage = _rpc_with_record(b"\x0a\x03not an envelope")
    assert cache.consume_signed_record(garbage, receiver, sender.get_id()) is (
        maybe_consume_signed_record(garbage, receiver, sender.get_id())
    )
    assert not cache.consume_signed_record(garbage, receiver, sender.get_id())
    assert cache.consume_signed_record(rpc_pb2.RPC(), receiver, sender.get_id())


def test_remembered_records_are_bounded(hosts: tuple[Any, Any]) -> None:
    sender, receiver = hosts
    consume = CountingConsume()
    cache = RecordCache(consume, env_to_send_in_RPC, Clock())
    first = _rpc_with_record(env_to_send_in_RPC(sender)[0])
    assert cache.consume_signed_record(first, receiver, sender.get_id())
    # Fill the memory with other peers' records until the first one is forgotten.
    for _ in range(MAX_REMEMBERED_RECORDS):
        other = new_host()
        rpc = _rpc_with_record(env_to_send_in_RPC(other)[0])
        assert cache.consume_signed_record(rpc, receiver, other.get_id())
    calls = consume.calls
    assert cache.consume_signed_record(first, receiver, sender.get_id())
    assert consume.calls == calls + 1


def test_own_record_is_encoded_once_and_follows_a_reissued_envelope(
    hosts: tuple[Any, Any],
) -> None:
    host, _ = hosts
    encodes: list[bytes] = []

    def encode(target: Any) -> tuple[bytes, bool]:
        answer = env_to_send_in_RPC(target)
        encodes.append(answer[0])
        return answer

    clock = Clock()
    cache = RecordCache(CountingConsume(), encode, clock)
    first, _ = cache.encode_local_record(host)
    assert [cache.encode_local_record(host)[0] for _ in range(3)] == [first] * 3
    assert len(encodes) == 1
    assert first == env_to_send_in_RPC(host)[0]

    # Something else replaced the host's envelope (py-libp2p does when its addresses change).
    host.get_peerstore().set_local_record(None)
    reissued, issued = cache.encode_local_record(host)
    assert issued and len(encodes) == 2
    assert reissued == env_to_send_in_RPC(host)[0]

    clock.now += RECHECK_S
    cache.encode_local_record(host)
    assert len(encodes) == 3
