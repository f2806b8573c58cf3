"""One trace's audit as this node follows it: committees, votes seen, phase of each round.

Every node that hears of a trace keeps an `AuditSession`: the coordinator that submitted it, the
auditors assigned to it, and bystanders (which validate and relay its votes, and may finalize it
if it stalls). Phases are event-driven: a round leaves COMMIT as soon as every assigned auditor
committed and REVEAL as soon as every committer revealed; the windows only bound the wait for
auditors that never answer. Round 1's committees follow from the round-0 reveals the coordinator
closed round 0 with (its *basis*). Those reveals travel sealed to the coordinator until round 1's
commits close, so its round-1 segment bundles declare the *plan* they give (which segments
escalated, where to, who is left out), and every other node draws round 1 from the plan, then
checks it against the basis reveals once they are public.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from node.pipeline.admission import RoundSignal
from node.pipeline.context import TraceContext
from protocol.consensus import compute_planned_assignments, compute_round_one_plan
from protocol.gossip import Phase
from protocol.messages import SealedReveal
from protocol.models import Commit, PlannedEscalation, Reveal, Tier
from protocol.params import ProtocolParams
from protocol.rounds import (
    Assignments,
    compute_auditor_segments,
    compute_phase,
    compute_round_auditors,
    compute_round_segments,
)


@dataclass(frozen=True)
class Timing:
    """How long a round waits for auditors that do not answer (seconds)."""

    #: Auditors wait this long for their segments before fetching them from the submitter.
    segment_wait_s: float = 2.0
    commit_window_s: float = 10.0
    reveal_window_s: float = 10.0
    #: Missing commits and reveals are fetched from peers after this long (anti-entropy).
    fetch_after_s: float = 1.0
    #: Any node finalizes a trace still open this long after it first saw it.
    stall_timeout_s: float = 60.0
    #: Phases last their whole windows instead of ending when everyone answered: the
    #: benchmark's baseline, the way a protocol with fixed-length phases behaves.
    fixed_phases: bool = False


@dataclass
class RoundState:
    started_at: float
    commits: dict[str, Commit] = field(default_factory=dict)
    reveals: dict[str, Reveal] = field(default_factory=dict)
    #: Round-0 reveals sealed to the submitter, as every node sees them (by their header).
    sealed: dict[str, SealedReveal] = field(default_factory=dict)
    #: Auditors whose reveal (held in clear) is public: it came over the wire in clear, or this
    #: node published it. Only these are served to other peers while the trace is open.
    public: set[str] = field(default_factory=set)
    #: When the last assigned auditor committed: the reveal window starts then at the latest.
    all_committed_at: float | None = None
    #: When the latest commit arrived (the coordinator's load signal).
    last_commit_at: float | None = None


class AuditSession:
    """Mutable state of one trace on this node; all methods are called on the event loop."""

    def __init__(
        self,
        context: TraceContext,
        params: ProtocolParams,
        timing: Timing,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.context = context
        self.params = params
        self.timing = timing
        self.clock = clock
        self.first_seen = clock()
        self.basis: tuple[str, ...] | None = None
        #: Round 1's escalations, once round 1 is open (from the basis, or a bundle's plan).
        self.plan: tuple[PlannedEscalation, ...] | None = None
        self.finalized = False
        #: Rounds whose segments were seen going out (a bundle): only their silent auditors
        #: may be reported absent.
        self.dispatched: set[int] = set()
        self.assignments: Assignments = self._draw(())
        #: Round 1's segments by the tier they escalated to (known once the plan is).
        self._escalated_tiers: dict[int, Tier] = {}
        self.rounds: dict[int, RoundState] = {}
        self._changed = asyncio.Event()

    @property
    def trace_id(self) -> str:
        return self.context.trace_id

    @property
    def current_round(self) -> int:
        """0 until the round-0 basis is known, then 1."""
        return 0 if self.basis is None else 1

    def _draw(self, plan: Iterable[PlannedEscalation]) -> Assignments:
        submission = self.context.submission
        return compute_planned_assignments(
            submission.seed, self.context.tiers, submission.k, self.context.snapshot, plan
        )

    def compute_plan(self, round0_reveals: Iterable[Reveal]) -> tuple[PlannedEscalation, ...]:
        """The round-1 plan these round-0 reveals give."""
        submission = self.context.submission
        return compute_round_one_plan(
            submission.seed,
            self.context.tiers,
            submission.k,
            self.context.snapshot,
            round0_reveals,
            self.params,
        )

    # --- Rounds --------------------------------------------------------------------------------

    def round_state(self, round_: int) -> RoundState:
        """The round's state, starting its clock on first use."""
        state = self.rounds.get(round_)
        if state is None:
            state = self.rounds[round_] = RoundState(started_at=self.clock())
        return state

    def mark_dispatched(self, round_: int) -> None:
        """The round's segments went out (we sent them, or saw a bundle): its clock starts, and
        its silent auditors may be reported absent."""
        self.round_state(round_)
        self.dispatched.add(round_)

    def adopt_basis(self, round0_reveals: Iterable[Reveal]) -> None:
        """Fix round 1 from these round-0 reveals (the coordinator, which holds them)."""
        reveals = tuple(reveal for reveal in round0_reveals if reveal.round == 0)
        self.adopt_plan(self.compute_plan(reveals), [reveal.auditor for reveal in reveals])

    def adopt_plan(self, plan: Iterable[PlannedEscalation], basis: Iterable[str]) -> None:
        """Fix round 1's committees from a declared plan (once); `basis` names the round-0
        reveals it must follow from."""
        self.plan = tuple(plan)
        self.basis = tuple(sorted(basis))
        self.assignments = self._draw(self.plan)
        self._escalated_tiers = {p.segment: p.tier for p in self.plan}
        self.notify()

    def check_plan(self) -> bool | None:
        """Whether the plan round 1 opened with is the one its basis reveals give; None until
        round 1 is open and every basis reveal is held in clear. False is the submitter's
        fault: it declared committees its reveals do not give (and `finalize` would revert)."""
        if self.basis is None or self.plan is None:
            return None
        held = self.round_state(0).reveals
        if not all(auditor in held for auditor in self.basis):
            return None
        return self.compute_plan(held[a] for a in self.basis) == self.plan

    def segment_tier(self, round_: int, segment: int) -> Tier:
        """The tier judging `segment` in `round_`: the layout's in round 0, in round 1 the tier
        it escalated to (a segment's sealed copy carries its round-0 tier)."""
        if round_ > 0 and segment in self._escalated_tiers:
            return self._escalated_tiers[segment]
        return self.context.tiers[segment]

    def assigned(self, round_: int) -> frozenset[str]:
        return compute_round_auditors(self.assignments, round_)

    def segments_of(self, round_: int, auditor: str) -> tuple[int, ...]:
        return compute_auditor_segments(self.assignments, round_, auditor)

    def round_segments(self, round_: int) -> tuple[int, ...]:
        return compute_round_segments(self.assignments, round_)

    def is_assigned(self, round_: int, segment: int, auditor: str) -> bool:
        return auditor in self.assignments.get((round_, segment), {})

    # --- Votes ---------------------------------------------------------------------------------

    def record_commit(self, commit: Commit) -> None:
        state = self.round_state(commit.round)
        if commit.auditor not in state.commits:
            state.commits[commit.auditor] = commit
            state.last_commit_at = self.clock()
        if state.all_committed_at is None and self.assigned(commit.round) <= state.commits.keys():
            state.all_committed_at = self.clock()
        self.notify()

    def record_reveal(self, reveal: Reveal, *, public: bool = False) -> None:
        """A reveal in clear; `public` when it came over the wire so, or we published it."""
        state = self.round_state(reveal.round)
        state.reveals.setdefault(reveal.auditor, reveal)
        if public:
            state.public.add(reveal.auditor)
        self.notify()

    def record_sealed_reveal(self, sealed: SealedReveal) -> None:
        self.round_state(sealed.round).sealed.setdefault(sealed.auditor, sealed)
        self.notify()

    def has_revealed(self, round_: int, auditor: str) -> bool:
        """A reveal of the auditor is held, in clear or sealed."""
        state = self.round_state(round_)
        return auditor in state.reveals or auditor in state.sealed

    def commit_signal(self, round_: int) -> RoundSignal | None:
        """What the round's commit phase says about the load; None for a round judged by the
        human tier (a person's pace, not the network's)."""
        if any(self.segment_tier(round_, s) is Tier.HUMAN for s in self.round_segments(round_)):
            return None
        state = self.round_state(round_)
        delay = None if state.last_commit_at is None else state.last_commit_at - state.started_at
        return RoundSignal(state.started_at, self.clock(), delay, self.timing.commit_window_s)

    def votes_received(self, round_: int) -> int:
        """Commits and reveals of the round held so far: anti-entropy's sign of progress."""
        state = self.round_state(round_)
        return len(state.commits) + len(state.reveals.keys() | state.sealed.keys())

    def missing_commits(self, round_: int) -> list[str]:
        return sorted(self.assigned(round_) - self.round_state(round_).commits.keys())

    def missing_reveals(self, round_: int) -> list[str]:
        state = self.round_state(round_)
        return sorted(state.commits.keys() - state.reveals.keys() - state.sealed.keys())

    # --- Phases --------------------------------------------------------------------------------

    def phase(self, round_: int) -> Phase:
        if self.finalized:
            return Phase.CLOSED
        state = self.round_state(round_)
        now = self.clock()
        if self.timing.fixed_phases:
            if now < self._commit_deadline(state):
                return Phase.COMMIT
            return Phase.REVEAL if now < self._reveal_deadline(state) else Phase.CLOSED
        return compute_phase(
            self.assigned(round_),
            state.commits,
            state.reveals.keys() | state.sealed.keys(),
            commit_expired=now >= self._commit_deadline(state),
            reveal_expired=now >= self._reveal_deadline(state),
        )

    def _commit_deadline(self, state: RoundState) -> float:
        return state.started_at + self.timing.commit_window_s

    def _reveal_deadline(self, state: RoundState) -> float:
        opened = self._commit_deadline(state)
        if state.all_committed_at is not None and not self.timing.fixed_phases:
            opened = min(opened, state.all_committed_at)
        return opened + self.timing.reveal_window_s

    def _next_deadline(self, round_: int) -> float:
        state = self.round_state(round_)
        upcoming = [
            deadline
            for deadline in (self._commit_deadline(state), self._reveal_deadline(state))
            if deadline > self.clock()
        ]
        return min(upcoming, default=math.inf)

    # --- Waiting -------------------------------------------------------------------------------

    def notify(self) -> None:
        """Wake every waiter: something about this trace changed."""
        self._changed.set()
        self._changed = asyncio.Event()

    async def wait_changed(self, timeout: float) -> None:
        """Return at the next change, or after `timeout` seconds."""
        changed = self._changed
        try:
            async with asyncio.timeout(max(0.0, timeout)):
                await changed.wait()
        except TimeoutError:
            pass

    async def wait_for_phase(self, round_: int, wanted: frozenset[Phase], timeout: float) -> bool:
        """Wait until the round's phase is one of `wanted`; False when `timeout` ran out first."""
        give_up = self.clock() + timeout
        while self.phase(round_) not in wanted:
            now = self.clock()
            if now >= give_up:
                return False
            await self.wait_changed(min(give_up, self._next_deadline(round_)) - now + 0.001)
        return True
