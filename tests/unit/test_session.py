"""An audit session's phases: event-driven, bounded by windows, on an injected clock."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import pytest

from node.chain.ledger import Submission
from node.pipeline.context import TraceContext
from node.pipeline.finalizer import IncompleteReportError, compute_report
from node.pipeline.router import await_phase
from node.pipeline.session import AuditSession, Timing
from node.pipeline.sessions import Sessions
from protocol.gossip import Phase
from protocol.hdag import build_hdag
from protocol.layout import compute_segment_layout
from protocol.messages import SealedReveal
from protocol.models import Auditor, Commit, Reveal, Tier, Trace, Vote, VoteEntry
from protocol.params import DEVNET
from protocol.rounds import compute_layout_tiers

TRACE = Trace(problem="Compute.", steps=("3 * 4 = 12", "12 + 1 = 13"))
SNAPSHOT = tuple(
    Auditor(address="0x" + f"{i:02x}" * 20, stake=10 * i, tiers=(Tier.CHECKER, Tier.LLM))
    for i in range(1, 6)
)
TIMING = Timing(commit_window_s=10.0, reveal_window_s=5.0)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _session(
    clock: Callable[[], float], timing: Timing = TIMING, snapshot: tuple[Auditor, ...] = SNAPSHOT
) -> AuditSession:
    hdag = build_hdag(TRACE)
    layout = compute_segment_layout(hdag)
    submission = Submission(
        trace_id=hdag.trace_id,
        submitter=SNAPSHOT[0].address,
        root=hdag.root,
        seed="0x" + "5e" * 32,
        k=2,
        layout=layout,
        snapshot_block=1,
        tx_hash="0x" + "00" * 32,
    )
    context = TraceContext(submission, snapshot, compute_layout_tiers(layout, snapshot))
    return AuditSession(context, DEVNET, timing, clock)


def _commit(session: AuditSession, auditor: str) -> Commit:
    return Commit(
        trace_id=session.trace_id,
        round=0,
        auditor=auditor,
        commitment="0x" + "77" * 32,
        signature="0x" + "00" * 65,
    )


def test_round_leaves_commit_when_the_last_assigned_auditor_commits() -> None:
    clock = Clock()
    session = _session(clock)
    assigned = sorted(session.assigned(0))
    assert assigned, "the devnet committee floor assigns someone"
    for auditor in assigned[:-1]:
        session.record_commit(_commit(session, auditor))
        assert session.phase(0) is Phase.COMMIT
    session.record_commit(_commit(session, assigned[-1]))
    assert session.phase(0) is Phase.REVEAL
    clock.now += TIMING.reveal_window_s  # nobody revealed: the reveal window bounds the wait
    assert session.phase(0) is Phase.CLOSED


def test_commit_window_bounds_a_silent_auditor() -> None:
    clock = Clock()
    session = _session(clock)
    first, *silent = sorted(session.assigned(0))
    assert silent, "this seed draws several auditors"
    session.record_commit(_commit(session, first))
    clock.now += TIMING.commit_window_s - 0.01
    assert session.phase(0) is Phase.COMMIT
    clock.now += 0.02
    assert session.phase(0) is Phase.REVEAL
    assert session.missing_reveals(0) == [first]
    assert session.missing_commits(0) == silent


def test_a_round_in_which_nobody_committed_closes_with_the_commit_window() -> None:
    clock = Clock()
    session = _session(clock)
    session.round_state(0)
    clock.now += TIMING.commit_window_s
    assert session.phase(0) is Phase.CLOSED


def test_fixed_phases_ignore_events() -> None:
    clock = Clock()
    session = _session(clock, Timing(commit_window_s=10.0, reveal_window_s=5.0, fixed_phases=True))
    for auditor in session.assigned(0):
        session.record_commit(_commit(session, auditor))
    assert session.phase(0) is Phase.COMMIT
    clock.now += 10.0
    assert session.phase(0) is Phase.REVEAL
    clock.now += 5.0
    assert session.phase(0) is Phase.CLOSED


async def test_waiters_wake_on_the_event_not_on_a_timer() -> None:
    session = _session(Clock())
    assigned = sorted(session.assigned(0))
    waiter = asyncio.create_task(
        session.wait_for_phase(0, frozenset({Phase.REVEAL, Phase.CLOSED}), timeout=30.0)
    )
    await asyncio.sleep(0)
    assert not waiter.done()
    for auditor in assigned:
        session.record_commit(_commit(session, auditor))
    async with asyncio.timeout(5):
        assert await waiter


def test_round_one_opens_with_its_basis() -> None:
    session = _session(Clock())
    assert session.current_round == 0
    session.adopt_basis([])
    assert session.current_round == 1
    assert session.basis == ()
    # No round-0 reveal: every segment is UNRESOLVED and escalates to a doubled committee.
    assert session.round_segments(1) == session.round_segments(0)


def _abstaining_reveal(session: AuditSession, auditor: str) -> Reveal:
    votes = tuple(
        VoteEntry(segment=segment, vote=Vote.ABSTAIN, confidence=0, rationale="0x" + "00" * 32)
        for segment in session.segments_of(0, auditor)
    )
    return Reveal(
        trace_id=session.trace_id,
        round=0,
        auditor=auditor,
        votes=votes,
        salt="0x" + "11" * 32,
        signature="0x" + "00" * 65,
    )


def test_round_one_judges_an_abstained_segment_at_the_tier_it_escalated_to() -> None:
    session = _session(Clock())
    round0_tiers = [session.segment_tier(0, s) for s in range(session.context.segment_count)]
    assert round0_tiers == list(session.context.tiers)
    session.adopt_basis(_abstaining_reveal(session, a) for a in sorted(session.assigned(0)))
    # Every round-0 vote abstained: each segment moves up to the next tier with stake (LLM),
    # unless it is in the top tier already or nobody was drawn for it (then it stays, with a
    # doubled committee); a sealed copy names its round-0 tier.
    moved = 0
    for segment, tier in enumerate(round0_tiers):
        drawn = bool(session.assignments[(0, segment)])
        expected = Tier.LLM if tier is Tier.CHECKER and drawn else tier
        moved += expected is not tier
        assert session.segment_tier(1, segment) is expected, segment
        assert session.segment_tier(0, segment) is tier
    assert moved, "this seed draws someone for an operation"


def test_the_load_signal_is_the_last_commit_that_arrived() -> None:
    clock = Clock()
    session = _session(clock)
    session.mark_dispatched(0)
    assigned = sorted(session.assigned(0))
    clock.now += 1.5
    session.record_commit(_commit(session, assigned[0]))
    clock.now += 2.0
    session.record_commit(_commit(session, assigned[0]))  # a duplicate is not an arrival
    signal = session.commit_signal(0)
    assert signal is not None
    assert (signal.started_at, signal.commit_delay_s, signal.finished_at) == (100.0, 1.5, 103.5)
    assert signal.commit_window_s == TIMING.commit_window_s


def test_a_round_without_commits_gives_no_delay() -> None:
    session = _session(Clock())
    session.mark_dispatched(0)
    signal = session.commit_signal(0)
    assert signal is not None and signal.commit_delay_s is None


def test_a_round_judged_by_the_human_tier_is_no_load_signal() -> None:
    humans = tuple(
        Auditor(address=a.address, stake=a.stake, tiers=(Tier.CHECKER, Tier.LLM, Tier.HUMAN))
        for a in SNAPSHOT
    )
    session = _session(Clock(), snapshot=humans)
    assert Tier.HUMAN in session.context.tiers
    session.mark_dispatched(0)
    assert session.commit_signal(0) is None


class _StuckFetches:
    """A router whose fetches never answer (every peer overloaded)."""

    def __init__(self, vote_delay_s: float = 0.0) -> None:
        self.fetches = 0
        self.cancelled = 0
        self._vote_delay_s = vote_delay_s

    def vote_delay_s(self) -> float:
        return self._vote_delay_s

    async def fetch_votes(self, *_: object) -> None:
        self.fetches += 1
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            self.cancelled += 1
            raise


async def test_a_round_closes_at_its_window_while_a_fetch_hangs() -> None:
    timing = Timing(commit_window_s=0.3, reveal_window_s=0.3, fetch_after_s=0.05)
    session = _session(time.monotonic, timing)
    session.mark_dispatched(0)
    router = _StuckFetches()
    phase = await asyncio.wait_for(
        await_phase(router, session, 0, frozenset({Phase.REVEAL, Phase.CLOSED})),  # type: ignore[arg-type]
        timeout=5,
    )
    assert phase is Phase.CLOSED  # nobody committed: the commit window closed the round
    assert router.fetches == 1 and router.cancelled == 1


class _ScriptedRound:
    """A session whose round times out once per entry of `arrivals` (the votes held after that
    wait) and then reaches the wanted phase; it records each pause and each fetch's moment."""

    def __init__(self, arrivals: list[int], router: _StuckFetches) -> None:
        self.timing = Timing(fetch_after_s=1.0)
        self.pauses: list[float] = []
        self.fetched_after_waits: list[int] = []
        self._arrivals = arrivals
        self._received = 0
        self._router = router

    async def wait_for_phase(self, _round: int, _wanted: object, timeout: float) -> bool:
        await asyncio.sleep(0)  # a fetch started by the last timeout runs now
        self.fetched_after_waits += [len(self.pauses)] * (
            self._router.fetches - len(self.fetched_after_waits)
        )
        self.pauses.append(timeout)
        if len(self.pauses) > len(self._arrivals):
            return True
        self._received = self._arrivals[len(self.pauses) - 1]
        return False

    def votes_received(self, _round: int) -> int:
        return self._received

    def phase(self, _round: int) -> Phase:
        return Phase.COMMIT

    def missing_commits(self, _round: int) -> list[str]:
        return []


async def _await_scripted(arrivals: list[int], vote_delay_s: float = 0.0) -> _ScriptedRound:
    router = _StuckFetches(vote_delay_s)
    session = _ScriptedRound(arrivals, router)
    await await_phase(router, session, 0, frozenset({Phase.REVEAL, Phase.CLOSED}))  # type: ignore[arg-type]
    return session


async def test_the_first_fetch_waits_for_the_votes_peers_hold_back() -> None:
    """Peers batching their votes for 0.5 s: the first pause is 1 s + 0.5 s."""
    session = await _await_scripted([0, 0], vote_delay_s=0.5)
    assert session.pauses == [1.5, 3.0, 6.0]


async def test_no_fetch_while_votes_keep_arriving() -> None:
    """Votes arrive during the first three pauses: the round is slow, not missing anything, so
    the first fetch follows the fourth, the first pause in which none came."""
    session = await _await_scripted([1, 2, 3, 3])
    assert session.pauses == [1.0, 1.0, 1.0, 1.0, 2.0]
    assert session.fetched_after_waits == [4]


def test_only_traces_whose_round_collects_votes_count_as_in_flight() -> None:
    """The vote publisher's load signal: a trace waiting only for its verdict to be seen
    on-chain votes no more, and must not make the next lone trace's votes wait longer."""
    clock = Clock()
    sessions = Sessions(None, None, DEVNET, TIMING)  # type: ignore[arg-type]
    collecting, closed = _session(clock), _session(clock)
    closed.finalized = True
    sessions._sessions = {"collecting": collecting, "closed": closed}
    assert sessions.open_rounds() == 1
    clock.now += TIMING.commit_window_s + TIMING.reveal_window_s  # both windows ran out
    assert sessions.open_rounds() == 0


def test_a_node_without_the_reveals_opens_round_one_from_the_declared_plan() -> None:
    """The coordinator holds the round-0 reveals (sealed to it); every other node holds only the
    plan its round-1 bundles declare, draws the same committees, and checks the plan once the
    basis reveals are public."""
    coordinator, bystander = _session(Clock()), _session(Clock())
    reveals = [_abstaining_reveal(coordinator, a) for a in sorted(coordinator.assigned(0))]
    coordinator.adopt_basis(reveals)
    assert coordinator.plan is not None and coordinator.basis is not None
    bystander.adopt_plan(coordinator.plan, reversed(coordinator.basis))
    assert (bystander.current_round, bystander.basis) == (1, coordinator.basis)
    assert bystander.assignments == coordinator.assignments
    for segment in range(bystander.context.segment_count):
        assert bystander.segment_tier(1, segment) is coordinator.segment_tier(1, segment)
    assert bystander.check_plan() is None  # no basis reveal public yet
    for reveal in reveals[:-1]:
        bystander.record_reveal(reveal, public=True)
    assert bystander.check_plan() is None
    bystander.record_reveal(reveals[-1], public=True)
    assert bystander.check_plan() is True
    assert bystander.round_state(0).public == set(coordinator.basis)
    # A plan the basis does not give (here: nothing escalated) is caught.
    liar = _session(Clock())
    liar.adopt_plan((), coordinator.basis)
    for reveal in reveals:
        liar.record_reveal(reveal)
    assert liar.check_plan() is False


def sealed_header(session: AuditSession, auditor: str) -> SealedReveal:
    """A round-0 reveal sealed to the submitter as a node that cannot open it sees it: by its
    header (the ciphertext is a placeholder)."""
    return SealedReveal(
        trace_id=session.trace_id,
        round=0,
        auditor=auditor,
        recipient=session.context.submission.submitter,
        ephemeral_key="0x" + "01" * 32,
        nonce="0x" + "02" * 12,
        ciphertext="0xdeadbeef",
        signature="0x" + "00" * 65,
    )


def test_a_sealed_reveal_counts_as_revealed_for_the_phase() -> None:
    clock = Clock()
    session = _session(clock)
    assigned = sorted(session.assigned(0))
    for auditor in assigned:
        session.record_commit(_commit(session, auditor))
    assert session.phase(0) is Phase.REVEAL
    for auditor in assigned:
        assert session.missing_reveals(0) == assigned[assigned.index(auditor) :]
        session.record_sealed_reveal(sealed_header(session, auditor))
        assert session.has_revealed(0, auditor)
    assert session.phase(0) is Phase.CLOSED
    assert session.round_state(0).reveals == {}  # nothing in clear on this node


def test_a_bystander_does_not_finalize_before_the_basis_is_public() -> None:
    """A node that opened round 1 from the plan holds no round-0 vote in clear until the basis
    is published: a stalled-trace finalize from it would be incomplete, so it is refused."""
    coordinator, bystander = _session(Clock()), _session(Clock())
    reveals = [_abstaining_reveal(coordinator, a) for a in sorted(coordinator.assigned(0))]
    for reveal in reveals:  # opened from their sealed copies
        coordinator.record_reveal(reveal)
    coordinator.adopt_basis(reveals)
    assert coordinator.plan is not None and coordinator.basis is not None
    bystander.adopt_plan(coordinator.plan, coordinator.basis)
    for reveal in reveals[:-1]:
        bystander.record_reveal(reveal, public=True)
    with pytest.raises(IncompleteReportError, match="1 round-0 basis reveals are not public"):
        compute_report(bystander)
    # A basis member that never publishes (the dead submitter's own auditor): round 1 is left
    # out, as if it had never opened, and the silent round-0 auditor is reported absent.
    bystander.mark_dispatched(0)
    bystander.mark_dispatched(1)
    held, absent = compute_report(bystander, without_unpublished_basis=True)
    assert held == reveals[:-1]
    assert [(a.auditor, a.round) for a in absent] == [(reveals[-1].auditor, 0)]
    bystander.record_reveal(reveals[-1], public=True)
    held, _ = compute_report(bystander)
    assert held == compute_report(coordinator)[0] == reveals
