"""Gas per trace on Anvil: the Ledger against a naive per-vote on-chain baseline, one run.

Run from the repository root: `python benchmarks/gas.py`. For traces of 5, 20 and 50 segments
and committees of 3, 5 and 7 auditors per segment it measures `submitTrace` and `finalize` (one
signed reveal per auditor, every signature, assignment and tally re-checked on-chain), and the
same audit the way UMA's DVM votes: a commit and a reveal transaction per vote, a decide
transaction and one reward claim per voter (`benchmarks/baseline/NaiveVoting.sol`). Exactly k
auditors with equal stake are registered so every auditor is assigned to every segment. Prints a
table and writes benchmarks/results/gas.json.
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from contracts.build import compile_standard
from devnet.accounts import dev_private_key
from devnet.anvil import start_anvil, stop_anvil
from devnet.deployment import deploy_contracts, register_dev_auditors
from node.chain import ChainClient, Receipt, Sender
from node.chain.ledger import LedgerClient
from node.termination import run_until_terminated
from protocol.encoding import keccak, keccak_hex
from protocol.models import Level, Reveal, TraceVerdict, Vote, VoteEntry
from protocol.votes import make_reveal

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results" / "gas.json"
BASELINE_DIR = REPO / "benchmarks" / "baseline"
SEGMENTS = (5, 20, 50)
COMMITTEES = (3, 5, 7)
STAKE = 10 * 10**18
FEE = 10**16
TARGET_FINALIZE_GAS = 400_000
TARGET_RATIO = 20
#: A level pattern like the builder's output: plan, sub-goal, steps each with an operation.
_PATTERN = (Level.TACTIC, Level.STEP, Level.OPERATION, Level.STEP, Level.OPERATION)


@dataclass(frozen=True)
class Row:
    segments: int
    auditors_per_segment: int
    submit_gas: int
    finalize_gas: int
    baseline_gas: int
    baseline_transactions: int

    @property
    def ratio(self) -> float:
        return self.baseline_gas / (self.submit_gas + self.finalize_gas)


def synthetic_layout(count: int) -> bytes:
    """A layout of `count` segments: goal, strategy, then tactics, steps and operations."""
    levels = [Level.GOAL, Level.STRATEGY] + [_PATTERN[i % 5] for i in range(count - 2)]
    steps_before, entries = 0, bytearray()
    last_step = max(0, sum(level is Level.STEP for level in levels) - 1)
    for level in levels[:count]:
        if level is Level.STEP:
            steps_before += 1
        step = last_step if level is Level.GOAL else max(0, steps_before - 1)
        entries += bytes([level.depth]) + step.to_bytes(2, "big")
    return bytes(entries)


def _reveals(keys: list[str], trace_id: str, segments: int, domain: bytes) -> list[Reveal]:
    votes = [
        VoteEntry(segment=s, vote=Vote.VALID, confidence=9_000, rationale=keccak_hex(bytes([s])))
        for s in range(segments)
    ]
    salt = keccak_hex(trace_id.encode())
    return [make_reveal(key, trace_id, 0, votes, salt, domain) for key in keys]


async def measure_ledger(
    ledger: LedgerClient, keys: list[str], segments: int, k: int
) -> tuple[int, int]:
    submitter = Sender.from_key(dev_private_key(0))
    trace_id = keccak_hex(f"gas/{k}/{segments}".encode())
    layout = synthetic_layout(segments)
    submitted = await ledger.submit_trace(submitter, trace_id, keccak_hex(layout), k, layout, FEE)
    reveals = _reveals(keys, trace_id, segments, await ledger.domain_separator())
    finalized = await ledger.finalize(submitter, trace_id, layout, reveals)
    verdict = await ledger.verdict_of(trace_id)
    if verdict.verdict is not TraceVerdict.SOUND:
        raise RuntimeError(f"unanimous VALID votes gave {verdict.verdict.name}: figures void")
    return submitted.receipt.gas_used, finalized.gas_used


async def measure_baseline(
    chain: ChainClient, baseline: Any, keys: list[str], segments: int, k: int
) -> tuple[int, int]:
    """Total gas and transaction count of the per-vote baseline for one trace."""
    submitter = Sender.from_key(dev_private_key(0))
    trace_id = keccak(f"baseline/{k}/{segments}".encode())
    voters = [Sender.from_key(key) for key in keys]
    receipts: list[Receipt] = [
        await chain.transact(
            baseline.functions.submit(trace_id, segments, STAKE * k), submitter, FEE
        )
    ]
    salt = keccak(b"salt")

    async def vote_all(voter: Sender) -> list[Receipt]:
        commitment = keccak(
            (1).to_bytes(32, "big") + salt + bytes.fromhex(voter.address[2:]).rjust(32, b"\0")
        )
        done = []
        for s in range(segments):
            done.append(
                await chain.transact(baseline.functions.commitVote(trace_id, s, commitment), voter)
            )
        for s in range(segments):
            done.append(
                await chain.transact(baseline.functions.revealVote(trace_id, s, 1, salt), voter)
            )
        return done

    for batch in await asyncio.gather(*(vote_all(voter) for voter in voters)):
        receipts += batch
    receipts.append(await chain.transact(baseline.functions.decide(trace_id), submitter))
    for voter in voters:
        receipts.append(await chain.transact(baseline.functions.claimReward(trace_id), voter))
    return sum(receipt.gas_used for receipt in receipts), len(receipts)


async def deploy_baseline(chain: ChainClient, keys: list[str]) -> Any:
    output = compile_standard(BASELINE_DIR)
    compiled = output["contracts"]["benchmarks/baseline/NaiveVoting.sol"]["NaiveVoting"]
    abi, bytecode = compiled["abi"], "0x" + compiled["evm"]["bytecode"]["object"]
    deployer = Sender.from_key(dev_private_key(0))
    receipt = await chain.deploy(abi, bytecode, deployer)
    if receipt.contract_address is None:
        raise RuntimeError("baseline deployment returned no address")
    contract = chain.contract(receipt.contract_address, abi)
    for key in keys:
        await chain.transact(contract.functions.register(), Sender.from_key(key), STAKE)
    return contract


async def measure_committee(k: int, workdir: Path) -> list[Row]:
    """A fresh chain with exactly k equal-stake auditors, so committees are exactly k."""
    anvil = start_anvil(workdir / f"k{k}")
    chain = ChainClient(anvil.rpc_url)
    try:
        registry, ledger_address, _ = await deploy_contracts(
            chain, Sender.from_key(dev_private_key(0))
        )
        ledger = LedgerClient(chain, ledger_address, registry)
        await register_dev_auditors(ledger, k, stakes_eth=(STAKE // 10**18,))
        keys = [dev_private_key(i) for i in range(1, k + 1)]
        baseline = await deploy_baseline(chain, keys)
        rows = []
        for segments in SEGMENTS:
            submit, finalize = await measure_ledger(ledger, keys, segments, k)
            baseline_gas, transactions = await measure_baseline(chain, baseline, keys, segments, k)
            rows.append(Row(segments, k, submit, finalize, baseline_gas, transactions))
        return rows
    finally:
        await chain.close()
        stop_anvil(anvil.pid)


def print_table(rows: list[Row]) -> None:
    print(
        f"{'segments':>8} {'k':>3} {'submit':>9} {'finalize':>10} {'baseline':>11} {'txs':>5} "
        f"{'ratio':>7} {'finalize/vote':>13}"
    )
    for row in rows:
        per_vote = row.finalize_gas / (row.segments * row.auditors_per_segment)
        print(
            f"{row.segments:>8} {row.auditors_per_segment:>3} {row.submit_gas:>9,} "
            f"{row.finalize_gas:>10,} {row.baseline_gas:>11,} {row.baseline_transactions:>5} "
            f"{row.ratio:>6.1f}x {per_vote:>13,.0f}"
        )


async def main() -> int:
    with tempfile.TemporaryDirectory(prefix="trust-gas-") as workdir:
        rows = [row for k in COMMITTEES for row in await measure_committee(k, Path(workdir))]
    print_table(rows)
    target = next(r for r in rows if (r.segments, r.auditors_per_segment) == (20, 5))
    result = {
        "rows": [asdict(row) | {"ratio": round(row.ratio, 1)} for row in rows],
        "target": {
            "finalize_gas_20x5_max": TARGET_FINALIZE_GAS,
            "ratio_min": TARGET_RATIO,
            "finalize_gas_20x5": target.finalize_gas,
            "ratio_20x5": round(target.ratio, 1),
            "met": target.finalize_gas <= TARGET_FINALIZE_GAS and target.ratio >= TARGET_RATIO,
        },
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    print(
        f"finalize 20 segments x 5 auditors: {target.finalize_gas:,} gas "
        f"(target {TARGET_FINALIZE_GAS:,}); {target.ratio:.1f}x cheaper than the baseline "
        f"(target {TARGET_RATIO}x): {'met' if result['target']['met'] else 'NOT met'}"
    )
    print(f"written {RESULTS.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(run_until_terminated(main))
