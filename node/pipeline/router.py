"""Gossip in and out of the audit pipeline: validation, vote bookkeeping, anti-entropy.

Every message off the wire passes `GossipRouter.validate`: it first loads what the pure
validator needs (the trace's on-chain context, a round-1 plan), then applies
`protocol.gossip.validate_gossip_message`. Accepted votes enter the trace's session at once (so
a reveal racing its own commit is not lost) and reach the store through the router's `run`
loop, which also hands segment bundles to the auditor. Since gossip can drop messages, the
router fetches missing votes and segments from peers over `/trust/1/fetch`, and answers such
requests from its store (a round-0 reveal of an open trace in clear only once it is public,
else its sealed copy). On the trace's submitter it opens the round-0 reveals sealed to it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from enum import Enum
from typing import Literal

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from node.p2p.bridge import FetchError, P2PError, P2PNode
from node.pipeline.session import AuditSession
from node.pipeline.sessions import Sessions
from node.pipeline.view import NodeView
from node.sealing import SealingError, open_reveal
from node.store import Store
from protocol.errors import EncodingError, VoteError
from protocol.gossip import (
    Outcome,
    Phase,
    Verdict,
    check_round_one_plan,
    compute_batch_verdict,
    validate_gossip_message,
    validate_opened_reveal,
)
from protocol.messages import (
    CommitMessage,
    GossipMessage,
    RevealMessage,
    SealedRevealMessage,
    SegmentBundle,
    SegmentsRequest,
    TraceAnnouncement,
    VoteBatch,
    VoteRequest,
    compute_envelope_digest,
    decode_fetch_request,
    decode_gossip_message,
    encode_fetch_request,
    encode_gossip_message,
)
from protocol.models import Commit, Reveal
from protocol.signing import recover_signer

logger = logging.getLogger(__name__)

#: Accepted messages waiting for the store; beyond this, gossip waits (back-pressure).
INBOX_SIZE = 4_096
#: Auditor registrations are re-read at most this often when an unknown signer appears.
REGISTRY_REFRESH_INTERVAL_S = 1.0
#: Most votes written in one transaction.
STORE_BATCH = 256

#: Serves the segments of `round` sealed to `auditor`: the coordinator's job.
SegmentSource = Callable[[str, int, str], Awaitable[SegmentBundle | None]]
#: Told of every accepted announcement and segment bundle (the auditor service).
DispatchListener = Callable[[TraceAnnouncement | SegmentBundle], None]


#: A single message, as a vote batch is taken apart into.
SingleMessage = (
    TraceAnnouncement | SegmentBundle | CommitMessage | RevealMessage | SealedRevealMessage
)
SingleVote = CommitMessage | RevealMessage | SealedRevealMessage


def trace_id_of(message: SingleMessage) -> str:
    """The trace a single gossip message is about."""
    if isinstance(message, CommitMessage):
        return message.commit.trace_id
    if isinstance(message, RevealMessage):
        return message.reveal.trace_id
    if isinstance(message, SealedRevealMessage):
        return message.sealed.trace_id
    return message.trace_id


def _signer_of_vote(message: GossipMessage) -> str | None:
    if isinstance(message, CommitMessage):
        return message.commit.auditor
    if isinstance(message, RevealMessage):
        return message.reveal.auditor
    if isinstance(message, SealedRevealMessage):
        return message.sealed.auditor
    return None


class Fetched(Enum):
    """What asking one peer for a missing vote gave."""

    HELD = "the vote is held now"
    NOT_HELD = "the peer answered that it holds no such vote"
    NO_ANSWER = "no answer, or one that did not check out"


class GossipRouter:
    """Validation, bookkeeping and anti-entropy for every gossip message of the pipeline."""

    def __init__(
        self,
        sessions: Sessions,
        store: Store,
        p2p: P2PNode,
        address: str,
        vote_delay_s: Callable[[], float] = lambda: 0.0,
        x25519: X25519PrivateKey | None = None,
    ) -> None:
        """`vote_delay_s`: how long a peer may hold a vote back on purpose now (its batching
        wait); anti-entropy waits that much longer before it asks for a missing vote.
        `x25519`: this node's key, which opens the round-0 reveals sealed to its traces."""
        self.sessions = sessions
        self._x25519 = x25519
        self.vote_delay_s = vote_delay_s
        self.view = NodeView(sessions)
        self.address = address
        self.segment_source: SegmentSource | None = None
        self.dispatch_listeners: list[DispatchListener] = []
        self._store = store
        self._p2p = p2p
        self._inbox: asyncio.Queue[GossipMessage] = asyncio.Queue(INBOX_SIZE)
        self._registry_read_at = 0.0

    def attach(self) -> None:
        """Take over the libp2p host's validation, delivery and fetch requests; called once
        the chain context is loaded (until then the daemon ignores all gossip)."""
        self._p2p.validator = self.validate
        self._p2p.on_message = self._on_message
        self._p2p.fetch_handler = self._serve_fetch

    # --- Incoming ------------------------------------------------------------------------------

    async def validate(self, message: GossipMessage) -> Verdict:
        """Load what the pure rules need, apply them, and record an accepted vote; a batch's
        votes one by one, in order, so each sees the ones before it."""
        if isinstance(message, VoteBatch):
            return compute_batch_verdict([await self._validate_one(m) for m in message.messages()])
        return await self._validate_one(message)

    async def _validate_one(self, message: SingleMessage) -> Verdict:
        trace_id = trace_id_of(message)
        if self.sessions.is_finalized(trace_id):
            return Verdict(Outcome.IGNORE, "trace already finalized")
        session = await self.sessions.open(trace_id)
        signer = _signer_of_vote(message)
        if signer is not None and not self.sessions.chain.is_registered(signer):
            await self._refresh_registry()
        if session is not None and isinstance(message, SegmentBundle):
            self._adopt_plan(session, message)
        verdict = validate_gossip_message(message, self.view)
        if verdict.accepted and session is not None:
            self._record(session, message)
        elif verdict.outcome is Outcome.REJECT:
            logger.warning("rejected %s for %s: %s", message.kind, trace_id[:10], verdict.reason)
        return verdict

    async def _refresh_registry(self) -> None:
        now = time.monotonic()
        if now - self._registry_read_at >= REGISTRY_REFRESH_INTERVAL_S:
            self._registry_read_at = now
            await self.sessions.chain.refresh_auditors()

    def _record(self, session: AuditSession, message: SingleMessage) -> None:
        if isinstance(message, CommitMessage):
            session.record_commit(message.commit)
        elif isinstance(message, RevealMessage):
            session.record_reveal(message.reveal, public=True)
            if message.reveal.round == 0 and session.check_plan() is False:
                logger.warning(
                    "trace %s: the submitter declared a round-1 plan its basis does not give",
                    session.trace_id[:10],
                )
        elif isinstance(message, SealedRevealMessage):
            session.record_sealed_reveal(message.sealed)
            self._open_sealed(session, message)
        elif isinstance(message, SegmentBundle):
            session.mark_dispatched(message.round)

    def _open_sealed(self, session: AuditSession, message: SealedRevealMessage) -> None:
        """On the trace's submitter, the sealed reveal opened and checked like one in clear
        (it stays private: not served to peers until made public)."""
        sealed = message.sealed
        if sealed.recipient != self.address or self._x25519 is None:
            return
        try:
            reveal = open_reveal(sealed, self._x25519, self.address)
        except SealingError as exc:
            logger.warning("sealed reveal of %s unusable: %s", sealed.auditor, exc)
            return
        verdict = validate_opened_reveal(reveal, self.view)
        if verdict.accepted:
            session.record_reveal(reveal)
        else:
            logger.warning("sealed reveal of %s refused: %s", sealed.auditor, verdict.reason)

    def _on_message(self, topic: str, message: GossipMessage, peer: str) -> None:
        try:
            self._inbox.put_nowait(message)
        except asyncio.QueueFull:
            # Votes are already in the session; the store catches up through anti-entropy.
            logger.warning("inbox full: a %s message not stored", message.kind)

    async def run(self) -> None:
        """Persist accepted votes and hand announcements and bundles to the listeners; the
        votes of a burst share one transaction (one fsync)."""
        while True:
            burst = [await self._inbox.get()]
            while len(burst) < STORE_BATCH and not self._inbox.empty():
                burst.append(self._inbox.get_nowait())
            await self._deliver_all(burst)

    async def deliver(self, message: GossipMessage) -> None:
        """Store a vote, or tell the listeners of an announcement or bundle, right away."""
        await self._deliver_all([message])

    async def _deliver_all(self, messages: Sequence[GossipMessage]) -> None:
        votes = [
            vote
            for m in messages
            if isinstance(m, SingleVote) and (vote := self._storable(m)) is not None
        ]
        for batch in (m for m in messages if isinstance(m, VoteBatch)):
            for single in batch.messages():
                vote = self._storable(single)
                if vote is not None and self._holds(vote):
                    votes.append(vote)
        if votes:
            await asyncio.to_thread(self._store.put_votes, votes)
        for message in messages:
            if isinstance(message, TraceAnnouncement | SegmentBundle):
                for listener in self.dispatch_listeners:
                    listener(message)

    def _storable(self, message: SingleVote) -> Commit | Reveal | None:
        """What the store keeps of a vote: a sealed reveal only once this node opened it."""
        if isinstance(message, SealedRevealMessage):
            session = self.sessions.get(message.sealed.trace_id)
            if session is None or message.sealed.recipient != self.address:
                return None
            return session.round_state(0).reveals.get(message.sealed.auditor)
        return _vote_of(message)

    def _holds(self, vote: Commit | Reveal) -> bool:
        """Whether validation accepted this very vote: a batch is delivered whole, but only
        the votes its validation recorded are stored (not its duplicates or late ones)."""
        session = self.sessions.get(vote.trace_id)
        if session is None or vote.round not in session.rounds:
            return False
        state = session.rounds[vote.round]
        held = state.commits if isinstance(vote, Commit) else state.reveals
        return held.get(vote.auditor) == vote

    async def accept_own(self, message: CommitMessage | RevealMessage) -> None:
        """Record and store this node's own vote before publishing it (gossip does not echo
        our own messages back to us)."""
        session = await self.sessions.open(trace_id_of(message))
        if session is not None:
            self._record(session, message)
        await self.deliver(message)

    async def accept_own_sealed(self, reveal: Reveal, sealed: SealedRevealMessage) -> None:
        """Record this node's own round-0 reveal, in clear but private, and its sealed copy,
        and store the reveal, before the sealed copy is published."""
        session = await self.sessions.open(reveal.trace_id)
        if session is not None:
            session.record_reveal(reveal)
            self._record(session, sealed)
        await asyncio.to_thread(self._store.put_votes, [reveal])

    # --- Round 1 -----------------------------------------------------------------------------

    def _adopt_plan(self, session: AuditSession, bundle: SegmentBundle) -> None:
        """Open round 1 from the first submitter-signed bundle that declares its plan. Left
        unopened (the bundle is then ignored, and a later copy or fetch tries again) when the
        bundle is not the submitter's or its plan is malformed."""
        if bundle.round != 1 or session.plan is not None:
            return
        if not _is_signed_by(bundle, session.context.submission.submitter):
            return
        problem = check_round_one_plan(bundle.plan, bundle.basis, session.context.segment_count)
        if problem is not None:
            logger.warning("round-1 plan of %s unusable: %s", session.trace_id[:10], problem)
            return
        session.adopt_plan(bundle.plan, bundle.basis)

    # --- Anti-entropy: asking --------------------------------------------------------------------

    async def fetch_votes(
        self,
        session: AuditSession,
        kind: Literal["commit", "reveal"],
        round_: int,
        auditors: Sequence[str],
    ) -> None:
        """Ask peers for the missing commits or reveals of `auditors`; each answer is validated
        like gossip. The auditor's own node is asked first, and the other peers only when it
        does not answer: a node stores its auditor's vote before publishing it, so when the own
        node answers that it holds none, the vote does not exist yet and nobody else can hold
        it."""
        for auditor in auditors:
            request = VoteRequest(
                kind=kind,
                trace_id=session.trace_id,
                round=round_,
                auditor=auditor,
            )
            own = self.sessions.chain.peer_of(auditor)
            for peer in self._peers_for(auditor):
                fetched = await self._fetch_one(peer, request, session)
                if fetched is Fetched.HELD or (fetched is Fetched.NOT_HELD and peer == own):
                    break

    def _peers_for(self, auditor: str) -> list[str]:
        own = self.sessions.chain.peer_of(auditor)
        connected = self._p2p.connected_peers()
        first = [own] if own in connected else []
        return first + [peer for peer in connected if peer != own]

    async def _request_message(
        self, peer: str, request: VoteRequest | SegmentsRequest
    ) -> GossipMessage | None:
        """One fetch: the peer's answer decoded, or None (no answer, nothing held, garbage)."""
        raw = await self._request(peer, request)
        return None if raw is None else self._decode_answer(peer, raw)

    async def _request(self, peer: str, request: VoteRequest | SegmentsRequest) -> bytes | None:
        """One fetch's raw answer (empty: the peer holds nothing), or None when it failed."""
        try:
            return await self._p2p.request(peer, encode_fetch_request(request))
        except (FetchError, P2PError) as exc:
            logger.debug("fetch from %s failed: %s", peer, exc)
            return None

    def _decode_answer(self, peer: str, raw: bytes) -> GossipMessage | None:
        if not raw:
            return None
        try:
            return decode_gossip_message(raw)
        except EncodingError:
            self._p2p.penalties[peer] = self._p2p.penalties.get(peer, 0) + 1
            return None

    async def _fetch_one(self, peer: str, request: VoteRequest, session: AuditSession) -> Fetched:
        raw = await self._request(peer, request)
        if raw is None:
            return Fetched.NO_ANSWER
        if not raw:
            return Fetched.NOT_HELD
        message = self._decode_answer(peer, raw)
        if not isinstance(message, SingleVote):
            return Fetched.NO_ANSWER
        if (await self.validate(message)).accepted:
            await self.deliver(message)
        if request.kind == "commit":
            held = request.auditor in session.round_state(request.round).commits
        else:
            held = session.has_revealed(request.round, request.auditor)
        return Fetched.HELD if held else Fetched.NO_ANSWER

    async def fetch_segments(self, session: AuditSession, round_: int) -> SegmentBundle | None:
        """Ask the trace's submitter for our segments of `round_`; the bundle is validated."""
        submitter = session.context.submission.submitter
        if submitter == self.address:  # our own trace: the coordinator is in this process
            if self.segment_source is None:
                return None
            return await self.segment_source(session.trace_id, round_, self.address)
        peer = self.sessions.chain.peer_of(submitter)
        if peer is None:
            return None
        request = SegmentsRequest(trace_id=session.trace_id, round=round_)
        message = await self._request_message(peer, request)
        if not isinstance(message, SegmentBundle):
            logger.info("segments of %s unavailable from the submitter", session.trace_id[:10])
            return None
        return message if (await self.validate(message)).accepted else None

    # --- Anti-entropy: answering -----------------------------------------------------------------

    async def _serve_fetch(self, peer: str, raw: bytes) -> bytes:
        try:
            request = decode_fetch_request(raw)
        except EncodingError as exc:
            logger.info("malformed fetch request from %s: %s", peer, exc)
            self._p2p.penalties[peer] = self._p2p.penalties.get(peer, 0) + 1
            return b""
        if isinstance(request, SegmentsRequest):
            return await self._serve_segments(peer, request)
        if request.kind == "reveal" and request.round == 0:
            session = await self.sessions.open(request.trace_id)
            if session is not None:
                return self._serve_open_round_zero_reveal(session, request.auditor)
        return await asyncio.to_thread(self._serve_vote, request)

    @staticmethod
    def _serve_open_round_zero_reveal(session: AuditSession, auditor: str) -> bytes:
        """While the trace is open, a round-0 reveal goes out in clear only once it is public;
        before that its sealed copy, which only the submitter can open."""
        state = session.round_state(0)
        if auditor in state.public and auditor in state.reveals:
            return encode_gossip_message(RevealMessage(reveal=state.reveals[auditor]))
        if auditor in state.sealed:
            return encode_gossip_message(SealedRevealMessage(sealed=state.sealed[auditor]))
        return b""

    def _serve_vote(self, request: VoteRequest) -> bytes:
        if request.kind == "commit":
            for commit in self._store.get_commits(request.trace_id, request.round):
                if commit.auditor == request.auditor:
                    return encode_gossip_message(CommitMessage(commit=commit))
            return b""
        for reveal in self._store.get_reveals(request.trace_id, request.round):
            if reveal.auditor == request.auditor:
                return encode_gossip_message(RevealMessage(reveal=reveal))
        return b""

    async def _serve_segments(self, peer: str, request: SegmentsRequest) -> bytes:
        """Only the auditor behind `peer` (its registered peer id) gets its own segments."""
        auditor = self.sessions.chain.auditor_of_peer(peer)
        if auditor is None or self.segment_source is None:
            return b""
        bundle = await self.segment_source(request.trace_id, request.round, auditor)
        return b"" if bundle is None else encode_gossip_message(bundle)


def _vote_of(message: CommitMessage | RevealMessage) -> Commit | Reveal:
    return message.commit if isinstance(message, CommitMessage) else message.reveal


def _is_signed_by(message: TraceAnnouncement | SegmentBundle, signer: str) -> bool:
    try:
        return recover_signer(compute_envelope_digest(message), message.signature) == signer
    except VoteError:
        return False


async def await_phase(
    router: GossipRouter, session: AuditSession, round_: int, wanted: frozenset[Phase]
) -> Phase:
    """Wait until the round reaches a phase in `wanted` (which must include CLOSED, the end of
    every round), fetching missing commits or reveals from peers when the wait stalls.

    Anti-entropy is for lost votes, and under load most late votes are not lost: their
    auditors' nodes are busy, or hold them back on purpose to batch them (`VotePublisher`).
    So the first pause adds that batching wait, estimated by our own, which sees the same
    traces in flight; and a pause in which votes kept arriving only starts the next one. On
    the loaded five-node devnet, fetching at a fixed 1 s sent 10-11 fetches per trace, 85% of
    them cancelled in flight when the vote came by gossip.

    After each fetch the pause doubles, so a vote that is merely late is fetched at most a few
    times per round, and the fetches do not add much to the load that delayed it. A fetch runs
    beside the wait and is dropped when the phase moves on: asking every peer in turn may take
    many fetch timeouts, and the round must still close at its window (a coordinator that
    waited on its fetches instead held its rounds open for minutes under load, until other
    nodes finalized them as stalled).
    """
    pause = session.timing.fetch_after_s + router.vote_delay_s()
    received = session.votes_received(round_)
    fetching: asyncio.Task[None] | None = None
    try:
        while not await session.wait_for_phase(round_, wanted, pause):
            if session.votes_received(round_) != received:
                received = session.votes_received(round_)
                continue
            pause *= 2
            if fetching is not None and fetching.done():
                fetching.result()  # a failed fetch raises here, not silently
            if fetching is None or fetching.done():
                fetching = asyncio.create_task(_fetch_missing_votes(router, session, round_))
        return session.phase(round_)
    finally:
        if fetching is not None:
            fetching.cancel()
            await asyncio.gather(fetching, return_exceptions=True)


async def _fetch_missing_votes(router: GossipRouter, session: AuditSession, round_: int) -> None:
    if session.phase(round_) is Phase.COMMIT:
        await router.fetch_votes(session, "commit", round_, session.missing_commits(round_))
    else:
        await router.fetch_votes(session, "reveal", round_, session.missing_reveals(round_))
