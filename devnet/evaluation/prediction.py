"""The exact prediction of an oracle evaluation, and the single-auditor baseline beside it.

With `oracle:P` auditors every vote is an independent draw (right with probability P), so what
the protocol's rules make of them can be computed rather than sampled. For one segment this
module enumerates every way the committees can fall and the auditors can vote and applies the
protocol's own rules (`protocol.consensus`: quorum, two-thirds supermajority of stake, one
escalation round): each auditor is in the round-0 committee with probability
`min(1, k * stake / tier stake)`, and in the round-1 committee of a doubled k exactly when its
sortition hash passes the larger threshold (the same hash: a round-0 member stays a member, as
the protocol keeps those that voted VALID or INVALID in round 0, and every modelled one did), and
an oracle answers a segment the same way in both rounds. A record's predicted first error is
the earliest step an INVALID segment points at (`compute_layout_steps`), segments independent.

What the prediction leaves out, and a measurement includes: auditors absent or late (their
commit misses the window), and sampling noise; and, in `predict_network`, the slashes between
traces, which on a running network move each trace's snapshot stakes off the registered ones
(`predict_records` takes each record's own auditors: with stakes where an INVALID holds
exactly two thirds of a committee, a slash of one wei decides it). A colluding bloc's shared
draw is exact here (members are correlated through it); `random` and `copycat` adversaries are
not modelled.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache, partial

from auditors.oracle import compute_oracle_truth
from protocol.hdag import build_hdag
from protocol.layout import compute_layout_steps, compute_segment_layout
from protocol.models import Auditor, Level, SegmentVerdict, Trace, Vote
from protocol.params import DEVNET, MAX_COMMITTEE_SIZE, ProtocolParams
from protocol.sortition import compute_trace_committee_size

#: Behaviours whose votes the prediction can compute, as the node's names them.
PREDICTABLE = ("honest", "flip", "always-valid", "collude")

_OUT, _BOTH, _ROUND1 = 0, 1, 2
"""An auditor's membership: in neither committee, in round 0 (hence round 1), in round 1 only."""


@dataclass(frozen=True)
class ModelAuditor:
    stake: int
    #: One of PREDICTABLE.
    behaviour: str = "honest"


@dataclass(frozen=True)
class SegmentOdds:
    """Probabilities of a segment's final verdict."""

    valid: float
    invalid: float
    unresolved: float


def _chance_right(behaviour: str, accuracy: float, attacked: bool) -> float:
    """Probability an auditor votes the truth (the rest: its flip)."""
    if behaviour == "flip" or (behaviour == "collude" and attacked):
        return 1.0 - accuracy  # the flip of its own oracle answer
    return accuracy


def _vote_odds(
    auditor: ModelAuditor, truth: Vote, accuracy: float, attacked: bool
) -> dict[Vote, float]:
    if auditor.behaviour == "always-valid":
        return {Vote.VALID: 1.0}
    if auditor.behaviour not in PREDICTABLE:
        raise ValueError(f"behaviour {auditor.behaviour!r} is not predictable")
    right = _chance_right(auditor.behaviour, accuracy, attacked)
    wrong = Vote.VALID if truth is Vote.INVALID else Vote.INVALID
    return {truth: right, wrong: 1.0 - right}


def _membership_odds(stake: int, total: int, k: int) -> tuple[float, float, float]:
    """(neither, round 0 and 1, round 1 only) for one auditor with a doubled round-1 k."""
    first = min(1.0, k * stake / total)
    second = min(1.0, min(2 * k, MAX_COMMITTEE_SIZE) * stake / total)
    return 1.0 - second, first, second - first


def _verdict(members: Sequence[tuple[int, Vote]], params: ProtocolParams) -> SegmentVerdict:
    """The protocol's segment verdict when every member reveals (`compute_segment_verdict`):
    an empty committee has no quorum, and the quorum is met whenever everyone assigned reveals."""
    revealed = sum(stake for stake, _ in members)
    if revealed == 0:
        return SegmentVerdict.UNRESOLVED
    threshold = revealed * params.supermajority_num
    valid = sum(stake for stake, vote in members if vote is Vote.VALID)
    if valid * params.supermajority_den >= threshold:
        return SegmentVerdict.VALID
    if (revealed - valid) * params.supermajority_den >= threshold:
        return SegmentVerdict.INVALID
    return SegmentVerdict.UNRESOLVED


def _auditor_cases(
    auditor: ModelAuditor, total: int, truth: Vote, accuracy: float, k: int, attacked: bool
) -> list[tuple[float, int, Vote]]:
    """(probability, membership, vote) of one auditor, impossible cases left out."""
    memberships = _membership_odds(auditor.stake, total, k)
    votes = _vote_odds(auditor, truth, accuracy, attacked)
    return [
        (p_member * p_vote, member, vote)
        for member, p_member in enumerate(memberships)
        for vote, p_vote in votes.items()
        if p_member * p_vote > 0
    ]


def _compute_conditional_odds(
    auditors: tuple[ModelAuditor, ...],
    truth: Vote,
    accuracy: float,
    k: int,
    attacked: bool,
    params: ProtocolParams,
) -> dict[SegmentVerdict, float]:
    """Final-verdict odds of one segment given whether a colluding bloc attacks it."""
    total = sum(auditor.stake for auditor in auditors)
    cases = [_auditor_cases(a, total, truth, accuracy, k, attacked) for a in auditors]
    odds = dict.fromkeys(SegmentVerdict, 0.0)
    for combination in itertools.product(*cases):
        members = [
            (auditor.stake, member, vote)
            for auditor, (_, member, vote) in zip(auditors, combination, strict=True)
        ]
        verdict = _verdict([(s, v) for s, m, v in members if m == _BOTH], params)
        if verdict is SegmentVerdict.UNRESOLVED:
            # None of these behaviours abstains, so escalation doubles the committee (same tier).
            verdict = _verdict([(s, v) for s, m, v in members if m != _OUT], params)
        odds[verdict] += math.prod(p for p, _, _ in combination)
    return odds


@cache
def compute_segment_odds(
    auditors: tuple[ModelAuditor, ...],
    truth: Vote,
    accuracy: float,
    k: int,
    bloc_fraction: float = 0.5,
    params: ProtocolParams = DEVNET,
) -> SegmentOdds:
    """Odds of a segment's final verdict whose correct vote is `truth`, honest auditors right
    with probability `accuracy`, committees of target size k (one escalation with 2k)."""
    colluding = any(auditor.behaviour == "collude" for auditor in auditors)
    attack_odds = (
        ((True, bloc_fraction), (False, 1.0 - bloc_fraction)) if colluding else ((False, 1.0),)
    )
    odds = dict.fromkeys(SegmentVerdict, 0.0)
    for attacked, weight in attack_odds:
        for verdict, p in _compute_conditional_odds(
            auditors, truth, accuracy, k, attacked, params
        ).items():
            odds[verdict] += weight * p
    return SegmentOdds(
        valid=odds[SegmentVerdict.VALID],
        invalid=odds[SegmentVerdict.INVALID],
        unresolved=odds[SegmentVerdict.UNRESOLVED],
    )


def compute_single_auditor_odds(truth: Vote, accuracy: float) -> SegmentOdds:
    """One auditor judging every segment alone: its vote is the verdict."""
    right = accuracy
    if truth is Vote.VALID:
        return SegmentOdds(valid=right, invalid=1.0 - right, unresolved=0.0)
    return SegmentOdds(valid=1.0 - right, invalid=right, unresolved=0.0)


@dataclass(frozen=True)
class RecordShape:
    """What the prediction needs of a record: its label, its committee size and, per segment,
    level and step."""

    label: int
    k: int
    levels: tuple[Level, ...]
    steps: tuple[int, ...]


def compute_record_shape(
    trace: Trace, snapshot: Sequence[Auditor], params: ProtocolParams = DEVNET
) -> RecordShape:
    """The shape of a labelled record as the network audits it: its HDAG, its on-chain layout's
    steps and the committee size the coordinator picks for these auditors."""
    if trace.label is None:
        raise ValueError("a record without a label cannot be predicted")
    hdag = build_hdag(trace)
    return RecordShape(
        label=trace.label,
        k=compute_trace_committee_size(hdag, snapshot, params),
        levels=tuple(node.level for node in hdag.nodes),
        steps=compute_layout_steps(compute_segment_layout(hdag)),
    )


def compute_first_error_odds(shape: RecordShape, odds_of: Callable[[Vote], SegmentOdds]) -> float:
    """Probability the predicted first error equals the label: every segment pointing at an
    earlier step not INVALID and, for an erroneous record, one at the label INVALID."""
    no_earlier_invalid = 1.0
    none_at_label_invalid = 1.0
    for level, step in zip(shape.levels, shape.steps, strict=True):
        truth = compute_oracle_truth(level, step, shape.label)
        invalid = odds_of(truth).invalid
        if shape.label < 0 or step < shape.label:
            no_earlier_invalid *= 1.0 - invalid
        elif step == shape.label:
            none_at_label_invalid *= 1.0 - invalid
    if shape.label < 0:
        return no_earlier_invalid
    return no_earlier_invalid * (1.0 - none_at_label_invalid)


def _scores(shapes: Sequence[RecordShape], chances: Sequence[float]) -> dict[str, float | None]:
    """Expected accuracies, the F1 of those expectations, and first-error accuracy."""
    erroneous = [c for shape, c in zip(shapes, chances, strict=True) if shape.label >= 0]
    correct = [c for shape, c in zip(shapes, chances, strict=True) if shape.label < 0]
    on_erroneous = sum(erroneous) / len(erroneous) if erroneous else None
    on_correct = sum(correct) / len(correct) if correct else None
    f1 = None
    if on_erroneous is not None and on_correct is not None:
        both = on_erroneous + on_correct
        f1 = 2 * on_erroneous * on_correct / both if both else 0.0
    return {
        "f1": f1,
        "accuracy_erroneous": on_erroneous,
        "accuracy_correct": on_correct,
        "first_error_accuracy": sum(chances) / len(chances) if chances else None,
    }


def _network_odds(
    members: tuple[ModelAuditor, ...],
    accuracy: float,
    k: int,
    bloc_fraction: float,
    params: ProtocolParams,
    truth: Vote,
) -> SegmentOdds:
    return compute_segment_odds(members, truth, accuracy, k, bloc_fraction, params)


def predict_network(
    shapes: Sequence[RecordShape],
    auditors: Sequence[ModelAuditor],
    accuracy: float,
    bloc_fraction: float = 0.5,
    params: ProtocolParams = DEVNET,
) -> dict[str, float | None]:
    """The expected scores of an oracle evaluation of these records on these auditors."""
    return predict_records([(shape, auditors) for shape in shapes], accuracy, bloc_fraction, params)


def predict_records(
    cases: Sequence[tuple[RecordShape, Sequence[ModelAuditor]]],
    accuracy: float,
    bloc_fraction: float = 0.5,
    params: ProtocolParams = DEVNET,
) -> dict[str, float | None]:
    """As `predict_network`, each record with its own auditors: a running network slashes
    stake between traces, so each trace is audited under the stakes of its own snapshot, and
    where a verdict sits exactly on the two-thirds line a slash of one wei tips it."""
    chances = [
        compute_first_error_odds(
            shape,
            partial(_network_odds, tuple(auditors), accuracy, shape.k, bloc_fraction, params),
        )
        for shape, auditors in cases
    ]
    return _scores([shape for shape, _ in cases], chances)


def predict_single_auditor(
    shapes: Sequence[RecordShape], accuracy: float
) -> dict[str, float | None]:
    """The expected scores of one honest auditor of `accuracy` judging every segment alone."""
    chances = [
        compute_first_error_odds(shape, lambda truth: compute_single_auditor_odds(truth, accuracy))
        for shape in shapes
    ]
    return _scores(shapes, chances)
