"""Assembling the pipeline services from the node's configuration."""

from __future__ import annotations

import asyncio
import logging

from auditors import ArithmeticChecker, FlipJudge, Judge
from node.chain import Sender
from node.chain.ledger import LedgerClient
from node.config import AuditSettings
from node.identity import NodeIdentity
from node.p2p.bridge import P2PNode
from node.pipeline.auditor import AuditorService
from node.pipeline.context import ChainContext
from node.pipeline.coordinator import CoordinatorService
from node.pipeline.publisher import VotePublisher
from node.pipeline.router import GossipRouter
from node.pipeline.session import Timing
from node.pipeline.sessions import Sessions
from node.pipeline.watcher import ChainWatcher
from node.store import Store
from protocol.gossip import Outcome, Verdict
from protocol.messages import GossipMessage
from protocol.params import DEVNET

logger = logging.getLogger(__name__)

_STARTING = Verdict(Outcome.IGNORE, "node starting: chain context not loaded yet")


def make_judge(behaviour: str) -> Judge | None:
    """The tier-1 checker, honest or flipped, or None for an absent auditor (until the
    auditor-tiers issue adds the other tiers)."""
    if behaviour == "absent":
        return None
    honest = ArithmeticChecker()
    return FlipJudge(honest) if behaviour == "flip" else honest


def _ignore_while_starting(message: GossipMessage) -> Verdict:
    return _STARTING


class Pipeline:
    """Every pipeline service of one node; constructed without I/O, started by `run`."""

    def __init__(
        self,
        store: Store,
        p2p: P2PNode,
        ledger: LedgerClient,
        identity: NodeIdentity,
        settings: AuditSettings,
        *,
        from_block: int = 0,
    ) -> None:
        timing = Timing(
            segment_wait_s=settings.segment_wait_s,
            commit_window_s=settings.commit_window_s,
            reveal_window_s=settings.reveal_window_s,
            stall_timeout_s=settings.stall_timeout_s,
            fixed_phases=settings.fixed_phases,
        )
        self.context = ChainContext(ledger, from_block=from_block)
        self.sessions = Sessions(self.context, store, DEVNET, timing)
        self.router = GossipRouter(self.sessions, store, p2p, identity.address)
        self.publisher = VotePublisher(
            p2p, batching=settings.batching, linger_s=settings.vote_linger_s
        )
        self.auditor = AuditorService(
            self.router, store, self.publisher, identity, make_judge(settings.behaviour)
        )
        self.coordinator = CoordinatorService(
            store, self.router, p2p, ledger, identity, settings.fee_wei, batching=settings.batching
        )
        self.watcher = ChainWatcher(self.sessions, ledger, Sender.from_key(identity.account_key))
        p2p.validator = _ignore_while_starting

    def on_trace_accepted(self, trace_id: str) -> None:
        self.coordinator.on_trace_accepted(trace_id)

    async def run(self, p2p_up: asyncio.Event) -> None:
        await p2p_up.wait()
        await self.context.start()
        self.router.attach()
        logger.info("audit pipeline running")
        async with asyncio.TaskGroup() as services:
            services.create_task(self.router.run(), name="router")
            services.create_task(self.publisher.run(), name="publisher")
            services.create_task(self.auditor.run(), name="auditor")
            services.create_task(self.coordinator.run(), name="coordinator")
            services.create_task(self.watcher.run(), name="watcher")
