"""The human tier end to end: a node whose auditor registered HUMAN, reviews answered over RPC.

Four node processes on a devnet, all on 127.0.0.1; only node 4 registers the HUMAN tier (with
CHECKER and LLM) and runs a review queue. No node has an LLM evaluator. A prose trace submitted
to node 1 routes its goal and strategy to the HUMAN tier, where node 4 is the whole committee
(its stake is the tier's stake, so sortition draws it with probability 1). What its checkers
cannot decide waits in its queue (`review_listPending`) for a human (`review_submit`). Steps the
checkers cannot judge either are abstained on by every LLM-tier auditor and escalate to the
HUMAN tier in round 1, so the human is asked in both rounds.

A lone auditor's vote decides its segment: quorum and supermajority are fractions of the
committee's stake, and node 4 holds all of it. So answered reviews make the trace SOUND, and
unanswered ones abstain at their deadline, leave their segments UNRESOLVED and the trace
INCONCLUSIVE, yet final (a doubled round-1 committee drops the round-0 members that abstained,
so an unanswered goal is not asked again).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from devnet.deployment import DEFAULT_TIERS
from devnet.network import Network, NetworkNode, start_network, stop_network
from node.chain import ChainClient
from node.chain.ledger import LedgerClient
from node.pipeline.context import ChainContext, TraceContext
from node.rpc.errors import ErrorCode
from node.rpc_client import RpcCallError
from protocol.consensus import compute_round_assignments
from protocol.hdag import build_hdag
from protocol.models import Hdag, Level, Segment, Tier, Trace
from protocol.params import DEVNET
from protocol.segments import build_segments
from tests.devnet_helpers import assert_no_tracebacks, rpc_call, wait_for

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "traces" / "sound-free-text.json"
NODES = 4
HUMAN_NODE = 4
#: The human's time per review; every node's commit window outlasts it, and the coordinator's
#: is the one that counts (phases are each node's own view).
REVIEW_DEADLINE_S = 8.0
COMMIT_WINDOW_S = 20.0
#: Two rounds, each bounded by a review deadline when nobody answers.
VERDICT_TIMEOUT_S = 60.0


@pytest.fixture(scope="module")
def network(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Network]:
    directory = tmp_path_factory.mktemp("human-review") / "devnet"
    audit: dict[str, Any] = {"commit_window_s": COMMIT_WINDOW_S}
    settings: list[dict[str, Any]] = [{"audit": audit} for _ in range(NODES)]
    settings[HUMAN_NODE - 1] = {
        "audit": {**audit, "human_review": True, "review_deadline_s": REVIEW_DEADLINE_S}
    }
    tiers = [DEFAULT_TIERS] * NODES
    tiers[HUMAN_NODE - 1] = (*DEFAULT_TIERS, Tier.HUMAN)
    network = asyncio.run(start_network(directory, NODES, node_settings=settings, node_tiers=tiers))
    try:
        yield network
    finally:
        stop_network(directory)


# ---- helpers --------------------------------------------------------------------------------


def _trace(tag: str) -> dict[str, Any]:
    """The example with its `model` changed, so each test audits a trace new to the chain."""
    trace: dict[str, Any] = json.loads(EXAMPLE.read_text(encoding="utf-8"))
    trace["model"] = f"example-{tag}"
    return trace


def _call(node: NetworkNode, method: str, params: dict[str, Any] | None = None) -> Any:
    # review_listPending is private and review_submit a write: without a configured token a
    # loopback node serves them to anyone on the host.
    return rpc_call(node.rpc_url, method, params)


def _pending(node: NetworkNode, trace_id: str) -> list[dict[str, Any]]:
    reviews: list[dict[str, Any]] = _call(node, "review_listPending", {"limit": 100})["reviews"]
    return [review for review in reviews if review["trace_id"] == trace_id]


def _verdict(node: NetworkNode, trace_id: str) -> dict[str, Any]:
    verdict: dict[str, Any] = _call(node, "audit_getVerdict", {"trace_id": trace_id})
    return verdict


async def _load_context(network: Network, trace_id: str) -> TraceContext | None:
    chain = ChainClient(network.chain_rpc_url)
    try:
        context = ChainContext(LedgerClient(chain, network.ledger, network.registry))
        await context.start()
        return await context.load(trace_id)
    finally:
        await chain.close()


def _on_chain(network: Network, trace_id: str) -> TraceContext:
    """The trace's submission, stake snapshot and segment tiers, as every node reads them."""
    context = asyncio.run(_load_context(network, trace_id))
    assert context is not None, f"{trace_id[:10]} is not on-chain"
    return context


def _human_segments(network: Network, trace_id: str, hdag: Hdag) -> tuple[int, ...]:
    """The segments the HUMAN tier judges in round 0; asserts node 4 is their whole committee."""
    context = _on_chain(network, trace_id)
    human = tuple(i for i, tier in enumerate(context.tiers) if tier is Tier.HUMAN)
    strategic = {
        i for i, node in enumerate(hdag.nodes) if node.level in {Level.GOAL, Level.STRATEGY}
    }
    assert human and set(human) == strategic, (human, strategic)
    reviewer = network.nodes[HUMAN_NODE - 1].address.lower()
    assert [a.address for a in context.snapshot if Tier.HUMAN in a.tiers] == [reviewer]
    submission = context.submission
    round0 = compute_round_assignments(
        submission.seed, context.tiers, submission.k, context.snapshot, (), DEVNET
    )
    assert all(set(round0[(0, i)]) == {reviewer} for i in human)
    return human


def _assert_context_pack(review: dict[str, Any], segments: tuple[Segment, ...], text: str) -> None:
    """The review shows its segment's context pack, exactly, and not the whole reasoning."""
    segment = segments[review["index"]]
    assert review["level"] == segment.level
    assert review["problem"] == segment.problem
    assert review["text"] == segment.text
    assert tuple(review["context"]) == segment.context
    shown = "\n".join([review["text"], *review["context"]])
    assert len(shown) < len(text) and review["text"] in text


def _local_segments(trace: dict[str, Any], tiers: tuple[Tier, ...]) -> tuple[Segment, ...]:
    model = Trace.model_validate(trace)
    return build_segments(model, build_hdag(model), tiers)


def _revealers(node: NetworkNode, trace_id: str) -> dict[int, list[str]]:
    """Round -> the auditors whose complete reveals the coordinator tallied."""
    history = _call(node, "audit_getTrace", {"trace_id": trace_id})["history"]
    return {
        entry["details"]["round"]: entry["details"]["revealers"]
        for entry in history
        if entry["state"] == "tallied"
    }


# ---- tests ----------------------------------------------------------------------------------


def test_answered_reviews_decide_the_human_tier_segments(network: Network) -> None:
    submitter, reviewer = network.nodes[0], network.nodes[HUMAN_NODE - 1]
    trace = _trace("answered")
    hdag = build_hdag(Trace.model_validate(trace))
    result = _call(submitter, "audit_submitTrace", {"trace": trace})
    trace_id = result["trace_id"]
    assert trace_id == hdag.trace_id
    started = time.monotonic()

    first = wait_for("a review on node 4", lambda: _pending(reviewer, trace_id) or None, 30.0)
    human = _human_segments(network, trace_id, hdag)
    segments = _local_segments(trace, _on_chain(network, trace_id).tiers)
    assert {review["round"] for review in first} == {0}

    answered: set[tuple[int, int]] = set()

    def answer_until_final() -> dict[str, Any] | None:
        for review in _pending(reviewer, trace_id):
            _assert_context_pack(review, segments, hdag.text)
            result = _call(
                reviewer,
                "review_submit",
                {"review_id": review["review_id"], "vote": "VALID", "confidence": 0.9},
            )
            assert result["confidence_bps"] == 9_000
            answered.add((review["round"], review["index"]))
        verdict = _verdict(submitter, trace_id)
        return verdict if verdict["is_final"] else None

    verdict = wait_for("the on-chain verdict", answer_until_final, VERDICT_TIMEOUT_S)
    elapsed = time.monotonic() - started

    # Round 0 asked the human about HUMAN-tier segments its checkers could not decide (the goal
    # at least); round 1 about the steps nobody could judge, escalated to the HUMAN tier.
    round0 = {index for round_, index in answered if round_ == 0}
    goal = next(i for i, node in enumerate(hdag.nodes) if node.level is Level.GOAL)
    assert goal in round0 and round0 <= set(human), (answered, human)
    assert any(round_ == 1 for round_, _ in answered), answered
    # Node 4 alone holds the HUMAN tier's stake, so its answers are the segments' verdicts.
    assert verdict["verdict"] == "SOUND", verdict
    assert all(verdict["segment_verdicts"][i] == "VALID" for _, i in answered), verdict
    revealers = _revealers(submitter, trace_id)
    assert all(reviewer.address.lower() in revealers[r] for r, _ in answered), revealers
    # Answered at once: nothing waited for a review deadline.
    assert elapsed < 2 * REVIEW_DEADLINE_S, elapsed
    assert _pending(reviewer, trace_id) == []
    assert_no_tracebacks(network)


def test_an_unanswered_review_abstains_and_the_trace_still_finalizes(network: Network) -> None:
    submitter, reviewer = network.nodes[0], network.nodes[HUMAN_NODE - 1]
    trace = _trace("unanswered")
    hdag = build_hdag(Trace.model_validate(trace))
    trace_id = _call(submitter, "audit_submitTrace", {"trace": trace})["trace_id"]

    seen: dict[str, dict[str, Any]] = {}

    def watch_until_final() -> dict[str, Any] | None:
        seen.update((review["review_id"], review) for review in _pending(reviewer, trace_id))
        verdict = _verdict(submitter, trace_id)
        return verdict if verdict["is_final"] else None

    verdict = wait_for("the on-chain verdict", watch_until_final, VERDICT_TIMEOUT_S)

    human = _human_segments(network, trace_id, hdag)
    goal = next(i for i, node in enumerate(hdag.nodes) if node.level is Level.GOAL)
    asked = {(review["round"], review["index"]) for review in seen.values()}
    # The goal abstained in round 0 and stayed UNRESOLVED. Its round-1 committee is the doubled
    # HUMAN one less its round-0 members that did not vote: node 4 is not asked again.
    assert (0, goal) in asked and (1, goal) not in asked, asked
    assert {index for round_, index in asked if round_ == 0} <= set(human)
    assert verdict["verdict"] == "INCONCLUSIVE", verdict
    for _, index in asked:
        assert verdict["segment_verdicts"][index] == "UNRESOLVED", (index, verdict)
    # Node 4 still voted (ABSTAIN), after the deadline, inside the coordinator's commit window.
    revealers = _revealers(submitter, trace_id)
    assert all(reviewer.address.lower() in revealers[r] for r, _ in asked), revealers
    history = _call(submitter, "audit_getTrace", {"trace_id": trace_id})["history"]
    tallied0 = next(e["at_ms"] for e in history if e["state"] == "tallied")
    deadline0 = min(r["deadline_ms"] for r in seen.values() if r["round"] == 0)
    assert tallied0 >= deadline0
    # A late answer is refused, and nothing is left pending.
    with pytest.raises(RpcCallError) as refused:
        _call(
            reviewer,
            "review_submit",
            {"review_id": next(iter(seen)), "vote": "VALID", "confidence": 0.9},
        )
    assert refused.value.code == ErrorCode.REVIEW_EXPIRED
    assert _pending(reviewer, trace_id) == []
    assert_no_tracebacks(network)
