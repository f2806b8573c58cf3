"""Bracket-stack claims (Dyck languages): transitions, the final stack, the closing sequence.

Lines read: `( ; stack: ( <` (read a symbol, claim the stack), `stack: empty`, `The final
stack is "( <"`, `pop out "<", "(" ...`, `we need ">", ")"` and `the answer is > )`.

- A transition is judged against the previous stack state when that state is visible: an
  earlier line of the same text (not for strategies and the goal, whose lines are claims of
  non-adjacent children) or, for the first line, the last state in the segment's context.
- When the problem is a bracket sequence (bare, or after `Input:`), every claimed state must
  be the true stack after some prefix of it ending in that symbol, adjacent transitions
  must read adjacent input symbols, and the final stack must be the input's.
- Pops and the answer must close the final stack stated in the same text, else the input's.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from auditors.checkers.base import Claim, judge_alone
from auditors.checkers.limits import MAX_CLAIMS, MAX_SEGMENT_CHARS
from auditors.judgement import Judgement
from protocol.models import Level, Segment

CLOSER_OF = {"(": ")", "[": "]", "{": "}", "<": ">"}
OPENER_OF = {closer: opener for opener, closer in CLOSER_OF.items()}
_BRACKETS = frozenset(CLOSER_OF) | frozenset(OPENER_OF)
Stack = tuple[str, ...]

_TRANSITION = re.compile(r"^\s*(\S)\s*;\s*stack\s*:\s*(.*?)\s*\.?\s*$")
_INITIAL = re.compile(r"^\s*stack\s*:\s*empty\s*\.?\s*$", re.IGNORECASE)
_FINAL = re.compile(r'final stack is\s*"([^"]*)"', re.IGNORECASE)
_POP = re.compile(r"pop out\s+(.*?)\s+one by one", re.IGNORECASE)
_NEED = re.compile(r"we need\s+((?:\"[^\"]*\"[\s,and]*)+)", re.IGNORECASE)
_ANSWER = re.compile(r"answer is:?\s*([\s)\]}>]+)$", re.IGNORECASE)
_QUOTED = re.compile(r'"([^"]*)"')
_NON_ADJACENT_LEVELS = frozenset({Level.STRATEGY, Level.GOAL})


@dataclass(frozen=True)
class _Transition:
    line: str
    symbol: str
    stack: Stack


def parse_stack(text: str) -> Stack | None:
    """`( < <` or `(<<` -> ("(", "<", "<"); `empty` -> (); None for anything else."""
    cleaned = text.strip().strip('"').strip()
    if cleaned.lower() in ("empty", ""):
        return ()
    symbols = tuple(cleaned.replace(" ", ""))
    return symbols if all(symbol in _BRACKETS for symbol in symbols) else None


def compute_input_states(problem: str) -> list[tuple[str, Stack]] | None:
    """(symbol read, true stack after it) for each symbol of the problem's bracket sequence.

    None when the problem is not a bracket sequence or closes a bracket it never opened.
    """
    _, marker, after = problem.partition("Input:")
    symbols = (after if marker else problem).split()
    if not symbols or any(symbol not in _BRACKETS for symbol in symbols):
        return None
    states: list[tuple[str, Stack]] = []
    stack: Stack = ()
    for symbol in symbols:
        next_stack = apply_symbol(stack, symbol)
        if next_stack is None:
            return None
        stack = next_stack
        states.append((symbol, stack))
    return states


def apply_symbol(stack: Stack, symbol: str) -> Stack | None:
    """Push an opener, pop a matching closer; None for a closer that matches nothing."""
    if symbol in CLOSER_OF:
        return (*stack, symbol)
    if stack and stack[-1] == OPENER_OF.get(symbol):
        return stack[:-1]
    return None


class DyckChecker:
    """Judges bracket-stack claims; abstains on text with none."""

    name = "dyck"

    def judge(self, segment: Segment) -> Judgement:
        """This checker alone as a judge (the registry's composite runs them together)."""
        return judge_alone(self, segment)

    def can_judge(self, segment: Segment) -> bool:
        lowered = segment.text.lower()
        return "stack" in lowered or "pop out" in lowered or "we need" in lowered

    def check(self, segment: Segment) -> tuple[Claim, ...]:
        if len(segment.text) > MAX_SEGMENT_CHARS:
            return ()
        states = compute_input_states(segment.problem)
        lines = segment.text.splitlines()
        adjacent = segment.level not in _NON_ADJACENT_LEVELS
        claims = [
            *_transition_claims(segment, lines),
            *_input_claims(lines, states, adjacent=adjacent),
            *_closing_claims(segment.text, states),
        ]
        return tuple(claims[:MAX_CLAIMS])


def _read_state_line(line: str) -> tuple[str | None, Stack] | None:
    """(symbol or None for `stack: empty`, stack) for a state line; None for other lines."""
    if _INITIAL.match(line):
        return None, ()
    match = _TRANSITION.match(line)
    if match is None or match.group(1) not in _BRACKETS:
        return None
    stack = parse_stack(match.group(2))
    return None if stack is None else (match.group(1), stack)


def _transition_claims(segment: Segment, lines: Sequence[str]) -> list[Claim]:
    adjacent = segment.level not in _NON_ADJACENT_LEVELS
    previous = _last_context_state(segment.context) if adjacent else None
    claims: list[Claim] = []
    for line in lines:
        state = _read_state_line(line)
        if state is None:
            previous = None if _is_state_breaking(line) else previous
            continue
        symbol, stack = state
        if symbol is not None and previous is not None:
            claims.append(_judge_transition(line, previous, symbol, stack))
        previous = stack if adjacent else None
    return claims


def _is_state_breaking(line: str) -> bool:
    """Lines that are not state lines break the chain of adjacent states, blank ones do not."""
    return bool(line.strip())


def _last_context_state(context: Sequence[str]) -> Stack | None:
    for claim in reversed(context):
        for line in reversed(claim.splitlines()):
            state = _read_state_line(line)
            if state is not None:
                return state[1]
    return None


def _judge_transition(line: str, previous: Stack, symbol: str, stack: Stack) -> Claim:
    expected = apply_symbol(previous, symbol)
    if expected is None:
        return Claim(line, False, f"{symbol!r} closes nothing on stack {' '.join(previous)!r}")
    if expected != stack:
        return Claim(line, False, f"expected stack {' '.join(expected) or 'empty'!r}")
    return Claim(line, True, "transition follows from the previous stack")


def _input_claims(
    lines: Sequence[str], states: list[tuple[str, Stack]] | None, *, adjacent: bool
) -> list[Claim]:
    if states is None:
        return []
    claims: list[Claim] = []
    run: list[_Transition] = []
    for line in lines:
        state = _read_state_line(line)
        if state is not None and state[0] is not None:
            run.append(_Transition(line, state[0], state[1]))
            claims.append(_judge_reachable(run[-1], states))
        elif line.strip():
            claims.extend(_judge_run(run, states) if adjacent else [])
            run = []
    claims.extend(_judge_run(run, states) if adjacent else [])
    final = [claim for line in lines for claim in _final_stack_claims(line, states)]
    return [*claims, *final]


def _judge_reachable(transition: _Transition, states: list[tuple[str, Stack]]) -> Claim:
    if (transition.symbol, transition.stack) in states:
        return Claim(transition.line, True, "the true stack after a prefix of the input")
    return Claim(transition.line, False, "no prefix of the input ends in this state")


def _judge_run(run: list[_Transition], states: list[tuple[str, Stack]]) -> list[Claim]:
    """Adjacent transitions must match adjacent input positions (no skipped or extra symbol)."""
    if len(run) < 2:
        return []
    wanted = [(transition.symbol, transition.stack) for transition in run]
    width = len(wanted)
    aligned = any(states[k : k + width] == wanted for k in range(len(states) - width + 1))
    text = " / ".join(transition.line.strip() for transition in run)
    if aligned:
        return [Claim(text, True, "reads consecutive input symbols")]
    if all(state in states for state in wanted):
        return [Claim(text, False, "does not read consecutive input symbols")]
    return []  # an unreachable state is already reported on its own line


def _final_stack_claims(line: str, states: list[tuple[str, Stack]]) -> list[Claim]:
    match = _FINAL.search(line)
    stack = parse_stack(match.group(1)) if match else None
    if match is None or stack is None:
        return []
    truth = states[-1][1]
    holds = stack == truth
    return [Claim(match.group(), holds, "" if holds else f"true stack {' '.join(truth)!r}")]


def _closing_claims(text: str, states: list[tuple[str, Stack]] | None) -> list[Claim]:
    final = _stated_final_stack(text)
    if final is None and states is not None:
        final = states[-1][1]
    if final is None:
        return []
    pops = tuple(reversed(final))
    closers = tuple(CLOSER_OF[symbol] for symbol in pops)
    readings = ((_POP, _quoted, pops), (_NEED, _quoted, closers), (_ANSWER, _symbols, closers))
    claims: list[Claim] = []
    for pattern, read, expected in readings:
        for match in pattern.finditer(text):
            claims.append(_judge_sequence(match.group(), read(match.group(1)), expected))
    return claims


def _stated_final_stack(text: str) -> Stack | None:
    matches = list(_FINAL.finditer(text))
    return parse_stack(matches[-1].group(1)) if matches else None


def _quoted(text: str) -> Stack:
    return tuple(symbol for item in _QUOTED.findall(text) for symbol in item.replace(" ", ""))


def _symbols(text: str) -> Stack:
    return tuple(symbol for symbol in text if not symbol.isspace())


def _judge_sequence(text: str, claimed: Stack, expected: Stack) -> Claim:
    holds = claimed == expected
    reason = "closes the stack in order" if holds else f"expected {' '.join(expected)!r}"
    return Claim(text, holds, reason)
