"""The node: CLI, chain client, durable store, libp2p bridge (the daemon wiring them comes next)."""
