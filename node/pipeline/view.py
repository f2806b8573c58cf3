"""The pure gossip validator's window onto this node's sessions and chain caches."""

from __future__ import annotations

from node.pipeline.sessions import Sessions
from protocol.gossip import GossipView, TraceOnChain
from protocol.models import Commit


class NodeView(GossipView):
    """The pure validator's window onto the sessions and the chain caches."""

    def __init__(self, sessions: Sessions) -> None:
        self._sessions = sessions

    @property
    def domain_separator(self) -> bytes:
        return self._sessions.chain.domain_separator

    def get_trace(self, trace_id: str) -> TraceOnChain | None:
        session = self._sessions.get(trace_id)
        if session is None:
            return None
        submission = session.context.submission
        round_ = session.current_round
        return TraceOnChain(
            trace_id=trace_id,
            root=submission.root,
            segment_count=session.context.segment_count,
            submitter=submission.submitter,
            round=round_,
            phase=session.phase(round_),
            basis=session.basis,
            plan=session.plan,
        )

    def is_registered(self, address: str) -> bool:
        return self._sessions.chain.is_registered(address)

    def get_commit(self, trace_id: str, round_: int, auditor: str) -> Commit | None:
        session = self._sessions.get(trace_id)
        return None if session is None else session.round_state(round_).commits.get(auditor)

    def has_reveal(self, trace_id: str, round_: int, auditor: str) -> bool:
        session = self._sessions.get(trace_id)
        return session is not None and auditor in session.round_state(round_).reveals

    def has_sealed_reveal(self, trace_id: str, round_: int, auditor: str) -> bool:
        session = self._sessions.get(trace_id)
        return session is not None and auditor in session.round_state(round_).sealed

    def is_assigned(self, trace_id: str, round_: int, segment: int, auditor: str) -> bool:
        session = self._sessions.get(trace_id)
        return session is not None and session.is_assigned(round_, segment, auditor)

    def assigned_segments(self, trace_id: str, round_: int, auditor: str) -> tuple[int, ...]:
        session = self._sessions.get(trace_id)
        return () if session is None else session.segments_of(round_, auditor)
