"""The coordinator: drives every trace submitted to this node from intake to on-chain verdict.

Per trace: build the HDAG, commit root and layout on-chain (`submitTrace`), draw the committees
from the on-chain seed and stake snapshot, seal each segment to its assigned auditors and gossip
the bundles, follow the commit and reveal phases (round-0 reveals arrive sealed to this node),
open round 1 for escalated segments with its plan declared in the bundles, make the round-0
reveals public once round 1's commits have closed, and finalize. Every step is recorded in the
store before it is acted on, so after a crash the trace resumes where it stood: a submission
already on-chain is found there, never sent twice; a finalized verdict is read back, never
finalized twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from node.chain import Sender
from node.chain.errors import ChainError
from node.chain.ledger import LedgerClient, Submission
from node.identity import NodeIdentity
from node.p2p.bridge import P2PNode
from node.pipeline.admission import AdmissionControl
from node.pipeline.finalizer import finalize_session
from node.pipeline.publisher import VotePublisher
from node.pipeline.router import GossipRouter, await_phase
from node.pipeline.session import AuditSession
from node.pipeline.sessions import Sessions
from node.sealing import seal_bundle
from node.store import IllegalTransitionError, Store, TraceRecord, TraceState
from protocol.errors import NoStakeError
from protocol.gossip import Phase
from protocol.hdag import build_hdag
from protocol.layout import compute_segment_layout
from protocol.messages import (
    MAX_BUNDLE_ITEMS,
    TOPIC_SEGMENTS,
    TOPIC_TRACES,
    RevealMessage,
    SegmentBundle,
    TraceAnnouncement,
    sign_envelope,
)
from protocol.models import Auditor, Hdag, Segment, Trace
from protocol.params import ProtocolParams
from protocol.rounds import is_reveal_complete
from protocol.segments import build_segments
from protocol.sortition import compute_trace_committee_size

logger = logging.getLogger(__name__)

#: Traces driven at once at most; the rest wait in the queue (`AdmissionControl` may admit
#: fewer while the rounds say the network is overloaded).
MAX_CONCURRENT_TRACES = 128
#: Pause before retrying a trace whose chain call failed (the chain may be restarting).
CHAIN_RETRY_S = 2.0
_UNSIGNED = "0x" + "00" * 65
_REVEAL_OR_CLOSED = frozenset({Phase.REVEAL, Phase.CLOSED})
_CLOSED = frozenset({Phase.CLOSED})


@dataclass(frozen=True)
class Prepared:
    """A trace's HDAG and layout, built once per run of the coordinator."""

    trace: Trace
    hdag: Hdag
    layout: bytes


def _clock_ms() -> int:
    return time.time_ns() // 1_000_000


def compute_submission_committee_size(
    hdag: Hdag, snapshot: Sequence[Auditor], params: ProtocolParams
) -> int:
    """The k a submission of `hdag` asks for; ChainError (the trace waits) when nobody has stake.

    With every auditor slashed or unbonded the Ledger would revert the submission with
    NoStakedAuditors. Stake can be bonded again at any time, so the trace waits like one whose
    chain call failed instead of failing for good (it did, under the e2e baseline's overload).
    """
    try:
        return compute_trace_committee_size(hdag, snapshot, params)
    except NoStakeError as exc:
        raise ChainError(f"no auditor holds stake yet ({exc})") from exc


class CoordinatorService:
    """Intake, dispatcher, collector and finalizer for the traces submitted to this node."""

    def __init__(
        self,
        store: Store,
        router: GossipRouter,
        p2p: P2PNode,
        publisher: VotePublisher,
        ledger: LedgerClient,
        identity: NodeIdentity,
        fee_wei: int | None,
        *,
        batching: bool = True,
        adaptive_admission: bool = True,
    ) -> None:
        """`fee_wei` None: pay the Ledger's minimum fee, read when the service starts."""
        self._store = store
        self._router = router
        self._sessions: Sessions = router.sessions
        self._p2p = p2p
        self._publisher = publisher
        self._ledger = ledger
        self._identity = identity
        self._sender = Sender.from_key(identity.account_key)
        self._fee_wei = fee_wei
        #: Off only for the benchmark's baseline: one gossip message per sealed segment.
        self._batching = batching
        self._queue: asyncio.Queue[str] = asyncio.Queue()
        self._active: set[str] = set()
        self._prepared: dict[str, tuple[Prepared, tuple[Segment, ...]]] = {}
        self.admission = AdmissionControl(
            adaptive=adaptive_admission, ceiling=MAX_CONCURRENT_TRACES
        )
        #: Told of each trace this node finalized or saw final (the canary service).
        self.finalized_listeners: list[Callable[[str], Awaitable[None]]] = []
        router.segment_source = self._segments_for

    def on_trace_accepted(self, trace_id: str) -> None:
        """Called by the RPC server once a new trace is durably stored."""
        self._queue.put_nowait(trace_id)

    async def run(self) -> None:
        if self._fee_wei is None:
            self._fee_wei = (await self._ledger.settings()).min_fee
        for record in await asyncio.to_thread(self._store.open_traces):
            self._queue.put_nowait(record.trace_id)
        async with asyncio.TaskGroup() as traces:
            while True:
                trace_id = await self._queue.get()
                if trace_id in self._active:
                    continue
                self._active.add(trace_id)
                await self.admission.acquire()
                traces.create_task(self._drive(trace_id), name=f"trace-{trace_id[:10]}")

    async def _drive(self, trace_id: str) -> None:
        try:
            while True:
                try:
                    await self._audit(trace_id)
                    return
                except ChainError as exc:
                    logger.warning("trace %s waits for the chain: %s", trace_id[:10], exc)
                    await asyncio.sleep(CHAIN_RETRY_S)
        except Exception as exc:  # outermost loop of one trace: record it, go on with others
            logger.exception("trace %s failed", trace_id[:10])
            await self._fail(trace_id, f"{type(exc).__name__}: {exc}")
        finally:
            self._active.discard(trace_id)
            self._prepared.pop(trace_id, None)
            self.admission.release()

    async def _fail(self, trace_id: str, reason: str) -> None:
        # Already terminal (finalized by a previous life): nothing to record.
        with contextlib.suppress(IllegalTransitionError):
            await self._advance(trace_id, TraceState.FAILED, reason=reason[:1000])

    # --- The pipeline of one trace -------------------------------------------------------------

    async def _audit(self, trace_id: str) -> None:
        record = await self._record(trace_id)
        if record.state in (TraceState.FINALIZED, TraceState.FAILED):
            return
        prepared = self._prepare(record.trace)
        if record.state is TraceState.RECEIVED:
            submission = await self._submit(trace_id, prepared)
            if submission is None:
                return
        session = await self._sessions.open(trace_id)
        if session is None:
            raise ChainError(f"trace {trace_id} is recorded as submitted but not found on-chain")
        segments = build_segments(prepared.trace, prepared.hdag, session.context.tiers)
        self._prepared[trace_id] = (prepared, segments)
        await self._run_rounds(session)
        await self._finalize(session)

    async def _record(self, trace_id: str) -> TraceRecord:
        record = await asyncio.to_thread(self._store.get_trace, trace_id)
        if record is None:
            raise LookupError(f"trace {trace_id} is not in the store")
        return record

    @staticmethod
    def _prepare(trace: Trace) -> Prepared:
        hdag = build_hdag(trace)
        return Prepared(trace, hdag, compute_segment_layout(hdag))

    async def _submit(self, trace_id: str, prepared: Prepared) -> Submission | None:
        """The on-chain submission: found on-chain after a crash, else sent now. None (and the
        trace FAILED) when another account submitted the same trace first."""
        submission = await self._ledger.submission_of(trace_id)
        if submission is None:
            k = await self._committee_size(prepared.hdag)
            await self._ledger.submit_trace(
                self._sender, trace_id, prepared.hdag.root, k, prepared.layout, self._fee_wei or 0
            )
            submission = await self._ledger.submission_of(trace_id)
            if submission is None:
                raise ChainError(f"trace {trace_id} submitted but its record is not readable")
        if submission.submitter != self._identity.address:
            await self._fail(trace_id, f"submitted on-chain by {submission.submitter} first")
            return None
        await self._advance(
            trace_id,
            TraceState.SUBMITTED,
            tx_hash=submission.tx_hash,
            seed=submission.seed,
            snapshot_block=submission.snapshot_block,
        )
        return submission

    async def _committee_size(self, hdag: Hdag) -> int:
        snapshot = await self._sessions.chain.current_snapshot()
        return compute_submission_committee_size(hdag, snapshot, self._sessions.params)

    async def _run_rounds(self, session: AuditSession) -> None:
        trace_id = session.trace_id
        record = await self._record(trace_id)
        round_, basis = await asyncio.to_thread(self._resume_point, trace_id)
        if basis is not None:
            session.adopt_basis(session.round_state(0).reveals[a] for a in basis)
        state = record.state
        while round_ <= 1:
            if round_ == 1 and not session.round_segments(1):
                return
            if state in (TraceState.SUBMITTED, TraceState.TALLIED):
                await self._advance(trace_id, TraceState.DISPATCHED, round=round_)
                state = TraceState.DISPATCHED
            await self._dispatch(session, round_)
            if state is TraceState.DISPATCHED:
                await self._advance(trace_id, TraceState.COMMITTING, round=round_)
                state = TraceState.COMMITTING
            await await_phase(self._router, session, round_, _REVEAL_OR_CLOSED)
            if round_ == 1:
                await self._publish_basis(session)
            self._note_load(session, round_)
            if state is TraceState.COMMITTING:
                await self._advance(trace_id, TraceState.REVEALING, round=round_)
            await await_phase(self._router, session, round_, _CLOSED)
            revealers = self._complete_revealers(session, round_)
            await self._persist_reveals(session, round_, revealers)
            await self._advance(trace_id, TraceState.TALLIED, round=round_, revealers=revealers)
            state = TraceState.TALLIED
            if round_ == 0:
                session.adopt_basis(session.round_state(0).reveals[a] for a in revealers)
            round_ += 1

    async def _publish_basis(self, session: AuditSession) -> None:
        """Make the round-0 basis reveals public now that round 1 takes no more commits: every
        node can then check round 1's plan against them, and finalize if we stall. Sent
        together, so the publisher packs them into as few messages as fit."""
        held = session.round_state(0).reveals
        basis = [held[auditor] for auditor in session.basis or ()]
        for reveal in basis:
            session.record_reveal(reveal, public=True)
        await asyncio.gather(*(self._publisher.publish(RevealMessage(reveal=r)) for r in basis))

    def _note_load(self, session: AuditSession, round_: int) -> None:
        signal = session.commit_signal(round_)
        if signal is None:
            return
        before = self.admission.capacity
        self.admission.on_round(signal)
        if self.admission.capacity < before:
            logger.info(
                "admitting %d traces at once (was %d): a round's commits took %.1f s of %g s",
                self.admission.capacity,
                before,
                signal.commit_delay_s,
                signal.commit_window_s,
            )

    def _resume_point(self, trace_id: str) -> tuple[int, tuple[str, ...] | None]:
        """(round to run, round-0 basis if round 0 was tallied) from the trace's history."""
        round_, basis = 0, None
        for entry in self._store.get_history(trace_id):
            if "round" in entry.details:
                round_ = int(entry.details["round"])
            if entry.state is TraceState.TALLIED:
                round_ += 1
                if entry.details["round"] == 0:
                    basis = tuple(entry.details["revealers"])
        return round_, basis

    async def _persist_reveals(
        self, session: AuditSession, round_: int, revealers: Sequence[str]
    ) -> None:
        """The tallied reveals are in the store before the tally that names them (gossip
        stores them too, but asynchronously)."""
        reveals = session.round_state(round_).reveals
        await asyncio.to_thread(self._store.put_votes, [reveals[a] for a in revealers])

    @staticmethod
    def _complete_revealers(session: AuditSession, round_: int) -> list[str]:
        reveals = session.round_state(round_).reveals.values()
        return sorted(r.auditor for r in reveals if is_reveal_complete(r, session.assignments))

    async def _dispatch(self, session: AuditSession, round_: int) -> None:
        """Announce the trace (round 0), seal the round's segments to their auditors, gossip."""
        key = self._identity.account_key
        if round_ == 0:
            announcement = TraceAnnouncement(
                trace_id=session.trace_id,
                root=session.context.submission.root,
                segment_count=session.context.segment_count,
                submitter=self._identity.address,
                signature=_UNSIGNED,
            )
            await self._p2p.publish(TOPIC_TRACES, sign_envelope(announcement, key))
        session.mark_dispatched(round_)
        for bundle in self._seal(session, round_, recipients=None):
            await self._p2p.publish(TOPIC_SEGMENTS, bundle)
            await self._router.deliver(bundle)  # our own auditor (gossip does not echo)

    def _seal(
        self, session: AuditSession, round_: int, recipients: frozenset[str] | None
    ) -> list[SegmentBundle]:
        _, segments = self._prepared[session.trace_id]
        by_recipient: dict[str, tuple[bytes, list[Segment]]] = {}
        for auditor in sorted(session.assigned(round_)):
            keys = self._sessions.chain.keys_of(auditor)
            if keys is None or (recipients is not None and auditor not in recipients):
                continue
            mine = [segments[index] for index in session.segments_of(round_, auditor)]
            by_recipient[auditor] = (keys.x25519, mine)
        return seal_bundle(
            session.trace_id,
            round_,
            by_recipient,
            self._identity.account_key,
            basis=(session.basis or ()) if round_ > 0 else (),
            plan=(session.plan or ()) if round_ > 0 else (),
            max_items=MAX_BUNDLE_ITEMS if self._batching else 1,
        )

    async def _segments_for(self, trace_id: str, round_: int, auditor: str) -> SegmentBundle | None:
        """Anti-entropy: the segments of `round_` sealed to `auditor`, if it is assigned."""
        session = self._sessions.get(trace_id)
        if session is None or trace_id not in self._prepared or round_ > session.current_round:
            return None
        bundles = self._seal(session, round_, recipients=frozenset({auditor}))
        return bundles[0] if bundles else None

    async def _finalize(self, session: AuditSession) -> None:
        finalized = await finalize_session(self._ledger, self._sender, session)
        verdict = finalized.verdict
        tx_hash = None if finalized.receipt is None else finalized.receipt.tx_hash
        await self._advance(
            session.trace_id,
            TraceState.FINALIZED,
            verdict=int(verdict.verdict),
            first_error=None if verdict.first_error < 0 else verdict.first_error,
            tx_hash=tx_hash or await self._finalize_tx_hash(session.trace_id),
        )
        self._sessions.mark_finalized(session.trace_id)
        logger.info("trace %s finalized: %s", session.trace_id[:10], verdict.verdict.name)
        for listener in self.finalized_listeners:
            await listener(session.trace_id)

    async def _finalize_tx_hash(self, trace_id: str) -> str:
        """The transaction that finalized a trace another node (or our previous life) sent."""
        found = await self._ledger.finalizations(self._sessions.chain.from_block, trace_id=trace_id)
        if not found:
            raise ChainError(f"trace {trace_id} is final but its VerdictFinalized is not found")
        return found[0].tx_hash

    async def _advance(self, trace_id: str, state: TraceState, **details: Any) -> None:
        await asyncio.to_thread(self._store.advance, trace_id, state, at_ms=_clock_ms(), **details)
