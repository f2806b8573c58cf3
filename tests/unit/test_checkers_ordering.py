"""Ordering checker: word chains against the input list, letter lookups, sorted answers."""

from __future__ import annotations

import pytest

from auditors.checkers import OrderingChecker
from protocol.models import Level, Segment, Tier, Vote

ZERO = "0x" + "0" * 64
WORDS = "canton accuracy boutique beetle cap craft"


def judge(text: str, problem: str = WORDS) -> Vote:
    segment = Segment(
        trace_id=ZERO,
        index=0,
        node_id=ZERO,
        level=Level.STEP,
        tier=Tier.CHECKER,
        problem=problem,
        text=text,
    )
    return OrderingChecker().judge(segment).vote


@pytest.mark.parametrize(
    ("text", "vote"),
    [
        ('So "beetle" < "boutique".', Vote.VALID),
        ('So "boutique" < "beetle".', Vote.INVALID),
        (
            'We have (2) ["beetle" ? "boutique"] < (3) ["cap" ? "craft"] for the subpart.',
            Vote.VALID,
        ),
        ('We have (5) "beetle" < (15) "boutique" for the subpart.', Vote.VALID),
        ('We have (5) "boutique" < (15) "beetle" for the subpart.', Vote.INVALID),
        ('We have (2) "beetle" < (12) "boutique" for the subpart.', Vote.INVALID),
        ('So "beetle" < "bottle" for the subpart.', Vote.INVALID),
    ],
)
def test_word_chains(text: str, vote: Vote) -> None:
    assert judge(text) is vote


def test_a_whole_list_chain_must_keep_every_input_word() -> None:
    complete = 'Hence "accuracy" < ["beetle" ? "boutique"] < "canton" < "cap" < "craft".'
    dropped = 'Hence "accuracy" < ["beetle" ? "boutique"] < "canton" < "cap".'
    assert judge(complete) is Vote.VALID
    assert judge(dropped) is Vote.INVALID


@pytest.mark.parametrize(
    ("text", "vote"),
    [
        ('The first letter: "canton": "c" (3). "accuracy": "a" (1).', Vote.VALID),
        ('The first letter: "canton": "c" (4).', Vote.INVALID),
        ('The second letter: "canton": "a" (1). "craft": "r" (18).', Vote.VALID),
        ('The third letter: "craft": "r" (18).', Vote.INVALID),
    ],
)
def test_letter_claims(text: str, vote: Vote) -> None:
    assert judge(text) is vote


def test_a_letter_claim_names_a_word_of_the_input_list() -> None:
    # "obstruct" miscopied from "obstruent": the letter is right, the word is not the list's.
    problem = "obstruent canton"
    assert judge('The first letter: "obstruent": "o" (15).', problem) is Vote.VALID
    assert judge('The first letter: "obstruct": "o" (15).', problem) is Vote.INVALID
    assert judge('The first letter: "obstruct": "o" (15).', "Which comes first?") is Vote.VALID


@pytest.mark.parametrize(
    ("text", "problem", "vote"),
    [
        ('Hence "cap" < ["cap" ? "craft"].', WORDS, Vote.INVALID),
        ('Hence "beetle" < "beetle" < "boutique".', WORDS, Vote.INVALID),
        ('Hence "beetle" < "beetle" < "boutique".', "beetle boutique beetle", Vote.VALID),
        ('Hence "Beetle" < "beetle".', "beetle Beetle", Vote.VALID),
    ],
)
def test_a_chain_lists_a_word_at_most_as_often_as_the_input(
    text: str, problem: str, vote: Vote
) -> None:
    assert judge(text, problem) is vote


@pytest.mark.parametrize(
    ("text", "vote"),
    [
        ("The answer is accuracy beetle boutique canton cap craft", Vote.VALID),
        ("The answer is accuracy boutique beetle canton cap craft", Vote.INVALID),
        ("The answer is accuracy beetle boutique canton craft", Vote.INVALID),
    ],
)
def test_sorted_answer_is_the_input_in_order(text: str, vote: Vote) -> None:
    assert judge(text) is vote


def test_answer_is_not_judged_without_a_word_list_problem() -> None:
    assert judge("The answer is blue green", problem="What colours? 1) blue") is Vote.ABSTAIN


def test_words_with_apostrophes_abstain_on_order() -> None:
    assert (
        judge('So "orchestrate" < "o\'s".', problem="orchestrate o's nagy bmw blest") is Vote.VALID
    )


@pytest.mark.parametrize(
    ("text", "vote"),
    [
        ("In ascending order: 2, 5, 9.", Vote.VALID),
        ("In ascending order: 2, 9, 5.", Vote.INVALID),
        ("In decreasing order: 9, 5, -2.", Vote.VALID),
    ],
)
def test_numbers_claimed_in_order(text: str, vote: Vote) -> None:
    assert judge(text, problem="Sort 9 5 2") is vote


def test_a_chain_keeps_the_order_the_chain_before_it_established() -> None:
    kept = (
        'We now have: (1) "cap" < (18) "craft" for the subpart. Hence, we have "accuracy" < '
        '["beetle" ? "boutique"] < "canton" < "cap" < "craft".'
    )
    lost = (
        'We now have: (1) "cap" < (18) "craft" for the subpart. Hence, we have "accuracy" < '
        '["beetle" ? "boutique"] < "canton" < ["cap" ? "craft"].'
    )
    tie = (
        'We now have: (1) ["cap" ? "canton"] for the subpart. Hence, we have "accuracy" < '
        '["beetle" ? "boutique"] < ["cap" ? "canton"] < "craft".'
    )
    assert judge(kept) is Vote.VALID
    assert judge(lost) is Vote.INVALID
    assert judge(tie) is Vote.VALID
