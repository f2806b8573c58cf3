"""Properties of the text splitter and the HDAG builder over arbitrary traces."""

from __future__ import annotations

import itertools

import networkx as nx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from protocol.errors import InvalidTraceError
from protocol.hdag import build_hdag
from protocol.hdag_validation import compute_cycle, validate_hdag
from protocol.models import Hdag, Level, Trace
from protocol.operations import extract_operations
from protocol.text import compute_claim_span, split_steps

# Pieces that exercise the rules: cues, equalities, stack states, math delimiters, abbreviations,
# numbers, blank lines and whitespace-only runs, non-ASCII letters and unusual whitespace.
FRAGMENTS = (
    "First, ",
    "Next, ",
    "Alternatively, ",
    "Wait, ",
    "Let's verify: ",
    "Step 2. ",
    "1. ",
    "5 * 10 = 50",
    " = ",
    "x = 3",
    "32 + 50 = 82 degrees",
    '"a" < "b" < "c"',
    "==> ",
    "stack: empty",
    "( ; stack: ( <",
    "\\frac{1}{2} \\times 4 = 2",
    "$x^2 = 9$",
    "$5",
    "\\(",
    "\\)",
    "\\[",
    "\\]",
    "e.g. ",
    "3.50",
    "1,000",
    ". ",
    ".",
    "? ",
    "The answer is 82. ",
    "word ",
    " ",
    "\t",
    "\n",
    "\n\n",
    "\n \n",
    "\r\n",
    "\u00a0",
    "\u2028",
    "é",
    "中文",
    "Ünïcödé ",
)

fragment_text = st.lists(
    st.one_of(st.sampled_from(FRAGMENTS), st.text(max_size=6)), max_size=120
).map("".join)

# Long paragraphs (no blank lines) that the splitter must cut into sentences.
long_paragraph = st.lists(
    st.sampled_from([f for f in FRAGMENTS if "\n" not in f and "\u2028" not in f]),
    min_size=100,
    max_size=400,
).map("".join)
any_text = st.one_of(fragment_text, long_paragraph)

PROPERTY_SETTINGS = settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


def _has_content(text: str) -> bool:
    return bool(text.strip())


@PROPERTY_SETTINGS
@given(any_text)
def test_split_steps_partitions_any_text_exactly(text: str) -> None:
    if not _has_content(text):
        with pytest.raises(InvalidTraceError):
            split_steps(text)
        return
    spans = split_steps(text)
    assert spans[0].start == 0
    assert spans[-1].end == len(text)
    for before, after in itertools.pairwise(spans):
        assert before.end == after.start
        # Every step after the first starts on content: whitespace went to the step before.
        assert not text[after.start].isspace()
    assert "".join(text[span.start : span.end] for span in spans) == text


@PROPERTY_SETTINGS
@given(st.text(min_size=1, max_size=2000))
def test_split_steps_partitions_arbitrary_unicode(text: str) -> None:
    if not _has_content(text):
        return
    spans = split_steps(text)
    assert [span.start for span in spans[1:]] == [span.end for span in spans[:-1]]
    assert (spans[0].start, spans[-1].end) == (0, len(text))


@PROPERTY_SETTINGS
@given(any_text)
def test_claims_and_operations_stay_inside_their_span(text: str) -> None:
    if not _has_content(text):
        return
    for span in split_steps(text):
        claim = compute_claim_span(text, span)
        assert span.contains(claim)
        operations = extract_operations(text, span)
        assert all(span.contains(op) for op in operations)
        assert all(a.end <= b.start for a, b in itertools.pairwise(operations))


step_lists = st.lists(fragment_text.filter(bool), min_size=1, max_size=12)
traces = st.one_of(
    step_lists.filter(lambda steps: _has_content("\n\n".join(steps))).map(
        lambda steps: Trace(problem="Solve 5 * 10.", steps=tuple(steps))
    ),
    any_text.filter(_has_content).map(lambda text: Trace(problem="Solve 5 * 10.", reasoning=text)),
)


def _graph(hdag: Hdag) -> nx.DiGraph:
    graph = nx.DiGraph()
    graph.add_nodes_from(node.id for node in hdag.nodes)
    graph.add_edges_from((node.parent, node.id) for node in hdag.nodes if node.parent)
    graph.add_edges_from((dep, node.id) for node in hdag.nodes for dep in node.deps)
    return graph


@PROPERTY_SETTINGS
@given(traces)
def test_built_hdag_is_valid_acyclic_and_deterministic(trace: Trace) -> None:
    hdag = build_hdag(trace)
    validate_hdag(hdag, trace)
    assert nx.is_directed_acyclic_graph(_graph(hdag))
    assert build_hdag(trace) == hdag
    if trace.steps is not None:
        steps = [node for node in hdag.nodes if node.level is Level.STEP]
        assert len(steps) == len(trace.steps)


digraphs = st.integers(min_value=1, max_value=12).flatmap(
    lambda n: st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)), max_size=3 * n).map(
        lambda edges: (n, edges)
    )
)


@PROPERTY_SETTINGS
@given(digraphs)
def test_compute_cycle_agrees_with_networkx(graph: tuple[int, list[tuple[int, int]]]) -> None:
    count, edges = graph
    successors: dict[str, list[str]] = {str(v): [] for v in range(count)}
    for a, b in edges:
        successors[str(a)].append(str(b))
    reference = nx.DiGraph()
    reference.add_nodes_from(successors)
    reference.add_edges_from((str(a), str(b)) for a, b in edges)
    cycle = compute_cycle(successors)
    assert (cycle == []) == nx.is_directed_acyclic_graph(reference)
    # What it returns is a real cycle: each vertex has an edge to the next, the last to the first.
    for here, there in zip(cycle, cycle[1:] + cycle[:1], strict=True):
        assert there in successors[here]
