"""Local development network: dev accounts and the demo (Anvil and node processes next)."""
