"""The demo: audit the shipped example traces and print each verdict.

Today it is an offline walk through the whole protocol in one process: HDAG, sortition,
signed commit-reveal votes of five development auditors judged by the tier-1 arithmetic
checker, the stake-weighted tally with escalation, the trace verdict, payouts and exposure.
No chain and no gossip yet: the devnet (Anvil, libp2p nodes, on-chain verdicts) replaces the
in-process parts as it lands.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from auditors.arithmetic import ArithmeticChecker
from auditors.judgement import Judge
from devnet.accounts import dev_private_key
from node.tracefile import read_traces
from protocol.consensus import AuditOutcome, compute_audit_outcome
from protocol.economics import Payouts, compute_payouts, compute_vote_index
from protocol.eip712 import compute_domain_separator
from protocol.encoding import keccak_hex
from protocol.exposure import ExposureFigures, compute_exposure
from protocol.hdag import build_hdag
from protocol.hdag_validation import validate_hdag
from protocol.models import Auditor, Hdag, Reveal, Segment, Tier, Trace, TraceVerdict, VoteEntry
from protocol.params import DEVNET, ProtocolParams
from protocol.segments import build_segments, compute_visible_spans
from protocol.signing import compute_address
from protocol.sortition import (
    compute_committee_size,
    compute_segment_tier,
    compute_sortition_seed,
    compute_tier_stakes,
)
from protocol.votes import (
    compute_confidence_bps,
    make_commit,
    make_reveal,
    validate_commit_signature,
    validate_reveal_against_commit,
    validate_reveal_signature,
)

DEFAULT_EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "traces"
DEMO_AUDITORS = 5
ETHER = 10**18
DEMO_FEE = ETHER // 100
#: Stands in for the block hash the Ledger will fix at submission.
OFFLINE_BLOCK_HASH = keccak_hex(b"offline demo: no chain yet")
#: Anvil's chain id and the devnet's Ledger address (second deployment of dev account 0).
DEMO_CHAIN_ID = 31337
DEMO_LEDGER = "0xe7f1725e7734ce288f8367e1bb143e90bb3f0512"
ZERO_RATIONALE = "0x" + "00" * 32


@dataclass(frozen=True)
class DemoAuditor:
    key: str
    info: Auditor
    judge: Judge


@dataclass(frozen=True)
class DemoResult:
    trace: Trace
    hdag: Hdag
    committee_size: int
    outcome: AuditOutcome
    exposure: ExposureFigures
    payouts: Payouts


def make_demo_auditors(count: int = DEMO_AUDITORS) -> tuple[DemoAuditor, ...]:
    """Dev accounts 1..count with unequal stakes, registered in the checker and LLM tiers."""
    auditors = []
    for index in range(1, count + 1):
        key = dev_private_key(index)
        info = Auditor(
            address=compute_address(key),
            stake=(5 + index) * ETHER,
            tiers=(Tier.CHECKER, Tier.LLM),
        )
        auditors.append(DemoAuditor(key, info, ArithmeticChecker()))
    return tuple(auditors)


def _salt(auditor: DemoAuditor, trace_id: str, round_: int) -> str:
    # Deterministic so the demo prints the same every run; a node draws salts from os.urandom.
    preimage = bytes.fromhex(auditor.key[2:]) + bytes.fromhex(trace_id[2:]) + bytes([round_])
    return keccak_hex(preimage)


def _vote_round(
    auditor: DemoAuditor, segments: Sequence[Segment], round_: int, trace_id: str
) -> Reveal | None:
    """Judge the assigned segments, then commit and reveal, checking both as a peer would."""
    if not segments:
        return None
    votes = []
    for segment in segments:
        judgement = auditor.judge.judge(segment)
        votes.append(
            VoteEntry(
                segment=segment.index,
                vote=judgement.vote,
                confidence=compute_confidence_bps(judgement.confidence),
                rationale=keccak_hex(judgement.rationale.encode()),
            )
        )
    domain = compute_domain_separator(DEMO_CHAIN_ID, DEMO_LEDGER)
    salt = _salt(auditor, trace_id, round_)
    commit = make_commit(auditor.key, trace_id, round_, votes, salt, domain)
    reveal = make_reveal(auditor.key, trace_id, round_, votes, salt, domain)
    validate_commit_signature(commit, domain)
    validate_reveal_signature(reveal, domain)
    validate_reveal_against_commit(reveal, commit)
    return reveal


def _round_reveals(
    auditors: Sequence[DemoAuditor],
    outcome: AuditOutcome,
    segments: Sequence[Segment],
    round_: int,
    trace_id: str,
) -> list[Reveal]:
    reveals = []
    for auditor in auditors:
        mine = [
            segments[segment]
            for (r, segment), committee in sorted(outcome.assignments.items())
            if r == round_ and auditor.info.address in committee
        ]
        reveal = _vote_round(auditor, mine, round_, trace_id)
        if reveal is not None:
            reveals.append(reveal)
    return reveals


def audit_offline(
    trace: Trace, auditors: Sequence[DemoAuditor], params: ProtocolParams = DEVNET
) -> DemoResult:
    """Run both rounds of the protocol for one trace, entirely in this process."""
    hdag = build_hdag(trace)
    validate_hdag(hdag, trace)
    infos = [auditor.info for auditor in auditors]
    tier_stakes = compute_tier_stakes(infos)
    tiers = [compute_segment_tier(node.level, tier_stakes) for node in hdag.nodes]
    visible = [compute_visible_spans(hdag, node) for node in hdag.nodes]
    visible_chars = [sum(span.length for span in spans) for spans in visible]
    k = compute_committee_size(visible_chars, len(hdag.text), tiers, infos, params)
    seed = compute_sortition_seed(hdag.root, OFFLINE_BLOCK_HASH)
    segments = build_segments(trace, hdag, tiers)

    def outcome_of(reveals: Iterable[Reveal]) -> AuditOutcome:
        return compute_audit_outcome(seed, tiers, k, infos, reveals, params, hdag)

    reveals = _round_reveals(auditors, outcome_of(()), segments, 0, hdag.trace_id)
    escalated = outcome_of(reveals)
    reveals += _round_reveals(auditors, escalated, segments, 1, hdag.trace_id)
    outcome = outcome_of(reveals)
    stakes = {info.address: info.stake for info in infos}
    committees = _committees_over_rounds(outcome)
    exposure = compute_exposure(
        len(hdag.text), visible, committees, stakes, params.exposure_budget_bps
    )
    votes = compute_vote_index(reveals)
    payouts = compute_payouts(DEMO_FEE, outcome.assignments, votes, outcome.verdicts, params)
    return DemoResult(trace, hdag, k, outcome, exposure, payouts)


def _committees_over_rounds(outcome: AuditOutcome) -> dict[int, tuple[str, ...]]:
    """Everyone who saw each segment in either round: exposure counts every delivery."""
    seen: dict[int, set[str]] = {}
    for (_, segment), committee in outcome.assignments.items():
        seen.setdefault(segment, set()).update(committee)
    return {segment: tuple(sorted(auditors)) for segment, auditors in seen.items()}


def _describe(result: DemoResult, where: str) -> str:
    outcome = result.outcome
    verdict = outcome.trace_verdict.name
    counts = {name: 0 for name in ("VALID", "INVALID", "UNRESOLVED")}
    for segment_verdict in outcome.verdicts.values():
        counts[segment_verdict.name] += 1
    lines = [
        f"{Path(where).name}: {verdict}",
        f"  trace {result.hdag.trace_id}",
        f"  {len(result.hdag.nodes)} segments, k={result.committee_size}, "
        f"{len(outcome.escalations)} escalated; segments "
        + ", ".join(f"{count} {name}" for name, count in counts.items()),
    ]
    if outcome.trace_verdict is TraceVerdict.FLAWED and result.trace.steps is not None:
        step = result.trace.steps[outcome.first_error]
        lines.append(f"  first error: step {outcome.first_error}: {step}")
    elif outcome.trace_verdict is TraceVerdict.FLAWED:
        lines.append(f"  first error: step {outcome.first_error}")
    lines.append(
        f"  exposure: largest auditor {result.exposure.max_auditor_bps / 100:.1f}% of the text, "
        f"3 largest together {result.exposure.coalition_bps / 100:.1f}% "
        f"(budget {result.exposure.budget_bps / 100:.0f}% expected)"
    )
    rewarded = sum(result.payouts.rewards.values())
    slashed = sum(result.payouts.slashes.values())
    lines.append(f"  payouts: {rewarded / ETHER:.4f} ETH rewarded, {slashed / ETHER:.4f} slashed")
    return "\n".join(lines)


def run_offline_demo(out: TextIO, examples: Path = DEFAULT_EXAMPLES) -> int:
    """Audit every example trace in `examples` and print one block per trace."""
    auditors = make_demo_auditors()
    out.write(
        "TRUST offline demo: the full protocol in one process, no chain or gossip yet.\n"
        f"{len(auditors)} dev auditors (checker + LLM tiers, judged by the tier-1 arithmetic "
        "checker; goal/strategy/tactic segments need an LLM or human judge, not in this build)\n\n"
    )
    for path in sorted(examples.glob("*.json")):
        for record in read_traces(path):
            out.write(_describe(audit_offline(record.trace, auditors), record.where) + "\n\n")
    return 0
