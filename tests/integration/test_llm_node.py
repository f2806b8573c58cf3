"""A real node auditing through the embedded LLM backend (SmolLM2 on loopback, xllamacpp).

Four node processes on a devnet; node 4 runs the local LLM evaluator, the others tier-1
checkers only. A prose trace submitted to node 1 reaches an on-chain verdict, and node 4's
LLM judged segments on the way (its token counters in `node_status`). SmolLM2 judges near
chance, so the verdict itself is not asserted: the test checks the path, not the judge.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from devnet.network import Network, start_network, stop_network
from tests.devnet_helpers import rpc_call

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "traces" / "sound-free-text.json"
NODES = 4
LLM_NODE = 4
#: SmolLM2 on a busy 2-core machine: a few hundred ms per segment, two rounds.
VERDICT_TIMEOUT_S = 120.0
POLL_S = 0.1


@pytest.fixture(scope="module")
def network(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Network]:
    directory = tmp_path_factory.mktemp("llm-devnet")
    settings: list[dict[str, Any]] = [{} for _ in range(NODES)]
    settings[LLM_NODE - 1] = {"audit": {"llm": {"endpoint": "local"}}}
    network = asyncio.run(start_network(directory, NODES, node_settings=settings))
    try:
        yield network
    finally:
        stop_network(directory)


def test_a_node_audits_through_the_local_llm(network: Network) -> None:
    trace = json.loads(EXAMPLE.read_text(encoding="utf-8"))
    submitter, llm_node = network.nodes[0], network.nodes[LLM_NODE - 1]
    trace_id = rpc_call(submitter.rpc_url, "audit_submitTrace", {"trace": trace})["trace_id"]
    deadline = time.monotonic() + VERDICT_TIMEOUT_S
    verdict = rpc_call(submitter.rpc_url, "audit_getVerdict", {"trace_id": trace_id})
    while not verdict["is_final"]:
        assert time.monotonic() < deadline, "no on-chain verdict in time"
        time.sleep(POLL_S)  # the chain has no push channel to the test: poll
        verdict = rpc_call(submitter.rpc_url, "audit_getVerdict", {"trace_id": trace_id})
    assert verdict["verdict"] in {"SOUND", "FLAWED", "INCONCLUSIVE"}
    usage = rpc_call(llm_node.rpc_url, "node_status")["llm"]
    assert usage["requests"] > 0, usage
    assert usage["prompt_tokens"] > 0 and usage["completion_tokens"] > 0, usage
    # The nodes without an LLM report none.
    assert rpc_call(submitter.rpc_url, "node_status")["llm"] is None
