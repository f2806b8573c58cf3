"""Round bookkeeping every node shares: phases, complete reveals, absences, layout tiers."""

from __future__ import annotations

import pytest

from protocol.gossip import Phase
from protocol.hdag import build_hdag
from protocol.layout import compute_segment_layout
from protocol.messages import (
    MessageDecodeError,
    SegmentsRequest,
    VoteRequest,
    decode_fetch_request,
    encode_fetch_request,
)
from protocol.models import Auditor, Level, Reveal, Tier, Trace, Vote, VoteEntry
from protocol.rounds import (
    RoundAbsence,
    compute_absences,
    compute_auditor_segments,
    compute_layout_tiers,
    compute_phase,
    compute_round_auditors,
    compute_round_segments,
    is_reveal_complete,
)
from protocol.sortition import compute_segment_tier, compute_tier_stakes

A, B, C = "0x" + "0a" * 20, "0x" + "0b" * 20, "0x" + "0c" * 20
TRACE_ID = "0x" + "11" * 32
ASSIGNMENTS = {
    (0, 0): {A: 10, B: 20},
    (0, 1): {B: 20},
    (0, 2): {A: 10, C: 30},
    (1, 1): {B: 20, C: 30},
}


def _reveal(auditor: str, round_: int, segments: tuple[int, ...]) -> Reveal:
    votes = tuple(
        VoteEntry(segment=s, vote=Vote.VALID, confidence=1, rationale="0x" + "00" * 32)
        for s in segments
    )
    return Reveal(
        trace_id=TRACE_ID,
        round=round_,
        auditor=auditor,
        votes=votes,
        salt="0x" + "22" * 32,
        signature="0x" + "00" * 65,
    )


def test_committees_by_round_and_auditor() -> None:
    assert compute_round_auditors(ASSIGNMENTS, 0) == {A, B, C}
    assert compute_round_auditors(ASSIGNMENTS, 1) == {B, C}
    assert compute_auditor_segments(ASSIGNMENTS, 0, A) == (0, 2)
    assert compute_auditor_segments(ASSIGNMENTS, 1, A) == ()
    assert compute_round_segments(ASSIGNMENTS, 1) == (1,)


def test_a_reveal_is_complete_only_when_it_covers_every_assigned_segment() -> None:
    assert is_reveal_complete(_reveal(A, 0, (0, 2)), ASSIGNMENTS)
    assert not is_reveal_complete(_reveal(A, 0, (0,)), ASSIGNMENTS)
    assert not is_reveal_complete(_reveal(A, 0, (0, 1, 2)), ASSIGNMENTS)
    assert not is_reveal_complete(_reveal(A, 1, (1,)), ASSIGNMENTS)


@pytest.mark.parametrize(
    ("committed", "revealed", "commit_expired", "reveal_expired", "phase"),
    [
        ((), (), False, False, Phase.COMMIT),
        ((A, B), (), False, False, Phase.COMMIT),
        ((A, B, C), (), False, False, Phase.REVEAL),  # event-driven: everyone committed
        ((A, B), (), True, False, Phase.REVEAL),  # the window ended without C
        ((A, B), (A,), True, False, Phase.REVEAL),
        ((A, B), (A, B), True, False, Phase.CLOSED),  # event-driven: every committer revealed
        ((A, B), (A,), True, True, Phase.CLOSED),
        ((), (), True, True, Phase.CLOSED),
    ],
)
def test_phase_is_event_driven_with_windows_as_bounds(
    committed: tuple[str, ...],
    revealed: tuple[str, ...],
    commit_expired: bool,
    reveal_expired: bool,
    phase: Phase,
) -> None:
    got = compute_phase(
        (A, B, C),
        committed,
        revealed,
        commit_expired=commit_expired,
        reveal_expired=reveal_expired,
    )
    assert got is phase


def test_a_round_nobody_is_assigned_to_is_closed_at_once() -> None:
    assert compute_phase((), (), (), commit_expired=False, reveal_expired=False) is Phase.CLOSED


def test_absences_list_every_silent_assigned_auditor_in_ledger_order() -> None:
    reveals = [_reveal(A, 0, (0, 2)), _reveal(C, 1, (1,))]
    assert compute_absences(ASSIGNMENTS, reveals) == [
        RoundAbsence(B, 0, (0, 1)),
        RoundAbsence(C, 0, (2,)),
        RoundAbsence(B, 1, (1,)),
    ]


def test_layout_tiers_equal_the_tiers_drawn_from_the_hdag() -> None:
    trace = Trace(problem="Compute.", steps=("First, 3 * 4 = 12.", "Then 12 + 1 = 13."))
    hdag = build_hdag(trace)
    snapshot = (
        Auditor(address=A, stake=10, tiers=(Tier.CHECKER,)),
        Auditor(address=B, stake=20, tiers=(Tier.LLM, Tier.HUMAN)),
    )
    stakes = compute_tier_stakes(snapshot)
    expected = tuple(compute_segment_tier(node.level, stakes) for node in hdag.nodes)
    assert compute_layout_tiers(compute_segment_layout(hdag), snapshot) == expected
    assert Level.OPERATION in {node.level for node in hdag.nodes}


def test_fetch_requests_round_trip_and_hostile_ones_are_refused() -> None:
    vote = VoteRequest(kind="reveal", trace_id=TRACE_ID, round=1, auditor=A)
    segments = SegmentsRequest(trace_id=TRACE_ID, round=0)
    assert decode_fetch_request(encode_fetch_request(vote)) == vote
    assert decode_fetch_request(encode_fetch_request(segments)) == segments
    for hostile in (b"", b"{}", b'{"kind":"reveal"}', b"x" * 5000, b'{"kind":"segments",'):
        with pytest.raises(MessageDecodeError):
            decode_fetch_request(hostile)
