"""An audit driven directly against a real chain by in-process auditors (no gossip).

It plays the network's part in one process: submit the trace, draw the committees from the
on-chain seed and stake snapshot, let each auditor vote by a rule and sign its reveal, finalize,
and read the verdict back. The contract checks everything as it would for the real network, so
this is what the differential (parity) tests and the gas benchmark run; the protocol's own
outcome and payouts are computed beside it for comparison.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from node.chain import Receipt, Sender
from node.chain.ledger import Absence, LedgerClient, OnChainVerdict
from protocol.consensus import AuditOutcome, compute_audit_outcome
from protocol.economics import Payouts, compute_payouts, compute_vote_index
from protocol.encoding import keccak_hex
from protocol.hdag import build_hdag
from protocol.ids import compute_trace_id
from protocol.layout import compute_segment_layout
from protocol.models import Auditor, Hdag, Reveal, Segment, Tier, Trace, Vote, VoteEntry
from protocol.params import DEVNET, ProtocolParams
from protocol.segments import build_segments
from protocol.sortition import compute_segment_tier, compute_tier_stakes
from protocol.votes import make_reveal

#: How an auditor votes on a segment: a Vote, or None to stay absent. An auditor is absent for
#: a whole round or not at all: the Ledger cannot see a reveal that skips assigned segments.
VoteRule = Callable[[str, Segment], Vote | None]


@dataclass(frozen=True)
class DirectAudit:
    trace_id: str
    hdag: Hdag
    layout: bytes
    seed: str
    tiers: tuple[Tier, ...]
    snapshot: tuple[Auditor, ...]
    reveals: tuple[Reveal, ...]
    absences: tuple[Absence, ...]
    outcome: AuditOutcome
    payouts: Payouts
    verdict: OnChainVerdict
    submit_receipt: Receipt
    finalize_receipt: Receipt


def _round_votes(
    address: str, segments: Sequence[Segment], rule: VoteRule
) -> tuple[list[VoteEntry], list[int]]:
    """The votes an auditor casts on its assigned segments, or the segments it skips (all).

    Raises ValueError for a partial reveal, which the Ledger would count wrongly.
    """
    votes, skipped = [], []
    for segment in segments:
        vote = rule(address, segment)
        if vote is None:
            skipped.append(segment.index)
            continue
        rationale = keccak_hex(f"{address}:{segment.index}:{vote.name}".encode())
        votes.append(
            VoteEntry(segment=segment.index, vote=vote, confidence=9_000, rationale=rationale)
        )
    if votes and skipped:
        raise ValueError(f"{address} would reveal some assigned segments and skip {skipped}")
    return votes, skipped


async def run_direct_audit(
    ledger: LedgerClient,
    submitter: Sender,
    auditor_keys: Sequence[str],
    trace: Trace,
    k: int,
    rule: VoteRule,
    fee: int,
    params: ProtocolParams = DEVNET,
    on_round: Callable[[Sequence[Reveal]], None] | None = None,
    *,
    sealed_round_zero: bool = True,
) -> DirectAudit:
    """Submit, vote both rounds, finalize and read back one trace (see module docstring).

    `on_round`, if given, is shown the reveals public before each round's votes: what a
    copycat auditor can read. None before round 0, and none before round 1 either, since the
    nodes seal round-0 reveals to the submitter until round 1's commits close;
    `sealed_round_zero=False` shows round 0's before round 1, as the protocol did before
    (a benchmark's baseline).
    """
    hdag, trace_id = build_hdag(trace), compute_trace_id(trace)
    layout = compute_segment_layout(hdag)
    submitted = await ledger.submit_trace(submitter, trace_id, hdag.root, k, layout, fee)
    senders = {Sender.from_key(key).address: key for key in auditor_keys}
    snapshot = await ledger.auditors_at(sorted(senders), submitted.snapshot_block)
    tier_stakes = compute_tier_stakes(snapshot)
    tiers = tuple(compute_segment_tier(node.level, tier_stakes) for node in hdag.nodes)
    segments = build_segments(trace, hdag, tiers)
    domain = await ledger.domain_separator()
    reveals: list[Reveal] = []
    absences: list[Absence] = []
    for round_ in (0, 1):
        if on_round is not None:
            on_round(() if sealed_round_zero else tuple(reveals))
        drawn = compute_audit_outcome(submitted.seed, tiers, k, snapshot, reveals, params, hdag)
        for auditor in snapshot:
            mine = [
                segments[segment]
                for (r, segment), committee in sorted(drawn.assignments.items())
                if r == round_ and auditor.address in committee
            ]
            votes, skipped = _round_votes(auditor.address, mine, rule)
            salt = keccak_hex(f"{trace_id}:{auditor.address}:{round_}".encode())
            if votes:
                key = senders[auditor.address]
                reveals.append(make_reveal(key, trace_id, round_, votes, salt, domain))
            if skipped:
                absences.append(Absence(auditor.address, round_, tuple(skipped)))
    outcome = compute_audit_outcome(submitted.seed, tiers, k, snapshot, reveals, params, hdag)
    votes_index = compute_vote_index(reveals)
    payouts = compute_payouts(fee, outcome.assignments, votes_index, outcome.verdicts, params)
    finalized = await ledger.finalize(submitter, trace_id, layout, reveals, absences)
    return DirectAudit(
        trace_id=trace_id,
        hdag=hdag,
        layout=layout,
        seed=submitted.seed,
        tiers=tiers,
        snapshot=snapshot,
        reveals=tuple(reveals),
        absences=tuple(absences),
        outcome=outcome,
        payouts=payouts,
        verdict=await ledger.verdict_of(trace_id),
        submit_receipt=submitted.receipt,
        finalize_receipt=finalized,
    )
