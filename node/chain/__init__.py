"""Chain access: the only package that imports web3."""

from __future__ import annotations

from node.chain.client import ChainClient, NonceAllocator, Receipt, Sender
from node.chain.errors import (
    ChainError,
    ChainTimeoutError,
    ChainUnavailableError,
    TransactionRevertedError,
)

__all__ = [
    "ChainClient",
    "ChainError",
    "ChainTimeoutError",
    "ChainUnavailableError",
    "NonceAllocator",
    "Receipt",
    "Sender",
    "TransactionRevertedError",
]
