"""Dyck checker: stack transitions against the visible previous state and the input."""

from __future__ import annotations

import pytest

from auditors.checkers import DyckChecker
from auditors.checkers.dyck import compute_input_states, parse_stack
from protocol.hdag import build_hdag
from protocol.models import Level, Segment, Tier, Trace, Vote
from protocol.segments import build_segments

ZERO = "0x" + "0" * 64
PROBLEM = "( < < > [ ]"


def judge(
    text: str, level: Level = Level.STEP, context: tuple[str, ...] = (), problem: str = PROBLEM
) -> Vote:
    segment = Segment(
        trace_id=ZERO,
        index=0,
        node_id=ZERO,
        level=level,
        tier=Tier.CHECKER,
        problem=problem,
        text=text,
        context=context,
    )
    return DyckChecker().judge(segment).vote


def test_parses_stacks_and_the_input() -> None:
    assert parse_stack("( < <") == ("(", "<", "<")
    assert parse_stack('"<<"') == ("<", "<")
    assert parse_stack("empty") == ()
    assert parse_stack("( x") is None
    assert compute_input_states("( )") == [("(", ("(",)), (")", ())]
    assert compute_input_states("( ]") is None
    assert compute_input_states("what is this") is None


@pytest.mark.parametrize(
    ("text", "vote"),
    [
        ("( ; stack: (\n< ; stack: ( <\n< ; stack: ( < <", Vote.VALID),
        ("( ; stack: (\n< ; stack: ( <\n< ; stack: ( <", Vote.INVALID),
        ("< ; stack: ( < <\n> ; stack: ( < <", Vote.INVALID),
        ("< ; stack: ( < <\n] ; stack: ( <", Vote.INVALID),
    ],
)
def test_transitions_from_a_visible_previous_state(text: str, vote: Vote) -> None:
    assert judge(text, problem="no brackets here") is vote


def test_first_line_uses_the_context_state() -> None:
    assert judge("> ; stack: ( <", context=("< ; stack: ( < <",), problem="-") is Vote.VALID
    assert judge("> ; stack: (", context=("< ; stack: ( < <",), problem="-") is Vote.INVALID


def test_transition_without_previous_state_or_input_abstains() -> None:
    assert judge("> ; stack: ( <", problem="not a sequence") is Vote.ABSTAIN


def test_states_must_be_reachable_from_the_input() -> None:
    assert judge("> ; stack: ( <") is Vote.VALID
    assert judge("> ; stack: (") is Vote.INVALID
    assert judge("[ ; stack: ( [") is Vote.INVALID


def test_adjacent_lines_must_read_adjacent_input_symbols() -> None:
    # Each state is reachable, but "( <" then "( < [" skips "< >" in between.
    assert judge("< ; stack: ( <\n[ ; stack: ( < [") is Vote.INVALID
    # A strategy's lines are claims of non-adjacent children: not read as transitions.
    assert judge("< ; stack: ( <\n[ ; stack: ( < [", Level.STRATEGY) is Vote.VALID


@pytest.mark.parametrize(
    ("text", "vote"),
    [
        ('Now, we have reached the end. The final stack is "( <".', Vote.VALID),
        ('Now, we have reached the end. The final stack is "(".', Vote.INVALID),
        ('We will need to pop out "<", "(" one by one in that order.', Vote.VALID),
        ('We will need to pop out "(" one by one in that order.', Vote.INVALID),
        ('So, we need ">", ")". So the answer is > )', Vote.VALID),
        ('So, we need ">", ")". So the answer is ) >', Vote.INVALID),
    ],
)
def test_final_stack_pops_and_answer(text: str, vote: Vote) -> None:
    assert judge(text) is vote


def test_closing_follows_the_final_stack_stated_in_the_same_text() -> None:
    text = 'The final stack is "[".\nSo the answer is ]'
    assert judge(text, problem="no input") is Vote.VALID
    assert judge('The final stack is "[".\nSo the answer is )', problem="-") is Vote.INVALID


def test_a_step_segment_is_judged_through_the_state_it_depends_on() -> None:
    # The problem is no bracket sequence, so only the previous stack can judge a transition.
    trace = Trace(
        problem="Close the brackets the sequence leaves open.",
        steps=("stack: empty", "( ; stack: (", "< ; stack: ( <", "> ; stack: ( <"),
    )
    hdag = build_hdag(trace)
    segments = build_segments(trace, hdag, [Tier.CHECKER] * len(hdag.nodes))
    steps = [segment for segment in segments if segment.level is Level.STEP]
    assert [segment.context for segment in steps] == [
        (),
        ("stack: empty",),
        ("( ; stack: (",),
        ("< ; stack: ( <",),
    ]
    votes = [DyckChecker().judge(segment).vote for segment in steps[1:]]
    assert votes == [Vote.VALID, Vote.VALID, Vote.INVALID]
    # Without its context the false transition cannot be judged at all.
    alone = steps[-1].model_copy(update={"context": ()})
    assert DyckChecker().judge(alone).vote is Vote.ABSTAIN
