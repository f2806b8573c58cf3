"""Errors of the chain client: what went wrong on-chain, named as the contracts name it."""

from __future__ import annotations

from typing import Any


class ChainError(Exception):
    """Base of every chain-client failure."""


class ChainUnavailableError(ChainError):
    """The JSON-RPC endpoint did not answer, even after retries."""


class ChainTimeoutError(ChainError):
    """A transaction was sent but no receipt arrived in time."""


class TransactionRevertedError(ChainError):
    """A call or transaction reverted; `error` is the contract's custom error name when known."""

    def __init__(self, error: str, args: tuple[Any, ...] = (), tx_hash: str | None = None) -> None:
        rendered = ", ".join(repr(arg) for arg in args)
        super().__init__(f"reverted with {error}({rendered})")
        self.error = error
        self.args_decoded = args
        self.tx_hash = tx_hash
