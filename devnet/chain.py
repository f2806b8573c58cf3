"""The devnet chain: Anvil started from node_modules, contracts deployed, auditors staked.

`start_chain` leaves a running Anvil and a deployment file in the devnet directory;
`stop_chain` stops exactly the Anvil that file names, by process id.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from devnet.accounts import dev_private_key
from devnet.anvil import DEV_CHAIN_ID, start_anvil, stop_anvil
from devnet.deployment import (
    DEFAULT_STAKES_ETH,
    DEPLOYMENT_FILE,
    Deployment,
    check_dev_stakes,
    deploy_contracts,
    register_dev_auditors,
)
from node.chain import ChainClient, Sender
from node.chain.ledger import LedgerClient
from protocol.models import Tier

DEFAULT_DEVNET_DIR = Path("devnet-data")


class DevnetError(Exception):
    """The devnet directory is in a state the command cannot work with."""


async def start_chain(
    directory: Path,
    auditors: int,
    *,
    tiers: Sequence[Sequence[Tier]] | None = None,
    stakes_eth: Sequence[int] | None = None,
) -> Deployment:
    """Start Anvil in `directory`, deploy, register `auditors` dev auditors, save the file.

    `tiers[i - 1]` are the tiers of auditor i and `stakes_eth[i - 1]` its stake in ETH; None:
    `register_dev_auditors`' defaults for all.
    """
    if (directory / DEPLOYMENT_FILE).exists():
        raise DevnetError(f"{directory} already holds a devnet: run `trustnode devnet down` first")
    if stakes_eth is not None:
        check_dev_stakes(stakes_eth, auditors)
    anvil = start_anvil(directory / "anvil")
    try:
        deployment = await _deploy_on(anvil.rpc_url, auditors, tiers, stakes_eth)
    except BaseException:
        stop_anvil(anvil.pid)
        raise
    deployment = Deployment(**{**deployment.__dict__, "anvil_pid": anvil.pid})
    deployment.save(directory)
    return deployment


async def _deploy_on(
    rpc_url: str,
    auditors: int,
    tiers: Sequence[Sequence[Tier]] | None,
    stakes_eth: Sequence[int] | None,
) -> Deployment:
    chain = ChainClient(rpc_url)
    try:
        deployer = Sender.from_key(dev_private_key(0))
        registry, ledger_address, block = await deploy_contracts(chain, deployer)
        ledger = LedgerClient(chain, ledger_address, registry)
        registered = await register_dev_auditors(
            ledger, auditors, tiers, DEFAULT_STAKES_ETH if stakes_eth is None else stakes_eth
        )
        settings = await ledger.settings()
        return Deployment(
            chain_id=DEV_CHAIN_ID,
            rpc_url=rpc_url,
            registry=registry,
            ledger=ledger_address,
            deployer=deployer.address,
            deployed_block=block,
            min_fee=settings.min_fee,
            dispute_window_s=settings.dispute_window_s,
            auditors=registered,
        )
    finally:
        await chain.close()


def load_deployment(directory: Path) -> Deployment:
    path = directory / DEPLOYMENT_FILE
    if not path.is_file():
        raise DevnetError(f"no devnet in {directory} (no {DEPLOYMENT_FILE}): run `devnet up`")
    return Deployment.load(path)


def stop_chain(directory: Path) -> Deployment:
    """Stop the Anvil the deployment file names and remove the file (state stays on disk)."""
    deployment = load_deployment(directory)
    if deployment.anvil_pid is not None:
        stop_anvil(deployment.anvil_pid)
    (directory / DEPLOYMENT_FILE).unlink()
    return deployment
