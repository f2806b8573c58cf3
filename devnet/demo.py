"""The demo: a local network of node processes audits the shipped example traces.

`run_demo` starts Anvil, deploys the contracts, registers five staked dev auditors and starts
one node process per auditor, meshed over libp2p on loopback (`devnet.network`). Each example
is submitted through a node's JSON-RPC (round robin, so every node coordinates some): the node
commits it on-chain, seals each segment to its sortition-drawn auditors, which judge with the
tier-1 arithmetic checker and commit and reveal over gossip, and the coordinator finalizes. The
verdicts printed are read from the Ledger's storage and events, never from a node's database.
`audit_examples` does the same on a devnet that is already up (`trustnode devnet demo`).
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from devnet.network import Network, NetworkNode, start_network, stop_network
from node.chain import ChainClient
from node.chain.ledger import LedgerClient, OnChainVerdict
from node.rpc_client import RpcClient
from node.tracefile import TraceRecord, read_traces
from protocol.models import TraceVerdict

DEFAULT_EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "traces"
DEMO_NODES = 5
#: How long the demo waits for every verdict to land on-chain.
VERDICT_TIMEOUT_S = 120.0
_POLL_S = 0.05


class DemoError(Exception):
    """A verdict did not land on-chain in time."""


@dataclass(frozen=True)
class Submitted:
    record: TraceRecord
    trace_id: str
    node: NetworkNode
    submitted_at: float


def _submit(node: NetworkNode, record: TraceRecord) -> str:
    trace = record.trace.model_dump(mode="json", by_alias=True, exclude_none=True)
    with RpcClient(node.rpc_url) as client:
        return str(client.call("audit_submitTrace", {"trace": trace})["trace_id"])


async def _submit_all(network: Network, records: Sequence[TraceRecord]) -> list[Submitted]:
    submitted = []
    for index, record in enumerate(records):
        node = network.nodes[index % len(network.nodes)]
        trace_id = await asyncio.to_thread(_submit, node, record)
        submitted.append(Submitted(record, trace_id, node, time.monotonic()))
    return submitted


async def _await_verdicts(
    ledger: LedgerClient, submitted: Sequence[Submitted], timeout_s: float
) -> dict[str, tuple[OnChainVerdict, float]]:
    """Each trace's on-chain verdict and its latency from submission, polling the Ledger."""
    landed: dict[str, tuple[OnChainVerdict, float]] = {}
    give_up = time.monotonic() + timeout_s
    while len(landed) < len(submitted):
        for item in submitted:
            if item.trace_id in landed:
                continue
            verdict = await ledger.verdict_of(item.trace_id)
            if verdict.is_final:
                landed[item.trace_id] = (verdict, time.monotonic() - item.submitted_at)
        if time.monotonic() > give_up:
            pending = [s.record.where for s in submitted if s.trace_id not in landed]
            raise DemoError(f"no verdict on-chain after {timeout_s:.0f} s for {pending}")
        await asyncio.sleep(_POLL_S)
    return landed


async def _describe(
    ledger: LedgerClient, item: Submitted, verdict: OnChainVerdict, latency_s: float
) -> str:
    counts = {name: 0 for name in ("VALID", "INVALID", "UNRESOLVED")}
    for segment in verdict.segment_verdicts:
        counts[segment.name] += 1
    submission = await ledger.submission_of(item.trace_id)
    if submission is None:
        raise DemoError(f"{item.record.where}: final on-chain but its submission is not found")
    finalization = (await ledger.finalizations(0, trace_id=item.trace_id))[0]
    lines = [
        f"{Path(item.record.where).name}: {verdict.verdict.name} (read from the Ledger)",
        f"  trace {item.trace_id}",
        f"  coordinated by node {item.node.index}; on-chain verdict {latency_s:.2f} s after submit",
        f"  {len(verdict.segment_verdicts)} segments: "
        + ", ".join(f"{count} {name}" for name, count in counts.items()),
    ]
    if verdict.verdict is TraceVerdict.FLAWED:
        steps = item.record.trace.steps or ()
        step = steps[verdict.first_error] if verdict.first_error < len(steps) else ""
        lines.append(f"  first error: step {verdict.first_error}: {step}".rstrip(": "))
    lines += [f"  submit   {submission.tx_hash}", f"  finalize {finalization.tx_hash}"]
    return "\n".join(lines)


def _read_examples(examples: Path) -> list[TraceRecord]:
    return [record for path in sorted(examples.glob("*.json")) for record in read_traces(path)]


async def audit_examples(
    network: Network,
    out: TextIO,
    examples: Path = DEFAULT_EXAMPLES,
    timeout_s: float = VERDICT_TIMEOUT_S,
) -> None:
    """Submit every example to the running network and print each on-chain verdict."""
    chain = ChainClient(network.chain_rpc_url)
    try:
        ledger = LedgerClient(chain, network.ledger)
        submitted = await _submit_all(network, _read_examples(examples))
        landed = await _await_verdicts(ledger, submitted, timeout_s)
        for item in submitted:
            verdict, latency_s = landed[item.trace_id]
            out.write(await _describe(ledger, item, verdict, latency_s) + "\n\n")
    finally:
        await chain.close()


async def run_demo(out: TextIO, examples: Path = DEFAULT_EXAMPLES, nodes: int = DEMO_NODES) -> int:
    """Start a throwaway network, audit every example on it, stop it; prints as it goes."""
    with tempfile.TemporaryDirectory(prefix="trust-demo-") as workdir:
        directory = Path(workdir)
        out.write(f"TRUST demo: starting Anvil and {nodes} node processes ...\n")
        out.flush()
        network = await start_network(directory, nodes)
        try:
            out.write(
                f"Anvil at {network.chain_rpc_url} (pid {network.anvil_pid}), "
                f"Ledger {network.ledger}\n"
                + "".join(
                    f"node {node.index}  {node.address}  {node.rpc_url}\n" for node in network.nodes
                )
                + "auditors judge with the tier-1 arithmetic checker\n\n"
            )
            await audit_examples(network, out, examples)
        finally:
            stop_network(directory)
    out.write(f"stopped {nodes} nodes and anvil (pid {network.anvil_pid})\n")
    return 0
