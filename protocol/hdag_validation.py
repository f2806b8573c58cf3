"""The HDAG validator: every invariant of the design, checked on any HDAG, whoever built it.

Each rule raises HdagInvariantError naming the node (a short id prefix) and the broken rule.
References are resolved and the graph checked for cycles before the order-based rules, so a cycle
is reported as a cycle; the later rules (parents shallower, dependencies earlier) also imply
acyclicity, which is why the builder cannot produce one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from itertools import pairwise

from protocol.errors import HdagInvariantError, ProtocolError
from protocol.ids import compute_node_id, compute_trace_id
from protocol.merkle import compute_merkle_root
from protocol.models import Hdag, HdagNode, Level, Trace

_ID_PREFIX_CHARS = 10
# Levels whose children must tile their span; a step's children are operations, which need not.
_TILED_LEVELS = frozenset({Level.GOAL, Level.STRATEGY, Level.TACTIC})


def validate_hdag(hdag: Hdag, trace: Trace | None = None) -> None:
    """Raise HdagInvariantError at the first broken invariant; with `trace`, also check that the
    HDAG is of that trace (same text, same trace id)."""
    if trace is not None:
        validate_hdag_matches_trace(hdag, trace)
    by_id = _validate_unique_ids(hdag)
    _validate_spans(hdag)
    _validate_canonical_order(hdag.nodes)
    _validate_references(hdag.nodes, by_id)
    _validate_acyclic(hdag.nodes)
    _validate_goal(hdag)
    _validate_parents(hdag.nodes, by_id)
    _validate_step_partition(hdag)
    _validate_tiling(hdag.nodes)
    _validate_dependency_order(hdag.nodes, by_id)
    # Content hashes last: an id covers parent and deps, so a structural fault would otherwise
    # surface as a bare hash mismatch instead of the rule it breaks.
    _validate_content_ids(hdag)
    _validate_root(hdag)


def is_valid_hdag(hdag: Hdag, trace: Trace | None = None) -> bool:
    """True when `validate_hdag` passes; never raises (a malformed id counts as invalid)."""
    try:
        validate_hdag(hdag, trace)
    except ProtocolError:
        return False
    return True


def validate_hdag_matches_trace(hdag: Hdag, trace: Trace) -> None:
    if hdag.text != trace.text:
        raise HdagInvariantError("hdag: text differs from the trace's reasoning text")
    if hdag.trace_id != compute_trace_id(trace):
        raise HdagInvariantError("hdag: trace_id is not the id of the trace")


def _fail(node: HdagNode, rule: str) -> HdagInvariantError:
    return HdagInvariantError(f"node {node.id[:_ID_PREFIX_CHARS]} ({node.level.value}): {rule}")


def _validate_unique_ids(hdag: Hdag) -> dict[str, HdagNode]:
    by_id: dict[str, HdagNode] = {}
    for node in hdag.nodes:
        if node.id in by_id:
            raise _fail(node, "duplicate node id")
        by_id[node.id] = node
    return by_id


def _validate_content_ids(hdag: Hdag) -> None:
    """Ids are content hashes of (trace id, level, span, text, parent, deps, claim)."""
    for node in hdag.nodes:
        if node.id != _recompute_id(hdag, node):
            raise _fail(node, "id is not the content hash of its content and structure")


def _recompute_id(hdag: Hdag, node: HdagNode) -> str:
    return compute_node_id(
        hdag.trace_id, node.level, node.span, hdag.text, node.parent, node.deps, node.claim
    )


def _validate_spans(hdag: Hdag) -> None:
    for node in hdag.nodes:
        if node.span.end > len(hdag.text):
            raise _fail(node, f"span ends past the text ({node.span.end} > {len(hdag.text)})")
        if not node.span.contains(node.claim):
            raise _fail(node, "claim span is not inside the node's span")


def _validate_canonical_order(nodes: Sequence[HdagNode]) -> None:
    """Sorted by (span start, depth), strictly: no two nodes of one level share a start."""
    for before, node in pairwise(nodes):
        if (before.span.start, before.level.depth) >= (node.span.start, node.level.depth):
            raise _fail(node, "nodes are not in canonical order (span start, then depth)")


def _validate_references(nodes: Sequence[HdagNode], by_id: dict[str, HdagNode]) -> None:
    for node in nodes:
        if node.parent is not None and node.parent not in by_id:
            raise _fail(node, "parent is not a node of the HDAG")
        for dep in node.deps:
            if dep not in by_id:
                raise _fail(node, f"dependency {dep[:_ID_PREFIX_CHARS]} is not a node of the HDAG")
            if dep == node.id:
                raise _fail(node, "depends on itself")


def _validate_acyclic(nodes: Sequence[HdagNode]) -> None:
    """Decomposition and dependency edges together form no cycle."""
    successors: dict[str, list[str]] = {node.id: [] for node in nodes}
    for node in nodes:
        if node.parent is not None:
            successors[node.parent].append(node.id)
        for dep in node.deps:
            successors[dep].append(node.id)
    cycle = compute_cycle(successors)
    if cycle:
        by_id = {node.id: node for node in nodes}
        raise _fail(by_id[cycle[0]], f"the graph has a cycle of {len(cycle)} edges through it")


def compute_cycle(successors: Mapping[str, Sequence[str]]) -> list[str]:
    """The vertices of one directed cycle in order, or [] when the graph is acyclic.

    Iterative depth-first search (a deep HDAG must not hit Python's recursion limit); every
    edge must end at a key of `successors`.
    """
    finished: set[str] = set()
    for root in successors:
        if root in finished:
            continue
        path: list[str] = [root]
        on_path = {root}
        pending = [iter(successors[root])]
        while pending:
            child = next(pending[-1], None)
            if child is None:
                done = path.pop()
                on_path.discard(done)
                finished.add(done)
                pending.pop()
                continue
            if child in on_path:
                return path[path.index(child) :]
            if child not in finished:
                path.append(child)
                on_path.add(child)
                pending.append(iter(successors[child]))
    return []


def _validate_goal(hdag: Hdag) -> None:
    goals = [node for node in hdag.nodes if node.level is Level.GOAL]
    if len(goals) != 1:
        raise HdagInvariantError(f"hdag: expected exactly one goal, found {len(goals)}")
    goal = goals[0]
    if goal.parent is not None:
        raise _fail(goal, "the goal has a parent")
    if goal.span.start != 0 or goal.span.end != len(hdag.text):
        raise _fail(goal, "the goal does not span the whole text")


def _validate_parents(nodes: Sequence[HdagNode], by_id: dict[str, HdagNode]) -> None:
    """A non-goal node has a shallower parent containing it; an operation's parent is a step."""
    for node in nodes:
        if node.level is Level.GOAL:
            continue
        if node.parent is None:
            raise _fail(node, "a node other than the goal has no parent")
        parent = by_id[node.parent]
        if parent.level.depth >= node.level.depth:
            raise _fail(node, f"parent is a {parent.level.value}, not at a smaller depth")
        if not parent.span.contains(node.span):
            raise _fail(node, "span is not inside its parent's span")
        if node.level is Level.OPERATION and parent.level is not Level.STEP:
            raise _fail(node, "an operation's parent is not a step")


def _validate_step_partition(hdag: Hdag) -> None:
    """Step spans, in order, are contiguous from 0 to the end of the text."""
    position = 0
    for node in hdag.nodes:
        if node.level is not Level.STEP:
            continue
        if node.span.start != position:
            raise _fail(
                node, f"step spans do not partition the text (gap or overlap at {position})"
            )
        position = node.span.end
    if position != len(hdag.text):
        raise HdagInvariantError(f"hdag: step spans do not cover the text past {position}")


def _validate_tiling(nodes: Sequence[HdagNode]) -> None:
    """The goal, each strategy and each tactic has children and is exactly the union of a
    contiguous run of its non-operation children."""
    children: dict[str, list[HdagNode]] = {}
    for node in nodes:
        if node.parent is not None and node.level is not Level.OPERATION:
            children.setdefault(node.parent, []).append(node)
    groups = [node for node in nodes if node.level in _TILED_LEVELS]
    for node in groups:
        if node.id not in children:
            raise _fail(node, "has no children")
    for node in groups:
        _validate_tiled_by(node, children[node.id])


def _validate_tiled_by(node: HdagNode, children: Sequence[HdagNode]) -> None:
    position = node.span.start
    for child in children:
        if child.span.start != position:
            raise _fail(node, f"children do not tile its span (gap or overlap at {position})")
        position = child.span.end
    if position != node.span.end:
        raise _fail(node, f"children do not tile its span (they end at {position})")


def _validate_dependency_order(nodes: Sequence[HdagNode], by_id: dict[str, HdagNode]) -> None:
    for node in nodes:
        for dep in node.deps:
            if by_id[dep].span.start >= node.span.start:
                raise _fail(node, f"dependency {dep[:_ID_PREFIX_CHARS]} does not start earlier")


def _validate_root(hdag: Hdag) -> None:
    if hdag.root != compute_merkle_root([node.id for node in hdag.nodes]):
        raise HdagInvariantError("hdag: root is not the Merkle root of the node ids in order")
