from __future__ import annotations

import itertools

import pytest

from protocol.errors import HdagInvariantError
from protocol.hdag import build_hdag
from protocol.merkle import is_valid_merkle_proof
from protocol.models import Hdag, HdagNode, Level, Span, Tier, Trace
from protocol.segments import build_segments, compute_segment_text, compute_visible_spans

TRACE = Trace(
    problem="The angle is 32 degrees. The sun moves 5 degrees an hour for 10 hours.",
    steps=(
        "First, the sun moves 5 * 10 = 50 degrees. That is the climb.",
        "Next, the angle is 32 + 50 = 82 degrees.",
        "Then we double check it. The total stays 82.",
        "So the answer is 82.",
    ),
)


def _nodes(hdag: Hdag, level: Level) -> list[HdagNode]:
    return [node for node in hdag.nodes if node.level is level]


def _tiers(hdag: Hdag) -> list[Tier]:
    return [Tier.CHECKER if n.level is Level.OPERATION else Tier.LLM for n in hdag.nodes]


def test_step_and_operation_segments_carry_their_own_text() -> None:
    hdag = build_hdag(TRACE)
    step = _nodes(hdag, Level.STEP)[1]
    op = _nodes(hdag, Level.OPERATION)[1]
    assert compute_segment_text(hdag, step) == hdag.node_text(step)
    assert compute_segment_text(hdag, op) == "32 + 50 = 82"


def test_tactic_segment_carries_only_its_childrens_claims() -> None:
    hdag = build_hdag(TRACE)
    (tactic,) = _nodes(hdag, Level.TACTIC)
    assert compute_segment_text(hdag, tactic) == "The total stays 82.\nSo the answer is 82."


def test_strategy_segment_carries_its_childrens_claims() -> None:
    hdag = build_hdag(TRACE)
    (strategy,) = _nodes(hdag, Level.STRATEGY)
    assert compute_segment_text(hdag, strategy) == (
        "That is the climb.\nNext, the angle is 32 + 50 = 82 degrees.\nSo the answer is 82."
    )


def test_goal_segment_is_the_final_claim_not_the_whole_text() -> None:
    hdag = build_hdag(TRACE)
    (goal,) = _nodes(hdag, Level.GOAL)
    text = compute_segment_text(hdag, goal)
    assert text == "So the answer is 82."
    assert text != hdag.text
    assert compute_visible_spans(hdag, goal) == (
        Span(start=hdag.text.index(text), end=len(hdag.text)),
    )


def test_visible_spans_add_dependency_claims_merged_and_sorted() -> None:
    hdag = build_hdag(TRACE)
    first, second = _nodes(hdag, Level.STEP)[:2]
    assert second.deps == (first.id,)
    assert compute_visible_spans(hdag, second) == (first.claim, second.span)
    merged = compute_visible_spans(hdag, first.model_copy(update={"deps": (first.id,)}))
    assert merged == (first.span,)


def test_build_segments_one_per_node_with_context_and_proofs() -> None:
    hdag = build_hdag(TRACE)
    segments = build_segments(TRACE, hdag, _tiers(hdag))
    assert [segment.node_id for segment in segments] == [node.id for node in hdag.nodes]
    for index, segment in enumerate(segments):
        node = hdag.nodes[index]
        assert segment.index == index
        assert segment.level is node.level
        assert segment.problem == TRACE.problem
        assert segment.tier is (Tier.CHECKER if node.level is Level.OPERATION else Tier.LLM)
        assert is_valid_merkle_proof(
            hdag.root, segment.node_id, index, len(segments), segment.proof
        )
        assert segment.text != hdag.text


def test_segment_context_is_the_dependency_claims_in_text_order() -> None:
    hdag = build_hdag(TRACE)
    segments = build_segments(TRACE, hdag, _tiers(hdag))
    second_step = _nodes(hdag, Level.STEP)[1]
    segment = next(s for s in segments if s.node_id == second_step.id)
    assert segment.context == ("That is the climb.",)


def test_every_visible_span_lies_in_the_text() -> None:
    hdag = build_hdag(TRACE)
    whole = Span(start=0, end=len(hdag.text))
    for node in hdag.nodes:
        spans = compute_visible_spans(hdag, node)
        assert spans and all(whole.contains(span) for span in spans)
        assert all(a.end < b.start for a, b in itertools.pairwise(spans))


def test_tiers_must_match_the_nodes() -> None:
    hdag = build_hdag(TRACE)
    with pytest.raises(HdagInvariantError, match="tiers for"):
        build_segments(TRACE, hdag, _tiers(hdag)[:-1])


def test_segments_refuse_an_hdag_of_another_trace() -> None:
    hdag = build_hdag(TRACE)
    other = Trace(problem="Another problem.", steps=TRACE.steps)
    with pytest.raises(HdagInvariantError, match="trace_id"):
        build_segments(other, hdag, _tiers(hdag))
