"""Deploying the contracts to a chain and registering staked auditors; the deployment file.

The deployment file (`deployment.json` in the devnet directory) is what every other command
reads to find the chain: chain id, RPC URL, contract addresses, and the dev auditors with their
keys. The keys are Anvil's public development keys: this file is for local devnets only.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from contracts import load_artifact
from devnet.accounts import DEV_ACCOUNT_COUNT, dev_private_key
from node.chain import ChainClient, Sender
from node.chain.client import checksum
from node.chain.ledger import LedgerClient
from node.identity import derive_identity
from protocol.models import Tier

DEPLOYMENT_FILE = "deployment.json"
ETHER = 10**18
#: Stakes of dev auditors: unequal on purpose, so stake weighting is exercised.
DEFAULT_STAKES_ETH = (10, 20, 30, 40, 50, 60, 70, 80, 90)
#: Anvil funds each dev account with 10,000 ETH; the rest pays gas and fees.
MAX_DEV_STAKE_ETH = 9_000
#: Tiers of a dev auditor unless the caller chooses them: tier-1 checkers and an LLM evaluator.
DEFAULT_TIERS: tuple[Tier, ...] = (Tier.CHECKER, Tier.LLM)
DEFAULT_MIN_FEE = ETHER // 1000
DEFAULT_DISPUTE_WINDOW_S = 3_600
#: Longer than the dispute window, so stake cannot flee a slash.
DEFAULT_UNBONDING_DELAY_S = 2 * DEFAULT_DISPUTE_WINDOW_S
MAX_DEV_AUDITORS = DEV_ACCOUNT_COUNT - 1  # account 0 deploys


@dataclass(frozen=True)
class DevAuditor:
    index: int
    address: str
    private_key: str
    stake: int
    tiers: tuple[int, ...]
    x25519_public: str
    peer_id: str


@dataclass(frozen=True)
class Deployment:
    chain_id: int
    rpc_url: str
    registry: str
    ledger: str
    deployer: str
    deployed_block: int
    min_fee: int
    dispute_window_s: int
    auditors: tuple[DevAuditor, ...] = field(default_factory=tuple)
    anvil_pid: int | None = None

    def save(self, directory: Path) -> Path:
        path = directory / DEPLOYMENT_FILE
        path.write_text(json.dumps(asdict(self), indent=1) + "\n", encoding="utf-8")
        return path

    @classmethod
    def load(cls, path: Path) -> Deployment:
        raw = json.loads(path.read_text(encoding="utf-8"))
        auditors = tuple(
            DevAuditor(**{**a, "tiers": tuple(a["tiers"])}) for a in raw.pop("auditors")
        )
        return cls(**raw, auditors=auditors)


async def deploy_contracts(
    chain: ChainClient,
    deployer: Sender,
    *,
    min_fee: int = DEFAULT_MIN_FEE,
    dispute_window_s: int = DEFAULT_DISPUTE_WINDOW_S,
    unbonding_delay_s: int = DEFAULT_UNBONDING_DELAY_S,
) -> tuple[str, str, int]:
    """Deploy Registry and Ledger and link them; returns (registry, ledger, block)."""
    registry_artifact, ledger_artifact = load_artifact("Registry"), load_artifact("Ledger")
    registry = await chain.deploy(
        registry_artifact.abi, registry_artifact.bytecode, deployer, unbonding_delay_s
    )
    if registry.contract_address is None:
        raise RuntimeError("Registry deployment returned no address")
    ledger = await chain.deploy(
        ledger_artifact.abi,
        ledger_artifact.bytecode,
        deployer,
        checksum(registry.contract_address),
        min_fee,
        dispute_window_s,
    )
    if ledger.contract_address is None:
        raise RuntimeError("Ledger deployment returned no address")
    contract = chain.contract(registry.contract_address, registry_artifact.abi)
    linked = await chain.transact(
        contract.functions.setLedger(checksum(ledger.contract_address)),
        deployer,
    )
    return registry.contract_address, ledger.contract_address, linked.block_number


def check_dev_stakes(stakes_eth: Sequence[int], count: int) -> None:
    """ValueError unless `stakes_eth` gives each of `count` dev auditors a whole-ETH stake that
    its dev account can pay."""
    if len(stakes_eth) != count:
        raise ValueError(f"{len(stakes_eth)} stakes for {count} dev auditors: give one each")
    for stake in stakes_eth:
        if not 1 <= stake <= MAX_DEV_STAKE_ETH:
            raise ValueError(f"a dev stake is 1 to {MAX_DEV_STAKE_ETH} ETH, not {stake}")


async def register_dev_auditors(
    ledger: LedgerClient,
    count: int,
    tiers: Sequence[Sequence[Tier]] | None = None,
    stakes_eth: Sequence[int] = DEFAULT_STAKES_ETH,
) -> tuple[DevAuditor, ...]:
    """Register dev accounts 1..count as auditors with unequal stakes.

    `tiers[i - 1]` are the tiers of auditor i; None gives every auditor `DEFAULT_TIERS`.
    `stakes_eth` cycles when shorter than `count` (the default stakes cover nine auditors).
    """
    if not 1 <= count <= MAX_DEV_AUDITORS:
        raise ValueError(f"between 1 and {MAX_DEV_AUDITORS} dev auditors, not {count}")
    if tiers is not None and len(tiers) != count:
        raise ValueError(f"tiers has {len(tiers)} entries for {count} dev auditors")
    auditors = []
    for index in range(1, count + 1):
        own_tiers = DEFAULT_TIERS if tiers is None else tuple(tiers[index - 1])
        key = dev_private_key(index)
        identity = derive_identity(key)
        stake = stakes_eth[(index - 1) % len(stakes_eth)] * ETHER
        sender = Sender.from_key(key)
        await ledger.register(sender, own_tiers, identity.x25519_public, identity.peer_id, stake)
        auditors.append(
            DevAuditor(
                index=index,
                address=sender.address,
                private_key=key,
                stake=stake,
                tiers=tuple(int(tier) for tier in own_tiers),
                x25519_public="0x" + identity.x25519_public.hex(),
                peer_id="0x" + identity.peer_id.hex(),
            )
        )
    return tuple(auditors)
