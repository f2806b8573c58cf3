"""The one exception tree of the protocol layer.

Every error a caller can act on is a subclass of `ProtocolError`, so the node can turn any of
them into a clear message (an RPC error object, a one-line CLI error) without catching bugs.
"""

from __future__ import annotations


class ProtocolError(Exception):
    """Base of every error raised on purpose by `protocol`."""


class InvalidTraceError(ProtocolError):
    """A trace or record is malformed: `field` names the offending field, or None for the whole."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class EncodingError(ProtocolError):
    """A value cannot be put in canonical form (a non-finite float, a too-large integer, ...)."""


class HdagInvariantError(ProtocolError):
    """An HDAG breaks one of the design's invariants; the message names the node and the rule."""


class SortitionError(ProtocolError):
    """Sortition inputs are out of range (stake too large for the on-chain arithmetic, k < 1)."""


class NoStakeError(SortitionError):
    """No auditor tier holds any stake, so nothing can be assigned (the Ledger reverts the same
    submission with NoStakedAuditors). A state of the chain, not a fault of the trace."""


class VoteError(ProtocolError):
    """A commit or reveal is inconsistent: bad signature, reveal not matching its commit, ..."""


class ConsensusError(ProtocolError):
    """Tally inputs are inconsistent (a vote on a segment the auditor was not assigned to, ...)."""
