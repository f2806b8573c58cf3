"""What the coordinator asks of the chain before it submits a trace."""

from __future__ import annotations

import pytest

from node.chain.errors import ChainError
from node.pipeline.coordinator import compute_submission_committee_size
from protocol.hdag import build_hdag
from protocol.models import Auditor, Tier, Trace
from protocol.params import DEVNET

TRACE = Trace(problem="What is 2 * 3 + 4?", steps=("First, 2 * 3 = 6.", "Then 6 + 4 = 10."))


def _auditor(index: int, stake: int) -> Auditor:
    return Auditor(address="0x" + f"{index:040x}", stake=stake, tiers=(Tier.CHECKER,))


def test_without_any_stake_the_trace_waits_as_for_the_chain() -> None:
    # ChainError is what `_drive` retries; any other error would fail the trace for good.
    with pytest.raises(ChainError, match="no auditor holds stake"):
        compute_submission_committee_size(build_hdag(TRACE), (), DEVNET)


def test_with_stake_the_committee_size_is_within_the_params() -> None:
    snapshot = tuple(_auditor(i, 10**19) for i in range(1, 6))
    k = compute_submission_committee_size(build_hdag(TRACE), snapshot, DEVNET)
    assert DEVNET.min_committee_size <= k <= DEVNET.committee_size
