"""`GuardedPubsub.write_msg`: RPCs written to one stream at once reach the peer whole.

yamux sends a write in frames and yields between them; the fake stream does the same in
10-byte frames, so concurrent writers interleave exactly as they would on a real connection
when one RPC outgrows a frame."""

from __future__ import annotations

import pytest
import trio
from libp2p import new_host
from libp2p.peer.id import ID
from libp2p.pubsub.gossipsub import GossipSub
from libp2p.pubsub.pb import rpc_pb2
from libp2p.pubsub.pubsub import Pubsub
from libp2p.pubsub.rpc_queue import RpcQueue

from node.p2p.pubsub import PEER_OUTBOUND_QUEUE_SIZE, GuardedPubsub

FRAME_BYTES = 10


class FramedStream:
    def __init__(self, fail_after_frames: int | None = None) -> None:
        self.wire = bytearray()
        self.resets = 0
        self._frames_left = fail_after_frames

    async def write(self, data: bytes) -> None:
        for start in range(0, len(data), FRAME_BYTES):
            if self._frames_left is not None:
                if self._frames_left == 0:
                    raise ConnectionError("window update never came")
                self._frames_left -= 1
            self.wire += data[start : start + FRAME_BYTES]
            await trio.sleep(0)  # the next frame waits: another writer may go first

    async def reset(self) -> None:
        self.resets += 1


def _pubsub(kind: type[Pubsub]) -> Pubsub:
    router = GossipSub(protocols=["/meshsub/1.1.0"], degree=6, degree_low=4, degree_high=12)
    return kind(new_host(), router)


def _rpc(marker: int) -> rpc_pb2.RPC:
    return rpc_pb2.RPC(publish=[rpc_pb2.Message(data=bytes([marker]) * 300, topicIDs=["t"])])


def _read_all(wire: bytes) -> list[rpc_pb2.RPC]:
    """The RPCs on the wire as a peer reads them (uvarint length, then the protobuf)."""
    rpcs, position = [], 0
    while position < len(wire):
        length, shift = 0, 0
        while True:
            byte = wire[position]
            position += 1
            length |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                break
        rpc = rpc_pb2.RPC()
        rpc.ParseFromString(wire[position : position + length])
        rpcs.append(rpc)
        position += length
    return rpcs


async def _write_concurrently(pubsub: Pubsub, stream: FramedStream) -> None:
    async with trio.open_nursery() as nursery:
        for marker in range(3):
            nursery.start_soon(pubsub.write_msg, stream, _rpc(marker))


def _arrived_whole(stream: FramedStream) -> bool:
    """Whether the peer reads the three RPCs intact (garbage does not parse, or parses wrong)."""
    try:
        rpcs = _read_all(bytes(stream.wire))
    except Exception:  # protobuf's DecodeError, or a length running past the end
        return False
    return sorted(rpc.publish[0].data for rpc in rpcs) == [bytes([m]) * 300 for m in range(3)]


def test_rpcs_written_at_once_reach_the_peer_whole() -> None:
    stream = FramedStream()
    trio.run(_write_concurrently, _pubsub(GuardedPubsub), stream)
    assert _arrived_whole(stream)


def test_without_the_guard_the_same_writes_interleave() -> None:
    """The hazard the guard removes, reproduced with py-libp2p's own Pubsub."""
    stream = FramedStream()
    trio.run(_write_concurrently, _pubsub(Pubsub), stream)
    assert not _arrived_whole(stream)


def test_an_rpc_cut_short_resets_the_stream() -> None:
    stream = FramedStream(fail_after_frames=5)
    with pytest.raises(ConnectionError):
        trio.run(_pubsub(GuardedPubsub).write_msg, stream, _rpc(1))
    assert stream.resets == 1


def test_a_peer_queue_holds_128_rpcs_before_dropping() -> None:
    pubsub = _pubsub(GuardedPubsub)
    queue = RpcQueue()  # built with the library's 32 slots, as Pubsub builds it
    pubsub.peer_queues[ID(b"peer")] = queue
    accepted = [queue.push(_rpc(i % 256)) for i in range(PEER_OUTBOUND_QUEUE_SIZE + 1)]
    assert accepted == [True] * PEER_OUTBOUND_QUEUE_SIZE + [False]
    assert PEER_OUTBOUND_QUEUE_SIZE == 128
