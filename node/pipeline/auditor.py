"""The auditor service: judges the segments sortition assigned to this node, commits, reveals.

For each (trace, round) in which this node's account is assigned segments it waits for them
(gossip bundles, else a fetch from the submitter), opens and checks each one (sealed to us,
Merkle proof under the on-chain root, level as the on-chain layout declares), judges it, keeps
the votes and salt durably, publishes a signed commit, waits for the reveal phase and publishes
the reveal: in round 0 sealed to the trace's submitter, so that nobody seated in round 1 can
copy it. A segment it cannot obtain or check gets ABSTAIN: a reveal always covers every
assigned segment, because the Ledger cannot see a skipped one. After a restart the stored votes
are committed and revealed again, never re-judged. When a trace stalls with its round-0 reveals
still sealed, each auditor makes its own public, so that any node can finalize the trace.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections import OrderedDict
from collections.abc import Mapping

from auditors.human import AUDIT_ROUND
from auditors.judgement import AsyncJudge, Judgement
from node.identity import NodeIdentity
from node.pipeline.publisher import VotePublisher
from node.pipeline.router import GossipRouter, await_phase
from node.pipeline.session import AuditSession
from node.pipeline.sessions import Sessions
from node.sealing import SealingError, open_segment, seal_reveal
from node.store import OwnVote, Store
from protocol.encoding import keccak_hex, to_hex
from protocol.gossip import Phase
from protocol.layout import compute_layout_levels
from protocol.merkle import is_valid_merkle_proof
from protocol.messages import (
    CommitMessage,
    EncryptedSegment,
    RevealMessage,
    SealedRevealMessage,
    SegmentBundle,
    TraceAnnouncement,
)
from protocol.models import Reveal, Segment, Vote, VoteEntry
from protocol.votes import compute_confidence_bps, make_commit, make_reveal

logger = logging.getLogger(__name__)

#: Rounds judged at once; more wait (each holds only a few segments in memory).
MAX_CONCURRENT_ROUNDS = 256
MAX_REMEMBERED_ROUNDS = 65_536
_NO_RATIONALE = "0x" + "00" * 32
_REVEAL_OR_CLOSED = frozenset({Phase.REVEAL, Phase.CLOSED})
#: How often the open traces are checked for a stall that needs our sealed reveal made public.
STALL_CHECK_INTERVAL_S = 1.0
#: Share of `Timing.stall_timeout_s` after which a still-open trace's round-0 reveal is made
#: public: well after round 1's commits closed on a live trace (two windows and a segment
#: wait), and before the other nodes' finalize it as stalled (at the whole timeout).
STALL_PUBLISH_SHARE = 0.75


class AuditorService:
    """One job per (trace, round) in which this node's account is assigned segments."""

    def __init__(
        self,
        router: GossipRouter,
        store: Store,
        publisher: VotePublisher,
        identity: NodeIdentity,
        judge: AsyncJudge | None,
    ) -> None:
        """`judge` None: an absent auditor, which never votes (for experiments)."""
        self._router = router
        self._sessions: Sessions = router.sessions
        self._store = store
        self._publisher = publisher
        self._identity = identity
        self._judge = judge
        self._address = identity.address
        self._opened: dict[tuple[str, int], dict[int, Segment]] = {}
        self._jobs: asyncio.Queue[tuple[str, int]] = asyncio.Queue()
        #: Rounds already scheduled (bounded: sessions of finalized traces are gone anyway).
        self._started: OrderedDict[tuple[str, int], None] = OrderedDict()
        self._slots = asyncio.Semaphore(MAX_CONCURRENT_ROUNDS)
        router.dispatch_listeners.append(self._on_dispatch)

    # --- Intake --------------------------------------------------------------------------------

    def _on_dispatch(self, message: TraceAnnouncement | SegmentBundle) -> None:
        if isinstance(message, SegmentBundle):
            self._on_bundle(message)
            return
        # An announcement: if we are drawn in round 0, start waiting for our segments now, so
        # a lost bundle is fetched from the submitter after `segment_wait_s`.
        session = self._sessions.get(message.trace_id)
        if session is not None and self._address in session.assigned(0):
            self.schedule(message.trace_id, 0)

    def _on_bundle(self, bundle: SegmentBundle) -> None:
        session = self._sessions.get(bundle.trace_id)
        mine = [item for item in bundle.items if item.recipient == self._address]
        if session is None or not mine:
            return
        opened = self._opened.setdefault((bundle.trace_id, bundle.round), {})
        for item in mine:
            segment = self._open(session, item, bundle.trace_id)
            if segment is not None:
                opened[segment.index] = segment
        session.notify()
        self.schedule(bundle.trace_id, bundle.round)

    def _open(self, session: AuditSession, item: EncryptedSegment, trace_id: str) -> Segment | None:
        try:
            segment = open_segment(item, trace_id, self._identity.x25519, self._address)
        except SealingError as exc:
            logger.warning("segment %d of %s unusable: %s", item.index, trace_id[:10], exc)
            return None
        problem = _check_segment(session, segment)
        if problem is not None:
            logger.warning("segment %d of %s refused: %s", item.index, trace_id[:10], problem)
            return None
        return segment

    def schedule(self, trace_id: str, round_: int) -> None:
        """Audit this round if it is ours and not yet started (idempotent)."""
        if self._judge is not None and (trace_id, round_) not in self._started:
            self._started[(trace_id, round_)] = None
            while len(self._started) > MAX_REMEMBERED_ROUNDS:
                self._started.popitem(last=False)
            self._jobs.put_nowait((trace_id, round_))

    # --- Jobs ----------------------------------------------------------------------------------

    async def run(self) -> None:
        for own in await asyncio.to_thread(self._store.pending_own_votes, self._address):
            self.schedule(own.trace_id, own.round)
        async with asyncio.TaskGroup() as jobs:
            jobs.create_task(self._publish_stalled_reveals(), name="stalled-reveals")
            while True:
                trace_id, round_ = await self._jobs.get()
                await self._slots.acquire()
                jobs.create_task(self._job(trace_id, round_), name=f"audit-{trace_id[:10]}")

    async def _job(self, trace_id: str, round_: int) -> None:
        try:
            session = await self._sessions.open(trace_id)
            if session is not None and self._address in session.assigned(round_):
                await self._audit_round(session, round_)
        except Exception:  # outermost loop of one job: the node goes on with the others
            logger.exception("audit of %s round %d failed", trace_id[:10], round_)
        finally:
            self._opened.pop((trace_id, round_), None)
            self._slots.release()

    async def _audit_round(self, session: AuditSession, round_: int) -> None:
        own = await asyncio.to_thread(self._store.get_own_vote, session.trace_id, round_)
        if own is None:
            votes = await self._judge_round(session, round_)
            salt = to_hex(os.urandom(32))
            await asyncio.to_thread(self._store.put_own_vote, session.trace_id, round_, votes, salt)
            own = OwnVote(session.trace_id, round_, tuple(votes), salt)
        domain = self._sessions.chain.domain_separator
        key = self._identity.account_key
        commit = make_commit(key, session.trace_id, round_, own.votes, own.salt, domain)
        await self._publish(CommitMessage(commit=commit))
        await await_phase(self._router, session, round_, _REVEAL_OR_CLOSED)
        reveal = make_reveal(key, session.trace_id, round_, own.votes, own.salt, domain)
        sealed = self._seal_for_submitter(session, reveal) if round_ == 0 else None
        if sealed is None:
            await self._publish(RevealMessage(reveal=reveal))
            return
        await self._router.accept_own_sealed(reveal, sealed)
        await self._publisher.publish(sealed)

    def _seal_for_submitter(
        self, session: AuditSession, reveal: Reveal
    ) -> SealedRevealMessage | None:
        """The reveal sealed to the trace's submitter; None (it goes out in clear, as round 1's
        do) when the submitter has no registered X25519 key or the reveal is too large."""
        submitter = session.context.submission.submitter
        keys = self._sessions.chain.keys_of(submitter)
        if keys is None:
            logger.warning("submitter %s has no sealing key: round-0 reveal in clear", submitter)
            return None
        try:
            sealed = seal_reveal(reveal, submitter, keys.x25519, self._identity.account_key)
        except SealingError as exc:
            logger.warning("round-0 reveal of %s in clear: %s", session.trace_id[:10], exc)
            return None
        return SealedRevealMessage(sealed=sealed)

    async def _publish(self, message: CommitMessage | RevealMessage) -> None:
        await self._router.accept_own(message)
        await self._publisher.publish(message)

    # --- Stalls --------------------------------------------------------------------------------

    async def _publish_stalled_reveals(self) -> None:
        while True:
            await asyncio.sleep(STALL_CHECK_INTERVAL_S)
            for session in self._sessions.all():
                reveal = self._stalled_own_reveal(session)
                if reveal is not None:
                    logger.info(
                        "trace %s stalls: our round-0 reveal made public", reveal.trace_id[:10]
                    )
                    await self._publish(RevealMessage(reveal=reveal))

    def _stalled_own_reveal(self, session: AuditSession) -> Reveal | None:
        """Our round-0 reveal, still private, on a trace open for `STALL_PUBLISH_SHARE` of the
        stall timeout whose round 1 (if this node saw it open) no longer takes commits."""
        state = session.rounds.get(0)
        if state is None or self._address in state.public or session.finalized:
            return None
        reveal = state.reveals.get(self._address)
        if reveal is None or session.context.submission.submitter == self._address:
            return None
        age = session.clock() - session.first_seen
        if age < session.timing.stall_timeout_s * STALL_PUBLISH_SHARE:
            return None
        if session.plan is not None and session.phase(1) is Phase.COMMIT:
            return None
        return reveal

    async def _judge_round(self, session: AuditSession, round_: int) -> list[VoteEntry]:
        wanted = session.segments_of(round_, self._address)
        collected = await self._collect(session, round_, wanted)
        # Judged at the tier sortition drew this round's committee for: an escalated segment's
        # sealed copy still names its round-0 tier, which would keep it from the higher tier.
        segments = {
            i: segment.model_copy(update={"tier": session.segment_tier(round_, i)})
            for i, segment in collected.items()
        }
        # Concurrently: an LLM judge's client bounds its own requests in flight. The tasks
        # gather creates copy this context, so a human review is keyed by this round.
        token = AUDIT_ROUND.set(round_)
        try:
            judgements = await asyncio.gather(*(self._judgement(segments.get(i)) for i in wanted))
        finally:
            AUDIT_ROUND.reset(token)
        return [_vote_entry(i, j) for i, j in zip(wanted, judgements, strict=True)]

    async def _judgement(self, segment: Segment | None) -> Judgement | None:
        if segment is None or self._judge is None:
            return None
        return await self._judge.judge(segment)

    async def _collect(
        self, session: AuditSession, round_: int, wanted: tuple[int, ...]
    ) -> Mapping[int, Segment]:
        """Our segments of the round: from gossip, else fetched from the submitter."""
        opened = self._opened.setdefault((session.trace_id, round_), {})
        give_up = session.clock() + session.timing.segment_wait_s
        while not set(wanted) <= opened.keys() and session.clock() < give_up:
            await session.wait_changed(give_up - session.clock())
        if not set(wanted) <= opened.keys():
            bundle = await self._router.fetch_segments(session, round_)
            if bundle is not None:
                self._on_bundle(bundle)
        missing = sorted(set(wanted) - opened.keys())
        if missing:
            logger.warning(
                "abstaining on unobtainable segments %s of %s", missing, session.trace_id
            )
        return opened


def _check_segment(session: AuditSession, segment: Segment) -> str | None:
    """Why an opened segment cannot be judged as the trace's segment, or None."""
    submission = session.context.submission
    count = session.context.segment_count
    if not is_valid_merkle_proof(
        submission.root, segment.node_id, segment.index, count, segment.proof
    ):
        return "its Merkle proof does not lead to the on-chain root"
    if compute_layout_levels(submission.layout)[segment.index] is not segment.level:
        return "its level differs from the on-chain layout"
    return None


def _vote_entry(index: int, judgement: Judgement | None) -> VoteEntry:
    if judgement is None:
        return VoteEntry(segment=index, vote=Vote.ABSTAIN, confidence=0, rationale=_NO_RATIONALE)
    return VoteEntry(
        segment=index,
        vote=judgement.vote,
        confidence=compute_confidence_bps(judgement.confidence),
        rationale=keccak_hex(judgement.rationale.encode()),
    )
