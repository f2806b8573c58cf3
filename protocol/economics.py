"""Rewards and slashes of one finalized trace, in integer wei as the Ledger pays them.

For every assignment (round, segment, auditor) of a segment whose final verdict is VALID or
INVALID, a vote equal to the verdict is coherent (the auditor's weight grows by its stake), the
opposite vote or no vote at all is wrong (one more strike), ABSTAIN is neither. UNRESOLVED
segments pay and slash nothing. Then

    slash_a  = min(stake_a, strikes_a * stake_a * slashBps // 10000)
    pool     = fee + sum(slash)
    reward_a = pool * weight_a // totalWeight
    dust     = pool - sum(reward)          (all of the pool when nobody was coherent)

Conservation: fee + sum(slashes) == sum(rewards) + dust, exactly, because floor division only
ever rounds rewards down and dust takes the remainder. Dust stays with the Ledger.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from protocol.errors import ConsensusError
from protocol.models import Reveal, SegmentVerdict, Vote
from protocol.params import BASIS_POINTS, ProtocolParams

_VERDICT_VOTE = {SegmentVerdict.VALID: Vote.VALID, SegmentVerdict.INVALID: Vote.INVALID}


@dataclass(frozen=True)
class Payouts:
    """Wei rewarded and slashed per auditor (only non-zero entries) and the undistributed rest."""

    rewards: dict[str, int]
    slashes: dict[str, int]
    dust: int


@dataclass(frozen=True)
class _Standing:
    """One auditor's record over a trace: coherent stake-weight and wrong-or-absent strikes."""

    stake: int
    weight: int
    strikes: int


def compute_vote_index(reveals: Iterable[Reveal]) -> dict[tuple[int, int, str], Vote]:
    """{(round, segment, auditor): vote} from reveals, the shape `compute_payouts` takes.

    Raises ConsensusError when two reveals give one slot different votes.
    """
    index: dict[tuple[int, int, str], Vote] = {}
    for reveal in reveals:
        for entry in reveal.votes:
            key = (reveal.round, entry.segment, reveal.auditor)
            if index.setdefault(key, entry.vote) != entry.vote:
                raise ConsensusError(f"two different votes for {key}")
    return index


def _compute_standings(
    assignments: Mapping[tuple[int, int], Mapping[str, int]],
    votes: Mapping[tuple[int, int, str], Vote],
    final_verdicts: Mapping[int, SegmentVerdict],
) -> dict[str, _Standing]:
    standings: dict[str, _Standing] = {}
    for (round_, segment), committee in assignments.items():
        expected = _VERDICT_VOTE.get(final_verdicts.get(segment, SegmentVerdict.UNRESOLVED))
        if expected is None:
            continue
        for auditor, stake in committee.items():
            vote = votes.get((round_, segment, auditor))
            previous = standings.get(auditor, _Standing(stake, 0, 0))
            if previous.stake != stake:
                raise ConsensusError(f"auditor {auditor} has two different stakes")
            standings[auditor] = _Standing(
                stake,
                previous.weight + (stake if vote == expected else 0),
                previous.strikes + (0 if vote in (expected, Vote.ABSTAIN) else 1),
            )
    return standings


def compute_slash(stake: int, strikes: int, slash_bps: int) -> int:
    """Stake lost for `strikes` wrong or absent votes, never more than the whole stake."""
    return min(stake, strikes * stake * slash_bps // BASIS_POINTS)


def compute_payouts(
    fee: int,
    assignments: Mapping[tuple[int, int], Mapping[str, int]],
    votes: Mapping[tuple[int, int, str], Vote],
    final_verdicts: Mapping[int, SegmentVerdict],
    params: ProtocolParams,
) -> Payouts:
    """Rewards, slashes and dust of one trace; `fee + sum(slashes) == sum(rewards) + dust`.

    Votes for slots outside `assignments` are ignored. Raises ConsensusError for a negative fee
    or stake, or one auditor with two different stakes.
    """
    if fee < 0 or any(s < 0 for committee in assignments.values() for s in committee.values()):
        raise ConsensusError("fee and stakes must be non-negative")
    standings = _compute_standings(assignments, votes, final_verdicts)
    slashes = {
        auditor: compute_slash(s.stake, s.strikes, params.slash_bps)
        for auditor, s in sorted(standings.items())
    }
    pool = fee + sum(slashes.values())
    total_weight = sum(s.weight for s in standings.values())
    rewards = {
        auditor: pool * s.weight // total_weight
        for auditor, s in sorted(standings.items())
        if s.weight > 0
    }
    return Payouts(
        rewards={a: r for a, r in rewards.items() if r > 0},
        slashes={a: s for a, s in slashes.items() if s > 0},
        dust=pool - sum(rewards.values()),
    )
