"""py-libp2p's GossipSub with an equivocation check that remembers digests, not messages, and
a count of the messages it dropped.

GossipSub 0.8.1 drops a message whose (origin, sequence number) it has seen with other data or
topics, and to compare them it keeps the first message of every id: up to 1,000 of them (halved
at a heartbeat past 1,000), each as large as a gossip message may be (1 MiB). On the five-node
devnet under load that held ~800 messages, 3.4 MB of payload, in every node (peak RSS 3-4 MiB
above nodes with digests after 95 audited traces). The same check needs only a digest of the
compared fields.

GossipSub hands each outbound RPC to the peer's queue (128 RPCs, `node.p2p.pubsub`) and drops
it, logged only at debug level, when the queue is full (a writer that fell behind). The node's
pacing keeps that from happening, but when it does the operator should see it:
`dropped_messages` counts them.
"""

from __future__ import annotations

import hashlib
import logging

from libp2p.peer.id import ID
from libp2p.pubsub.gossipsub import GossipSub
from libp2p.pubsub.pb import rpc_pb2

logger = logging.getLogger(__name__)

#: What py-libp2p's own check deducts from the score of an equivocating origin.
EQUIVOCATION_PENALTY = 100.0
_DIGEST_BYTES = 16


def compute_message_digest(data: bytes, topics: list[str]) -> bytes:
    """A digest of the fields the equivocation check compares: the data and the topic list
    (in order, as py-libp2p compares them). Lengths are framed, so no two inputs share one
    encoding."""
    digest = hashlib.blake2b(digest_size=_DIGEST_BYTES)
    digest.update(len(data).to_bytes(8, "big"))
    digest.update(data)
    for topic in topics:
        encoded = topic.encode()
        digest.update(len(encoded).to_bytes(8, "big"))
        digest.update(encoded)
    return digest.digest()


class DigestGossipSub(GossipSub):
    """GossipSub whose `equivocation_detection` maps message ids to digests.

    Same outcome as py-libp2p's check: the first copy of an id is accepted and remembered; a
    later copy with other data or topics is refused and its origin penalized; an identical
    copy passes. The library's periodic cleanup bounds the map as before.
    """

    #: Gossip messages (not control) dropped because a peer's outbound queue was full or the
    #: RPC too large, since start.
    dropped_messages = 0

    def _handle_dropped_rpc(self, peer_id: ID, rpc: rpc_pb2.RPC, reason: str) -> None:
        self.dropped_messages += len(rpc.publish)
        super()._handle_dropped_rpc(peer_id, rpc, reason)

    def _check_equivocation(self, msg: rpc_pb2.Message) -> bool:
        key = msg.from_id + msg.seqno
        digest = compute_message_digest(msg.data, list(msg.topicIDs))
        first: object = self.equivocation_detection.get(key)
        if first is None:
            # The map is typed for messages; the library's cleanup only counts and drops keys.
            self.equivocation_detection[key] = digest  # type: ignore[assignment]
            return True
        if first == digest:
            return True
        origin = ID(msg.from_id)
        logger.warning("Equivocation detected from peer %s", origin)
        if self.scorer is not None:
            self.scorer.penalize_equivocation(origin, EQUIVOCATION_PENALTY)
        return False
