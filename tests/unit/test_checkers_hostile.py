"""Hostile input: every checker abstains quickly and never raises."""

from __future__ import annotations

import time
from string import ascii_lowercase

import pytest

from auditors.checkers import Tier1Checker, UnparseableError
from auditors.checkers.numeric import evaluate_expression
from protocol.models import Level, Segment, Tier, Vote

ZERO = "0x" + "0" * 64
#: Generous bound on the CPU seconds of one judgement. CPU time, not wall-clock time: other
#: processes on a loaded machine stretch the wall clock (3.4 s was seen at a load of 6 on two
#: cores) but not the work the checker does, which is what this bound is about.
CPU_SECONDS = 2.0

HOSTILE = [
    "9^9^9^9 = 1",
    "9**9**9**9 = 3",
    "2^(10^100) = 4",
    "1" * 10_000 + " + 1 = 2",
    "(" * 5_000 + "1" + ")" * 5_000 + " = 1",
    r"\frac{" * 2_000 + "1" + "}{2}" * 2_000 + " = 1",
    "__import__('os').system('echo pwned') = 0",
    "eval('1+1') = 2",
    "(x+1)^1000000 = x",
    "(x + y + z + w + v)^16 = x",
    "x^99 + 1 = (x+1)^99",
    "1/0 = 1",
    "0^-1 = 1",
    "( ; stack: " + "( " * 10_000,
    '"a" < ' * 5_000 + '"b"',
    "= = = < > <= >=" * 2_000,
    ("1 + 1 = 2. " * 4_000),
    "\x00\x01\u202e = 1",
]


def make_segment(text: str, level: Level = Level.STEP) -> Segment:
    return Segment(
        trace_id=ZERO,
        index=0,
        node_id=ZERO,
        level=level,
        tier=Tier.CHECKER,
        problem="( [ {",
        text=text,
    )


@pytest.mark.parametrize("text", HOSTILE, ids=range(len(HOSTILE)))
@pytest.mark.parametrize("level", [Level.STEP, Level.OPERATION])
def test_hostile_text_is_judged_quickly_without_raising(text: str, level: Level) -> None:
    started = time.process_time()
    judgement = Tier1Checker().judge(make_segment(text, level))
    assert time.process_time() - started < CPU_SECONDS
    assert judgement.vote in (Vote.ABSTAIN, Vote.VALID, Vote.INVALID)


@pytest.mark.parametrize(
    "text", ["9^9^9^9", "1" * 10_000, "(" * 100 + "1" + ")" * 100, "__import__('os')", "2^(10^100)"]
)
def test_the_evaluator_refuses_out_of_bounds_input(text: str) -> None:
    with pytest.raises(UnparseableError):
        evaluate_expression(text)


def test_unjudgeable_hostile_text_abstains() -> None:
    for text in ("9^9^9^9 = 1", "__import__('os') = 1", "1" * 10_000 + " = 1"):
        assert Tier1Checker().judge(make_segment(text)).vote is Vote.ABSTAIN


#: A word list at the problem bound, and texts of many ordering claims about it: a check that
#: rebuilt the list per claim (or rescanned the text per claim) took 4 to 15 CPU seconds here.
WORD_LIST = " ".join(
    f"w{a}{b}{c}" for a in ascii_lowercase for b in ascii_lowercase for c in ascii_lowercase[:13]
)
WORD_LIST_HOSTILE = [
    "The answer is " + "waaa " * 9_000,
    '"waaa" < "wbaa". ' * 2_700,
    "The first letter: " + '"waaa": "w" (23). ' * 2_500,
    '"waaa" < "waaa" < ' * 2_500 + '"wbaa"',
]


@pytest.mark.parametrize("text", WORD_LIST_HOSTILE, ids=range(len(WORD_LIST_HOSTILE)))
def test_ordering_claims_on_a_long_word_list_are_judged_quickly(text: str) -> None:
    segment = make_segment(text[:49_000]).model_copy(update={"problem": WORD_LIST})
    started = time.process_time()
    judgement = Tier1Checker().judge(segment)
    assert time.process_time() - started < CPU_SECONDS
    assert judgement.vote in (Vote.VALID, Vote.INVALID)


def test_a_very_long_segment_is_left_to_higher_tiers() -> None:
    text = "The sum 2 + 2 = 5 is wrong. " + "filler " * 20_000
    assert Tier1Checker().judge(make_segment(text)).vote is Vote.ABSTAIN
