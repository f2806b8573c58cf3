"""Segments: what one auditor receives for one HDAG node, and which text that reveals.

A segment carries its node's own text (steps and operations), or only claims (tactics,
strategies: their children's claims; the goal: the final claim), plus the claims of the nodes it
depends on and the problem. No segment carries a derivation it does not judge, and the goal
segment never carries the whole trace (design, Privacy).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from protocol.errors import HdagInvariantError
from protocol.hdag_validation import validate_hdag_matches_trace
from protocol.merkle import compute_merkle_proofs
from protocol.models import Hdag, HdagNode, Level, Segment, Span, Tier, Trace

# Levels judged on their children's claims rather than on their own text.
_GROUP_LEVELS = frozenset({Level.STRATEGY, Level.TACTIC})


def compute_segment_text(hdag: Hdag, node: HdagNode) -> str:
    """The text to judge: own text (step, operation), children's claims joined by newlines
    (tactic, strategy) or the final step's claim (goal)."""
    return "\n".join(hdag.text[span.start : span.end] for span in _compute_judged_spans(hdag, node))


def compute_visible_spans(hdag: Hdag, node: HdagNode) -> tuple[Span, ...]:
    """Every character range of the text this node's auditor sees: the judged spans and the
    claims of its dependencies, merged (overlapping or touching ranges join) and sorted."""
    dep_claims = (dep.claim for dep in _compute_dependencies(hdag, node))
    return _merge_spans([*_compute_judged_spans(hdag, node), *dep_claims])


def build_segments(trace: Trace, hdag: Hdag, tiers: Sequence[Tier]) -> tuple[Segment, ...]:
    """One segment per node in canonical order, segment i judged at `tiers[i]`.

    Raises HdagInvariantError when the HDAG is not of `trace` or `tiers` has the wrong length.
    """
    validate_hdag_matches_trace(hdag, trace)
    if len(tiers) != len(hdag.nodes):
        raise HdagInvariantError(f"segments: {len(tiers)} tiers for {len(hdag.nodes)} nodes")
    proofs = compute_merkle_proofs([node.id for node in hdag.nodes])
    return tuple(
        _build_segment(trace, hdag, index, tier, proof)
        for index, (tier, proof) in enumerate(zip(tiers, proofs, strict=True))
    )


def _build_segment(
    trace: Trace, hdag: Hdag, index: int, tier: Tier, proof: tuple[str, ...]
) -> Segment:
    node = hdag.nodes[index]
    return Segment(
        trace_id=hdag.trace_id,
        index=index,
        node_id=node.id,
        level=node.level,
        tier=tier,
        problem=trace.problem,
        text=compute_segment_text(hdag, node),
        context=tuple(hdag.claim_text(dep) for dep in _compute_dependencies(hdag, node)),
        proof=proof,
    )


def _compute_judged_spans(hdag: Hdag, node: HdagNode) -> list[Span]:
    if node.level in _GROUP_LEVELS:
        return [child.claim for child in _compute_children(hdag, node)]
    if node.level is Level.GOAL:
        return [_compute_final_step(hdag).claim]
    return [node.span]


def _compute_children(hdag: Hdag, node: HdagNode) -> list[HdagNode]:
    """Non-operation children in canonical order (operations are judged on their own)."""
    return [
        child
        for child in hdag.nodes
        if child.parent == node.id and child.level is not Level.OPERATION
    ]


def _compute_final_step(hdag: Hdag) -> HdagNode:
    steps = [node for node in hdag.nodes if node.level is Level.STEP]
    if not steps:
        raise HdagInvariantError("hdag: no step nodes, so no final claim")
    return steps[-1]


def _compute_dependencies(hdag: Hdag, node: HdagNode) -> list[HdagNode]:
    """The nodes `node` depends on, in canonical (text) order."""
    wanted = set(node.deps)
    return [other for other in hdag.nodes if other.id in wanted]


def _merge_spans(spans: Iterable[Span]) -> tuple[Span, ...]:
    merged: list[Span] = []
    for span in sorted(spans, key=lambda span: (span.start, span.end)):
        if merged and span.start <= merged[-1].end:
            last = merged.pop()
            merged.append(Span(start=last.start, end=max(last.end, span.end)))
        else:
            merged.append(span)
    return tuple(merged)
