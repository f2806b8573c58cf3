"""Properties of the tally, the segment verdict and the payouts, checked with hypothesis."""

from __future__ import annotations

from dataclasses import dataclass, replace

from hypothesis import given, settings
from hypothesis import strategies as st

from protocol.consensus import compute_segment_verdict, compute_tallies
from protocol.economics import compute_payouts, compute_vote_index
from protocol.encoding import ZERO_HASH
from protocol.models import Reveal, SegmentVerdict, Vote, VoteEntry
from protocol.params import DEVNET, MAX_STAKE_WEI
from protocol.signing import compute_address

AUDITORS = tuple(compute_address("0x" + f"{i:064x}") for i in range(1, 8))
SEGMENTS = (0, 1, 2)
PROPERTY_SETTINGS = settings(deadline=None, max_examples=150)


@dataclass(frozen=True)
class Round:
    """One round of one trace: who is assigned where with which stake, and who voted what."""

    stakes: dict[str, int]
    committees: dict[int, tuple[str, ...]]
    votes: dict[str, dict[int, Vote]]

    def assignments(self) -> dict[int, dict[str, int]]:
        return {s: {a: self.stakes[a] for a in c} for s, c in self.committees.items()}

    def reveals(self) -> list[Reveal]:
        return [_reveal(a, votes) for a, votes in self.votes.items() if votes]


def _reveal(auditor: str, votes: dict[int, Vote]) -> Reveal:
    entries = tuple(
        VoteEntry(segment=s, vote=v, confidence=5000, rationale=ZERO_HASH)
        for s, v in sorted(votes.items())
    )
    return Reveal(
        trace_id=ZERO_HASH,
        round=0,
        auditor=auditor,
        votes=entries,
        salt=ZERO_HASH,
        signature="0x" + "00" * 65,
    )


@st.composite
def _rounds(draw: st.DrawFn) -> Round:
    stakes = {a: draw(st.integers(1, MAX_STAKE_WEI)) for a in AUDITORS}
    committees = {
        s: tuple(draw(st.lists(st.sampled_from(AUDITORS), min_size=1, unique=True)))
        for s in SEGMENTS
    }
    votes: dict[str, dict[int, Vote]] = {a: {} for a in AUDITORS}
    for segment, committee in committees.items():
        for auditor in committee:
            vote = draw(st.sampled_from([*Vote, None]))  # None: absent
            if vote is not None:
                votes[auditor][segment] = vote
    return Round(stakes, committees, votes)


def _verdicts(round_: Round) -> dict[int, SegmentVerdict]:
    tallies = compute_tallies(0, round_.assignments(), round_.reveals())
    return {s: compute_segment_verdict(t, DEVNET) for s, t in tallies.items()}


@PROPERTY_SETTINGS
@given(_rounds(), st.data())
def test_tally_and_verdict_do_not_depend_on_reveal_order(
    round_: Round, data: st.DataObject
) -> None:
    reveals = round_.reveals()
    shuffled = data.draw(st.permutations(reveals))
    assignments = round_.assignments()
    reordered = {s: dict(reversed(list(c.items()))) for s, c in reversed(list(assignments.items()))}
    expected = compute_tallies(0, assignments, reveals)
    assert compute_tallies(0, reordered, shuffled) == expected
    assert compute_tallies(0, assignments, reversed(reveals)) == expected
    verdicts = {s: compute_segment_verdict(t, DEVNET) for s, t in expected.items()}
    assert _verdicts(replace(round_, votes=dict(reversed(list(round_.votes.items()))))) == verdicts


def _with_more_stake(round_: Round, side: Vote, extra: list[int]) -> Round:
    """The same round with more stake on every auditor that voted `side` wherever assigned.

    Such an auditor's stake only ever adds to `side` in every tally it takes part in.
    """
    stakes = dict(round_.stakes)
    for auditor, more in zip(AUDITORS, extra, strict=True):
        assigned = {s for s, committee in round_.committees.items() if auditor in committee}
        cast = round_.votes[auditor]
        if assigned and set(cast) == assigned and set(cast.values()) == {side}:
            stakes[auditor] += more
    return replace(round_, stakes=stakes)


@PROPERTY_SETTINGS
@given(
    _rounds(),
    st.sampled_from([Vote.VALID, Vote.INVALID]),
    st.lists(st.integers(0, MAX_STAKE_WEI), min_size=len(AUDITORS), max_size=len(AUDITORS)),
)
def test_more_stake_on_the_winning_side_keeps_the_verdict(
    round_: Round, side: Vote, extra: list[int]
) -> None:
    winner = SegmentVerdict(int(side))
    before = _verdicts(round_)
    after = _verdicts(_with_more_stake(round_, side, extra))
    for segment, verdict in before.items():
        if verdict == winner:
            assert after[segment] == winner


@PROPERTY_SETTINGS
@given(_rounds(), st.integers(0, 10**30), st.integers(0, 10_000))
def test_payouts_of_a_tallied_round_conserve_value(round_: Round, fee: int, slash_bps: int) -> None:
    assignments = {(0, s): c for s, c in round_.assignments().items()}
    votes = compute_vote_index(round_.reveals())
    params = replace(DEVNET, slash_bps=slash_bps)
    payouts = compute_payouts(fee, assignments, votes, _verdicts(round_), params)
    assert fee + sum(payouts.slashes.values()) == sum(payouts.rewards.values()) + payouts.dust
    assert payouts.dust >= 0
    assert all(payouts.slashes[a] <= round_.stakes[a] for a in payouts.slashes)
