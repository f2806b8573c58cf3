from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from protocol.models import STEP_SEPARATOR, Level, Reveal, Span, Trace, Vote, VoteEntry
from protocol.params import MAX_TEXT_CHARS

RECORD = {
    "id": "gsm8k-1",
    "source": "processbench/gsm8k",
    "problem": "What is 2 + 2?",
    "steps": ["2 + 2 = 4.", "So the answer is 4."],
    "label": -1,
}


def test_external_record_format_is_accepted_as_is() -> None:
    trace = Trace.model_validate_json(json.dumps(RECORD))
    assert trace.record_id == "gsm8k-1"
    assert trace.label == -1
    assert trace.text == STEP_SEPARATOR.join(RECORD["steps"])  # type: ignore[arg-type]
    assert trace.canonical_fields()["id"] == "gsm8k-1"


def test_free_text_trace_keeps_its_text() -> None:
    trace = Trace(problem="p", reasoning="First line.\n\nSecond line.")
    assert trace.text == "First line.\n\nSecond line."


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"steps": None}, "exactly one of"),
        ({"reasoning": "also text"}, "exactly one of"),
        ({"steps": []}, "at least 1"),
        ({"steps": ["ok", ""]}, "at least 1"),
        ({"problem": ""}, "at least 1"),
        ({"label": 5}, "past the last step"),
        ({"label": -2}, "greater than or equal"),
        ({"steps": [1, 2]}, "valid string"),
        ({"label": "1"}, "valid integer"),
        ({"surprise": True}, "Extra inputs"),
    ],
)
def test_malformed_traces_name_the_problem(change: dict[str, object], message: str) -> None:
    record = {**RECORD, **change}
    record = {key: value for key, value in record.items() if value is not None}
    with pytest.raises(ValidationError, match=message):
        Trace.model_validate_json(json.dumps(record))


def test_whitespace_only_reasoning_is_rejected() -> None:
    with pytest.raises(ValidationError, match="empty"):
        Trace(problem="p", reasoning=" \n\t ")


def test_oversized_reasoning_is_rejected() -> None:
    with pytest.raises(ValidationError, match="at most"):
        Trace(problem="p", reasoning="x" * (MAX_TEXT_CHARS + 1))
    with pytest.raises(ValidationError, match="exceeds"):
        Trace(problem="p", steps=("x" * (MAX_TEXT_CHARS // 2),) * 3)


def test_models_are_frozen_and_strict() -> None:
    trace = Trace(problem="p", steps=("a",))
    with pytest.raises(ValidationError):
        trace.problem = "q"  # type: ignore[misc]
    with pytest.raises(ValidationError):
        Span(start=3, end=3)
    with pytest.raises(ValidationError):
        Span.model_validate({"start": "1", "end": 2})


def test_reveal_votes_must_be_sorted_and_unique() -> None:
    def entry(segment: int) -> VoteEntry:
        return VoteEntry(segment=segment, vote=Vote.VALID, confidence=1, rationale="0x" + "0" * 64)

    base = {
        "trace_id": "0x" + "1" * 64,
        "round": 0,
        "auditor": "0x" + "2" * 40,
        "salt": "0x" + "3" * 64,
        "signature": "0x" + "4" * 130,
    }
    Reveal(votes=(entry(1), entry(3)), **base)  # type: ignore[arg-type]
    for votes in ((entry(3), entry(1)), (entry(2), entry(2))):
        with pytest.raises(ValidationError, match="sorted"):
            Reveal(votes=votes, **base)  # type: ignore[arg-type]


def test_levels_have_increasing_depth() -> None:
    assert [level.depth for level in Level] == [1, 2, 3, 4, 5]
    assert Level("operation") is Level.OPERATION
