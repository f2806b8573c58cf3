"""Consensus: tallies, segment verdicts, escalation, the whole audit, trace verdict, reporting."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest

from protocol.consensus import (
    Escalation,
    SegmentTally,
    compute_audit_outcome,
    compute_escalation,
    compute_first_error,
    compute_margin_bps,
    compute_planned_assignments,
    compute_round_assignments,
    compute_round_one_plan,
    compute_segment_verdict,
    compute_tallies,
    compute_trace_verdict,
    compute_verdict_probability,
    is_quorate,
)
from protocol.encoding import ZERO_HASH
from protocol.errors import ConsensusError, SortitionError
from protocol.hdag import build_hdag
from protocol.ids import compute_node_id
from protocol.models import (
    Auditor,
    Hdag,
    HdagNode,
    Level,
    Reveal,
    SegmentVerdict,
    Span,
    Tier,
    Trace,
    TraceVerdict,
    Vote,
    VoteEntry,
)
from protocol.params import DEVNET
from protocol.signing import compute_address
from protocol.sortition import compute_committee, compute_segment_tier, compute_tier_stakes

ADDRESSES = [compute_address("0x" + f"{i:064x}") for i in range(1, 11)]
TRACE = "0x" + "01" * 32
SEED = "0x" + "5e" * 32
NO_SIGNATURE = "0x" + "00" * 65  # consensus trusts its callers to have checked signatures

OK, BAD, OPEN = SegmentVerdict.VALID, SegmentVerdict.INVALID, SegmentVerdict.UNRESOLVED


def _reveal(auditor: str, round_: int, votes: dict[int, Vote], trace_id: str = TRACE) -> Reveal:
    entries = tuple(
        VoteEntry(segment=s, vote=v, confidence=10_000, rationale=ZERO_HASH)
        for s, v in sorted(votes.items())
    )
    return Reveal(
        trace_id=trace_id,
        round=round_,
        auditor=auditor,
        votes=entries,
        salt=ZERO_HASH,
        signature=NO_SIGNATURE,
    )


# --- a hand-built HDAG -------------------------------------------------------------------------
#
#   goal [whole text]
#   strategy S1 -> tactic TA -> steps 0, 1 (operation O1 inside step 1)
#   strategy S2 -> tactic TB -> step 2      (operation O2 inside step 2)
#
# Node order deliberately lists the steps out of text order: the first error counts steps in
# text order, not in node order.

TEXT = "Let x = 3.\n\nThen 2x = 6.\n\nSo the answer is 6."
STEP_SPANS = [Span(start=0, end=12), Span(start=12, end=25), Span(start=25, end=len(TEXT))]


def _node(level: Level, span: Span, parent: str | None) -> HdagNode:
    node_id = compute_node_id(TRACE, level, span, TEXT, parent, (), span)
    return HdagNode(id=node_id, level=level, span=span, parent=parent, claim=span)


GOAL = _node(Level.GOAL, Span(start=0, end=len(TEXT)), None)
S1 = _node(Level.STRATEGY, Span(start=0, end=25), GOAL.id)
S2 = _node(Level.STRATEGY, Span(start=25, end=len(TEXT)), GOAL.id)
TA = _node(Level.TACTIC, Span(start=0, end=25), S1.id)
TB = _node(Level.TACTIC, Span(start=25, end=len(TEXT)), S2.id)
STEP0 = _node(Level.STEP, STEP_SPANS[0], TA.id)
STEP1 = _node(Level.STEP, STEP_SPANS[1], TA.id)
STEP2 = _node(Level.STEP, STEP_SPANS[2], TB.id)
O1 = _node(Level.OPERATION, Span(start=17, end=23), STEP1.id)
O2 = _node(Level.OPERATION, Span(start=42, end=len(TEXT) - 1), STEP2.id)
NODES = (GOAL, S1, S2, TA, TB, STEP2, STEP0, STEP1, O1, O2)
HDAG = Hdag(trace_id=TRACE, text=TEXT, nodes=NODES, root="0x" + "ee" * 32)
INDEX = {node.id: i for i, node in enumerate(NODES)}


def _verdicts(default: SegmentVerdict, **changes: SegmentVerdict) -> dict[int, SegmentVerdict]:
    names = {"GOAL": GOAL, "S1": S1, "S2": S2, "TA": TA, "TB": TB}
    names |= {"STEP0": STEP0, "STEP1": STEP1, "STEP2": STEP2, "O1": O1, "O2": O2}
    verdicts = dict.fromkeys(range(len(NODES)), default)
    for name, verdict in changes.items():
        verdicts[INDEX[names[name].id]] = verdict
    return verdicts


# --- tallies -----------------------------------------------------------------------------------


def test_tally_sums_stake_and_counts_votes_per_kind() -> None:
    assignments = {0: {ADDRESSES[0]: 10, ADDRESSES[1]: 20, ADDRESSES[2]: 30}, 1: {ADDRESSES[0]: 10}}
    reveals = [
        _reveal(ADDRESSES[0], 0, {0: Vote.VALID, 1: Vote.ABSTAIN}),
        _reveal(ADDRESSES[1], 0, {0: Vote.INVALID}),
    ]
    tallies = compute_tallies(0, assignments, reveals)
    assert tallies[0] == SegmentTally(
        0, 0, 60, valid_stake=10, invalid_stake=20, valid_votes=1, invalid_votes=1
    )
    assert tallies[0].revealed_stake == 30
    assert tallies[1] == SegmentTally(1, 0, 10, abstain_stake=10)


def test_tally_skips_other_rounds_and_keeps_silent_segments() -> None:
    assignments = {0: {ADDRESSES[0]: 10}, 4: {ADDRESSES[1]: 5}}
    reveals = [_reveal(ADDRESSES[0], 1, {0: Vote.VALID})]
    assert compute_tallies(0, assignments, reveals) == {
        0: SegmentTally(0, 0, 10),
        4: SegmentTally(4, 0, 5),
    }


def test_tally_rejects_a_vote_on_an_unassigned_segment() -> None:
    assignments = {0: {ADDRESSES[0]: 10}, 1: {ADDRESSES[1]: 10}}
    with pytest.raises(ConsensusError, match="without being assigned"):
        compute_tallies(0, assignments, [_reveal(ADDRESSES[0], 0, {1: Vote.VALID})])
    with pytest.raises(ConsensusError, match="without being assigned"):
        compute_tallies(0, assignments, [_reveal(ADDRESSES[0], 0, {7: Vote.VALID})])


def test_tally_rejects_a_second_reveal_in_a_round() -> None:
    assignments = {0: {ADDRESSES[0]: 10}}
    reveals = [_reveal(ADDRESSES[0], 0, {0: Vote.VALID}), _reveal(ADDRESSES[0], 0, {0: Vote.VALID})]
    with pytest.raises(ConsensusError, match="revealed twice"):
        compute_tallies(0, assignments, reveals)


# --- segment verdict: quorum 1/2, supermajority 2/3 --------------------------------------------


@pytest.mark.parametrize(
    ("assigned", "valid", "invalid", "abstain", "expected"),
    [
        # Supermajority exactly at 2/3 of revealed stake passes, just below fails.
        (3, 2, 1, 0, OK),
        (3, 1, 2, 0, BAD),
        (300, 199, 101, 0, OPEN),
        (300, 101, 199, 0, OPEN),
        (300, 200, 100, 0, OK),
        # Abstentions count in the revealed stake.
        (4, 2, 1, 1, OPEN),
        (4, 0, 0, 4, OPEN),
        # Quorum exactly at 1/2 of assigned stake passes, just below fails.
        (6, 3, 0, 0, OK),
        (6, 0, 3, 0, BAD),
        (7, 3, 0, 0, OPEN),
        (6, 2, 0, 1, OK),
        # Nothing revealed is never a verdict, even with nothing assigned.
        (0, 0, 0, 0, OPEN),
        (10, 0, 0, 0, OPEN),
    ],
)
def test_segment_verdict_boundaries(
    assigned: int, valid: int, invalid: int, abstain: int, expected: SegmentVerdict
) -> None:
    tally = SegmentTally(0, 0, assigned, valid, invalid, abstain)
    assert compute_segment_verdict(tally, DEVNET) == expected


def test_quorum_counts_abstentions() -> None:
    assert is_quorate(SegmentTally(0, 0, 10, abstain_stake=5), DEVNET)
    assert not is_quorate(SegmentTally(0, 0, 10, abstain_stake=4), DEVNET)


def test_other_thresholds_come_from_params() -> None:
    strict = replace(DEVNET, supermajority_num=3, supermajority_den=4)
    assert compute_segment_verdict(SegmentTally(0, 0, 3, 2, 1), strict) == OPEN
    assert compute_segment_verdict(SegmentTally(0, 0, 4, 3, 1), strict) == OK


# --- escalation --------------------------------------------------------------------------------

EVERY_TIER = {Tier.CHECKER: 10, Tier.LLM: 10, Tier.HUMAN: 10}


def test_mostly_abstained_segment_moves_up_one_tier() -> None:
    tally = SegmentTally(0, 0, 10, valid_stake=2, abstain_stake=8)
    assert compute_escalation(tally, Tier.CHECKER, EVERY_TIER, DEVNET) == Escalation(Tier.LLM, 1)
    assert compute_escalation(tally, Tier.LLM, EVERY_TIER, DEVNET) == Escalation(Tier.HUMAN, 1)


def test_escalation_threshold_is_inclusive() -> None:
    at = SegmentTally(0, 0, 10, valid_stake=5, abstain_stake=5)
    below = SegmentTally(0, 0, 10, valid_stake=6, abstain_stake=4)
    assert compute_escalation(at, Tier.CHECKER, EVERY_TIER, DEVNET).tier == Tier.LLM
    assert compute_escalation(below, Tier.CHECKER, EVERY_TIER, DEVNET) == Escalation(
        Tier.CHECKER, 2
    )


def test_escalation_skips_a_stakeless_tier() -> None:
    stakes = {Tier.CHECKER: 10, Tier.LLM: 0, Tier.HUMAN: 10}
    tally = SegmentTally(0, 0, 10, abstain_stake=10)
    assert compute_escalation(tally, Tier.CHECKER, stakes, DEVNET) == Escalation(Tier.HUMAN, 1)


def test_abstentions_at_the_top_tier_double_the_committee() -> None:
    tally = SegmentTally(0, 0, 10, abstain_stake=10)
    assert compute_escalation(tally, Tier.HUMAN, EVERY_TIER, DEVNET) == Escalation(Tier.HUMAN, 2)
    no_human = {Tier.CHECKER: 10, Tier.LLM: 10, Tier.HUMAN: 0}
    assert compute_escalation(tally, Tier.LLM, no_human, DEVNET) == Escalation(Tier.LLM, 2)


def test_split_or_silent_segment_doubles_the_committee() -> None:
    split = SegmentTally(0, 0, 10, valid_stake=5, invalid_stake=5)
    silent = SegmentTally(0, 0, 10)
    assert compute_escalation(split, Tier.LLM, EVERY_TIER, DEVNET) == Escalation(Tier.LLM, 2)
    assert compute_escalation(silent, Tier.CHECKER, EVERY_TIER, DEVNET) == Escalation(
        Tier.CHECKER, 2
    )


# --- trace verdict and first error -------------------------------------------------------------


def test_all_valid_is_sound() -> None:
    assert compute_trace_verdict(HDAG, _verdicts(OK)) == (TraceVerdict.SOUND, -1)


def test_unresolved_or_missing_without_invalid_is_inconclusive() -> None:
    assert compute_trace_verdict(HDAG, _verdicts(OK, O2=OPEN)) == (TraceVerdict.INCONCLUSIVE, -1)
    partial = _verdicts(OK)
    del partial[0]
    assert compute_trace_verdict(HDAG, partial) == (TraceVerdict.INCONCLUSIVE, -1)


@pytest.mark.parametrize(
    ("changes", "first_error"),
    [
        ({"STEP1": BAD}, 1),  # an INVALID step
        ({"STEP2": BAD, "STEP1": BAD}, 1),  # the earliest one in text order
        ({"O1": BAD}, 1),  # a step containing an INVALID operation
        ({"O2": BAD}, 2),
        ({"TA": BAD}, 0),  # under an INVALID tactic: its first step
        ({"TB": BAD}, 2),
        ({"S2": BAD}, 2),  # under an INVALID strategy: its first step
        ({"S1": BAD, "STEP2": BAD}, 0),
        ({"GOAL": BAD}, 2),  # only the goal: the last step, where the final claim is
        ({"GOAL": BAD, "O1": BAD}, 1),
        ({"STEP2": BAD, "O1": OPEN}, 2),  # UNRESOLVED elsewhere does not hide an INVALID
    ],
)
def test_flawed_trace_and_first_error(changes: dict[str, SegmentVerdict], first_error: int) -> None:
    assert compute_trace_verdict(HDAG, _verdicts(OK, **changes)) == (
        TraceVerdict.FLAWED,
        first_error,
    )


def test_first_error_is_minus_one_without_invalid() -> None:
    assert compute_first_error(HDAG, _verdicts(OK)) == -1


# --- the whole audit ---------------------------------------------------------------------------


def _auditors() -> list[Auditor]:
    """One checker, three LLM evaluators, one human; k=3 assigns every member of a tier."""
    return [
        Auditor(address=ADDRESSES[0], stake=100, tiers=(Tier.CHECKER,)),
        Auditor(address=ADDRESSES[1], stake=100, tiers=(Tier.LLM,)),
        Auditor(address=ADDRESSES[2], stake=100, tiers=(Tier.LLM,)),
        Auditor(address=ADDRESSES[3], stake=100, tiers=(Tier.LLM,)),
        Auditor(address=ADDRESSES[4], stake=100, tiers=(Tier.HUMAN,)),
    ]


def _segment_tiers(auditors: list[Auditor]) -> list[Tier]:
    stakes = compute_tier_stakes(auditors)
    return [compute_segment_tier(node.level, stakes) for node in NODES]


def _indices(level: Level) -> list[int]:
    return [i for i, node in enumerate(NODES) if node.level == level]


def _honest_round0(flawed_op: int | None = None) -> list[Reveal]:
    """Everyone votes VALID on all of its segments, except INVALID on `flawed_op`."""
    llm = {i: Vote.VALID for i in _indices(Level.STEP) + _indices(Level.TACTIC)}
    human = {i: Vote.VALID for i in _indices(Level.GOAL) + _indices(Level.STRATEGY)}
    ops = {i: Vote.INVALID if i == flawed_op else Vote.VALID for i in _indices(Level.OPERATION)}
    reveals = [_reveal(ADDRESSES[a], 0, llm) for a in (1, 2, 3)]
    return [*reveals, _reveal(ADDRESSES[4], 0, human), _reveal(ADDRESSES[0], 0, ops)]


def test_audit_of_a_sound_trace() -> None:
    auditors = _auditors()
    outcome = compute_audit_outcome(
        SEED, _segment_tiers(auditors), 3, auditors, _honest_round0(), DEVNET, HDAG
    )
    assert outcome.trace_verdict == TraceVerdict.SOUND
    assert outcome.first_error == -1
    assert outcome.escalations == {}
    assert outcome.tallies[1] == {}
    assert set(outcome.verdicts.values()) == {OK}
    assert outcome.assignments[(0, INDEX[STEP1.id])] == {a: 100 for a in ADDRESSES[1:4]}
    assert outcome.assignments[(0, INDEX[O1.id])] == {ADDRESSES[0]: 100}


def test_audit_finds_the_flawed_operation() -> None:
    auditors = _auditors()
    reveals = _honest_round0(flawed_op=INDEX[O2.id])
    outcome = compute_audit_outcome(
        SEED, _segment_tiers(auditors), 3, auditors, reveals, DEVNET, HDAG
    )
    assert outcome.trace_verdict == TraceVerdict.FLAWED
    assert outcome.first_error == 2
    assert outcome.verdicts[INDEX[O2.id]] == BAD


def test_audit_escalates_abstentions_and_splits() -> None:
    auditors = _auditors()
    o1, step2 = INDEX[O1.id], INDEX[STEP2.id]
    reveals = _honest_round0()
    # The checker cannot parse O1; the LLM tier splits on step 2 (VALID, INVALID, absent).
    reveals[-1] = _reveal(ADDRESSES[0], 0, {o1: Vote.ABSTAIN, INDEX[O2.id]: Vote.VALID})
    llm_votes = {i: Vote.VALID for i in _indices(Level.STEP) + _indices(Level.TACTIC)}
    reveals[1] = _reveal(ADDRESSES[2], 0, llm_votes | {step2: Vote.INVALID})
    reveals[2] = _reveal(ADDRESSES[3], 0, {i: v for i, v in llm_votes.items() if i != step2})
    # Round 1: the LLM tier judges O1 (same k), the doubled LLM committee re-judges step 2,
    # without ADDRESSES[3], which did not vote on it in round 0.
    reveals += [_reveal(ADDRESSES[a], 1, {o1: Vote.INVALID, step2: Vote.VALID}) for a in (1, 2)]
    reveals.append(_reveal(ADDRESSES[3], 1, {o1: Vote.INVALID}))
    outcome = compute_audit_outcome(
        SEED, _segment_tiers(auditors), 3, auditors, reveals, DEVNET, HDAG
    )
    assert outcome.escalations == {o1: Escalation(Tier.LLM, 1), step2: Escalation(Tier.LLM, 2)}
    assert outcome.tallies[0][o1] == SegmentTally(o1, 0, 100, abstain_stake=100)
    assert outcome.tallies[1][o1] == SegmentTally(o1, 1, 300, invalid_stake=300, invalid_votes=3)
    assert outcome.tallies[1][step2] == SegmentTally(step2, 1, 200, valid_stake=200, valid_votes=2)
    assert set(outcome.tallies[1]) == {o1, step2}
    assert outcome.verdicts[o1] == BAD
    assert outcome.verdicts[step2] == OK
    assert (outcome.trace_verdict, outcome.first_error) == (TraceVerdict.FLAWED, 1)


def test_a_round_zero_abstainer_stays_for_the_next_tier() -> None:
    """The checker also holds the LLM tier: its abstention on O1 escalates O1 to the LLM tier,
    where it may judge (an honest node's higher judge), so it is not dropped there."""
    auditors = _auditors()
    auditors[0] = Auditor(address=ADDRESSES[0], stake=100, tiers=(Tier.CHECKER, Tier.LLM))
    tiers = _segment_tiers(auditors)
    o1 = INDEX[O1.id]
    reveals = _honest_round0()
    reveals[-1] = _reveal(ADDRESSES[0], 0, {o1: Vote.ABSTAIN, INDEX[O2.id]: Vote.VALID})
    # k = 4: the LLM tier now has four members, all drawn.
    outcome = compute_audit_outcome(SEED, tiers, 4, auditors, reveals, DEVNET, HDAG)
    assert outcome.escalations[o1] == Escalation(Tier.LLM, 1)
    assert ADDRESSES[0] in outcome.assignments[(1, o1)]


def test_audit_unresolved_after_round_one_is_inconclusive() -> None:
    auditors = _auditors()
    reveals = [r for r in _honest_round0() if r.auditor != ADDRESSES[4]]  # the human is absent
    outcome = compute_audit_outcome(
        SEED, _segment_tiers(auditors), 3, auditors, reveals, DEVNET, HDAG
    )
    human_segments = _indices(Level.GOAL) + _indices(Level.STRATEGY)
    assert set(outcome.escalations) == set(human_segments)
    assert all(outcome.verdicts[s] == OPEN for s in human_segments)
    assert outcome.trace_verdict == TraceVerdict.INCONCLUSIVE


def test_audit_committees_follow_sortition() -> None:
    auditors = [
        Auditor(address=a, stake=10 + i, tiers=(Tier.LLM,)) for i, a in enumerate(ADDRESSES)
    ]
    tiers = [Tier.LLM] * len(NODES)
    outcome = compute_audit_outcome(SEED, tiers, 2, auditors, [], DEVNET, HDAG)
    stakes = compute_tier_stakes(auditors)
    for segment in range(len(NODES)):
        expected = compute_committee(SEED, segment, Tier.LLM, 2, auditors, stakes)
        assert tuple(outcome.assignments[(0, segment)]) == expected
        doubled = compute_committee(SEED, segment, Tier.LLM, 4, auditors, stakes)
        assert set(expected) <= set(doubled)  # same hash, doubled threshold: a superset
        # Nobody revealed in round 0, so round 1 is the doubled committee's new members.
        assert tuple(outcome.assignments[(1, segment)]) == tuple(
            a for a in doubled if a not in expected
        )


def test_round_one_keeps_only_the_round_zero_members_that_voted() -> None:
    auditors = _auditors()
    o1, step2 = INDEX[O1.id], INDEX[STEP2.id]
    reveals = _honest_round0()
    llm_votes = {i: Vote.VALID for i in _indices(Level.STEP) + _indices(Level.TACTIC)}
    reveals[1] = _reveal(ADDRESSES[2], 0, llm_votes | {step2: Vote.INVALID})
    reveals[2] = _reveal(ADDRESSES[3], 0, llm_votes | {step2: Vote.ABSTAIN})
    tiers = _segment_tiers(auditors)
    outcome = compute_audit_outcome(SEED, tiers, 3, auditors, reveals, DEVNET, HDAG)
    assert outcome.escalations[step2] == Escalation(Tier.LLM, 2)
    assert set(outcome.assignments[(0, step2)]) == {ADDRESSES[1], ADDRESSES[2], ADDRESSES[3]}
    assert set(outcome.assignments[(1, step2)]) == {ADDRESSES[1], ADDRESSES[2]}
    copied = [*reveals, _reveal(ADDRESSES[3], 1, {step2: Vote.VALID})]
    with pytest.raises(ConsensusError, match="without being assigned"):
        compute_audit_outcome(SEED, tiers, 3, auditors, copied, DEVNET, HDAG)
    assert o1 not in outcome.escalations


def test_round_zero_abstentions_stand_in_a_doubled_round_one() -> None:
    """ADDRESSES[3] abstained on step 2 in round 0: it is not asked again, but its stake counts
    in round 1 as ABSTAIN, so one member voting while the other stays silent cannot decide."""
    auditors = _auditors()
    step2 = INDEX[STEP2.id]
    reveals = _honest_round0()
    llm_votes = {i: Vote.VALID for i in _indices(Level.STEP) + _indices(Level.TACTIC)}
    reveals[1] = _reveal(ADDRESSES[2], 0, llm_votes | {step2: Vote.INVALID})
    reveals[2] = _reveal(ADDRESSES[3], 0, llm_votes | {step2: Vote.ABSTAIN})
    tiers = _segment_tiers(auditors)
    lone = [*reveals, _reveal(ADDRESSES[1], 1, {step2: Vote.INVALID})]
    outcome = compute_audit_outcome(SEED, tiers, 3, auditors, lone, DEVNET, HDAG)
    assert ADDRESSES[3] not in outcome.assignments[(1, step2)]
    assert outcome.tallies[1][step2] == SegmentTally(
        step2, 1, 300, invalid_stake=100, abstain_stake=100, invalid_votes=1
    )
    assert outcome.verdicts[step2] == OPEN  # 100 of 200 revealed; without the carry, 100 of 100
    both = [*reveals, *(_reveal(ADDRESSES[a], 1, {step2: Vote.INVALID}) for a in (1, 2))]
    outcome = compute_audit_outcome(SEED, tiers, 3, auditors, both, DEVNET, HDAG)
    assert outcome.verdicts[step2] == BAD  # 200 of 300: two thirds


def test_abstentions_are_not_carried_to_the_next_tier() -> None:
    """O1 escalates up a tier: the LLM tier judges it afresh, the checker's abstention stays
    in round 0 (the same auditors are not the same judges there)."""
    auditors = _auditors()
    o1 = INDEX[O1.id]
    reveals = _honest_round0()
    reveals[-1] = _reveal(ADDRESSES[0], 0, {o1: Vote.ABSTAIN, INDEX[O2.id]: Vote.VALID})
    reveals += [_reveal(ADDRESSES[a], 1, {o1: Vote.VALID}) for a in (1, 2, 3)]
    outcome = compute_audit_outcome(
        SEED, _segment_tiers(auditors), 3, auditors, reveals, DEVNET, HDAG
    )
    assert outcome.escalations[o1] == Escalation(Tier.LLM, 1)
    assert outcome.tallies[1][o1] == SegmentTally(o1, 1, 300, valid_stake=300, valid_votes=3)


def test_audit_rejects_inconsistent_inputs() -> None:
    auditors = _auditors()
    tiers = _segment_tiers(auditors)
    good = _honest_round0()
    other_trace = [*good, _reveal(ADDRESSES[1], 1, {0: Vote.VALID}, trace_id="0x" + "02" * 32)]
    with pytest.raises(ConsensusError, match="another trace"):
        compute_audit_outcome(SEED, tiers, 3, auditors, other_trace, DEVNET, HDAG)
    with pytest.raises(ConsensusError, match="round 2"):
        compute_audit_outcome(
            SEED, tiers, 3, auditors, [_reveal(ADDRESSES[1], 2, {5: Vote.VALID})], DEVNET, HDAG
        )
    # A round-1 vote on a segment that did not escalate.
    late = [*good, _reveal(ADDRESSES[1], 1, {INDEX[STEP0.id]: Vote.VALID})]
    with pytest.raises(ConsensusError, match="without being assigned"):
        compute_audit_outcome(SEED, tiers, 3, auditors, late, DEVNET, HDAG)
    with pytest.raises(ConsensusError, match="segment tiers"):
        compute_audit_outcome(SEED, tiers[:-1], 3, auditors, good, DEVNET, HDAG)
    with pytest.raises(ConsensusError, match="twice"):
        compute_audit_outcome(SEED, tiers, 3, [*auditors, auditors[0]], good, DEVNET, HDAG)
    with pytest.raises(SortitionError, match="k=0"):
        compute_audit_outcome(SEED, tiers, 0, auditors, good, DEVNET, HDAG)


# --- reporting ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("valid", "invalid", "abstain", "margin"),
    [
        (3, 1, 0, 5000),
        (1, 3, 0, -5000),
        (1, 0, 2, 3333),
        (0, 1, 2, -3333),  # truncated toward zero, like Solidity, not floored
        (0, 0, 5, 0),
        (0, 0, 0, 0),
        (7, 0, 0, 10_000),
    ],
)
def test_margin_bps(valid: int, invalid: int, abstain: int, margin: int) -> None:
    assert compute_margin_bps(SegmentTally(0, 0, 10, valid, invalid, abstain)) == margin


def _probability_by_hand(prior_logit: float, evidence_logits: list[float]) -> float:
    return math.prod(1 / (1 + math.exp(-(prior_logit + e))) for e in evidence_logits)


def test_verdict_probability_of_one_segment_one_vote_is_the_accuracy() -> None:
    valid = SegmentTally(0, 0, 10, valid_stake=10, valid_votes=1)
    invalid = SegmentTally(0, 0, 10, invalid_stake=10, invalid_votes=1)
    assert compute_verdict_probability([valid], 9000) == pytest.approx(0.9)
    assert compute_verdict_probability([invalid], 9000) == pytest.approx(0.1)


def test_verdict_probability_without_evidence_is_the_trace_prior_at_any_length() -> None:
    """A per-segment prior of 1/2 gave 2^-n: a long trace nobody could judge looked flawed."""
    silent = SegmentTally(0, 0, 10)
    abstained = SegmentTally(1, 0, 10, abstain_stake=10)
    for segments in (1, 2, 40, 400):
        tallies = [silent, abstained] * (segments // 2) or [silent]
        assert compute_verdict_probability(tallies, 9000) == pytest.approx(0.5)
        assert compute_verdict_probability(tallies, 9000, prior_sound=0.3) == pytest.approx(0.3)
    assert compute_verdict_probability([], 9000) == 1.0


def test_verdict_probability_counts_votes_not_stake() -> None:
    """Three independent votes are three pieces of evidence, whatever the stake behind them."""
    unanimous = SegmentTally(0, 0, 10, invalid_stake=10, invalid_votes=3)
    whale = SegmentTally(0, 0, 10, valid_stake=9, invalid_stake=1, valid_votes=1, invalid_votes=1)
    logit_p = math.log(9)
    assert compute_verdict_probability([unanimous], 9000) == pytest.approx(
        _probability_by_hand(0.0, [-3 * logit_p])
    )
    assert compute_verdict_probability([whale], 9000) == pytest.approx(0.5)


def test_verdict_probability_spreads_the_prior_over_the_segments() -> None:
    flagged = SegmentTally(0, 0, 10, invalid_stake=10, invalid_votes=3)
    confirmed = SegmentTally(1, 0, 10, valid_stake=10, valid_votes=3)
    q = 0.5 ** (1 / 20)
    prior_logit, logit_p = math.log(q / (1 - q)), math.log(9)
    tallies = [flagged] + [confirmed] * 19
    expected = _probability_by_hand(prior_logit, [-3 * logit_p] + [3 * logit_p] * 19)
    assert compute_verdict_probability(tallies, 9000) == pytest.approx(expected)
    assert compute_verdict_probability(tallies, 9000) < 0.05
    assert compute_verdict_probability([confirmed] * 20, 9000) > 0.95


def test_verdict_probability_clamps_certainty_and_rejects_nonsense() -> None:
    valid = SegmentTally(0, 0, 10, valid_stake=10, valid_votes=1)
    assert compute_verdict_probability([valid], 10_000) == pytest.approx(0.9999)
    assert compute_verdict_probability([valid] * 1000, 5000) == pytest.approx(0.5)
    with pytest.raises(ConsensusError, match="accuracy"):
        compute_verdict_probability([valid], 10_001)
    with pytest.raises(ConsensusError, match="prior"):
        compute_verdict_probability([valid], 9000, prior_sound=1.0)


def test_first_error_on_a_built_hdag() -> None:
    trace = Trace(
        problem="What is 2*3+1?",
        steps=("First, 2*3 = 6.", "Then 6 + 1 = 7.", "So the answer is 7."),
    )
    hdag = build_hdag(trace)
    steps = sorted((n for n in hdag.nodes if n.level == Level.STEP), key=lambda n: n.span.start)
    assert len(steps) == 3
    for index, node in enumerate(hdag.nodes):
        verdicts = dict.fromkeys(range(len(hdag.nodes)), OK) | {index: BAD}
        verdict, first_error = compute_trace_verdict(hdag, verdicts)
        assert verdict == TraceVerdict.FLAWED
        if node.level == Level.GOAL:
            assert first_error == 2
        else:
            assert steps[first_error].span.contains(
                Span(start=node.span.start, end=node.span.start + 1)
            )


def _escalated_tiers(auditors: list[Auditor], tiers: list[Tier], reveals: list[Reveal]) -> dict:
    plan = compute_round_one_plan(SEED, tiers, 3, auditors, reveals, DEVNET)
    return {p.segment: p.tier for p in plan}


def test_escalated_tiers_are_the_tiers_round_one_committees_are_drawn_from() -> None:
    auditors = _auditors()
    tiers = _segment_tiers(auditors)
    ops = _indices(Level.OPERATION)
    # The checker abstains on every operation: those move up to the LLM tier; the rest settle.
    abstaining = [r for r in _honest_round0() if r.auditor != ADDRESSES[0]]
    abstaining.append(_reveal(ADDRESSES[0], 0, dict.fromkeys(ops, Vote.ABSTAIN)))
    escalated = _escalated_tiers(auditors, tiers, abstaining)
    assert escalated == dict.fromkeys(ops, Tier.LLM)
    by_address = {auditor.address: auditor for auditor in auditors}
    assignments = compute_round_assignments(SEED, tiers, 3, auditors, abstaining, DEVNET)
    round1 = {segment: c for (round_, segment), c in assignments.items() if round_ == 1}
    assert set(round1) == set(escalated)
    for segment, committee in round1.items():
        assert all(escalated[segment] in by_address[a].tiers for a in committee)
    # With no reveal at all nothing was judged: the same tier, with a doubled committee.
    assert _escalated_tiers(auditors, tiers, []) == dict(enumerate(tiers))
    assert _escalated_tiers(auditors, tiers, _honest_round0()) == {}


def test_a_node_holding_only_the_plan_draws_the_committees_the_reveals_give() -> None:
    """The round-0 reveals stay sealed to the submitter until round 1's commits close: other
    nodes draw round 1 from the declared plan, which must give exactly the same committees."""
    auditors = _auditors()
    tiers = _segment_tiers(auditors)
    ops = _indices(Level.OPERATION)
    split = [r for r in _honest_round0() if r.auditor != ADDRESSES[0]]
    split.append(_reveal(ADDRESSES[0], 0, dict.fromkeys(ops, Vote.ABSTAIN)))
    for reveals in (split, [], _honest_round0()):
        plan = compute_round_one_plan(SEED, tiers, 3, auditors, reveals, DEVNET)
        assert compute_planned_assignments(SEED, tiers, 3, auditors, plan) == (
            compute_round_assignments(SEED, tiers, 3, auditors, reveals, DEVNET)
        )
    # Nobody revealed: every doubled committee leaves out all of its round-0 members.
    silent = compute_round_one_plan(SEED, tiers, 3, auditors, [], DEVNET)
    round0 = compute_planned_assignments(SEED, tiers, 3, auditors, ())
    assert [p.segment for p in silent] == list(range(len(tiers)))
    for p in silent:
        assert p.committee_multiplier == 2
        assert p.excluded == tuple(sorted(round0[(0, p.segment)]))
