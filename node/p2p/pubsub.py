"""py-libp2p's Pubsub, except that a peer's unreadable RPC costs that peer its stream, not us
our host.

Pubsub 0.8.1 reads each peer's stream in a loop that handles an oversized RPC (the stream is
reset and the peer dropped) but not one that fails to parse: protobuf's DecodeError, or
py-libp2p's ParseError for a bad length prefix, escapes the loop, fails the swarm connection's
task, and the swarm service then stops the whole host. Measured on a loaded five-node devnet,
two nodes lost their hosts this way at the same second and sat without gossip until the run
was abandoned; any peer could do the same on purpose with one malformed frame. Here such an RPC
is handled like an oversized one (stream reset, peer dropped, and re-dialled by Pubsub while
the connection lives), and the peer's score pays for it.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any

from google.protobuf.message import DecodeError
from libp2p.abc import INetStream
from libp2p.exceptions import ParseError
from libp2p.pubsub.pubsub import Pubsub

logger = logging.getLogger(__name__)

#: Deducted from the score of a peer that sent an unreadable RPC (py-libp2p's own behaviour
#: penalty is 1 per offence; an unreadable RPC is no accident of timing).
UNREADABLE_RPC_PENALTY = 10.0


class GuardedPubsub(Pubsub):
    """Pubsub whose per-peer read loop survives an RPC that does not parse."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        #: RPCs from peers that did not parse, since start (the node's status reports it).
        self.unreadable_rpcs = 0

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
