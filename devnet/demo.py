"""The demo: audit the shipped example traces on a local Anvil and read the verdicts back.

It starts Anvil from node_modules, deploys the Registry and the Ledger, stakes five development
auditors, and audits every trace in `examples/traces/`: the trace is submitted on-chain, the
committees are drawn from the on-chain seed and stake snapshot, each auditor judges its
segments with the tier-1 arithmetic checker and signs its reveal, and anyone (here the
submitter) finalizes; the contract re-checks every signature, assignment and tally. The
verdicts printed are read from the Ledger's storage. Auditors run in this process and votes do
not travel over gossip yet: the node daemon brings that.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from auditors.arithmetic import ArithmeticChecker
from devnet.accounts import dev_private_key
from devnet.anvil import start_anvil, stop_anvil
from devnet.deployment import deploy_contracts, register_dev_auditors
from devnet.direct_audit import DirectAudit, run_direct_audit
from node.chain import ChainClient, Sender
from node.chain.ledger import LedgerClient
from node.tracefile import read_traces
from protocol.exposure import ExposureFigures, compute_exposure
from protocol.hdag import build_hdag
from protocol.models import Auditor, Segment, Trace, TraceVerdict, Vote
from protocol.params import DEVNET
from protocol.segments import compute_visible_spans
from protocol.sortition import compute_committee_size, compute_segment_tier, compute_tier_stakes

DEFAULT_EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "traces"
DEMO_AUDITORS = 5
ETHER = 10**18
DEMO_FEE = ETHER // 100
_CHECKER = ArithmeticChecker()


def checker_vote(address: str, segment: Segment) -> Vote:
    """Every demo auditor judges with the tier-1 checker; it abstains on what it cannot parse."""
    return _CHECKER.judge(segment).vote


def committee_size_for(trace: Trace, snapshot: Sequence[Auditor]) -> int:
    """k from the privacy budget for this trace and auditor set (design: Privacy)."""
    hdag = build_hdag(trace)
    tiers = [compute_segment_tier(node.level, compute_tier_stakes(snapshot)) for node in hdag.nodes]
    visible = [sum(s.length for s in compute_visible_spans(hdag, n)) for n in hdag.nodes]
    return compute_committee_size(visible, len(hdag.text), tiers, snapshot, DEVNET)


def exposure_of(audit: DirectAudit) -> ExposureFigures:
    """Exposure over every delivery, both rounds: who saw which characters of the text."""
    seen: dict[int, set[str]] = {}
    for (_, segment), committee in audit.outcome.assignments.items():
        seen.setdefault(segment, set()).update(committee)
    visible = [compute_visible_spans(audit.hdag, node) for node in audit.hdag.nodes]
    stakes = {auditor.address: auditor.stake for auditor in audit.snapshot}
    committees = {segment: tuple(sorted(auditors)) for segment, auditors in seen.items()}
    return compute_exposure(
        len(audit.hdag.text), visible, committees, stakes, DEVNET.exposure_budget_bps
    )


def describe(audit: DirectAudit, trace: Trace, where: str, k: int) -> str:
    verdict = audit.verdict
    counts = {name: 0 for name in ("VALID", "INVALID", "UNRESOLVED")}
    for segment in verdict.segment_verdicts:
        counts[segment.name] += 1
    lines = [
        f"{Path(where).name}: {verdict.verdict.name} (read from the Ledger)",
        f"  trace {audit.trace_id}",
        f"  {len(verdict.segment_verdicts)} segments: "
        + ", ".join(f"{count} {name}" for name, count in counts.items())
        + f"; k={k}, {len(audit.outcome.escalations)} escalated",
    ]
    if verdict.verdict is TraceVerdict.FLAWED:
        step = trace.steps[verdict.first_error] if trace.steps else ""
        lines.append(f"  first error: step {verdict.first_error}: {step}".rstrip(": "))
    exposure = exposure_of(audit)
    lines += [
        f"  submit   {audit.submit_receipt.tx_hash} ({audit.submit_receipt.gas_used:,} gas)",
        f"  finalize {audit.finalize_receipt.tx_hash} ({audit.finalize_receipt.gas_used:,} gas)",
        f"  exposure: largest auditor {exposure.max_auditor_bps / 100:.1f}% of the text, "
        f"3 largest together {exposure.coalition_bps / 100:.1f}% "
        f"(budget {exposure.budget_bps / 100:.0f}% expected)",
        f"  payouts: {sum(audit.payouts.rewards.values()) / ETHER:.4f} ETH rewarded, "
        f"{sum(audit.payouts.slashes.values()) / ETHER:.4f} ETH slashed",
    ]
    return "\n".join(lines)


async def _audit_examples(ledger: LedgerClient, examples: Path, out: TextIO) -> None:
    keys = [dev_private_key(i) for i in range(1, DEMO_AUDITORS + 1)]
    submitter = Sender.from_key(dev_private_key(0))
    block = await ledger.chain.block_number()
    snapshot = [
        auditor
        for key in keys
        if (auditor := await ledger.auditor_at(Sender.from_key(key).address, block)) is not None
    ]
    for path in sorted(examples.glob("*.json")):
        for record in read_traces(path):
            k = committee_size_for(record.trace, snapshot)
            audit = await run_direct_audit(
                ledger, submitter, keys, record.trace, k, checker_vote, DEMO_FEE
            )
            out.write(describe(audit, record.trace, record.where, k) + "\n\n")


async def run_demo(out: TextIO, examples: Path = DEFAULT_EXAMPLES) -> int:
    """Start a throwaway devnet, audit every example on it, stop it; prints as it goes."""
    with tempfile.TemporaryDirectory(prefix="trust-demo-") as workdir:
        anvil = start_anvil(Path(workdir) / "anvil")
        chain = ChainClient(anvil.rpc_url)
        try:
            registry, ledger_address, _ = await deploy_contracts(
                chain, Sender.from_key(dev_private_key(0))
            )
            ledger = LedgerClient(chain, ledger_address, registry)
            auditors = await register_dev_auditors(ledger, DEMO_AUDITORS)
            out.write(
                f"TRUST demo: Anvil at {anvil.rpc_url} (pid {anvil.pid}), "
                f"Ledger {ledger_address}\n{len(auditors)} staked auditors "
                f"({', '.join(f'{a.stake // ETHER} ETH' for a in auditors)}), "
                "judging with the tier-1 arithmetic checker\n\n"
            )
            await _audit_examples(ledger, examples, out)
        finally:
            await chain.close()
            stop_anvil(anvil.pid)
    out.write(f"stopped anvil (pid {anvil.pid})\n")
    return 0
