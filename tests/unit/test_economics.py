"""Payouts: coherent voters share fee and slashes pro rata stake, wrong and absent ones lose."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol.economics import Payouts, compute_payouts, compute_slash, compute_vote_index
from protocol.encoding import ZERO_HASH
from protocol.errors import ConsensusError
from protocol.models import Reveal, SegmentVerdict, Vote, VoteEntry
from protocol.params import DEVNET
from protocol.signing import compute_address

A, B, C, D = (compute_address("0x" + f"{i:064x}") for i in range(1, 5))
VALID, INVALID, UNRESOLVED = SegmentVerdict.VALID, SegmentVerdict.INVALID, SegmentVerdict.UNRESOLVED


def test_coherent_voter_takes_fee_and_slashes() -> None:
    assignments = {(0, 0): {A: 100, B: 100, C: 200}}
    votes = {(0, 0, A): Vote.VALID, (0, 0, B): Vote.INVALID}  # C is absent
    payouts = compute_payouts(1000, assignments, votes, {0: VALID}, DEVNET)
    # 1% of stake per wrong or absent vote: B loses 1, C loses 2.
    assert payouts == Payouts(rewards={A: 1003}, slashes={B: 1, C: 2}, dust=0)


def test_rewards_are_pro_rata_coherent_stake_with_dust() -> None:
    assignments = {(0, 0): {A: 100, B: 200}}
    votes = {(0, 0, A): Vote.INVALID, (0, 0, B): Vote.INVALID}
    payouts = compute_payouts(1000, assignments, votes, {0: INVALID}, DEVNET)
    assert payouts == Payouts(rewards={A: 333, B: 666}, slashes={}, dust=1)


def test_weight_accumulates_over_segments_and_rounds() -> None:
    assignments = {(0, 0): {A: 10, B: 10}, (0, 1): {A: 10}, (1, 1): {A: 10, B: 10}}
    votes = {
        (0, 0, A): Vote.VALID,
        (0, 0, B): Vote.VALID,
        (0, 1, A): Vote.VALID,
        (1, 1, A): Vote.VALID,
        (1, 1, B): Vote.VALID,
    }
    payouts = compute_payouts(900, assignments, votes, {0: VALID, 1: VALID}, DEVNET)
    assert payouts.rewards == {A: 540, B: 360}  # weights 30 and 20


def test_abstain_is_neither_rewarded_nor_slashed() -> None:
    assignments = {(0, 0): {A: 100, B: 100}}
    votes = {(0, 0, A): Vote.VALID, (0, 0, B): Vote.ABSTAIN}
    payouts = compute_payouts(50, assignments, votes, {0: VALID}, DEVNET)
    assert payouts == Payouts(rewards={A: 50}, slashes={}, dust=0)


def test_unresolved_segments_pay_and_slash_nothing() -> None:
    assignments = {(0, 0): {A: 100, B: 100}, (1, 0): {A: 100, B: 100}}
    votes = {(0, 0, A): Vote.VALID, (0, 0, B): Vote.INVALID}
    payouts = compute_payouts(70, assignments, votes, {0: UNRESOLVED}, DEVNET)
    assert payouts == Payouts(rewards={}, slashes={}, dust=70)
    assert compute_payouts(70, assignments, votes, {}, DEVNET).dust == 70


def test_round_zero_voters_are_judged_by_the_final_verdict() -> None:
    # Segment 0 split in round 0, escalated, and came out INVALID in round 1.
    assignments = {(0, 0): {A: 1000, B: 1000}, (1, 0): {C: 1000}}
    votes = {(0, 0, A): Vote.VALID, (0, 0, B): Vote.INVALID, (1, 0, C): Vote.INVALID}
    payouts = compute_payouts(0, assignments, votes, {0: INVALID}, DEVNET)
    assert payouts == Payouts(rewards={B: 5, C: 5}, slashes={A: 10}, dust=0)


def test_nobody_coherent_leaves_the_whole_pool_as_dust() -> None:
    assignments = {(0, 0): {A: 10_000}}
    payouts = compute_payouts(5, assignments, {(0, 0, A): Vote.VALID}, {0: INVALID}, DEVNET)
    assert payouts == Payouts(rewards={}, slashes={A: 100}, dust=105)


def test_slash_never_exceeds_the_stake() -> None:
    assert compute_slash(100, 2, 10_000) == 100
    assert compute_slash(100, 3, 5_000) == 100
    assert compute_slash(100, 1, 5_000) == 50
    assert compute_slash(99, 1, 100) == 0  # floors: tiny stakes lose nothing
    everything = replace(DEVNET, slash_bps=10_000)
    assignments = {(0, 0): {A: 7}, (0, 1): {A: 7}, (0, 2): {B: 1}}
    payouts = compute_payouts(
        0, assignments, {(0, 2, B): Vote.VALID}, dict.fromkeys(range(3), VALID), everything
    )
    assert payouts.slashes == {A: 7}
    assert payouts.rewards == {B: 7}


def test_votes_outside_the_assignments_are_ignored() -> None:
    assignments = {(0, 0): {A: 10}}
    votes = {(0, 0, A): Vote.VALID, (0, 0, B): Vote.VALID, (1, 0, A): Vote.INVALID}
    assert compute_payouts(10, assignments, votes, {0: VALID}, DEVNET).rewards == {A: 10}


def test_inconsistent_inputs_are_rejected() -> None:
    with pytest.raises(ConsensusError, match="non-negative"):
        compute_payouts(-1, {}, {}, {}, DEVNET)
    with pytest.raises(ConsensusError, match="two different stakes"):
        compute_payouts(1, {(0, 0): {A: 10}, (0, 1): {A: 11}}, {}, {0: VALID, 1: VALID}, DEVNET)


def _reveal(auditor: str, round_: int, votes: dict[int, Vote]) -> Reveal:
    entries = tuple(
        VoteEntry(segment=s, vote=v, confidence=0, rationale=ZERO_HASH)
        for s, v in sorted(votes.items())
    )
    return Reveal(
        trace_id=ZERO_HASH,
        round=round_,
        auditor=auditor,
        votes=entries,
        salt=ZERO_HASH,
        signature="0x" + "00" * 65,
    )


def test_vote_index_from_reveals() -> None:
    reveals = [_reveal(A, 0, {0: Vote.VALID, 2: Vote.ABSTAIN}), _reveal(A, 1, {0: Vote.INVALID})]
    assert compute_vote_index(reveals) == {
        (0, 0, A): Vote.VALID,
        (0, 2, A): Vote.ABSTAIN,
        (1, 0, A): Vote.INVALID,
    }
    with pytest.raises(ConsensusError, match="two different votes"):
        compute_vote_index([_reveal(A, 0, {0: Vote.VALID}), _reveal(A, 0, {0: Vote.INVALID})])


# --- conservation ------------------------------------------------------------------------------

AUDITORS = (A, B, C, D)
Assignments = dict[tuple[int, int], dict[str, int]]
Votes = dict[tuple[int, int, str], Vote]
#: fee, assignments, votes, final verdicts, slash_bps
Economy = tuple[int, Assignments, Votes, dict[int, SegmentVerdict], int]
SLOTS = [(r, s) for r in range(2) for s in range(3)]


@st.composite
def _economies(draw: st.DrawFn) -> Economy:
    stakes = {a: draw(st.integers(0, 2**96 - 1)) for a in AUDITORS}
    assignments: Assignments = {}
    votes: Votes = {}
    for slot in draw(st.lists(st.sampled_from(SLOTS), unique=True)):
        members = draw(st.lists(st.sampled_from(AUDITORS), unique=True))
        assignments[slot] = {a: stakes[a] for a in members}
        for a in members:
            vote = draw(st.sampled_from([*Vote, None]))
            if vote is not None:
                votes[(*slot, a)] = vote
    verdicts = {s: draw(st.sampled_from(SegmentVerdict)) for s in range(3)}
    return draw(st.integers(0, 10**30)), assignments, votes, verdicts, draw(st.integers(0, 10_000))


@settings(deadline=None, max_examples=200)
@given(_economies())
def test_payouts_conserve_value(
    economy: Economy,
) -> None:
    fee, assignments, votes, verdicts, slash_bps = economy
    payouts = compute_payouts(
        fee, assignments, votes, verdicts, replace(DEVNET, slash_bps=slash_bps)
    )
    assert fee + sum(payouts.slashes.values()) == sum(payouts.rewards.values()) + payouts.dust
    assert payouts.dust >= 0
    stakes = {a: s for committee in assignments.values() for a, s in committee.items()}
    assert all(0 < payouts.slashes[a] <= stakes[a] for a in payouts.slashes)
    assert all(r > 0 for r in payouts.rewards.values())
