"""py-libp2p's Pubsub, except that a peer's unreadable RPC costs that peer its stream, not us
our host, and that our own RPCs reach the peer whole.

Pubsub 0.8.1 reads each peer's stream in a loop that handles an oversized RPC (the stream is
reset and the peer dropped) but not one that fails to parse: protobuf's DecodeError, or
py-libp2p's ParseError for a bad length prefix, escapes the loop, fails the swarm connection's
task, and the swarm service then stops the whole host. Measured on a loaded five-node devnet,
two nodes lost their hosts this way at the same second and sat without gossip until the run
was abandoned; any peer could do the same on purpose with one malformed frame. Here such an RPC
is handled like an oversized one (stream reset, peer dropped, and re-dialled by Pubsub while
the connection lives), and the peer's score pays for it.

Our own RPCs could be unreadable too. Pubsub writes an RPC with one `stream.write`, but yamux
sends it in frames of at most 64 KiB (and waits for window updates between them), and gives up
its lock between frames. The per-peer send loop is not the only writer: GossipSub flushes
pending messages and sends recent ones to a peer that joins a topic straight to its stream. Two
RPCs written at once to one stream could interleave their frames, and the peer would read
garbage: the likely source of the 35 unreadable RPCs between honest nodes in the 1,000-record
eval, whose bundles and vote batches run up to 1 MiB. Here each stream takes one whole RPC at a
time, and an RPC cut short (a window update that never came) resets the stream, since whatever
is written after a partial RPC would be misread.

Each peer's outbound queue holds 128 RPCs instead of py-libp2p's 32 (go-libp2p-pubsub's default;
its `WithPeerOutboundQueueSize` exists for this, and Ethereum clients raise it to 600 and more).
GossipSub drops an RPC that finds its peer's queue full. The node paces its own publishes at
100/s, so 32 slots ride out a writer stall of 0.3 s: on a loaded CI host the sender dropped 4
of a burst of 100 votes that way. 128 ride out 1.3 s. Most RPCs are votes and small bundles of
a few KiB; a queue full of maximum-size messages is bounded by gossip validation at 1 MiB each.
"""

from __future__ import annotations

import contextlib
import logging
import weakref
from typing import Any

import trio
from google.protobuf.message import DecodeError
from libp2p.abc import INetStream
from libp2p.exceptions import ParseError
from libp2p.peer.id import ID
from libp2p.pubsub.pb import rpc_pb2
from libp2p.pubsub.pubsub import Pubsub
from libp2p.pubsub.rpc_queue import RpcQueue

logger = logging.getLogger(__name__)

#: Deducted from the score of a peer that sent an unreadable RPC (py-libp2p's own behaviour
#: penalty is 1 per offence; an unreadable RPC is no accident of timing).
UNREADABLE_RPC_PENALTY = 10.0
#: RPCs a peer's outbound queue holds before GossipSub drops the next one.
PEER_OUTBOUND_QUEUE_SIZE = 128


class _RoomyPeerQueues(dict[ID, RpcQueue]):
    """Pubsub's map of per-peer outbound queues, which widens each queue as it is registered.

    Pubsub builds every queue with the library's default size and hands it to the peer's send
    loop in the same step, with no option to size it; registration is the one place to reach it.
    """

    def __setitem__(self, peer_id: ID, queue: RpcQueue) -> None:
        queue._queue.max_size = PEER_OUTBOUND_QUEUE_SIZE
        super().__setitem__(peer_id, queue)


class GuardedPubsub(Pubsub):
    """Pubsub whose per-peer read loop survives an RPC that does not parse."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.peer_queues = _RoomyPeerQueues()
        #: RPCs from peers that did not parse, since start (the node's status reports it).
        self.unreadable_rpcs = 0
        #: One writer at a time per stream; forgotten with the stream.
        self._write_locks: weakref.WeakKeyDictionary[INetStream, trio.Lock] = (
            weakref.WeakKeyDictionary()
        )

    async def write_msg(self, stream: INetStream, rpc_msg: rpc_pb2.RPC) -> bool:
        """Pubsub's write, one whole RPC at a time per stream; one cut short resets it."""
        lock = self._write_locks.setdefault(stream, trio.Lock())
        async with lock:
            try:
                return await super().write_msg(stream, rpc_msg)
            except BaseException:
                with contextlib.suppress(Exception):  # the stream may already be gone
                    await stream.reset()
                raise

    async def continuously_read_stream(self, stream: INetStream) -> None:
        peer_id = stream.muxed_conn.peer_id
        try:
            await super().continuously_read_stream(stream)
        except (DecodeError, ParseError) as exc:
            self.unreadable_rpcs += 1
            logger.warning("peer %s sent an unreadable pubsub RPC (%s): stream reset", peer_id, exc)
            scorer = getattr(self.router, "scorer", None)
            if scorer is not None:
                scorer.penalize_behavior(peer_id, UNREADABLE_RPC_PENALTY)
            with contextlib.suppress(Exception):  # the stream may already be gone
                await stream.reset()
            self._handle_dead_peer(peer_id)
