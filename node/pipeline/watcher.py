"""The chain watcher: follows the Ledger's events and finalizes traces that stall.

Every `TraceSubmitted` opens a session on this node, even if no gossip about the trace ever
arrives (its coordinator may die before dispatching); a `VerdictFinalized` (by anyone) ends it.
A trace this node did not submit and whose coordinator has gone quiet is finalized by this node,
from the votes it holds, once `Timing.stall_timeout_s` has passed since it first saw the trace:
the contract pays the finalizer nothing extra and re-checks everything, so any node can do it.
When a round-0 basis reveal is still sealed, it waits one more stall period for the auditors to
publish theirs, then finalizes without round 1.
"""

from __future__ import annotations

import asyncio
import logging

from node.chain import Sender
from node.chain.errors import ChainError
from node.chain.ledger import LedgerClient
from node.pipeline.finalizer import IncompleteReportError, finalize_session
from node.pipeline.sessions import Sessions

logger = logging.getLogger(__name__)

#: How often the chain is polled for new blocks (Anvil over HTTP has no push).
DEFAULT_POLL_INTERVAL_S = 0.5


class ChainWatcher:
    def __init__(
        self,
        sessions: Sessions,
        ledger: LedgerClient,
        sender: Sender,
        poll_interval_s: float = DEFAULT_POLL_INTERVAL_S,
    ) -> None:
        self._sessions = sessions
        self._ledger = ledger
        self._sender = sender
        self._poll_interval_s = poll_interval_s
        self._next_block = sessions.chain.from_block
        #: Stalled traces whose last finalize attempt lacked a round-0 basis reveal.
        self._basis_missing: set[str] = set()

    async def run(self) -> None:
        while True:
            try:
                await self._follow_events()
                await self._finalize_stalled()
            except ChainError as exc:  # the chain may be restarting: try again next poll
                logger.warning("chain watcher: %s", exc)
            await asyncio.sleep(self._poll_interval_s)

    async def _follow_events(self) -> None:
        head = await self._ledger.chain.block_number()
        if head < self._next_block:
            return
        # Finalizations first: a trace submitted and finalized in this range needs no session.
        for finalization in await self._ledger.finalizations(self._next_block, head):
            self._sessions.mark_finalized(finalization.trace_id)
        for submission in await self._ledger.submissions(self._next_block, head):
            await self._sessions.open(submission.trace_id)
        self._next_block = head + 1

    async def _finalize_stalled(self) -> None:
        self._basis_missing &= {session.trace_id for session in self._sessions.all()}
        for session in self._sessions.all():
            if session.context.submission.submitter == self._sender.address:
                continue  # our own traces: the coordinator finalizes them
            if session.clock() - session.first_seen < session.timing.stall_timeout_s:
                continue
            session.first_seen = session.clock()  # one attempt per stall period
            logger.info("trace %s stalled: finalizing it", session.trace_id[:10])
            try:
                # A stall period after a basis reveal was first missing, its auditor is taken
                # to be gone with the submitter: round 1 is left out rather than wait forever.
                await finalize_session(
                    self._ledger,
                    self._sender,
                    session,
                    without_unpublished_basis=session.trace_id in self._basis_missing,
                )
            except IncompleteReportError as exc:
                self._basis_missing.add(session.trace_id)
                logger.warning("finalizing stalled %s waits: %s", session.trace_id[:10], exc)
                continue
            except ChainError as exc:
                logger.warning("finalizing stalled %s failed: %s", session.trace_id[:10], exc)
                continue
            self._basis_missing.discard(session.trace_id)
            self._sessions.mark_finalized(session.trace_id)
