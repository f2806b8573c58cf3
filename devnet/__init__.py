"""Local development network: Anvil, deployment, dev accounts, direct on-chain audits, the demo."""
