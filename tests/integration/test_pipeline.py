"""The audit pipeline end to end: real node processes, real Anvil, real libp2p, all on 127.0.0.1.

Traces are submitted over JSON-RPC to one node, which coordinates them through gossip to an
on-chain verdict; verdicts are read back from the Ledger. A spy libp2p host (not a registered
auditor) records every gossip message to check what travels in clear and to whom each segment
is sealed. Two more networks kill a coordinator mid-round: once restarted (it resumes from its
store), once left dead (another node finalizes the stalled trace). Every wait is on a condition
with a deadline; nodes have no push channel, so their RPC and the chain are polled.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from devnet.network import (
    _CHILDREN,
    TOPICS,
    Network,
    NetworkNode,
    _spawn_node,
    _wait_for_node,
    start_network,
    stop_network,
)
from node.chain import ChainClient
from node.chain.ledger import Finalization, LedgerClient, OnChainVerdict, Submission
from node.cli import main as trustnode_main
from node.cli import verdict_json
from node.p2p.bridge import P2PNode
from node.pipeline.context import ChainContext
from node.pipeline.router import trace_id_of
from node.rpc_client import RpcClient
from protocol.consensus import compute_round_assignments, compute_round_one_plan
from protocol.messages import (
    CommitMessage,
    GossipMessage,
    RevealMessage,
    SealedRevealMessage,
    SegmentBundle,
    TraceAnnouncement,
    VoteBatch,
    compute_envelope_digest,
    encode_gossip_message,
)
from protocol.models import Reveal
from protocol.params import DEVNET
from protocol.signing import recover_signer
from tests.devnet_helpers import assert_no_tracebacks, final_verdict, rpc_call, wait_for
from tests.gossip_recorder import GossipRecorder

T = TypeVar("T")

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "traces"
RPC_TIMEOUT_S = 5.0
#: From submission to the verdict on-chain; a healthy 4-node devnet needs about a second.
VERDICT_TIMEOUT_S = 60.0
MESH_TIMEOUT_S = 30.0
#: The coordinator's state is polled this often while waiting for a mid-round moment to kill.
KILL_POLL_S = 0.005
MID_ROUND = frozenset({"dispatched", "committing", "revealing"})
#: Expected on-chain outcome of each example: (verdict, first error step; -1 for none).
EXPECTED = {
    "sound-arithmetic": ("SOUND", -1),
    "flawed-arithmetic": ("FLAWED", 0),
    "flawed-comparison": ("FLAWED", 0),
}
#: Step text that must never travel in clear: the planted errors and the distinctive steps.
SECRETS = (
    "3 * 60 = 180",
    "2 * 45 = 90",
    "180 + 90 = 270",
    "6 * 15 = 80",
    "80 - 20 = 60",
    "So the group pays $60.",
    "47 > 52",
    "52 - 47 = 5",
    "Ana scored 5 points more than Ben.",
)


# ---- helpers --------------------------------------------------------------------------------


def _example(name: str, tag: str | None = None) -> dict[str, Any]:
    """An example trace; `tag` changes its `model` field, so its id is new to the chain."""
    trace: dict[str, Any] = json.loads((EXAMPLES / f"{name}.json").read_text(encoding="utf-8"))
    if tag is not None:
        trace["model"] = f"example-{tag}"
    return trace


def _submit(node: NetworkNode, trace: Mapping[str, Any]) -> str:
    result = rpc_call(node.rpc_url, "audit_submitTrace", {"trace": dict(trace)})
    assert result["created"], result
    trace_id: str = result["trace_id"]
    return trace_id


def _final_verdict(node: NetworkNode, trace_id: str) -> dict[str, Any]:
    return final_verdict(node.rpc_url, trace_id, VERDICT_TIMEOUT_S)


def _trace_record(node: NetworkNode, trace_id: str) -> dict[str, Any]:
    record: dict[str, Any] = rpc_call(node.rpc_url, "audit_getTrace", {"trace_id": trace_id})
    return record


@dataclass(frozen=True)
class ChainRecord:
    verdict: OnChainVerdict
    submissions: list[Submission]
    finalizations: list[Finalization]
    #: The account that sent each finalization.
    finalizers: list[str]


async def _chain_record(network: Network, trace_id: str) -> ChainRecord:
    chain = ChainClient(network.chain_rpc_url)
    try:
        ledger = LedgerClient(chain, network.ledger, network.registry)
        finalizations = await ledger.finalizations(0, trace_id=trace_id)
        finalizers = []
        for finalization in finalizations:
            transaction = await chain.w3.eth.get_transaction(finalization.tx_hash)  # type: ignore[arg-type]
            finalizers.append(str(transaction["from"]).lower())
        return ChainRecord(
            verdict=await ledger.verdict_of(trace_id),
            submissions=await ledger.submissions(0, trace_id=trace_id),
            finalizations=finalizations,
            finalizers=finalizers,
        )
    finally:
        await chain.close()


def _read_chain(network: Network, trace_id: str) -> ChainRecord:
    return asyncio.run(_chain_record(network, trace_id))


def _full_multiaddr(node: NetworkNode) -> str:
    address = node.p2p_addrs[0]
    suffix = f"/p2p/{node.peer_id}"
    return address if address.endswith(suffix) else address + suffix


def _meshed_with(node: NetworkNode, peer_id: str) -> bool:
    peers = rpc_call(node.rpc_url, "node_peers")
    return any(p["peer_id"] == peer_id and set(p["mesh_topics"]) == set(TOPICS) for p in peers)


# ---- network A: a flipping auditor and a spy ------------------------------------------------


@dataclass(frozen=True)
class Audited:
    network: Network
    directory: Path
    #: Example name -> trace id, all submitted through node 2.
    trace_ids: dict[str, str]
    #: Trace id -> the verdict node 2's `audit_getVerdict` reported once final.
    verdicts: dict[str, dict[str, Any]]
    spy_peer_id: str
    messages: list[tuple[str, GossipMessage, str]]


async def _start_spy(network: Network, recorder: GossipRecorder) -> P2PNode:
    """A libp2p host with a fresh key, on every node's mesh of every topic."""
    spy = P2PNode(Ed25519PrivateKey.generate(), recorder, threaded=True)
    await spy.start()
    try:
        for node in network.nodes:
            await spy.connect(_full_multiaddr(node))
        for node in network.nodes:
            for topic in TOPICS:
                await spy.wait_for_mesh(node.peer_id, topic, timeout=MESH_TIMEOUT_S)
            await asyncio.to_thread(
                wait_for,
                f"node {node.index} meshing with the spy",
                lambda node=node: _meshed_with(node, spy.peer_id) or None,
                MESH_TIMEOUT_S,
            )
    except BaseException:
        await spy.stop()
        raise
    return spy


async def _audit_with_spy(network: Network, directory: Path, names: Sequence[str]) -> Audited:
    recorder = GossipRecorder()
    spy = await _start_spy(network, recorder)
    try:
        coordinator = network.nodes[1]
        trace_ids = {
            name: await asyncio.to_thread(_submit, coordinator, _example(name)) for name in names
        }
        verdicts = {
            trace_id: await asyncio.to_thread(_final_verdict, coordinator, trace_id)
            for trace_id in trace_ids.values()
        }
    finally:
        await spy.stop()
    return Audited(network, directory, trace_ids, verdicts, spy.peer_id, recorder.messages)


@pytest.fixture(scope="module")
def audited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Audited]:
    """Four nodes, node 1 always votes against its judgement (the lowest stake, 10 of 100 ETH);
    the three examples are submitted through node 2 while a spy listens."""
    directory = tmp_path_factory.mktemp("pipeline") / "devnet"
    settings: list[dict[str, Any]] = [{"audit": {"behaviour": "flip"}}, {}, {}, {}]
    network = asyncio.run(start_network(directory, 4, node_settings=settings))
    try:
        yield asyncio.run(_audit_with_spy(network, directory, list(EXPECTED)))
    finally:
        stop_network(directory)


def test_verdicts_land_on_chain_despite_a_flipping_auditor(
    audited: Audited, capsys: pytest.CaptureFixture[str]
) -> None:
    network = audited.network
    coordinator = network.nodes[1]
    for name, trace_id in audited.trace_ids.items():
        verdict, first_error = EXPECTED[name]
        reported = audited.verdicts[trace_id]
        assert (reported["verdict"], reported["first_error"]) == (verdict, first_error), name

        on_chain = _read_chain(network, trace_id)
        assert (on_chain.verdict.verdict.name, on_chain.verdict.first_error) == (
            verdict,
            first_error,
        )
        assert len(on_chain.submissions) == 1 and len(on_chain.finalizations) == 1
        assert on_chain.submissions[0].submitter == coordinator.address
        assert on_chain.finalizers == [coordinator.address]

        for where in (
            ["--dir", str(audited.directory)],
            ["--rpc", network.chain_rpc_url, "--ledger", network.ledger],
        ):
            assert trustnode_main(["verdict", trace_id, "--json", *where]) == 0
            printed = json.loads(capsys.readouterr().out)
            assert printed == verdict_json(on_chain.verdict)
        assert trustnode_main(["verdict", trace_id, "--dir", str(audited.directory)]) == 0
        text = capsys.readouterr().out
        assert f"trace {trace_id}: {verdict}" in text
        assert (f"first error: step {first_error}" in text) == (first_error >= 0)

        record = _trace_record(coordinator, trace_id)
        assert record["state"] == "finalized"
        assert (record["verdict"], record["first_error"]) == (
            verdict,
            None if first_error < 0 else first_error,
        )
    assert_no_tracebacks(network)


def _unbatched(
    messages: Sequence[tuple[str, GossipMessage, str]],
) -> Iterator[
    TraceAnnouncement | SegmentBundle | CommitMessage | RevealMessage | SealedRevealMessage
]:
    """Every message seen, the votes of a vote batch one by one."""
    for _, message, _ in messages:
        if isinstance(message, VoteBatch):
            yield from message.messages()
        else:
            yield message


def _messages_of(
    messages: Sequence[tuple[str, GossipMessage, str]], trace_id: str, kind: type[T]
) -> list[T]:
    return [
        message
        for message in _unbatched(messages)
        if isinstance(message, kind) and trace_id_of(message) == trace_id
    ]


def test_the_spy_sees_no_step_text_in_clear(audited: Audited) -> None:
    for secret in SECRETS:  # the secrets are really in the submitted traces
        assert any(secret in " ".join(_example(name)["steps"]) for name in EXPECTED), secret
    for trace_id in audited.trace_ids.values():
        assert _messages_of(audited.messages, trace_id, TraceAnnouncement)
        assert _messages_of(audited.messages, trace_id, SegmentBundle)
        assert _messages_of(audited.messages, trace_id, CommitMessage)
        assert _messages_of(audited.messages, trace_id, SealedRevealMessage)
    for topic, message, _ in audited.messages:
        encoded = encode_gossip_message(message)
        for secret in SECRETS:
            plain = secret.encode()
            assert plain not in encoded, (topic, message.kind, secret)
            assert plain.hex().encode() not in encoded, (topic, message.kind, secret)


async def _check_sealed_to_committees(audited: Audited) -> dict[str, set[int]]:
    """Assert each bundle item is sealed to an auditor sortition drew for its segment; returns
    the rounds seen per trace."""
    network = audited.network
    submitter = network.nodes[1].address
    chain = ChainClient(network.chain_rpc_url)
    rounds_seen: dict[str, set[int]] = {}
    try:
        context = ChainContext(LedgerClient(chain, network.ledger, network.registry))
        await context.start()
        for trace_id in audited.trace_ids.values():
            trace = await context.load(trace_id)
            assert trace is not None
            submission = trace.submission
            # Round-0 reveals in clear: the basis, published once round 1's commits closed.
            reveals0: dict[str, Reveal] = {
                m.reveal.auditor: m.reveal
                for m in _messages_of(audited.messages, trace_id, RevealMessage)
                if m.reveal.round == 0
            }
            sealed: dict[int, set[tuple[int, str]]] = {}
            for bundle in _messages_of(audited.messages, trace_id, SegmentBundle):
                assert bundle.sender == submitter
                assert recover_signer(compute_envelope_digest(bundle), bundle.signature) == (
                    submitter
                )
                assert (bundle.round == 0) == (bundle.basis == () == bundle.plan)
                basis = [reveals0[auditor] for auditor in bundle.basis]
                # A round-1 plan is the one the basis reveals give (committees drawn from it
                # are the reveals': tests/unit/test_consensus.py).
                if bundle.round == 1:
                    assert bundle.plan == compute_round_one_plan(
                        submission.seed, trace.tiers, submission.k, trace.snapshot, basis, DEVNET
                    )
                assignments = compute_round_assignments(
                    submission.seed, trace.tiers, submission.k, trace.snapshot, basis, DEVNET
                )
                for item in bundle.items:
                    committee = assignments.get((bundle.round, item.index), {})
                    assert item.recipient in committee, (trace_id, bundle.round, item.index)
                    sealed.setdefault(bundle.round, set()).add((item.index, item.recipient))
            round0 = compute_round_assignments(
                submission.seed, trace.tiers, submission.k, trace.snapshot, (), DEVNET
            )
            drawn = {(s, a) for (r, s), committee in round0.items() if r == 0 for a in committee}
            assert sealed.get(0) == drawn, trace_id  # and every drawn auditor got its segments
            rounds_seen[trace_id] = set(sealed)
    finally:
        await chain.close()
    return rounds_seen


def test_round_zero_votes_stay_sealed_until_round_one_commits_closed(audited: Audited) -> None:
    """Round 0's reveals go to the submitter sealed; in clear only once round 1 takes no more
    commits (the submitter publishes its basis then), so nobody in round 1 copies them."""
    for trace_id in audited.trace_ids.values():
        # In the order the spy received them.
        mine = [m for m in _unbatched(audited.messages) if trace_id_of(m) == trace_id]
        clear0 = [
            i for i, m in enumerate(mine) if isinstance(m, RevealMessage) and m.reveal.round == 0
        ]
        commits1 = [
            i for i, m in enumerate(mine) if isinstance(m, CommitMessage) and m.commit.round == 1
        ]
        sealed = _messages_of(audited.messages, trace_id, SealedRevealMessage)
        submitter = audited.network.nodes[1].address
        assert sealed and all(m.sealed.recipient == submitter for m in sealed)
        # No round-1 commit came after any round-0 reveal in clear. (A round 1 whose doubled
        # committees hold only round-0 abstainers asks nobody: its basis goes out at once.)
        assert max(commits1, default=-1) < min(clear0, default=len(mine)), trace_id


def test_every_segment_is_sealed_to_its_drawn_auditors(audited: Audited) -> None:
    rounds_seen = asyncio.run(_check_sealed_to_committees(audited))
    assert all(0 in rounds for rounds in rounds_seen.values())


# ---- networks B and C: the coordinator killed mid-round --------------------------------------


def _kill_mid_round(network: Network, coordinator: NetworkNode, name: str) -> tuple[str, str]:
    """Submit variants of example `name` until one is caught mid-round, then SIGKILL the
    coordinator; returns (trace id, the state it was killed in)."""
    with RpcClient(coordinator.rpc_url, timeout_s=RPC_TIMEOUT_S) as client:
        for attempt in range(5):
            trace = _example(name, tag=f"kill-{attempt}")
            trace_id = client.call("audit_submitTrace", {"trace": trace})["trace_id"]
            deadline = time.monotonic() + VERDICT_TIMEOUT_S
            while time.monotonic() < deadline:
                state = client.call("audit_getTrace", {"trace_id": trace_id})["state"]
                if state in MID_ROUND:
                    os.kill(coordinator.pid, signal.SIGKILL)
                    _CHILDREN[coordinator.pid].wait(timeout=10)
                    if not _read_chain(network, trace_id).verdict.is_final:
                        return trace_id, state
                    raise AssertionError(f"{trace_id[:10]} was final when its coordinator died")
                if state in ("finalized", "failed"):
                    break  # the round was too quick to catch: try another trace
                time.sleep(KILL_POLL_S)
            else:
                raise AssertionError(f"{trace_id[:10]} never reached a round")
    raise AssertionError("no trace was caught mid-round in 5 attempts")


def _restart(node: NetworkNode) -> tuple[subprocess.Popen[bytes], NetworkNode]:
    """The node's process again, with the command and config `start_network` used; returns
    once it wrote its new node.json (the old one is removed first)."""
    (node.config.parent / "node.json").unlink(missing_ok=True)
    process = _spawn_node(node.config, "INFO")
    try:
        return process, asyncio.run(_wait_for_node(node.index, process, node.config, 60.0))
    except BaseException:
        _stop(process)
        raise


def _stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM this one process (then SIGKILL if it hangs) and reap it."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    _CHILDREN.pop(process.pid, None)


def _slow_rounds(absent: int, nodes: int, **audit: float) -> list[dict[str, Any]]:
    """Node `absent` never votes, so a round it is drawn in lasts its windows."""
    settings: list[dict[str, Any]] = [{"audit": dict(audit)} for _ in range(nodes)]
    settings[absent - 1]["audit"]["behaviour"] = "absent"
    return settings


def test_a_coordinator_killed_mid_round_resumes_after_restart(tmp_path: Path) -> None:
    directory = tmp_path / "devnet"
    settings = _slow_rounds(4, 4, commit_window_s=4.0, reveal_window_s=4.0)
    network = asyncio.run(start_network(directory, 4, node_settings=settings))
    restarted: subprocess.Popen[bytes] | None = None
    try:
        coordinator = network.nodes[1]
        trace_id, killed_in = _kill_mid_round(network, coordinator, "flawed-arithmetic")
        restarted, node = _restart(coordinator)
        assert node.pid == restarted.pid != coordinator.pid
        wait_for(
            "the restarted node on the mesh",
            lambda: _on_full_mesh(node) or None,
            MESH_TIMEOUT_S,
        )
        verdict = _final_verdict(node, trace_id)
        assert (verdict["verdict"], verdict["first_error"]) == EXPECTED["flawed-arithmetic"]
        on_chain = _read_chain(network, trace_id)
        assert len(on_chain.submissions) == 1, on_chain.submissions
        assert len(on_chain.finalizations) == 1, on_chain.finalizations
        assert on_chain.finalizers == [coordinator.address]  # itself, not a stalled-trace rescue
        record = wait_for(
            "node 2's store to say finalized",
            lambda: ((r := _trace_record(node, trace_id))["state"] == "finalized" and r) or None,
            10.0,
        )
        assert record["verdict"] == "FLAWED" and record["first_error"] == 0
        states = [entry["state"] for entry in record["history"]]
        assert killed_in in states and states[-1] == "finalized"
        assert states.count("submitted") == 1
        log = coordinator.log.read_text(encoding="utf-8", errors="replace")
        assert log.count("audit pipeline running") == 2  # the first life and the restart
    finally:
        if restarted is not None:
            _stop(restarted)
        stop_network(directory)


def _on_full_mesh(node: NetworkNode) -> bool:
    """At least one peer carries every topic to and from `node`."""
    peers = rpc_call(node.rpc_url, "node_peers")
    return any(set(p["mesh_topics"]) == set(TOPICS) for p in peers)


def _round0_complete(messages: Sequence[tuple[str, GossipMessage, str]], trace_id: str) -> bool:
    """Every auditor the round-0 bundles were sealed to has revealed its round-0 votes (sealed
    to the coordinator: the spy sees only that it did)."""
    recipients = {
        item.recipient
        for bundle in _messages_of(messages, trace_id, SegmentBundle)
        if bundle.round == 0
        for item in bundle.items
    }
    revealed = {m.sealed.auditor for m in _messages_of(messages, trace_id, SealedRevealMessage)}
    return bool(recipients) and recipients <= revealed


async def _kill_after_round0(network: Network, coordinator: NetworkNode) -> str:
    """Submit flawed-arithmetic; once its round 0 is complete (as a spy sees it), SIGKILL its
    coordinator; returns the trace id."""
    recorder = GossipRecorder()
    spy = await _start_spy(network, recorder)
    try:
        trace_id = await asyncio.to_thread(_submit, coordinator, _example("flawed-arithmetic"))
        await recorder.wait_until(
            f"complete round 0 of {trace_id[:10]}",
            lambda: _round0_complete(recorder.messages, trace_id),
            VERDICT_TIMEOUT_S,
        )
        os.kill(coordinator.pid, signal.SIGKILL)
        await asyncio.to_thread(_CHILDREN[coordinator.pid].wait, 10)
    finally:
        await spy.stop()
    return trace_id


def test_a_stalled_trace_is_finalized_by_another_node(tmp_path: Path) -> None:
    """The coordinator dies once round 0 is complete, after its bundles were delivered (a
    coordinator killed before delivering leaves its auditors nothing to judge), holding the
    only readable copy of the round-0 reveals: the auditors make their own public, and a
    bystander finalizes from them."""
    directory = tmp_path / "devnet"
    # Bystanders finalize a trace 5 s after they first saw it.
    settings: list[dict[str, Any]] = [{"audit": {"stall_timeout_s": 5.0}}] * 4
    network = asyncio.run(start_network(directory, 4, node_settings=settings))
    try:
        coordinator = network.nodes[1]
        trace_id = asyncio.run(_kill_after_round0(network, coordinator))
        # Round 1 and finalizing take the coordinator several gossip round trips: not done yet.
        assert not _read_chain(network, trace_id).verdict.is_final
        _final_verdict(network.nodes[0], trace_id)
        on_chain = _read_chain(network, trace_id)
        assert len(on_chain.submissions) == 1 and len(on_chain.finalizations) == 1
        finalizer = next(n for n in network.nodes if n.address == on_chain.finalizers[0])
        assert finalizer is not coordinator
        assert "stalled: finalizing it" in finalizer.log.read_text(encoding="utf-8")
        published = [
            node
            for node in network.nodes
            if "our round-0 reveal made public" in node.log.read_text(encoding="utf-8")
        ]
        assert published and coordinator not in published
        assert (on_chain.verdict.verdict.name, on_chain.verdict.first_error) == (
            EXPECTED["flawed-arithmetic"]
        )
    finally:
        stop_network(directory)
