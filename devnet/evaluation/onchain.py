"""What the chain says about one evaluated trace, and what follows from it for anyone.

The verdict and first error are the Ledger's (`verdictOf`). The finalizing transaction's
calldata holds every reveal the contract tallied, and the `TraceSubmitted` event the seed, k and
layout: with the stake snapshot at the submission block and the record's own HDAG, the protocol
recomputes the whole audit (`compute_audit_outcome`, as the contract did), which gives the
segment tallies behind the verdict probability and the committees behind the exposure figures.
The recomputed verdict must equal the stored one, or the reading is refused.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from node.chain.ledger import LedgerClient
from protocol.consensus import (
    AuditOutcome,
    SegmentTally,
    compute_audit_outcome,
    compute_verdict_probability,
)
from protocol.exposure import ExposureFigures, compute_exposure
from protocol.hdag import build_hdag
from protocol.models import Auditor, Hdag, Reveal, Trace, TraceVerdict
from protocol.params import DEVNET, ProtocolParams
from protocol.rounds import compute_layout_tiers
from protocol.segments import compute_visible_spans


class ChainReadingError(Exception):
    """The chain's record of a trace is missing or disagrees with its recomputation."""


@dataclass(frozen=True)
class ChainReading:
    verdict: TraceVerdict
    #: The Ledger's first error when FLAWED, else -1.
    predicted_first_error: int
    #: P(trace is SOUND) from the final tallies (`compute_verdict_probability`).
    probability: float
    #: Gas of the submit plus the finalize transaction.
    gas: int
    exposure: ExposureFigures
    #: Share of the (round, auditor) seats the committees drew whose reveal the finalize
    #: carried: an auditor whose judge outlasted a window is a seat without a reveal.
    revealed_share: float
    #: Each auditor's stake (wei) in the snapshot the trace was audited under: slashes of
    #: earlier traces move it away from the registered stake.
    snapshot_stakes: dict[str, int]


class SnapshotReader:
    """Stakes and tiers of every registered auditor at a block, as the Ledger snapshotted them
    for a submission (the registrations are scanned once and then only past the last scan)."""

    def __init__(self, ledger: LedgerClient) -> None:
        self.ledger = ledger
        self._addresses: set[str] = set()
        self._scanned_to = -1

    async def snapshot(self, block: int) -> tuple[Auditor, ...]:
        # Only registrations up to the snapshot block matter, and that block is mined (the
        # submission came after it): scanning to the chain's head raced Anvil's log index.
        if block > self._scanned_to:
            for keys in await self.ledger.registrations(self._scanned_to + 1, block):
                self._addresses.add(keys.address)
            self._scanned_to = block
        return await self.ledger.auditors_at(sorted(self._addresses), block)


async def read_trace(
    ledger: LedgerClient,
    snapshots: SnapshotReader,
    trace: Trace,
    trace_id: str,
    judge_accuracy_bps: int,
    params: ProtocolParams = DEVNET,
) -> ChainReading:
    """Read a finalized trace back from the chain (ChainReadingError if it is not final)."""
    verdict = await ledger.verdict_of(trace_id)
    finalizations = await ledger.finalizations(0, trace_id=trace_id)
    submission = await ledger.submission_of(trace_id)
    if not verdict.is_final or not finalizations or submission is None:
        raise ChainReadingError(f"trace {trace_id} is not finalized on-chain")
    reveals = await ledger.finalized_reveals(finalizations[0])
    snapshot = await snapshots.snapshot(submission.snapshot_block)
    hdag = build_hdag(trace)
    outcome = compute_audit_outcome(
        submission.seed,
        compute_layout_tiers(submission.layout, snapshot),
        submission.k,
        snapshot,
        reveals,
        params,
        hdag,
    )
    if (outcome.trace_verdict, outcome.first_error) != (verdict.verdict, verdict.first_error):
        raise ChainReadingError(
            f"trace {trace_id}: the Ledger stores {verdict.verdict.name} at "
            f"{verdict.first_error}, its reveals give {outcome.trace_verdict.name} at "
            f"{outcome.first_error}"
        )
    gas = await ledger.chain.gas_used(submission.tx_hash)
    gas += await ledger.chain.gas_used(finalizations[0].tx_hash)
    stakes = {auditor.address: auditor.stake for auditor in snapshot}
    return ChainReading(
        verdict=verdict.verdict,
        predicted_first_error=verdict.first_error,
        probability=compute_verdict_probability(compute_final_tallies(outcome), judge_accuracy_bps),
        gas=gas,
        exposure=compute_audit_exposure(hdag, outcome, stakes, params),
        revealed_share=compute_revealed_share(outcome, reveals),
        snapshot_stakes=stakes,
    )


def compute_revealed_share(outcome: AuditOutcome, reveals: Sequence[Reveal]) -> float:
    """Revealed (round, auditor) seats over drawn ones; 1.0 when nobody was drawn."""
    drawn = {
        (round_, a) for (round_, _), committee in outcome.assignments.items() for a in committee
    }
    if not drawn:
        return 1.0
    revealed = {(reveal.round, reveal.auditor) for reveal in reveals} & drawn
    return len(revealed) / len(drawn)


def compute_final_tallies(outcome: AuditOutcome) -> list[SegmentTally]:
    """Each segment's tally in the last round that judged it."""
    last = dict(outcome.tallies[0])
    last.update(outcome.tallies[1])
    return [last[segment] for segment in sorted(last)]


def compute_audit_exposure(
    hdag: Hdag, outcome: AuditOutcome, stakes: dict[str, int], params: ProtocolParams
) -> ExposureFigures:
    """Exposure over every round's committees: an assigned auditor was sent the segment."""
    assigned: defaultdict[int, set[str]] = defaultdict(set)
    for (_, segment), committee in outcome.assignments.items():
        assigned[segment].update(committee)
    return compute_exposure(
        len(hdag.text),
        [compute_visible_spans(hdag, node) for node in hdag.nodes],
        {segment: sorted(auditors) for segment, auditors in assigned.items()},
        stakes,
        params.exposure_budget_bps,
    )
