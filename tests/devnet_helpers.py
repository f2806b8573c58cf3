"""What the devnet integration tests share: RPC calls to nodes and polling for their progress.

The nodes and the chain have no push channel to a test, so a test polls, with a timeout.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

from devnet.network import Network
from node.rpc_client import RpcClient

T = TypeVar("T")

RPC_TIMEOUT_S = 10.0
POLL_S = 0.05


def rpc_call(url: str, method: str, params: dict[str, Any] | None = None) -> Any:
    with RpcClient(url, timeout_s=RPC_TIMEOUT_S) as client:
        return client.call(method, params)


def wait_for(what: str, check: Callable[[], T | None], timeout_s: float) -> T:
    """`check()` once it is not None; AssertionError naming `what` after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = check()
        if value is not None:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout_s:g} s")
        time.sleep(POLL_S)


def final_verdict(url: str, trace_id: str, timeout_s: float) -> dict[str, Any]:
    """The node's `audit_getVerdict` answer (read from the chain) once it is final."""

    def check() -> dict[str, Any] | None:
        verdict: dict[str, Any] = rpc_call(url, "audit_getVerdict", {"trace_id": trace_id})
        return verdict if verdict["is_final"] else None

    return wait_for(f"final verdict of {trace_id[:10]}", check, timeout_s)


def assert_no_tracebacks(network: Network) -> None:
    for node in network.nodes:
        log = node.log.read_text(encoding="utf-8", errors="replace")
        assert "Traceback" not in log, f"node {node.index}:\n{log[-4000:]}"
