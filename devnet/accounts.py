"""Deterministic development accounts: the ones Anvil funds from its default mnemonic.

Account 0 deploys; accounts 1..N are the devnet's auditors. These keys are public knowledge:
never use them anywhere but a local devnet.
"""

from __future__ import annotations

from functools import cache

from eth_account import Account

DEV_MNEMONIC = "test test test test test test test test test test test junk"
#: Anvil funds this many accounts by default.
DEV_ACCOUNT_COUNT = 10


@cache
def dev_private_key(index: int) -> str:
    """0x-prefixed private key of dev account `index` (BIP-44 path m/44'/60'/0'/0/index)."""
    Account.enable_unaudited_hdwallet_features()
    account = Account.from_mnemonic(DEV_MNEMONIC, account_path=f"m/44'/60'/0'/0/{index}")
    return "0x" + bytes(account.key).hex()
