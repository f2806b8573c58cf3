"""The exact prediction of an oracle evaluation: its arithmetic, and agreement with the
protocol's own sortition and tally functions sampled over many seeds."""

from __future__ import annotations

import json
import math
import random

import pytest

from devnet.evaluation.prediction import (
    ModelAuditor,
    RecordShape,
    SegmentOdds,
    compute_first_error_odds,
    compute_record_shape,
    compute_segment_odds,
    compute_single_auditor_odds,
    predict_network,
    predict_records,
    predict_single_auditor,
)
from protocol.consensus import SegmentTally, compute_segment_verdict
from protocol.models import Auditor, Level, SegmentVerdict, Tier, Trace, Vote
from protocol.params import DEVNET
from protocol.sortition import compute_committee, compute_tier_stakes

ETHER = 10**18
DEV_STAKES = tuple(s * ETHER for s in (10, 20, 30, 40, 50))
HONEST = tuple(ModelAuditor(stake) for stake in DEV_STAKES)
SNAPSHOT = tuple(
    Auditor(address=f"0x{index:040x}", stake=stake, tiers=(Tier.CHECKER, Tier.LLM))
    for index, stake in enumerate(DEV_STAKES, start=1)
)
#: label 1; segments: goal (last step), step 0, operation on 0, step 1, operation on 1, step 2.
SHAPE = RecordShape(
    label=1,
    k=3,
    levels=(Level.GOAL, Level.STEP, Level.OPERATION, Level.STEP, Level.OPERATION, Level.STEP),
    steps=(2, 0, 0, 1, 1, 2),
)


def _total(odds: SegmentOdds) -> float:
    return odds.valid + odds.invalid + odds.unresolved


@pytest.mark.parametrize("truth", [Vote.VALID, Vote.INVALID])
@pytest.mark.parametrize("behaviour", ["honest", "flip", "always-valid", "collude"])
def test_segment_odds_are_a_distribution(truth: Vote, behaviour: str) -> None:
    auditors = (ModelAuditor(DEV_STAKES[0], behaviour), *HONEST[1:])
    odds = compute_segment_odds(auditors, truth, 0.8, 3)
    assert math.isclose(_total(odds), 1.0, abs_tol=1e-12)
    assert min(odds.valid, odds.invalid, odds.unresolved) >= 0


def test_perfect_judges_err_only_through_empty_committees() -> None:
    odds = compute_segment_odds(HONEST, Vote.INVALID, 1.0, 3)
    assert odds.valid == 0
    # The 50 ETH auditor is assigned with k * stake / total = 3 * 50 / 150 = 1: never empty.
    assert odds.invalid == pytest.approx(1.0)


def test_forty_percent_always_valid_vetoes_every_invalid_verdict() -> None:
    # The 10 and 50 ETH auditors vote VALID, and the 50 is on every committee (3 * 50 / 150 = 1):
    # INVALID needs 2/3 of the revealed stake, and the other three hold 90 of at least 140.
    auditors = (ModelAuditor(DEV_STAKES[0], "always-valid"), *HONEST[1:4])
    auditors += (ModelAuditor(DEV_STAKES[4], "always-valid"),)
    assert compute_segment_odds(auditors, Vote.INVALID, 1.0, 3).invalid == 0
    # With the 50 ETH auditor honest the other four reach exactly 2/3 when all are drawn.
    alone = (*HONEST[:4], ModelAuditor(DEV_STAKES[4], "always-valid"))
    assert compute_segment_odds(alone, Vote.INVALID, 1.0, 3).invalid > 0


def test_an_exact_two_thirds_tie_tips_with_one_wei_of_slashing() -> None:
    """The sweep's stakes (10, 10, 20, 30, 30 ETH) with a 30-ETH always-VALID auditor: the
    honest 60 of 90 revealed is exactly two thirds, so an honest stake slashed by one wei
    (as earlier traces slash it on a running network) loses INVALID verdicts."""
    ether = 10**18
    stakes = [10 * ether, 10 * ether, 20 * ether, 30 * ether, 30 * ether]

    def auditors(slashed_wei: int) -> list[ModelAuditor]:
        honest = [ModelAuditor(stake - slashed_wei) for stake in stakes]
        return [*honest[:3], ModelAuditor(stakes[3], "always-valid"), honest[4]]

    at_registration = predict_network([SHAPE], auditors(0), 1.0)
    as_audited = predict_records([(SHAPE, auditors(1))], 1.0)
    assert at_registration == predict_records([(SHAPE, auditors(0))], 1.0)
    assert as_audited["first_error_accuracy"] < at_registration["first_error_accuracy"]


def test_single_auditor_odds_are_its_accuracy() -> None:
    assert compute_single_auditor_odds(Vote.VALID, 0.9).invalid == pytest.approx(0.1)
    assert compute_single_auditor_odds(Vote.INVALID, 0.9).invalid == pytest.approx(0.9)


def test_first_error_odds_multiply_the_segments() -> None:
    def odds_of(truth: Vote) -> SegmentOdds:
        return compute_single_auditor_odds(truth, 0.9)

    # Step 0 and its operation must not be INVALID, one of step 1 and its operation must be.
    expected = 0.9 * 0.9 * (1 - 0.1 * 0.1)
    assert compute_first_error_odds(SHAPE, odds_of) == pytest.approx(expected)
    correct = RecordShape(-1, 3, SHAPE.levels, SHAPE.steps)
    assert compute_first_error_odds(correct, odds_of) == pytest.approx(0.9**6)


def test_committees_beat_one_auditor_of_the_same_accuracy() -> None:
    shapes = [SHAPE, RecordShape(-1, 3, SHAPE.levels, SHAPE.steps)]
    network = predict_network(shapes, HONEST, 0.9)
    alone = predict_single_auditor(shapes, 0.9)
    assert network["f1"] is not None and alone["f1"] is not None
    assert network["f1"] > alone["f1"]


def test_record_shape_follows_the_hdag() -> None:
    record = {"problem": "2 + 3 * 4?", "steps": ["3 * 4 = 12.", "2 + 12 = 14."], "label": -1}
    trace = Trace.model_validate_json(json.dumps(record))
    shape = compute_record_shape(trace, SNAPSHOT)
    assert shape.label == -1 and shape.k >= DEVNET.min_committee_size
    assert len(shape.levels) == len(shape.steps)
    assert Level.GOAL in shape.levels and set(shape.steps) == {0, 1}


def _sampled_verdict(
    seed: str, votes: dict[str, Vote], k: int, tier_stakes: dict[Tier, int]
) -> SegmentVerdict:
    """One segment through the protocol's own sortition and tally, every member revealing."""
    verdict = SegmentVerdict.UNRESOLVED
    for round_k in (k, 2 * k):
        committee = compute_committee(seed, 0, Tier.CHECKER, round_k, SNAPSHOT, tier_stakes)
        stake = {a.address: a.stake for a in SNAPSHOT}
        tally = SegmentTally(
            segment=0,
            round=0,
            assigned_stake=sum(stake[a] for a in committee),
            valid_stake=sum(stake[a] for a in committee if votes[a] is Vote.VALID),
            invalid_stake=sum(stake[a] for a in committee if votes[a] is Vote.INVALID),
        )
        verdict = compute_segment_verdict(tally, DEVNET)
        if verdict is not SegmentVerdict.UNRESOLVED:
            return verdict
    return verdict


def test_prediction_agrees_with_the_protocol_sampled() -> None:
    """Sortition hashes of random seeds and independent oracle votes, tallied by the protocol:
    the frequencies fall within five standard errors of the exact odds."""
    rng, samples, accuracy = random.Random(7), 6_000, 0.7
    auditors = (ModelAuditor(DEV_STAKES[0], "flip"), *HONEST[1:])
    tier_stakes = compute_tier_stakes(SNAPSHOT)
    counts = dict.fromkeys(SegmentVerdict, 0)
    for _ in range(samples):
        seed = "0x" + rng.getrandbits(256).to_bytes(32, "big").hex()
        votes = {}
        for model, auditor in zip(auditors, SNAPSHOT, strict=True):
            right = rng.random() < (1 - accuracy if model.behaviour == "flip" else accuracy)
            votes[auditor.address] = Vote.INVALID if right else Vote.VALID
        counts[_sampled_verdict(seed, votes, 3, tier_stakes)] += 1
    odds = compute_segment_odds(auditors, Vote.INVALID, accuracy, 3)
    for verdict, expected in (
        (SegmentVerdict.INVALID, odds.invalid),
        (SegmentVerdict.VALID, odds.valid),
        (SegmentVerdict.UNRESOLVED, odds.unresolved),
    ):
        error = math.sqrt(max(expected * (1 - expected), 1e-4) / samples)
        assert abs(counts[verdict] / samples - expected) < 5 * error, verdict
