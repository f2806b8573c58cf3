"""The audit pipeline: services that take a trace from RPC intake to an on-chain verdict.

`Pipeline` assembles them for the daemon: the gossip router (validation, vote bookkeeping,
anti-entropy), the auditor, the coordinator (intake, dispatch, rounds, finalize) and the chain
watcher, each one `run()` in the daemon's TaskGroup.
"""

from __future__ import annotations

from node.pipeline.pipeline import Pipeline, make_judge

__all__ = ["Pipeline", "make_judge"]
