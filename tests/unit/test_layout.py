from __future__ import annotations

import pytest

from protocol.consensus import compute_first_error
from protocol.errors import HdagInvariantError
from protocol.hdag import build_hdag
from protocol.layout import compute_layout_levels, compute_layout_steps, compute_segment_layout
from protocol.models import Level, SegmentVerdict, Trace

TRACE = Trace(
    problem="p",
    steps=("First, 2 + 3 = 5.", "Then 5 * 4 = 20.", "Next, 20 - 1 = 19.", "So the answer is 19."),
)


def test_layout_has_three_bytes_per_segment_and_starts_with_the_goal() -> None:
    hdag = build_hdag(TRACE)
    layout = compute_segment_layout(hdag)
    assert len(layout) == 3 * len(hdag.nodes)
    assert compute_layout_levels(layout) == tuple(node.level for node in hdag.nodes)
    assert layout[0] == Level.GOAL.depth
    assert int.from_bytes(layout[1:3], "big") == len(TRACE.steps or ()) - 1


def test_layout_step_index_gives_the_protocol_first_error() -> None:
    """For every single INVALID segment, the layout's step index is the protocol's first error."""
    hdag = build_hdag(TRACE)
    layout = compute_segment_layout(hdag)
    for index in range(len(hdag.nodes)):
        verdicts = dict.fromkeys(range(len(hdag.nodes)), SegmentVerdict.VALID)
        verdicts[index] = SegmentVerdict.INVALID
        step = int.from_bytes(layout[3 * index + 1 : 3 * index + 3], "big")
        assert compute_first_error(hdag, verdicts) == step
        assert compute_layout_steps(layout)[index] == step


def test_layout_steps_number_the_step_nodes_in_text_order() -> None:
    hdag = build_hdag(TRACE)
    steps = compute_layout_steps(compute_segment_layout(hdag))
    assert len(steps) == len(hdag.nodes)
    by_start = sorted((n.span.start, i) for i, n in enumerate(hdag.nodes) if n.level is Level.STEP)
    assert [steps[i] for _, i in by_start] == list(range(len(TRACE.steps or ())))


def test_layout_refuses_an_hdag_without_steps() -> None:
    hdag = build_hdag(TRACE)
    stepless = hdag.model_copy(
        update={"nodes": tuple(n for n in hdag.nodes if n.level is not Level.STEP)}
    )
    with pytest.raises(HdagInvariantError, match="no step"):
        compute_segment_layout(stepless)
