"""Stake-weighted tallies, segment verdicts, escalation and the trace verdict.

Everything that decides a verdict uses integer arithmetic only, so `Ledger.finalize` can
recompute it bit for bit: quorum `revealed * quorumDen >= assigned * quorumNum`, supermajority
`side * supermajorityDen >= revealed * supermajorityNum`. Round 0 audits every segment; a segment
left UNRESOLVED escalates once (round 1, `MAX_ROUNDS == 2`) to a higher tier or a doubled
committee (less the round-0 members that did not vote VALID or INVALID on it, whose round-0
abstentions stand in round 1's tally), and its final verdict is its last round's verdict.

Callers check signatures and commit openings (`protocol.votes`) before tallying: this module
trusts that every reveal it receives is authentic.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace

from protocol.errors import ConsensusError, SortitionError
from protocol.models import (
    Auditor,
    Hdag,
    Level,
    PlannedEscalation,
    Reveal,
    SegmentVerdict,
    Tier,
    TraceVerdict,
    Vote,
)
from protocol.params import BASIS_POINTS, MAX_COMMITTEE_SIZE, MAX_ROUNDS, ProtocolParams
from protocol.sortition import compute_committee, compute_tier_stakes

#: Accuracy used by `compute_verdict_probability` is kept inside (0, 1) so no vote is certain.
_MIN_ACCURACY_BPS = 1
_MAX_ACCURACY_BPS = BASIS_POINTS - 1
#: P(SOUND) before any vote: a trace is as likely sound as flawed.
PRIOR_SOUND = 0.5


@dataclass(frozen=True)
class SegmentTally:
    """Stake assigned to one segment in one round and how the revealed part of it voted."""

    segment: int
    round: int
    assigned_stake: int
    valid_stake: int = 0
    invalid_stake: int = 0
    abstain_stake: int = 0
    #: How many auditors voted VALID and INVALID: the verdict probability's evidence.
    valid_votes: int = 0
    invalid_votes: int = 0

    @property
    def revealed_stake(self) -> int:
        """Stake that revealed any vote, ABSTAIN included."""
        return self.valid_stake + self.invalid_stake + self.abstain_stake


@dataclass(frozen=True)
class Escalation:
    """Where an UNRESOLVED segment goes in round 1: a tier and a committee-size multiplier."""

    tier: Tier
    committee_multiplier: int


@dataclass(frozen=True)
class AuditOutcome:
    """Everything `Ledger.finalize` recomputes from the reveals of one trace."""

    #: (round, segment) -> {auditor: stake} for every committee that was drawn.
    assignments: dict[tuple[int, int], dict[str, int]]
    #: One {segment: tally} per round; round 1 holds only the escalated segments.
    tallies: tuple[dict[int, SegmentTally], ...]
    #: Segment -> escalation, for the segments UNRESOLVED after round 0.
    escalations: dict[int, Escalation]
    #: Segment -> verdict of its last round.
    verdicts: dict[int, SegmentVerdict]
    trace_verdict: TraceVerdict
    #: Index among the step nodes (text order) of the first error; -1 unless FLAWED.
    first_error: int


# --- Tally and segment verdict -----------------------------------------------------------------


def compute_tallies(
    round_: int, assignments: Mapping[int, Mapping[str, int]], reveals: Iterable[Reveal]
) -> dict[int, SegmentTally]:
    """Tally of every assigned segment in `round_`; reveals of other rounds are skipped.

    Raises ConsensusError for a vote on a segment the auditor is not assigned to in this round
    and for a second reveal by one auditor in one round. The result ignores reveal order.
    """
    sums = {segment: dict.fromkeys(Vote, 0) for segment in assignments}
    counts = {segment: dict.fromkeys(Vote, 0) for segment in assignments}
    revealed_by: set[str] = set()
    for reveal in reveals:
        if reveal.round != round_:
            continue
        if reveal.auditor in revealed_by:
            raise ConsensusError(f"auditor {reveal.auditor} revealed twice in round {round_}")
        revealed_by.add(reveal.auditor)
        for entry in reveal.votes:
            committee = assignments.get(entry.segment, {})
            if reveal.auditor not in committee:
                raise ConsensusError(
                    f"auditor {reveal.auditor} voted on segment {entry.segment} "
                    f"without being assigned to it in round {round_}"
                )
            sums[entry.segment][entry.vote] += committee[reveal.auditor]
            counts[entry.segment][entry.vote] += 1
    return {
        segment: _make_tally(
            segment, round_, sum(committee.values()), sums[segment], counts[segment]
        )
        for segment, committee in assignments.items()
    }


def _make_tally(
    segment: int,
    round_: int,
    assigned: int,
    sums: Mapping[Vote, int],
    counts: Mapping[Vote, int],
) -> SegmentTally:
    return SegmentTally(
        segment=segment,
        round=round_,
        assigned_stake=assigned,
        valid_stake=sums[Vote.VALID],
        invalid_stake=sums[Vote.INVALID],
        abstain_stake=sums[Vote.ABSTAIN],
        valid_votes=counts[Vote.VALID],
        invalid_votes=counts[Vote.INVALID],
    )


def is_quorate(tally: SegmentTally, params: ProtocolParams) -> bool:
    """Enough stake revealed, abstentions included: `revealed * den >= assigned * num` and > 0."""
    revealed = tally.revealed_stake
    return revealed > 0 and (
        revealed * params.quorum_den >= tally.assigned_stake * params.quorum_num
    )


def compute_segment_verdict(tally: SegmentTally, params: ProtocolParams) -> SegmentVerdict:
    """VALID / INVALID on a supermajority of revealed stake under quorum, else UNRESOLVED.

    VALID is tested first, which matters only for a supermajority of 1/2 or less.
    """
    if not is_quorate(tally, params):
        return SegmentVerdict.UNRESOLVED
    threshold = tally.revealed_stake * params.supermajority_num
    if tally.valid_stake * params.supermajority_den >= threshold:
        return SegmentVerdict.VALID
    if tally.invalid_stake * params.supermajority_den >= threshold:
        return SegmentVerdict.INVALID
    return SegmentVerdict.UNRESOLVED


def compute_escalation(
    tally: SegmentTally, tier: Tier, tier_stakes: Mapping[Tier, int], params: ProtocolParams
) -> Escalation:
    """Round-1 destination of an UNRESOLVED segment judged by `tier` in round 0.

    Mostly abstentions mean the tier could not judge: up to the next tier with stake, same k.
    Otherwise (or with no higher tier) the same tier with a doubled committee: more opinions.
    """
    revealed = tally.revealed_stake
    abstained = tally.abstain_stake * BASIS_POINTS >= revealed * params.abstain_escalation_bps
    if revealed > 0 and abstained:
        higher = [t for t in Tier if t > tier and tier_stakes.get(t, 0) > 0]
        if higher:
            return Escalation(tier=higher[0], committee_multiplier=1)
    return Escalation(tier=tier, committee_multiplier=2)


# --- The whole audit ---------------------------------------------------------------------------


def _validate_audit_inputs(
    segment_tiers: Sequence[Tier],
    k: int,
    auditors: Sequence[Auditor],
    reveals: Sequence[Reveal],
    hdag: Hdag,
) -> None:
    if len(segment_tiers) != len(hdag.nodes):
        raise ConsensusError(f"{len(segment_tiers)} segment tiers for {len(hdag.nodes)} nodes")
    if not 1 <= k <= MAX_COMMITTEE_SIZE:
        raise SortitionError(f"committee size k={k} is outside [1, {MAX_COMMITTEE_SIZE}]")
    addresses = [auditor.address for auditor in auditors]
    if len(set(addresses)) != len(addresses):
        raise ConsensusError("an auditor appears twice in the stake snapshot")
    for reveal in reveals:
        if reveal.trace_id != hdag.trace_id:
            raise ConsensusError(f"a reveal by {reveal.auditor} is for another trace")
        if reveal.round >= MAX_ROUNDS:
            raise ConsensusError(f"round {reveal.round} exceeds the last round {MAX_ROUNDS - 1}")


def _compute_round_assignments(
    seed: str,
    targets: Mapping[int, tuple[Tier, int]],
    auditors: Sequence[Auditor],
    tier_stakes: Mapping[Tier, int],
) -> dict[int, dict[str, int]]:
    """{segment: {auditor: stake}} for the segments drawn with their (tier, k) targets."""
    stake_of = {auditor.address: auditor.stake for auditor in auditors}
    return {
        segment: {
            address: stake_of[address]
            for address in compute_committee(seed, segment, tier, k, auditors, tier_stakes)
        }
        for segment, (tier, k) in targets.items()
    }


def _compute_escalation_targets(
    tallies: Mapping[int, SegmentTally],
    verdicts: Mapping[int, SegmentVerdict],
    segment_tiers: Sequence[Tier],
    tier_stakes: Mapping[Tier, int],
    params: ProtocolParams,
) -> dict[int, Escalation]:
    return {
        segment: compute_escalation(tallies[segment], segment_tiers[segment], tier_stakes, params)
        for segment, verdict in verdicts.items()
        if verdict == SegmentVerdict.UNRESOLVED
    }


@dataclass(frozen=True)
class _Rounds:
    assign0: dict[int, dict[str, int]]
    tallies0: dict[int, SegmentTally]
    verdicts0: dict[int, SegmentVerdict]
    escalations: dict[int, Escalation]
    plan: tuple[PlannedEscalation, ...]
    assign1: dict[int, dict[str, int]]


def _compute_round_zero(
    seed: str, segment_tiers: Sequence[Tier], k: int, auditors: Sequence[Auditor]
) -> dict[int, dict[str, int]]:
    targets0 = {segment: (tier, k) for segment, tier in enumerate(segment_tiers)}
    return _compute_round_assignments(seed, targets0, auditors, compute_tier_stakes(auditors))


def _compute_rounds(
    seed: str,
    segment_tiers: Sequence[Tier],
    k: int,
    auditors: Sequence[Auditor],
    reveals: Sequence[Reveal],
    params: ProtocolParams,
) -> _Rounds:
    tier_stakes = compute_tier_stakes(auditors)
    assign0 = _compute_round_zero(seed, segment_tiers, k, auditors)
    tallies0 = compute_tallies(0, assign0, reveals)
    verdicts0 = {seg: compute_segment_verdict(tally, params) for seg, tally in tallies0.items()}
    escalations = _compute_escalation_targets(
        tallies0, verdicts0, segment_tiers, tier_stakes, params
    )
    plan = _make_plan(escalations, assign0, reveals)
    assign1 = _draw_round_one(seed, k, auditors, plan)
    return _Rounds(assign0, tallies0, verdicts0, escalations, plan, assign1)


def _make_plan(
    escalations: Mapping[int, Escalation],
    assign0: Mapping[int, Mapping[str, int]],
    reveals: Iterable[Reveal],
) -> tuple[PlannedEscalation, ...]:
    """Round 1's plan: each escalation, and on a doubled committee the round-0 members of the
    segment that did not vote VALID or INVALID on it in round 0 (left out of round 1).

    A doubled committee is drawn from the round-0 tier and contains the round-0 committee (the
    draw is monotone in k). A member that abstained said it could not judge the segment; one
    that did not reveal is likely gone. Neither is asked again at the same tier. The rule came
    in while round 0's reveals were public during round 1: a copycat abstained in round 0 at no
    cost and copied them in round 1 (98% of its copied votes over 200 traces,
    `benchmarks/profitability.py`). Round-0 reveals are now sealed to the submitter until round
    1's commits close; the rule stays because it still keeps the submitter's own auditor (which
    reads round 0) from turning an abstention into a copied vote, and it costs an honest
    abstainer nothing: its word stands, its stake counting in round 1 as ABSTAIN
    (`_carry_round_zero_abstentions`), which is what it would answer again. A segment
    escalated to the next tier is judged there by whoever holds that tier, round-0 members
    included: an auditor whose checkers abstained may still judge it as a human.
    """
    voted = {
        (reveal.auditor, entry.segment)
        for reveal in reveals
        if reveal.round == 0
        for entry in reveal.votes
        if entry.vote != Vote.ABSTAIN
    }
    plan = []
    for segment, escalation in sorted(escalations.items()):
        excluded: tuple[str, ...] = ()
        if escalation.committee_multiplier > 1:
            members = assign0.get(segment, {})
            excluded = tuple(sorted(a for a in members if (a, segment) not in voted))
        plan.append(
            PlannedEscalation(
                segment=segment,
                tier=escalation.tier,
                committee_multiplier=escalation.committee_multiplier,
                excluded=excluded,
            )
        )
    return tuple(plan)


def _draw_round_one(
    seed: str, k: int, auditors: Sequence[Auditor], plan: Iterable[PlannedEscalation]
) -> dict[int, dict[str, int]]:
    """{segment: {auditor: stake}} of round 1: each planned segment's committee drawn from its
    tier with k times its multiplier, less the auditors the plan leaves out."""
    plan = tuple(plan)
    targets1 = {
        p.segment: (p.tier, min(k * p.committee_multiplier, MAX_COMMITTEE_SIZE)) for p in plan
    }
    drawn1 = _compute_round_assignments(seed, targets1, auditors, compute_tier_stakes(auditors))
    excluded = {p.segment: frozenset(p.excluded) for p in plan}
    return {
        segment: {a: stake for a, stake in committee.items() if a not in excluded[segment]}
        for segment, committee in drawn1.items()
    }


def _carry_round_zero_abstentions(
    tallies1: Mapping[int, SegmentTally],
    tallies0: Mapping[int, SegmentTally],
    escalations: Mapping[int, Escalation],
) -> dict[int, SegmentTally]:
    """Round 1's tallies with each doubled segment's round-0 ABSTAIN stake added, as assigned
    stake that abstained.

    A round-0 member that abstained is not asked again (`_make_plan`: a copycat would copy
    round 0's votes), but what it said stands. Dropping its stake as well took away
    a brake: with the tier-1 checkers, which abstain on most segments, a colluding bloc holding
    20% of the stake then decided the doubled committees the honest abstentions had held back,
    and F1 on Dyck records fell from 88.9 to 42.1 (`benchmarks/sweep.py --auditors tier1`). Every
    round-0 member is in the doubled draw (it is monotone in k), so the round-0 abstain stake is
    exactly what the dropped abstainers hold.
    """
    carried = dict(tallies1)
    for segment, tally in tallies1.items():
        abstained = tallies0[segment].abstain_stake
        if escalations[segment].committee_multiplier == 1 or abstained == 0:
            continue
        carried[segment] = replace(
            tally,
            assigned_stake=tally.assigned_stake + abstained,
            abstain_stake=tally.abstain_stake + abstained,
        )
    return carried


def compute_round_one_plan(
    seed: str,
    segment_tiers: Sequence[Tier],
    k: int,
    auditors: Sequence[Auditor],
    round0_reveals: Iterable[Reveal],
    params: ProtocolParams,
) -> tuple[PlannedEscalation, ...]:
    """Round 1's plan (by segment) from the round-0 reveals: what the submitter declares in its
    round-1 bundles, and what every node checks the declaration against once the reveals are
    public. Reveals of round 1 are skipped; ConsensusError for a round-0 vote outside the drawn
    committees."""
    basis = tuple(reveal for reveal in round0_reveals if reveal.round == 0)
    return _compute_rounds(seed, segment_tiers, k, auditors, basis, params).plan


def compute_planned_assignments(
    seed: str,
    segment_tiers: Sequence[Tier],
    k: int,
    auditors: Sequence[Auditor],
    plan: Iterable[PlannedEscalation],
) -> dict[tuple[int, int], dict[str, int]]:
    """(round, segment) -> {auditor: stake} for round 0 and the planned round 1, without the
    HDAG and without any reveal: how a node that holds no round-0 reveal draws round 1."""
    assign0 = _compute_round_zero(seed, segment_tiers, k, auditors)
    assign1 = _draw_round_one(seed, k, auditors, plan)
    return {(0, s): c for s, c in assign0.items()} | {(1, s): c for s, c in assign1.items()}


def compute_round_assignments(
    seed: str,
    segment_tiers: Sequence[Tier],
    k: int,
    auditors: Sequence[Auditor],
    round0_reveals: Iterable[Reveal],
    params: ProtocolParams,
) -> dict[tuple[int, int], dict[str, int]]:
    """(round, segment) -> {auditor: stake} for both rounds, without the HDAG.

    Round 1 follows from the round-0 reveals (through `compute_round_one_plan`), so every node
    that holds the same round-0 reveals draws the same round-1 committees; reveals of round 1
    are skipped. Raises ConsensusError for a round-0 vote outside the drawn committees.
    """
    plan = compute_round_one_plan(seed, segment_tiers, k, auditors, round0_reveals, params)
    return compute_planned_assignments(seed, segment_tiers, k, auditors, plan)


def compute_audit_outcome(
    seed: str,
    segment_tiers: Sequence[Tier],
    k: int,
    auditors: Sequence[Auditor],
    reveals: Iterable[Reveal],
    params: ProtocolParams,
    hdag: Hdag,
) -> AuditOutcome:
    """Round 0 over every segment, round 1 over the escalated ones, then the trace verdict.

    The round-1 committee size is `min(k * multiplier, MAX_COMMITTEE_SIZE)`. Raises
    ConsensusError for reveals of another trace or round, or votes outside the drawn committees.
    """
    all_reveals = tuple(reveals)
    _validate_audit_inputs(segment_tiers, k, auditors, all_reveals, hdag)
    rounds = _compute_rounds(seed, segment_tiers, k, auditors, all_reveals, params)
    tallies1 = _carry_round_zero_abstentions(
        compute_tallies(1, rounds.assign1, all_reveals), rounds.tallies0, rounds.escalations
    )
    verdicts = rounds.verdicts0 | {
        seg: compute_segment_verdict(tally, params) for seg, tally in tallies1.items()
    }
    trace_verdict, first_error = compute_trace_verdict(hdag, verdicts)
    return AuditOutcome(
        assignments={(0, s): c for s, c in rounds.assign0.items()}
        | {(1, s): c for s, c in rounds.assign1.items()},
        tallies=(rounds.tallies0, tallies1),
        escalations=rounds.escalations,
        verdicts=verdicts,
        trace_verdict=trace_verdict,
        first_error=first_error,
    )


# --- Trace verdict -----------------------------------------------------------------------------


def compute_trace_verdict(
    hdag: Hdag, verdicts: Mapping[int, SegmentVerdict]
) -> tuple[TraceVerdict, int]:
    """(trace verdict, first error) from per-node verdicts keyed by position in `hdag.nodes`.

    A node without a verdict counts as UNRESOLVED. The first error is -1 unless FLAWED.
    """
    values = [verdicts.get(index, SegmentVerdict.UNRESOLVED) for index in range(len(hdag.nodes))]
    if SegmentVerdict.INVALID in values:
        return TraceVerdict.FLAWED, compute_first_error(hdag, verdicts)
    if values and all(value == SegmentVerdict.VALID for value in values):
        return TraceVerdict.SOUND, -1
    return TraceVerdict.INCONCLUSIVE, -1


def compute_first_error(hdag: Hdag, verdicts: Mapping[int, SegmentVerdict]) -> int:
    """0-based index, among step nodes in text order, of the earliest step an error touches.

    Each INVALID node below the goal points at the step holding its first character: itself for
    a step, the enclosing step for an operation, the first step of a tactic or strategy (spans
    nest, so this is the rule "lies under"). An INVALID goal alone points at the last step, where
    the final claim is. -1 when nothing is INVALID or the HDAG has no step.
    """
    step_starts = sorted(node.span.start for node in hdag.nodes if node.level == Level.STEP)
    invalid = [
        node
        for index, node in enumerate(hdag.nodes)
        if verdicts.get(index) == SegmentVerdict.INVALID
    ]
    if not step_starts or not invalid:
        return -1
    below_goal = [
        max(0, bisect_right(step_starts, node.span.start) - 1)
        for node in invalid
        if node.level != Level.GOAL
    ]
    return min(below_goal) if below_goal else len(step_starts) - 1


# --- Reporting (off-chain, never consensus) ----------------------------------------------------


def compute_margin_bps(tally: SegmentTally) -> int:
    """(valid - invalid) / revealed in basis points, truncated toward zero like Solidity's int
    division (so margin(a, b) == -margin(b, a)); 0 when nothing was revealed.
    """
    revealed = tally.revealed_stake
    if revealed == 0:
        return 0
    numerator = (tally.valid_stake - tally.invalid_stake) * BASIS_POINTS
    magnitude = abs(numerator) // revealed
    return magnitude if numerator >= 0 else -magnitude


def compute_verdict_probability(
    tallies: Iterable[SegmentTally], accuracy_bps: int, prior_sound: float = PRIOR_SOUND
) -> float:
    """Probability that the trace is SOUND, given each segment's final tally.

    Model (naive Bayes): before any vote the trace is SOUND with probability `prior_sound`,
    spread evenly over its n segments, each VALID independently with q = prior_sound^(1/n);
    every VALID or INVALID vote is right with probability p = accuracy, independently of the
    others. A segment's posterior log-odds of VALID is then
    `logit(q) + (valid votes - invalid votes) * logit(p)`; abstentions and absent auditors add
    nothing. The trace is SOUND when every segment is VALID: the product of the posteriors.

    The prior is per trace, not per segment, because a per-segment 1/2 made P(SOUND) at most
    2^-(unjudged segments): near 0 for any long trace the judges mostly abstained on. Votes,
    not stake, are the evidence: stake decides the verdict, but a vote's chance of being right
    does not grow with its stake. p is clamped to [0.0001, 0.9999] so no vote is certain.
    Floats are fine here: this is reporting, never consensus.
    """
    if not 0 <= accuracy_bps <= BASIS_POINTS:
        raise ConsensusError(f"accuracy {accuracy_bps} bps is outside [0, {BASIS_POINTS}]")
    if not 0 < prior_sound < 1:
        raise ConsensusError(f"prior {prior_sound} of a sound trace is outside (0, 1)")
    tallies = list(tallies)
    if not tallies:
        return 1.0  # nothing to judge: every segment (there is none) is VALID
    p = min(max(accuracy_bps, _MIN_ACCURACY_BPS), _MAX_ACCURACY_BPS) / BASIS_POINTS
    vote_logit = math.log(p / (1 - p))
    segment_prior = prior_sound ** (1 / len(tallies))
    prior_logit = math.log(segment_prior / (1 - segment_prior))
    log_probability = 0.0
    for tally in tallies:
        evidence = (tally.valid_votes - tally.invalid_votes) * vote_logit
        log_probability += _log_sigmoid(prior_logit + evidence)
    return math.exp(log_probability)


def _log_sigmoid(x: float) -> float:
    """log(1 / (1 + e^-x)) without overflow for large |x|."""
    if x >= 0:
        return -math.log1p(math.exp(-x))
    return x - math.log1p(math.exp(x))
