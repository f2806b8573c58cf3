from __future__ import annotations

from typing import Any

import pytest

from protocol.encoding import ZERO_HASH
from protocol.errors import HdagInvariantError, InvalidTraceError
from protocol.hdag import (
    MAX_STRATEGY_CHILDREN,
    MAX_TACTIC_STEPS,
    build_hdag,
    compute_canonical_key,
    compute_state_labels,
)
from protocol.hdag_validation import is_valid_hdag, validate_hdag
from protocol.ids import compute_node_id, compute_trace_id
from protocol.merkle import compute_merkle_root
from protocol.models import Hdag, HdagNode, Level, Span, Trace
from protocol.params import MAX_STEPS

PROBLEM = "The angle is 32 degrees. The sun moves 5 degrees an hour for 10 hours. Subtract 2."
ARITH = Trace(
    problem=PROBLEM,
    steps=(
        "First, the sun moves 5 * 10 = 50 degrees.",
        "Next, the angle is 32 + 50 = 82 degrees.",
        "Then we get 82 - 2 = 80.",
        "So the answer is 80.",
    ),
)
TWO_PLANS = Trace(
    problem="Compute 6 * 7.",
    steps=(
        "First, 6 * 7 = 42.",
        "So the product is 42.",
        "Alternatively, 7 * 6 = 42.",
        "Both agree, so 42.",
    ),
)
NO_DEPS = Trace(problem="Add.", steps=("First, 1 + 1 = 2.", "Next, 3 + 4 = 7."))


def _by_level(hdag: Hdag, level: Level) -> list[HdagNode]:
    return [node for node in hdag.nodes if node.level is level]


def _text(hdag: Hdag, node: HdagNode) -> str:
    return hdag.node_text(node)


def _node_by_text(hdag: Hdag, level: Level, text: str) -> HdagNode:
    return next(node for node in _by_level(hdag, level) if _text(hdag, node) == text)


# --- builder -----------------------------------------------------------------------------------


def test_all_five_levels_are_present() -> None:
    hdag = build_hdag(ARITH)
    assert {node.level for node in hdag.nodes} == set(Level)
    assert len(_by_level(hdag, Level.GOAL)) == 1
    assert len(_by_level(hdag, Level.STEP)) == 4


def test_steps_partition_the_text_and_follow_the_given_steps() -> None:
    hdag = build_hdag(ARITH)
    steps = _by_level(hdag, Level.STEP)
    assert [_text(hdag, step).strip() for step in steps] == list(ARITH.steps)
    assert "".join(_text(hdag, step) for step in steps) == ARITH.text


def test_operations_are_the_equalities_under_their_step() -> None:
    hdag = build_hdag(ARITH)
    by_id = {node.id: node for node in hdag.nodes}
    operations = _by_level(hdag, Level.OPERATION)
    assert [_text(hdag, op) for op in operations] == ["5 * 10 = 50", "32 + 50 = 82", "82 - 2 = 80"]
    for op in operations:
        parent = by_id[op.parent or ""]
        assert parent.level is Level.STEP
        assert parent.span.contains(op.span)


def test_tactics_start_at_cues_and_lone_steps_hang_from_the_strategy() -> None:
    hdag = build_hdag(ARITH)
    by_id = {node.id: node for node in hdag.nodes}
    (strategy,) = _by_level(hdag, Level.STRATEGY)
    (tactic,) = _by_level(hdag, Level.TACTIC)
    steps = _by_level(hdag, Level.STEP)
    assert [by_id[step.parent or ""].level for step in steps] == [
        Level.STRATEGY,
        Level.STRATEGY,
        Level.TACTIC,
        Level.TACTIC,
    ]
    assert tactic.span == Span(start=steps[2].span.start, end=steps[3].span.end)
    assert tactic.parent == strategy.id
    assert strategy.parent == _by_level(hdag, Level.GOAL)[0].id


def test_dependencies_follow_derived_numbers() -> None:
    hdag = build_hdag(ARITH)
    steps = _by_level(hdag, Level.STEP)
    ops = _by_level(hdag, Level.OPERATION)
    assert [step.deps for step in steps] == [(), (steps[0].id,), (steps[1].id,), (steps[2].id,)]
    assert [op.deps for op in ops] == [(), (ops[0].id,), (ops[1].id,)]


def test_numbers_given_in_the_problem_create_no_dependency() -> None:
    trace = Trace(problem="We have 12 eggs.", steps=("First, 6 + 6 = 12.", "Next, 12 / 2 = 6."))
    hdag = build_hdag(trace)
    assert all(not node.deps for node in hdag.nodes)


def test_tactic_and_strategy_dependencies_are_lifted_from_steps() -> None:
    trace = Trace(
        problem="Compute.",
        steps=("First, 2 + 3 = 5.", "It is 5.", "Next, 5 * 7 = 35.", "It is 35."),
    )
    hdag = build_hdag(trace)
    first, second = _by_level(hdag, Level.TACTIC)
    assert second.deps == (first.id,)
    assert first.deps == ()


DYCK = Trace(
    problem="Complete the sequence: ( < >",
    steps=(
        "We keep track of the stack.",
        "stack: empty",
        "( ; stack: (",
        "< ; stack: ( <",
        "Then we read the closing bracket.",
        "> ; stack: (",
        'The final stack is "(".',
    ),
)


def _step_deps(hdag: Hdag) -> list[list[int]]:
    """Per step, the indices of the steps it depends on."""
    steps = _by_level(hdag, Level.STEP)
    index = {step.id: i for i, step in enumerate(steps)}
    return [[index[dep] for dep in step.deps] for step in steps]


def test_a_step_stating_a_state_depends_on_the_last_step_stating_it() -> None:
    hdag = build_hdag(DYCK)
    validate_hdag(hdag, DYCK)
    # Prose, even about the stack, states no state; step 5 skips the prose line back to step 3.
    assert _step_deps(hdag) == [[], [], [1], [2], [], [3], []]


def test_state_dependencies_are_lifted_to_tactics() -> None:
    steps = tuple(f"{'(' * n} ; stack: {' '.join('(' * n)}" for n in range(1, 6))
    hdag = build_hdag(Trace(problem="p", steps=("stack: empty", *steps)))
    first, second = _by_level(hdag, Level.TACTIC)
    assert second.deps == (first.id,)
    assert hdag.claim_text(first) == "((( ; stack: ( ( ("


def test_state_and_number_dependencies_join() -> None:
    trace = Trace(problem="p", steps=("First, 2 + 3 = 5.", "stack: empty", "It is 5; stack: ("))
    assert _step_deps(build_hdag(trace)) == [[], [], [0, 1]]


@pytest.mark.parametrize(
    ("text", "labels"),
    [
        ("( ; stack: ( <", {"stack"}),
        ("stack: empty", {"stack"}),
        ("  Stack : [ {", {"stack"}),
        ("We read it.\n< ; stack: <", {"stack"}),
        ("stack:", set()),
        ("stack:\n( <", set()),
        ("The stack: ( <", set()),
        ("We keep track of the stack configuration.", set()),
        ('The final stack is "( <".', set()),
        ("Step 1: Compute the area.", set()),
        ("Therefore: the answer is 12.", set()),
        ("**Step 2:** We have: x = 3; so: y = 4.", set()),
        ("overstack: (", set()),
    ],
)
def test_state_labels_are_read_conservatively(text: str, labels: set[str]) -> None:
    assert compute_state_labels(text, Span(start=0, end=len(text))) == labels


def test_prose_with_colons_gets_no_state_dependency() -> None:
    trace = Trace(
        problem="A square has side 3. What is its area?",
        steps=(
            "Step 1: Recall the formula: the area is the side squared.",
            "Step 2: Substitute: the area is three squared.",
            "Therefore: the area is nine.",
            "**Final Answer:** nine",
        ),
    )
    assert _step_deps(build_hdag(trace)) == [[], [], [], []]


def test_claims() -> None:
    hdag = build_hdag(ARITH)
    (goal,) = _by_level(hdag, Level.GOAL)
    (tactic,) = _by_level(hdag, Level.TACTIC)
    last_step = _by_level(hdag, Level.STEP)[-1]
    assert hdag.claim_text(goal) == "So the answer is 80."
    assert tactic.claim == last_step.claim == goal.claim
    assert hdag.claim_text(_by_level(hdag, Level.STEP)[0]) == ARITH.steps[0]


def test_a_change_of_plan_starts_a_strategy() -> None:
    hdag = build_hdag(TWO_PLANS)
    strategies = _by_level(hdag, Level.STRATEGY)
    assert [_text(hdag, s).split(",")[0] for s in strategies] == ["First", "Alternatively"]
    # The second plan reuses 42, a result of the first: the dependency is lifted to strategies.
    assert strategies[1].deps == (strategies[0].id,)


def test_runs_are_capped_at_the_maximum_sizes() -> None:
    steps = tuple(f"We note fact number {index}." for index in range(MAX_TACTIC_STEPS * 5 + 1))
    hdag = build_hdag(Trace(problem="p", steps=steps))
    tactics = _by_level(hdag, Level.TACTIC)
    strategies = _by_level(hdag, Level.STRATEGY)
    # 5 full tactics and a lone last step: 6 children, so two strategies.
    assert len(tactics) == 5
    assert len(strategies) == -(-6 // MAX_STRATEGY_CHILDREN)


def test_ids_order_and_root() -> None:
    hdag = build_hdag(ARITH)
    trace_id = compute_trace_id(ARITH)
    assert hdag.trace_id == trace_id
    for node in hdag.nodes:
        expected = compute_node_id(
            trace_id, node.level, node.span, ARITH.text, node.parent, node.deps, node.claim
        )
        assert node.id == expected
    assert list(hdag.nodes) == sorted(hdag.nodes, key=compute_canonical_key)
    assert hdag.root == compute_merkle_root([node.id for node in hdag.nodes])


def test_build_is_deterministic() -> None:
    assert build_hdag(ARITH) == build_hdag(ARITH)
    assert build_hdag(ARITH).root != build_hdag(TWO_PLANS).root


def test_free_text_trace_builds_a_valid_hdag() -> None:
    trace = Trace(problem="p", reasoning="First, 2 + 2 = 4.\n\nThen 4 * 2 = 8.\n\nSo 8.\n")
    hdag = build_hdag(trace)
    validate_hdag(hdag, trace)
    assert len(_by_level(hdag, Level.STEP)) == 3


@pytest.mark.parametrize("trace", [ARITH, TWO_PLANS, NO_DEPS, DYCK])
def test_built_hdags_are_valid(trace: Trace) -> None:
    hdag = build_hdag(trace)
    validate_hdag(hdag, trace)
    assert is_valid_hdag(hdag, trace)


# --- validator: one test per rule --------------------------------------------------------------


def _rebuild(hdag: Hdag, nodes: list[HdagNode]) -> Hdag:
    return hdag.model_copy(update={"nodes": tuple(nodes)})


def _edit(hdag: Hdag, target: HdagNode, **changes: Any) -> Hdag:
    """Change one node; a new level or span gets its true content id, and references follow."""
    edited = target.model_copy(update=changes)
    if "span" in changes or "level" in changes:
        new_id = compute_node_id(
            hdag.trace_id,
            edited.level,
            edited.span,
            hdag.text,
            edited.parent,
            edited.deps,
            edited.claim,
        )
        edited = edited.model_copy(update={"id": new_id})
    nodes = [edited if node.id == target.id else node for node in hdag.nodes]
    renamed = [_rename_references(node, target.id, edited.id) for node in nodes]
    return _rebuild(hdag, sorted(renamed, key=compute_canonical_key))


def _rename_references(node: HdagNode, old: str, new: str) -> HdagNode:
    parent = new if node.parent == old else node.parent
    deps = tuple(new if dep == old else dep for dep in node.deps)
    return node.model_copy(update={"parent": parent, "deps": deps})


def _assert_broken(hdag: Hdag, rule: str, trace: Trace | None = None) -> None:
    with pytest.raises(HdagInvariantError, match=rule):
        validate_hdag(hdag, trace)
    assert not is_valid_hdag(hdag, trace)


OTHER_ID = "0x" + "ab" * 32


def test_rule_text_matches_the_trace() -> None:
    other = Trace(problem=PROBLEM, steps=(*ARITH.steps[:-1], "So the answer is 81."))
    _assert_broken(build_hdag(ARITH), "text differs", other)


def test_rule_trace_id_matches_the_trace() -> None:
    other = Trace(problem="Another problem.", steps=ARITH.steps)
    _assert_broken(build_hdag(ARITH), "trace_id is not the id of the trace", other)


def test_rule_ids_are_unique() -> None:
    hdag = build_hdag(ARITH)
    _assert_broken(_rebuild(hdag, [*hdag.nodes, hdag.nodes[-1]]), "duplicate node id")


def test_rule_ids_are_content_hashes() -> None:
    hdag = build_hdag(ARITH)
    step = _by_level(hdag, Level.STEP)[1]
    _assert_broken(_edit(hdag, step, id=OTHER_ID), "id is not the content hash")


def test_rule_spans_lie_in_the_text() -> None:
    hdag = build_hdag(ARITH)
    goal = _by_level(hdag, Level.GOAL)[0]
    broken = _edit(hdag, goal, span=Span(start=0, end=len(hdag.text) + 1))
    _assert_broken(broken, "span ends past the text")


def test_rule_claim_lies_in_the_span() -> None:
    hdag = build_hdag(ARITH)
    step = _by_level(hdag, Level.STEP)[0]
    _assert_broken(_edit(hdag, step, claim=Span(start=0, end=len(hdag.text))), "claim span")


def test_rule_canonical_order() -> None:
    hdag = build_hdag(ARITH)
    nodes = list(hdag.nodes)
    nodes[1], nodes[2] = nodes[2], nodes[1]
    _assert_broken(_rebuild(hdag, nodes), "canonical order")


def test_rule_parent_exists() -> None:
    hdag = build_hdag(ARITH)
    op = _by_level(hdag, Level.OPERATION)[0]
    _assert_broken(_edit(hdag, op, parent=OTHER_ID), "parent is not a node")


def test_rule_dependency_exists() -> None:
    hdag = build_hdag(ARITH)
    step = _by_level(hdag, Level.STEP)[1]
    _assert_broken(_edit(hdag, step, deps=(OTHER_ID,)), "dependency 0xabababab is not a node")


def test_rule_no_self_dependency() -> None:
    hdag = build_hdag(ARITH)
    step = _by_level(hdag, Level.STEP)[1]
    _assert_broken(_edit(hdag, step, deps=(step.id,)), "depends on itself")


def test_rule_acyclic() -> None:
    hdag = build_hdag(ARITH)
    first, second = _by_level(hdag, Level.STEP)[:2]
    assert second.deps == (first.id,)
    _assert_broken(_edit(hdag, first, deps=(second.id,)), "cycle")


def test_rule_exactly_one_goal() -> None:
    hdag = build_hdag(TWO_PLANS)
    second_strategy = _by_level(hdag, Level.STRATEGY)[1]
    _assert_broken(_edit(hdag, second_strategy, level=Level.GOAL), "exactly one goal, found 2")


def test_rule_goal_has_no_parent() -> None:
    hdag = build_hdag(ARITH)
    goal = _by_level(hdag, Level.GOAL)[0]
    strategy = _by_level(hdag, Level.STRATEGY)[0]
    op = _by_level(hdag, Level.OPERATION)[0]
    # Cut the strategy loose first, so the goal's new parent makes no cycle.
    broken = _edit(_edit(hdag, strategy, parent=None), goal, parent=op.id)
    _assert_broken(broken, "the goal has a parent")


def test_rule_goal_spans_the_whole_text() -> None:
    hdag = build_hdag(ARITH)
    goal = _by_level(hdag, Level.GOAL)[0]
    shorter = Span(start=0, end=len(hdag.text) - 1)
    _assert_broken(_edit(hdag, goal, span=shorter, claim=Span(start=0, end=1)), "whole text")


def test_rule_every_other_node_has_a_parent() -> None:
    hdag = build_hdag(ARITH)
    tactic = _by_level(hdag, Level.TACTIC)[0]
    _assert_broken(_edit(hdag, tactic, parent=None), "has no parent")


def test_rule_parent_is_shallower() -> None:
    hdag = build_hdag(NO_DEPS)
    first_step = _by_level(hdag, Level.STEP)[0]
    later_op = _by_level(hdag, Level.OPERATION)[1]
    _assert_broken(_edit(hdag, first_step, parent=later_op.id), "not at a smaller depth")


def test_rule_parent_contains_the_child() -> None:
    hdag = build_hdag(ARITH)
    tactic = _by_level(hdag, Level.TACTIC)[0]
    first_step = _by_level(hdag, Level.STEP)[0]
    _assert_broken(_edit(hdag, first_step, parent=tactic.id), "not inside its parent's span")


def test_rule_operation_parent_is_a_step() -> None:
    hdag = build_hdag(ARITH)
    tactic = _by_level(hdag, Level.TACTIC)[0]
    last_op = _by_level(hdag, Level.OPERATION)[-1]
    _assert_broken(_edit(hdag, last_op, parent=tactic.id), "operation's parent is not a step")


def test_rule_steps_partition_the_text() -> None:
    hdag = build_hdag(ARITH)
    step = _by_level(hdag, Level.STEP)[0]
    shorter = Span(start=step.span.start, end=step.span.end - 1)
    _assert_broken(_edit(hdag, step, span=shorter), "step spans do not partition the text")


def test_rule_steps_cover_the_end_of_the_text() -> None:
    hdag = build_hdag(ARITH)
    last = _by_level(hdag, Level.STEP)[-1]
    goal = _by_level(hdag, Level.GOAL)[0]
    end = len(hdag.text) - 1
    tactic = _by_level(hdag, Level.TACTIC)[0]
    shorter = Span(start=last.span.start, end=end)
    claim = Span(start=last.span.start, end=end)
    broken = _edit(hdag, last, span=shorter, claim=claim)
    # Keep the goal, strategy and tactic claims inside their (unchanged) spans.
    for node in (goal, tactic, _by_level(hdag, Level.STRATEGY)[0]):
        broken = _edit(broken, next(n for n in broken.nodes if n.id == node.id), claim=claim)
    _assert_broken(broken, "step spans do not cover the text")


def test_rule_groups_have_children() -> None:
    hdag = build_hdag(ARITH)
    strategy = _by_level(hdag, Level.STRATEGY)[0]
    broken = hdag
    for step in _by_level(hdag, Level.STEP)[2:]:
        current = next(node for node in broken.nodes if node.id == step.id)
        broken = _edit(broken, current, parent=strategy.id)
    _assert_broken(broken, "has no children")


def test_rule_groups_are_tiled_by_their_children() -> None:
    hdag = build_hdag(ARITH)
    tactic = _by_level(hdag, Level.TACTIC)[0]
    extended = Span(start=_by_level(hdag, Level.STEP)[1].span.start, end=tactic.span.end)
    _assert_broken(_edit(hdag, tactic, span=extended), "children do not tile its span")


def test_rule_dependencies_start_earlier() -> None:
    hdag = build_hdag(NO_DEPS)
    first, second = _by_level(hdag, Level.STEP)
    _assert_broken(_edit(hdag, first, deps=(second.id,)), "does not start earlier")


def test_rule_root_is_the_merkle_root() -> None:
    hdag = build_hdag(ARITH)
    _assert_broken(hdag.model_copy(update={"root": ZERO_HASH}), "root is not the Merkle root")


def test_error_names_the_node_by_id_prefix() -> None:
    hdag = build_hdag(ARITH)
    tactic = _by_level(hdag, Level.TACTIC)[0]
    with pytest.raises(HdagInvariantError, match=f"node {tactic.id[:10]} \\(tactic\\)"):
        validate_hdag(_edit(hdag, tactic, parent=None))


def test_is_valid_hdag_never_raises_on_malformed_ids() -> None:
    hdag = build_hdag(ARITH)
    broken = hdag.model_copy(update={"trace_id": "0x1234"})
    assert not is_valid_hdag(broken)


def test_trace_with_too_many_segments_is_refused_by_name() -> None:
    trace = Trace(problem="p", steps=("Then 1 + 1 = 2.",) * MAX_STEPS)
    with pytest.raises(InvalidTraceError, match="more than the 4096 allowed") as info:
        build_hdag(trace)
    assert info.value.field == "steps"
