"""The libp2p bridge: the only package that imports trio and libp2p (see design.md, Gossip)."""

from __future__ import annotations

from node.p2p.bridge import (
    DEFAULT_PUBLISH_RATE,
    DEFAULT_SPAM_LIMIT_PER_SECOND,
    FETCH_PROTOCOL,
    TOPICS,
    FetchError,
    P2PConfig,
    P2PError,
    P2PNode,
    P2PNotRunningError,
)

__all__ = [
    "DEFAULT_PUBLISH_RATE",
    "DEFAULT_SPAM_LIMIT_PER_SECOND",
    "FETCH_PROTOCOL",
    "TOPICS",
    "FetchError",
    "P2PConfig",
    "P2PError",
    "P2PNode",
    "P2PNotRunningError",
]
