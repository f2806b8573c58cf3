"""Fixtures that start real processes on 127.0.0.1 and stop them by process id."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from devnet.accounts import dev_private_key
from devnet.anvil import AnvilProcess, start_anvil, stop_anvil
from devnet.deployment import deploy_contracts, register_dev_auditors
from node.chain import ChainClient, Sender
from node.chain.ledger import LedgerClient

#: Dev auditors registered on the `chain` fixture's contracts (accounts 1-5).
CHAIN_AUDITORS = 5


@pytest.fixture
def anvil(tmp_path: Path) -> Iterator[AnvilProcess]:
    process = start_anvil(tmp_path / "anvil")
    try:
        yield process
    finally:
        stop_anvil(process.pid)


@dataclass(frozen=True)
class Chain:
    """Anvil with the Registry and the Ledger deployed and `CHAIN_AUDITORS` auditors staked."""

    rpc_url: str
    registry: str
    ledger: str
    auditors: tuple[str, ...]


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Chain]:
    """One deployed chain per test module (deploying takes seconds; modules do not share)."""
    anvil = start_anvil(tmp_path_factory.mktemp("chain"))

    async def deploy() -> Chain:
        client = ChainClient(anvil.rpc_url)
        try:
            deployer = Sender.from_key(dev_private_key(0))
            registry, ledger, _ = await deploy_contracts(client, deployer)
            registered = await register_dev_auditors(
                LedgerClient(client, ledger, registry), CHAIN_AUDITORS
            )
            return Chain(anvil.rpc_url, registry, ledger, tuple(a.address for a in registered))
        finally:
            await client.close()

    try:
        yield asyncio.run(deploy())
    finally:
        stop_anvil(anvil.pid)
