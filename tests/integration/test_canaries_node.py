"""Canaries on a real devnet: node 2 mixes a canary into each trace it accepts; node 1 always
votes against its judgement. The canaries are audited like any trace, the flipper's canary
record shows its failures, the honest auditors' records show none, and the flipper loses stake
through the normal incoherence rule."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from devnet.network import Network, start_network, stop_network
from node.chain import ChainClient
from node.chain.ledger import LedgerClient
from tests.devnet_helpers import rpc_call

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "traces"
TIMEOUT_S = 90.0
POLL_S = 0.1


@pytest.fixture(scope="module")
def network(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Network]:
    directory = tmp_path_factory.mktemp("canaries") / "devnet"
    settings: list[dict[str, Any]] = [
        {"audit": {"behaviour": "flip"}},
        {"audit": {"canary_rate": 1.0}},
        {},
        {},
    ]
    # The flipper stakes 30 of 100 ETH, so it sits on 90% of the committees (at 10 ETH it was
    # drawn on 30%, and now and then on no decisive canary segment at all) and the honest 70
    # still reach two thirds without it.
    network = asyncio.run(
        start_network(directory, 4, node_settings=settings, node_stakes_eth=(30, 40, 20, 10))
    )
    try:
        yield network
    finally:
        stop_network(directory)


async def _stakes(network: Network) -> dict[str, int]:
    chain = ChainClient(network.chain_rpc_url)
    try:
        ledger = LedgerClient(chain, network.ledger, network.registry)
        return {node.address: await ledger.stake_of(node.address) for node in network.nodes}
    finally:
        await chain.close()


def test_canaries_catch_a_flipping_auditor(network: Network) -> None:
    flipper, coordinator = network.nodes[0], network.nodes[1]
    before = asyncio.run(_stakes(network))
    for name in ("sound-arithmetic", "sound-apples"):
        trace = json.loads((EXAMPLES / f"{name}.json").read_text(encoding="utf-8"))
        rpc_call(coordinator.rpc_url, "audit_submitTrace", {"trace": trace})
    deadline = time.monotonic() + TIMEOUT_S
    status = rpc_call(coordinator.rpc_url, "node_status")["canaries"]
    while status["scored"] < 2:
        assert time.monotonic() < deadline, f"canaries not scored in time: {status}"
        time.sleep(POLL_S)  # the node has no push channel to the test: poll its status
        status = rpc_call(coordinator.rpc_url, "node_status")["canaries"]
    assert status["submitted"] == 2
    records = status["auditors"]
    assert records[flipper.address]["failed"] > 0, records
    for node in network.nodes[1:]:
        if node.address in records:
            assert records[node.address]["failed"] == 0, (node.index, records)
    # The canary votes against known answers were also against the verdict: slashed.
    after = asyncio.run(_stakes(network))
    assert after[flipper.address] < before[flipper.address]
    # Canaries are ordinary traces on the wire and in the coordinator's list.
    other = rpc_call(network.nodes[2].rpc_url, "node_status")["canaries"]
    assert other == {"submitted": 0, "scored": 0, "auditors": {}}
