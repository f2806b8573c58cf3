"""The audit sessions a node follows: created from the chain on first mention, restored
with the votes already stored, dropped once the trace is finalized."""

from __future__ import annotations

import asyncio
import time

from node.pipeline.context import ChainContext
from node.pipeline.session import AuditSession, Timing
from node.store import Store
from protocol.gossip import Phase
from protocol.models import Commit, Reveal
from protocol.params import MAX_ROUNDS, ProtocolParams

#: A trace the chain did not know is looked up again only after this long.
UNKNOWN_TRACE_RETRY_S = 0.5
#: Finalized (and unknown) traces remembered, so late messages about them cost no chain read.
MAX_FINALIZED_REMEMBERED = 16_384


class Sessions:
    """The audit sessions this node follows, created from the chain on first mention."""

    def __init__(
        self, chain: ChainContext, store: Store, params: ProtocolParams, timing: Timing
    ) -> None:
        self.chain = chain
        self.params = params
        self.timing = timing
        self._store = store
        self._sessions: dict[str, AuditSession] = {}
        self._finalized: dict[str, None] = {}
        #: Trace ids the chain did not know, and when we asked: a flood of messages about
        #: made-up traces costs one chain read per id and interval, not one per message.
        self._unknown: dict[str, float] = {}

    def get(self, trace_id: str) -> AuditSession | None:
        return self._sessions.get(trace_id)

    def all(self) -> list[AuditSession]:
        return list(self._sessions.values())

    def open_rounds(self) -> int:
        """Traces this node follows whose current round is still collecting votes: not those
        only waiting for their verdict to be seen on-chain, which vote no more."""
        return sum(
            1
            for session in self._sessions.values()
            if session.phase(session.current_round) is not Phase.CLOSED
        )

    def is_finalized(self, trace_id: str) -> bool:
        return trace_id in self._finalized

    async def open(self, trace_id: str) -> AuditSession | None:
        """The trace's session, created (with the votes already stored) on first use; None for
        a trace the chain does not know or one already finalized."""
        session = self._sessions.get(trace_id)
        if session is not None or trace_id in self._finalized:
            return session
        asked = self._unknown.get(trace_id)
        if asked is not None and time.monotonic() - asked < UNKNOWN_TRACE_RETRY_S:
            return None
        context = await self.chain.load(trace_id)
        if context is None:
            self._remember_unknown(trace_id)
            return None
        self._unknown.pop(trace_id, None)
        session = self._sessions.get(trace_id)  # another caller may have won the race
        if session is None:
            commits, reveals = await asyncio.to_thread(self._stored_votes, trace_id)
            session = self._sessions.get(trace_id)
            if session is None:
                session = AuditSession(context, self.params, self.timing)
                for commit in commits:
                    session.record_commit(commit)
                for reveal in reveals:
                    session.record_reveal(reveal)
                self._sessions[trace_id] = session
        return session

    def _remember_unknown(self, trace_id: str) -> None:
        self._unknown[trace_id] = time.monotonic()
        while len(self._unknown) > MAX_FINALIZED_REMEMBERED:
            del self._unknown[next(iter(self._unknown))]

    def _stored_votes(self, trace_id: str) -> tuple[list[Commit], list[Reveal]]:
        commits: list[Commit] = []
        reveals: list[Reveal] = []
        for round_ in range(MAX_ROUNDS):
            commits += self._store.get_commits(trace_id, round_)
            reveals += self._store.get_reveals(trace_id, round_)
        return commits, reveals

    def mark_finalized(self, trace_id: str) -> None:
        """Drop the session (its votes stay in the store) and ignore the trace from now on."""
        session = self._sessions.pop(trace_id, None)
        if session is not None:
            session.finalized = True
            session.notify()
        self._finalized[trace_id] = None
        while len(self._finalized) > MAX_FINALIZED_REMEMBERED:
            del self._finalized[next(iter(self._finalized))]
