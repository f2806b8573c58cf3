"""`oracle:P` auditors: the truth table, the first error it implies, accuracy and its seeding."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest

from auditors.oracle import (
    OracleConfigError,
    OracleJudge,
    compute_oracle_labels,
    compute_oracle_truth,
)
from protocol.consensus import compute_first_error
from protocol.hdag import build_hdag
from protocol.ids import compute_trace_id
from protocol.layout import compute_segment_layout
from protocol.models import Hdag, Level, Segment, SegmentVerdict, Tier, Trace, Vote
from protocol.segments import build_segments
from protocol.votes import compute_confidence_bps

AUDITOR = "0x" + "a1" * 20
OTHER_AUDITOR = "0x" + "b2" * 20
#: A record in the ProcessBench / BIG-Bench Mistake format; steps 0-2 hold operations.
RECORD: dict[str, Any] = {
    "id": "oracle-unit-1",
    "problem": "A box holds 4 rows of 6 eggs; 5 break. How many are left?",
    "steps": [
        "There are 4 * 6 = 24 eggs.",
        "Then 24 - 5 = 19 eggs are left.",
        "Check: 19 + 5 = 24.",
        "So the answer is 19.",
    ],
    "label": 1,
}
GROUPS = (Level.GOAL, Level.STRATEGY, Level.TACTIC)
#: Segments per synthetic trace and traces in the accuracy sample: 1,000 judgements.
SEGMENTS_PER_TRACE = 20
TRACES = 50


def _record(record: dict[str, Any]) -> Trace:
    return Trace.model_validate_json(json.dumps(record))


def _trace(label: int) -> Trace:
    return _record({**RECORD, "label": label})


def _real_segments(trace: Trace) -> tuple[tuple[Segment, ...], bytes]:
    hdag = build_hdag(trace)
    segments = build_segments(trace, hdag, [Tier.LLM] * len(hdag.nodes))
    return segments, compute_segment_layout(hdag)


def _judge(
    labels: dict[str, int],
    layouts: dict[str, bytes],
    accuracy: float = 1.0,
    seed: int = 0,
    auditor: str = AUDITOR,
) -> OracleJudge:
    return OracleJudge(labels, accuracy, seed, auditor, layouts.get)


# ---- the truth ------------------------------------------------------------------------------


@pytest.mark.parametrize("level", [Level.STEP, Level.OPERATION])
@pytest.mark.parametrize(
    ("step", "label", "truth"),
    [
        (0, 2, Vote.VALID),  # before the first error
        (2, 2, Vote.INVALID),  # on it
        (3, 2, Vote.VALID),  # after it: the label says nothing there
        (0, -1, Vote.VALID),  # a record without error
        (5, -1, Vote.VALID),
    ],
)
def test_a_step_or_operation_is_invalid_only_on_the_labelled_step(
    level: Level, step: int, label: int, truth: Vote
) -> None:
    assert compute_oracle_truth(level, step, label) is truth


@pytest.mark.parametrize("level", GROUPS)
@pytest.mark.parametrize("step", [0, 1, 2])
def test_groups_are_valid_even_over_the_labelled_step(level: Level, step: int) -> None:
    assert compute_oracle_truth(level, step, 1) is Vote.VALID


@pytest.mark.parametrize("label", [-1, 0, 1, 2, 3])
def test_at_p1_the_votes_place_the_first_error_at_the_label(label: int) -> None:
    """On a real HDAG: the layout finds each segment's step, and the tally of the oracle's votes
    gives exactly the labelled first error under the protocol's first-error rule."""
    trace = _trace(label)
    trace_id = compute_trace_id(trace)
    segments, layout = _real_segments(trace)
    assert {s.trace_id for s in segments} == {trace_id}
    judge = _judge({trace_id: label}, {trace_id: layout})
    votes = [judge.judge(segment).vote for segment in segments]
    hdag = build_hdag(trace)
    invalid = {i for i, vote in enumerate(votes) if vote is Vote.INVALID}
    for index in invalid:  # only the labelled step and its operations
        assert hdag.nodes[index].level in (Level.STEP, Level.OPERATION)
    assert len(invalid) == (0 if label < 0 else 1 + _operations_on(hdag, label))
    verdicts = {
        i: SegmentVerdict.INVALID if vote is Vote.INVALID else SegmentVerdict.VALID
        for i, vote in enumerate(votes)
    }
    assert compute_first_error(hdag, verdicts) == label


def _operations_on(hdag: Hdag, step: int) -> int:
    steps = sorted((n for n in hdag.nodes if n.level is Level.STEP), key=lambda n: n.span.start)
    return sum(
        1 for n in hdag.nodes if n.level is Level.OPERATION and steps[step].span.contains(n.span)
    )


def test_the_record_under_test_has_operations_on_the_labelled_step() -> None:
    # Otherwise the operation rows of the truth table would go untested on a real HDAG.
    assert _operations_on(build_hdag(_trace(1)), 1) >= 1


# ---- accuracy and seeding -------------------------------------------------------------------


def _synthetic(count: int = TRACES) -> tuple[list[Segment], dict[str, int], dict[str, bytes]]:
    """`count` traces of SEGMENTS_PER_TRACE step segments each, one per step; label -1, so the
    truth is VALID everywhere and every INVALID vote is an error."""
    segments: list[Segment] = []
    labels: dict[str, int] = {}
    layouts: dict[str, bytes] = {}
    for t in range(count):
        trace_id = "0x" + f"{t:064x}"
        labels[trace_id] = -1
        layouts[trace_id] = b"".join(
            bytes([Level.STEP.depth]) + i.to_bytes(2, "big") for i in range(SEGMENTS_PER_TRACE)
        )
        segments.extend(_segment(trace_id, i) for i in range(SEGMENTS_PER_TRACE))
    return segments, labels, layouts


def _segment(trace_id: str, index: int, level: Level = Level.STEP) -> Segment:
    return Segment(
        trace_id=trace_id,
        index=index,
        node_id="0x" + "cd" * 32,
        level=level,
        tier=Tier.LLM,
        problem="p",
        text="t",
    )


def _wrong(judge: OracleJudge, segments: list[Segment]) -> set[tuple[str, int]]:
    return {(s.trace_id, s.index) for s in segments if judge.judge(s).vote is Vote.INVALID}


def test_p1_is_always_right() -> None:
    segments, labels, layouts = _synthetic(5)
    assert not _wrong(_judge(labels, layouts, 1.0, seed=3), segments)


def test_p07_is_right_on_the_seeds_exact_share_of_segments() -> None:
    segments, labels, layouts = _synthetic()
    judge = _judge(labels, layouts, 0.7, seed=7)
    wrong = _wrong(judge, segments)
    assert len(segments) == 1_000
    assert len(segments) - len(wrong) == 690  # this seed's draw: near 0.7 of 1,000
    assert all(judge.judge(s).confidence == 0.7 for s in segments[:5])
    assert compute_confidence_bps(0.7) == 7_000


def test_answers_are_deterministic_per_seed() -> None:
    segments, labels, layouts = _synthetic()
    first = _wrong(_judge(labels, layouts, 0.7, seed=7), segments)
    assert _wrong(_judge(labels, layouts, 0.7, seed=7), segments) == first
    assert _wrong(_judge(labels, layouts, 0.7, seed=8), segments) != first


def test_auditors_err_independently() -> None:
    """Both at P = 0.7: sharing errors would give ~300 common ones, independence ~90."""
    segments, labels, layouts = _synthetic()
    one = _wrong(_judge(labels, layouts, 0.7, seed=7), segments)
    two = _wrong(_judge(labels, layouts, 0.7, seed=7, auditor=OTHER_AUDITOR), segments)
    assert (len(one), len(two), len(one & two)) == (310, 309, 101)


def test_the_auditor_address_is_case_insensitive() -> None:
    segments, labels, layouts = _synthetic(2)
    lower = _wrong(_judge(labels, layouts, 0.5, auditor="0x" + "ab" * 20), segments)
    assert _wrong(_judge(labels, layouts, 0.5, auditor="0x" + "AB" * 20), segments) == lower


def test_a_wrong_answer_is_the_opposite_of_the_truth() -> None:
    segments, labels, layouts = _synthetic(5)
    trace_id = next(iter(labels))
    labels[trace_id] = 4  # segment 4 of this trace is the labelled first error
    judge = _judge(labels, layouts, 0.5, seed=1)
    for segment in segments:
        truth = compute_oracle_truth(segment.level, segment.index, labels[segment.trace_id])
        judgement = judge.judge(segment)
        assert judgement.vote in (Vote.VALID, Vote.INVALID)
        assert ("answered " + truth.name in judgement.rationale) == (judgement.vote is truth)


# ---- what it cannot judge -------------------------------------------------------------------


def test_a_trace_without_a_label_abstains() -> None:
    segments, _, layouts = _synthetic(1)
    judge = _judge({}, layouts)
    judgement = judge.judge(segments[0])
    assert (judgement.vote, judgement.confidence) == (Vote.ABSTAIN, 0.0)
    assert "no label" in judgement.rationale


def test_a_trace_without_a_known_layout_or_outside_it_abstains() -> None:
    segments, labels, layouts = _synthetic(1)
    assert _judge(labels, {}).judge(segments[0]).vote is Vote.ABSTAIN
    beyond = _segment(segments[0].trace_id, SEGMENTS_PER_TRACE)
    assert _judge(labels, layouts).judge(beyond).vote is Vote.ABSTAIN


@pytest.mark.parametrize(
    ("accuracy", "seed", "auditor"),
    [
        (0.0, 0, AUDITOR),
        (1.5, 0, AUDITOR),
        (math.nan, 0, AUDITOR),
        (0.7, -1, AUDITOR),
        (0.7, 2**256, AUDITOR),
        (0.7, 0, "0x12"),
        (0.7, 0, "a1" * 20),
    ],
)
def test_bad_parameters_are_refused(accuracy: float, seed: int, auditor: str) -> None:
    with pytest.raises(OracleConfigError):
        _judge({}, {}, accuracy, seed, auditor)


# ---- labels from records --------------------------------------------------------------------


def test_labels_are_keyed_by_the_id_of_the_record_as_submitted() -> None:
    traces = [_trace(1), _trace(-1)]
    labels = compute_oracle_labels(traces)
    assert labels == {compute_trace_id(traces[0]): 1, compute_trace_id(traces[1]): -1}


def test_a_record_without_a_label_is_refused() -> None:
    unlabelled = _record({k: v for k, v in RECORD.items() if k != "label"})
    with pytest.raises(OracleConfigError, match="oracle-unit-1"):
        compute_oracle_labels([_trace(1), unlabelled])
