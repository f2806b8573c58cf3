"""The node: command-line tool today; the asyncio daemon (RPC, libp2p, chain, store) next."""
