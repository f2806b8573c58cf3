"""`oracle:P` auditors on a real devnet: four nodes answer every segment from the records' labels.

The records' labels contradict their arithmetic on purpose: the flawed record's labelled step
is correct arithmetic and the sound record holds a false equation, so the verdicts follow the
labels only if the oracle, not the tier-1 checker, judged every segment.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest

from devnet.network import Network, start_network, stop_network
from node.chain import ChainClient
from node.chain.ledger import LedgerClient, OnChainVerdict
from node.oracle_labels import write_oracle_labels
from protocol.hdag import build_hdag
from protocol.ids import compute_trace_id
from protocol.layout import compute_layout_levels, compute_layout_steps, compute_segment_layout
from protocol.models import Level, SegmentVerdict, Trace
from tests.devnet_helpers import assert_no_tracebacks, final_verdict, rpc_call

VERDICT_TIMEOUT_S = 60.0
FLAWED = {
    "id": "oracle-flawed",
    "source": "test/oracle",
    "problem": "Tom has 3 bags of 4 apples and eats 2. How many are left?",
    "steps": [
        "Tom has 3 * 4 = 12 apples.",
        "He eats 2, so 12 - 2 = 10 remain.",
        "The answer is 10.",
    ],
    "label": 1,
}
SOUND = {
    "id": "oracle-sound",
    "source": "test/oracle",
    "problem": "Ana has 5 pens and buys 6 more. How many does she have?",
    "steps": ["Ana has 5 + 6 = 12 pens.", "The answer is 12."],
    "label": -1,
}


def _trace(record: dict[str, Any]) -> Trace:
    return Trace.model_validate_json(json.dumps(record))


def _expected_segments(record: dict[str, Any]) -> tuple[SegmentVerdict, ...]:
    """INVALID exactly on the labelled step and its operations, from the committed layout."""
    layout = compute_segment_layout(build_hdag(_trace(record)))
    places = zip(compute_layout_levels(layout), compute_layout_steps(layout), strict=True)
    return tuple(
        SegmentVerdict.INVALID
        if level in (Level.STEP, Level.OPERATION) and step == record["label"]
        else SegmentVerdict.VALID
        for level, step in places
    )


@pytest.fixture(scope="module")
def network(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Network]:
    directory = tmp_path_factory.mktemp("oracle")
    labels = directory / "labels.json"
    write_oracle_labels([_trace(FLAWED), _trace(SOUND)], labels)
    oracle = {"labels_file": str(labels), "accuracy": 1.0, "seed": 7}
    settings: list[dict[str, Any]] = [{"audit": {"oracle": oracle}} for _ in range(4)]
    network = asyncio.run(start_network(directory / "devnet", 4, node_settings=settings))
    try:
        yield network
    finally:
        stop_network(directory / "devnet")


async def _on_chain(network: Network, trace_id: str) -> OnChainVerdict:
    chain = ChainClient(network.chain_rpc_url)
    try:
        return await LedgerClient(chain, network.ledger, network.registry).verdict_of(trace_id)
    finally:
        await chain.close()


def test_oracle_auditors_at_p1_give_the_labelled_verdicts(network: Network) -> None:
    submitter = network.nodes[0]
    expected = {}
    for record, verdict, first_error in ((FLAWED, "FLAWED", 1), (SOUND, "SOUND", -1)):
        result = rpc_call(submitter.rpc_url, "audit_submitTrace", {"trace": record})
        # The labels file is keyed by the id of the record exactly as submitted.
        assert result["trace_id"] == compute_trace_id(_trace(record))
        expected[result["trace_id"]] = (verdict, first_error, _expected_segments(record))
    assert SegmentVerdict.INVALID in expected[compute_trace_id(_trace(FLAWED))][2]
    for trace_id, (verdict, first_error, segments) in expected.items():
        reported = final_verdict(submitter.rpc_url, trace_id, VERDICT_TIMEOUT_S)
        assert (reported["verdict"], reported["first_error"]) == (verdict, first_error)
        on_chain = asyncio.run(_on_chain(network, trace_id))
        assert (on_chain.verdict.name, on_chain.first_error) == (verdict, first_error)
        assert on_chain.segment_verdicts == segments
    assert_no_tracebacks(network)
