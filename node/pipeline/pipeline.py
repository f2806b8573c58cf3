"""Assembling the pipeline services from the node's configuration."""

from __future__ import annotations

import asyncio
import logging
import random
import time

from auditors import AsyncJudge, Judge, Tier1Checker
from auditors.adversaries import Observe, make_async_adversary
from auditors.human import HumanReviewJudge, ReviewClient
from auditors.oracle import LayoutOf, OracleConfigError, OracleJudge
from auditors.tiers import TieredJudge
from node.chain import Sender
from node.chain.ledger import LedgerClient
from node.config import AuditSettings
from node.identity import NodeIdentity
from node.p2p.bridge import P2PNode
from node.pipeline.auditor import AuditorService
from node.pipeline.canaries import CanaryService
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
from protocol.models import Segment, Tier, Vote
from protocol.params import DEVNET

logger = logging.getLogger(__name__)

_STARTING = Verdict(Outcome.IGNORE, "node starting: chain context not loaded yet")


def make_judge(
    settings: AuditSettings,
    llm: AsyncJudge | None = None,
    reviews: ReviewClient | None = None,
    observe: Observe | None = None,
    *,
    auditor: str | None = None,
    layout_of: LayoutOf | None = None,
) -> AsyncJudge | None:
    """The node's judges by tier (its tier-1 checkers; the LLM evaluator and the human review
    queue when it has them), under the configured behaviour; None for an absent auditor.
    `observe` gives a copycat the votes it has seen revealed on a segment.

    With `settings.oracle` (experiments only) an oracle judge replaces them all; it needs this
    node's `auditor` address and `layout_of`, the on-chain layouts, or OracleConfigError."""
    honest = TieredJudge(_judges_by_tier(settings, llm, reviews, auditor, layout_of))
    secret = None if settings.bloc_secret is None else bytes.fromhex(settings.bloc_secret[2:])
    return make_async_adversary(
        settings.behaviour,
        honest,
        rng=random.Random(settings.seed),
        observe=observe,
        bloc_secret=secret,
        bloc_fraction=settings.bloc_fraction,
        copycat_fallback=settings.copycat_fallback,
    )


def _judges_by_tier(
    settings: AuditSettings,
    llm: AsyncJudge | None,
    reviews: ReviewClient | None,
    auditor: str | None,
    layout_of: LayoutOf | None,
) -> dict[Tier, Judge | AsyncJudge]:
    oracle = settings.oracle
    if oracle is not None:
        # A labelled simulation, never a deployment judge. Tier 1 is asked first for a segment
        # of any tier, and an oracle's abstention (no label) is final: one entry serves them all.
        if auditor is None or layout_of is None:
            raise OracleConfigError("an oracle judge needs the auditor address and layout_of")
        judge = OracleJudge(oracle.labels, oracle.accuracy, oracle.seed, auditor, layout_of)
        return {Tier.CHECKER: judge}
    judges: dict[Tier, Judge | AsyncJudge] = {}
    if settings.checkers:
        judges[Tier.CHECKER] = Tier1Checker()
    if llm is not None:
        judges[Tier.LLM] = llm
    if settings.human_review and reviews is not None:
        judges[Tier.HUMAN] = HumanReviewJudge(reviews, settings.review_deadline_s)
    return judges


def _clock_ms() -> int:
    return time.time_ns() // 1_000_000


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
        llm: AsyncJudge | None = None,
        reviews: ReviewClient | None = None,
        from_block: int = 0,
    ) -> None:
        """`llm`: the node's LLM evaluator (see `node.llm.judge.open_llm_judge`), `reviews` its
        human review queue, if it has them."""
        timing = Timing(
            segment_wait_s=settings.segment_wait_s,
            commit_window_s=settings.commit_window_s,
            reveal_window_s=settings.reveal_window_s,
            stall_timeout_s=settings.stall_timeout_s,
            fixed_phases=settings.fixed_phases,
        )
        self.context = ChainContext(ledger, from_block=from_block)
        self.sessions = Sessions(self.context, store, DEVNET, timing)
        self.publisher = VotePublisher(
            p2p,
            batching=settings.batching,
            linger_s=settings.vote_linger_s,
            max_linger_s=settings.vote_linger_max_s,
            traces_in_flight=self.sessions.open_rounds,
        )
        self.router = GossipRouter(
            self.sessions,
            store,
            p2p,
            identity.address,
            vote_delay_s=self.publisher.linger_s,
            x25519=identity.x25519,
        )
        self.auditor = AuditorService(
            self.router,
            store,
            self.publisher,
            identity,
            make_judge(
                settings,
                llm,
                reviews,
                self._observe,
                auditor=identity.address,
                layout_of=self._layout_of,
            ),
        )
        self.coordinator = CoordinatorService(
            store,
            self.router,
            p2p,
            self.publisher,
            ledger,
            identity,
            settings.fee_wei,
            batching=settings.batching,
            adaptive_admission=settings.adaptive_admission,
        )
        self.canaries = CanaryService(
            store, self.coordinator.on_trace_accepted, settings.canary_rate, clock_ms=_clock_ms
        )
        self.coordinator.finalized_listeners.append(self.canaries.on_finalized)
        self.watcher = ChainWatcher(self.sessions, ledger, Sender.from_key(identity.account_key))
        p2p.validator = _ignore_while_starting

    def _observe(self, segment: Segment) -> list[Vote]:
        """Other auditors' revealed votes on `segment` this node holds (a copycat's view)."""
        session = self.sessions.get(segment.trace_id)
        if session is None:
            return []
        return [
            entry.vote
            for state in session.rounds.values()
            for auditor, reveal in state.reveals.items()
            if auditor != self.router.address
            for entry in reveal.votes
            if entry.segment == segment.index
        ]

    def _layout_of(self, trace_id: str) -> bytes | None:
        """The segment layout `trace_id` committed to on-chain (an oracle auditor's view)."""
        session = self.sessions.get(trace_id)
        return None if session is None else session.context.submission.layout

    def on_trace_accepted(self, trace_id: str) -> None:
        self.coordinator.on_trace_accepted(trace_id)
        self.canaries.on_trace_accepted(trace_id)

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
            services.create_task(self.canaries.run(), name="canaries")
            services.create_task(self.watcher.run(), name="watcher")
