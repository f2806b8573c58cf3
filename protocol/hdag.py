"""The default HDAG builder: deterministic and rule-based.

Five levels (design, HDAG): one goal over the whole text; strategies and tactics grouping
contiguous runs of steps at cue phrases; the steps of `protocol.text`; the operations of
`protocol.operations`. Dependencies follow numbers: a node uses an earlier node's result when
that result reappears in it and was not given in the problem. They also follow labelled states:
a step that states `stack: ( <` uses the stack the nearest earlier step stating a stack left.
Every dependency points to a node that starts earlier in the text, so the graph is acyclic by
construction.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from protocol.errors import InvalidTraceError
from protocol.ids import compute_node_id, compute_trace_id
from protocol.merkle import compute_merkle_root
from protocol.models import Hdag, HdagNode, Level, Span, Trace
from protocol.operations import compute_numbers, extract_operations
from protocol.params import MAX_SEGMENTS
from protocol.text import compute_claim_span, compute_step_spans

#: A tactic (sub-goal) holds at most this many steps; a longer run starts a new tactic.
MAX_TACTIC_STEPS = 4
#: A strategy holds at most this many children (tactics or lone steps).
MAX_STRATEGY_CHILDREN = 4

# Leading markdown (headings, bullets, bold) is skipped before looking for a cue.
_LEAD = r"\s*(?:[#>*\-]\s*)*"
#: Phrases that open a new sub-goal when a step starts with them (case-insensitive).
TACTIC_CUES = (
    "First",
    "Second",
    "Third",
    "Fourth",
    "Fifth",
    "Next",
    "Then",
    "Now",
    "Finally",
    "Lastly",
    "Step N",
    "To find / compute / calculate / determine / solve / get / show",
    "Let's / Let us",
    "N. / N) / (N) numbered items",
)
_TACTIC_CUE = re.compile(
    _LEAD
    + r"(?:(?:first|second|third|fourth|fifth|next|then|now|finally|lastly)\b"
    + r"|step\s*\d+\b|to\s+(?:find|compute|calculate|determine|solve|get|show)\b"
    + r"|let[’']s\b|let\s+us\b|\(?\d+[.)]\s)",
    re.IGNORECASE,
)
#: Phrases that change the plan: a step starting with one opens a new strategy (case-insensitive).
PLAN_CUES = (
    "Alternatively",
    "Another approach / way / method",
    "Instead",
    "Wait / But wait",
    "On second thought",
    "Let me re...",
    "Let's / Let us verify / check / double-check / re...",
    "To verify / check / confirm",
    "Verification / Verify",
)
_PLAN_CUE = re.compile(
    _LEAD
    + r"(?:alternatively\b|another\s+(?:approach|way|method)\b|instead\b|(?:but\s+)?wait\b"
    + r"|on\s+second\s+thought\b|let\s+me\s+re|(?:let[’']s|let\s+us)\s+(?:verify|check|double"
    + r"|re)|to\s+(?:verify|check|confirm)\b|verif(?:y|ication)\b)",
    re.IGNORECASE,
)
#: Labels of a state that steps restate as they update it (`( ; stack: ( <`, `stack: empty`).
STATE_LABELS = ("stack",)
# `label: value` with a value on the same line, where the label opens a line of the step or
# follows a ";": prose such as "Step 1:" or "Therefore:" is never a state, whatever the label.
_STATE = re.compile(
    r"(?:^|;)[^\S\n]*(" + "|".join(map(re.escape, STATE_LABELS)) + r")[^\S\n]*:[^\S\n]*\S",
    re.IGNORECASE | re.MULTILINE,
)
# "=" as a relation, not part of "<=", ">=", "!=", "==" or an arrow.
_EQUALS = re.compile(r"(?<![<>!=])=(?![=>])")

_Key = tuple[Level, int]


@dataclass(frozen=True, slots=True)
class _Draft:
    """A node before its id is known: parent and deps refer to other drafts by key."""

    key: _Key
    span: Span
    claim: Span
    parent: _Key | None
    deps: tuple[_Key, ...] = ()


@dataclass(frozen=True, slots=True)
class HdagLayout:
    """The text's steps and how they group: tactic runs of step indices, strategy runs of runs."""

    steps: tuple[Span, ...]
    claims: tuple[Span, ...]
    operations: tuple[tuple[Span, ...], ...]
    runs: tuple[tuple[int, ...], ...]
    strategies: tuple[tuple[int, ...], ...]


def build_hdag(trace: Trace) -> Hdag:
    """The five-level HDAG of `trace`, in canonical order (span start, then depth)."""
    text = trace.text
    trace_id = compute_trace_id(trace)
    layout = compute_layout(trace)
    drafts = _compute_drafts(layout, trace.problem, text)
    if len(drafts) > MAX_SEGMENTS:
        # Refuse before hashing: the Ledger, sortition and votes all bound the segment count.
        raise InvalidTraceError(
            f"the trace splits into {len(drafts)} segments, more than the {MAX_SEGMENTS} allowed",
            field="steps" if trace.steps is not None else "reasoning",
        )
    ids = _compute_ids(trace_id, text, drafts)
    nodes = sorted((_to_node(draft, ids) for draft in drafts), key=compute_canonical_key)
    root = compute_merkle_root([node.id for node in nodes])
    return Hdag(trace_id=trace_id, text=text, nodes=tuple(nodes), root=root)


def compute_canonical_key(node: HdagNode) -> tuple[int, int]:
    """Canonical order: by span start, an enclosing level before the levels it contains."""
    return node.span.start, node.level.depth


def compute_layout(trace: Trace) -> HdagLayout:
    """Steps, their claims and operations, and the tactic and strategy runs over them."""
    text = trace.text
    steps = compute_step_spans(trace)
    runs = compute_tactic_runs(text, steps)
    return HdagLayout(
        steps=steps,
        claims=tuple(compute_claim_span(text, step) for step in steps),
        operations=tuple(extract_operations(text, step) for step in steps),
        runs=runs,
        strategies=compute_strategy_runs(text, steps, runs),
    )


def compute_tactic_runs(text: str, steps: Sequence[Span]) -> tuple[tuple[int, ...], ...]:
    """Consecutive step indices cut before a cue step or a full run (`MAX_TACTIC_STEPS`)."""
    runs: list[list[int]] = []
    for index, step in enumerate(steps):
        opens = _TACTIC_CUE.match(text, step.start, step.end) or _is_plan_change(text, step)
        if not runs or opens or len(runs[-1]) >= MAX_TACTIC_STEPS:
            runs.append([])
        runs[-1].append(index)
    return tuple(tuple(run) for run in runs)


def compute_strategy_runs(
    text: str, steps: Sequence[Span], runs: Sequence[Sequence[int]]
) -> tuple[tuple[int, ...], ...]:
    """Consecutive run indices cut before a change of plan or a full strategy."""
    strategies: list[list[int]] = []
    for index, run in enumerate(runs):
        changes = _is_plan_change(text, steps[run[0]])
        if not strategies or changes or len(strategies[-1]) >= MAX_STRATEGY_CHILDREN:
            strategies.append([])
        strategies[-1].append(index)
    return tuple(tuple(strategy) for strategy in strategies)


def _is_plan_change(text: str, step: Span) -> bool:
    return _PLAN_CUE.match(text, step.start, step.end) is not None


# --- Dependencies ------------------------------------------------------------------------------


def compute_operation_values(text: str, operation: Span) -> tuple[frozenset[str], frozenset[str]]:
    """(operands, results): numbers before and after the last "="; a comparison has no result."""
    equals = [match.start() for match in _EQUALS.finditer(text, operation.start, operation.end)]
    if not equals:
        return frozenset(compute_numbers(text, operation.start, operation.end)), frozenset()
    operands = compute_numbers(text, operation.start, equals[-1])
    results = compute_numbers(text, equals[-1] + 1, operation.end)
    return frozenset(operands), frozenset(results)


def compute_step_dependencies(
    text: str, problem: str, layout: HdagLayout
) -> tuple[tuple[int, ...], ...]:
    """Per step, the earlier steps whose results (not given in the problem) it mentions, and
    for each labelled state it states, the nearest earlier step stating that state."""
    given = frozenset(compute_numbers(problem))
    uses = [frozenset(compute_numbers(text, step.start, step.end)) for step in layout.steps]
    results = [_compute_step_results(text, layout, index) - given for index in range(len(uses))]
    by_value = _link_by_values(uses, results)
    by_state = compute_state_dependencies(text, layout.steps)
    return tuple(
        tuple(sorted({*values, *states})) for values, states in zip(by_value, by_state, strict=True)
    )


def compute_state_labels(text: str, step: Span) -> frozenset[str]:
    """The `STATE_LABELS` (lower case) whose value `step` states as `label: value`, the label
    opening a line of the step or following a ";"; empty for a step stating none."""
    found = _STATE.finditer(text[step.start : step.end])
    return frozenset(match.group(1).lower() for match in found)


def compute_state_dependencies(text: str, steps: Sequence[Span]) -> tuple[tuple[int, ...], ...]:
    """Per step, for each state label it states, the nearest earlier step stating that label:
    the state it updates is the one that step left."""
    latest: dict[str, int] = {}
    links: list[tuple[int, ...]] = []
    for index, step in enumerate(steps):
        labels = compute_state_labels(text, step)
        links.append(tuple(sorted({latest[label] for label in labels if label in latest})))
        latest.update(dict.fromkeys(labels, index))
    return tuple(links)


def _compute_step_results(text: str, layout: HdagLayout, index: int) -> frozenset[str]:
    values = {v for op in layout.operations[index] for v in compute_operation_values(text, op)[1]}
    claim = layout.claims[index]
    claimed = compute_numbers(text, claim.start, claim.end)
    return frozenset(values | set(claimed[-1:]))


def compute_operation_dependencies(
    text: str, problem: str, operations: Sequence[Span]
) -> tuple[tuple[int, ...], ...]:
    """Per operation, the earlier operations whose result (not given in the problem) it uses."""
    given = frozenset(compute_numbers(problem))
    values = [compute_operation_values(text, operation) for operation in operations]
    return _link_by_values([uses for uses, _ in values], [found - given for _, found in values])


def _link_by_values(
    uses: Sequence[frozenset[str]], results: Sequence[frozenset[str]]
) -> tuple[tuple[int, ...], ...]:
    """Item v depends on every earlier item u with results[u] & uses[v]; lists are in order."""
    producers: dict[str, set[int]] = {}
    links: list[tuple[int, ...]] = []
    for index, used in enumerate(uses):
        found = set().union(*(producers.get(value, set()) for value in used))
        links.append(tuple(sorted(found)))
        for value in results[index]:
            producers.setdefault(value, set()).add(index)
    return tuple(links)


def _lift_dependencies(
    step_deps: Sequence[Sequence[int]], group_of: Sequence[int | None]
) -> dict[int, tuple[int, ...]]:
    """Group g depends on group h != g when a step of g depends on a step of h."""
    lifted: dict[int, set[int]] = {}
    for step, deps in enumerate(step_deps):
        group = group_of[step]
        if group is None:
            continue
        found = lifted.setdefault(group, set())
        found.update(g for g in (group_of[dep] for dep in deps) if g is not None and g != group)
    return {group: tuple(sorted(found)) for group, found in lifted.items()}


# --- Drafts and nodes --------------------------------------------------------------------------


def _compute_drafts(layout: HdagLayout, problem: str, text: str) -> list[_Draft]:
    step_deps = compute_step_dependencies(text, problem, layout)
    return [
        _Draft((Level.GOAL, 0), Span(start=0, end=len(text)), layout.claims[-1], None),
        *_compute_strategy_drafts(layout, step_deps),
        *_compute_tactic_drafts(layout, step_deps),
        *_compute_step_drafts(layout, step_deps),
        *_compute_operation_drafts(layout, problem, text),
    ]


def _compute_strategy_drafts(
    layout: HdagLayout, step_deps: Sequence[Sequence[int]]
) -> Iterable[_Draft]:
    deps = _lift_dependencies(step_deps, _compute_strategy_of_step(layout))
    for strategy, run_indices in enumerate(layout.strategies):
        first, last = layout.runs[run_indices[0]][0], layout.runs[run_indices[-1]][-1]
        dep_keys = tuple((Level.STRATEGY, dep) for dep in deps.get(strategy, ()))
        key = (Level.STRATEGY, strategy)
        yield _group_draft(layout, key, first, last, (Level.GOAL, 0), dep_keys)


def _compute_strategy_of_run(layout: HdagLayout) -> dict[int, int]:
    return {run: strategy for strategy, runs in enumerate(layout.strategies) for run in runs}


def _compute_strategy_of_step(layout: HdagLayout) -> list[int]:
    """Runs are consecutive in step order, so flattening them lists the steps in order."""
    strategy_of_run = _compute_strategy_of_run(layout)
    return [strategy_of_run[run] for run, steps in enumerate(layout.runs) for _ in steps]


def _compute_tactic_drafts(
    layout: HdagLayout, step_deps: Sequence[Sequence[int]]
) -> Iterable[_Draft]:
    deps = _lift_dependencies(step_deps, _compute_tactic_of_step(layout))
    strategy_of_run = _compute_strategy_of_run(layout)
    for run, steps in enumerate(layout.runs):
        if len(steps) < 2:
            continue
        parent = (Level.STRATEGY, strategy_of_run[run])
        dep_keys = tuple((Level.TACTIC, dep) for dep in deps.get(run, ()))
        yield _group_draft(layout, (Level.TACTIC, run), steps[0], steps[-1], parent, dep_keys)


def _compute_tactic_of_step(layout: HdagLayout) -> list[int | None]:
    """The tactic (run index) over each step; None for a lone step, which gets no tactic node."""
    tactic_of_step: list[int | None] = [None] * len(layout.steps)
    for run, steps in enumerate(layout.runs):
        for step in steps if len(steps) >= 2 else ():
            tactic_of_step[step] = run
    return tactic_of_step


def _group_draft(
    layout: HdagLayout, key: _Key, first: int, last: int, parent: _Key, deps: tuple[_Key, ...]
) -> _Draft:
    """A strategy or tactic over steps first..last; its claim is the last step's claim."""
    span = Span(start=layout.steps[first].start, end=layout.steps[last].end)
    return _Draft(key, span, layout.claims[last], parent, deps)


def _compute_step_drafts(
    layout: HdagLayout, step_deps: Sequence[Sequence[int]]
) -> Iterable[_Draft]:
    """A step hangs from its tactic, or from its strategy when it is a lone step."""
    tactic_of_step = _compute_tactic_of_step(layout)
    strategy_of_step = _compute_strategy_of_step(layout)
    for index, span in enumerate(layout.steps):
        tactic, strategy = tactic_of_step[index], strategy_of_step[index]
        parent = (Level.TACTIC, tactic) if tactic is not None else (Level.STRATEGY, strategy)
        deps = tuple((Level.STEP, dep) for dep in step_deps[index])
        yield _Draft((Level.STEP, index), span, layout.claims[index], parent, deps)


def _compute_operation_drafts(layout: HdagLayout, problem: str, text: str) -> Iterable[_Draft]:
    flat = [(step, op) for step, ops in enumerate(layout.operations) for op in ops]
    op_deps = compute_operation_dependencies(text, problem, [op for _, op in flat])
    for index, (step, span) in enumerate(flat):
        deps = tuple((Level.OPERATION, dep) for dep in op_deps[index])
        # An operation is one act, so it is its own claim (a sentence split could cut a chain).
        yield _Draft((Level.OPERATION, index), span, span, (Level.STEP, step), deps)


def _compute_ids(trace_id: str, text: str, drafts: Sequence[_Draft]) -> dict[_Key, str]:
    """Ids in (depth, start) order: a node's id hashes its parent's and its deps' ids, and both
    are of smaller depth or earlier in the text at the same depth."""
    ids: dict[_Key, str] = {}
    for draft in sorted(drafts, key=lambda d: (d.key[0].depth, d.span.start)):
        parent = None if draft.parent is None else ids[draft.parent]
        deps = [ids[dep] for dep in draft.deps]
        ids[draft.key] = compute_node_id(
            trace_id, draft.key[0], draft.span, text, parent, deps, draft.claim
        )
    return ids


def _to_node(draft: _Draft, ids: dict[_Key, str]) -> HdagNode:
    return HdagNode(
        id=ids[draft.key],
        level=draft.key[0],
        span=draft.span,
        parent=None if draft.parent is None else ids[draft.parent],
        deps=tuple(ids[dep] for dep in draft.deps),
        claim=draft.claim,
    )
