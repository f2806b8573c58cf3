"""Signed peer records in pubsub RPCs, verified and encoded once instead of on every RPC.

py-libp2p 0.8.1 attaches the sender's signed peer record (an ed25519-signed envelope of its
peer id and addresses) to every pubsub RPC it sends, re-encoding the envelope each time, and
every receiver parses it, checks its signature and stores it again, twice for an RPC carrying
control messages (in Pubsub's read loop and in GossipSub's `handle_rpc`). Measured on this
2-core host: 0.20 ms to encode and 0.25 ms to consume one record, paid for every one of the
~40 RPCs a node sends or receives per audited trace; the record itself changes only when the
host's addresses do.

`install()` wraps the two functions where the pubsub modules look them up:

- `consume_signed_record`: a record already accepted from that peer with these exact bytes is
  accepted again without re-verifying it for `RECHECK_S`; after that it is consumed for real,
  which also renews its two-hour TTL in the peerstore. Only acceptances are remembered, keyed
  by the exact bytes and the sending peer, so a forged or mismatched record is still refused
  every time, and a valid record never turns invalid (its signature is deterministic).
- `encode_local_record`: the host's own envelope bytes, re-encoded when the cached envelope
  changes and re-checked against the host's addresses at most every `RECHECK_S`.
"""

from __future__ import annotations

import functools
import time
import weakref
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import libp2p.peer.peerstore as peerstore_module
import libp2p.pubsub.gossipsub as gossipsub_module
import libp2p.pubsub.pubsub as pubsub_module
import libp2p.pubsub.utils as pubsub_utils
from libp2p.peer.id import ID

#: How long an accepted record (or the host's own encoded record) is trusted before it is
#: checked again: well inside the peerstore's two-hour record TTL.
RECHECK_S = 60.0
#: Accepted (peer, record) pairs remembered per host; a peer re-issues its record only when its
#: addresses change, so this bounds memory against a peer that keeps sending new ones.
MAX_REMEMBERED_RECORDS = 1_024

Clock = Callable[[], float]
_Consume = Callable[[Any, Any, ID], bool]
_Encode = Callable[[Any], tuple[bytes, bool]]


class RecordCache:
    """Per host: the records accepted from peers, and its own encoded record.

    One cache serves every host of the process; a host's entries are only touched from the trio
    run that serves it (one thread per host when a process holds several), so they need no lock.
    """

    def __init__(self, consume: _Consume, encode: _Encode, clock: Clock = time.monotonic) -> None:
        self._consume = consume
        self._encode = encode
        self._clock = clock
        self._accepted: weakref.WeakKeyDictionary[Any, OrderedDict[tuple[ID, bytes], float]] = (
            weakref.WeakKeyDictionary()
        )
        self._own: weakref.WeakKeyDictionary[Any, tuple[object, bytes, float]] = (
            weakref.WeakKeyDictionary()
        )

    def consume_signed_record(self, rpc: Any, host: Any, peer_id: ID) -> bool:
        """Same answer as py-libp2p's `maybe_consume_signed_record`."""
        if not rpc.HasField("senderRecord"):
            return True
        accepted = self._accepted.setdefault(host, OrderedDict())
        key = (peer_id, bytes(rpc.senderRecord))
        now = self._clock()
        checked_at = accepted.get(key)
        if checked_at is not None and now - checked_at < RECHECK_S:
            return True
        if not self._consume(rpc, host, peer_id):
            accepted.pop(key, None)
            return False
        accepted[key] = now
        accepted.move_to_end(key)
        while len(accepted) > MAX_REMEMBERED_RECORDS:
            accepted.popitem(last=False)
        return True

    def encode_local_record(self, host: Any) -> tuple[bytes, bool]:
        """Same answer as py-libp2p's `env_to_send_in_RPC`: (envelope bytes, newly issued)."""
        envelope = host.get_peerstore().get_local_record()
        cached = self._own.get(host)
        now = self._clock()
        if cached is not None and cached[0] is envelope and now - cached[2] < RECHECK_S:
            return cached[1], False
        encoded, issued = self._encode(host)
        # Reissuing replaced the peerstore's envelope: remember the new one.
        self._own[host] = (host.get_peerstore().get_local_record(), encoded, now)
        return encoded, issued


@functools.cache
def install() -> RecordCache:
    """Route py-libp2p's pubsub through one `RecordCache` (once per process; later calls
    return the same cache)."""
    cache = RecordCache(
        pubsub_utils.maybe_consume_signed_record, peerstore_module.env_to_send_in_RPC
    )
    for module in (pubsub_module, gossipsub_module):
        module.maybe_consume_signed_record = cache.consume_signed_record  # type: ignore[attr-defined]
        module.env_to_send_in_RPC = cache.encode_local_record  # type: ignore[attr-defined]
    return cache
