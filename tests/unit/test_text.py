from __future__ import annotations

import pytest

from protocol.errors import InvalidTraceError
from protocol.models import Span, Trace
from protocol.text import (
    MAX_PARAGRAPH_CHARS,
    compute_claim_span,
    compute_sentence_starts,
    compute_step_spans,
    split_steps,
)


def _pieces(text: str, spans: tuple[Span, ...]) -> list[str]:
    return [text[span.start : span.end] for span in spans]


def _long(sentence: str) -> str:
    """Enough copies of `sentence` to push a paragraph past the sentence-splitting limit."""
    copies = MAX_PARAGRAPH_CHARS // len(sentence) + 2
    return " ".join([sentence] * copies)


# --- compute_step_spans ------------------------------------------------------------------------


def test_given_steps_keep_their_separator_with_the_preceding_step() -> None:
    trace = Trace(problem="p", steps=("A = 1.", "B = 2.", "So 3."))
    spans = compute_step_spans(trace)
    assert _pieces(trace.text, spans) == ["A = 1.\n\n", "B = 2.\n\n", "So 3."]


def test_given_steps_that_are_whitespace_still_get_a_span() -> None:
    trace = Trace(problem="p", steps=("x", " ", "y"))
    assert _pieces(trace.text, compute_step_spans(trace)) == ["x\n\n", " \n\n", "y"]


def test_free_text_is_split_into_paragraphs() -> None:
    trace = Trace(problem="p", reasoning="One.\n\nTwo.")
    assert _pieces(trace.text, compute_step_spans(trace)) == ["One.\n\n", "Two."]


# --- split_steps -------------------------------------------------------------------------------


def test_paragraphs_split_on_blank_lines_and_whitespace_goes_to_a_neighbour() -> None:
    text = "  Hello world.\n\nSecond para. More.  \n \n\n  "
    assert _pieces(text, split_steps(text)) == [
        "  Hello world.\n\n",
        "Second para. More.  \n \n\n  ",
    ]


def test_single_line_break_does_not_split_a_short_paragraph() -> None:
    text = "Line one\nLine two"
    assert _pieces(text, split_steps(text)) == [text]


def test_long_paragraph_is_split_into_sentences() -> None:
    text = _long("The answer is 7. Then we add 1.")
    pieces = _pieces(text, split_steps(text))
    assert pieces[:3] == ["The answer is 7. ", "Then we add 1. ", "The answer is 7. "]
    assert "".join(pieces) == text


def test_sentences_do_not_split_at_decimals_or_abbreviations() -> None:
    text = _long("We use 3.5 apples, e.g. Granny Smith ones, and Dr. Who agrees.")
    pieces = _pieces(text, split_steps(text))
    assert pieces[0] == "We use 3.5 apples, e.g. Granny Smith ones, and Dr. Who agrees. "


def test_sentences_do_not_split_inside_inline_latex() -> None:
    text = _long("Let $x. Y$ hold here.")
    assert _pieces(text, split_steps(text))[0] == "Let $x. Y$ hold here. "


def test_currency_dollars_are_not_taken_for_math() -> None:
    text = _long("It costs $5. Then he pays $10.")
    assert _pieces(text, split_steps(text))[:2] == ["It costs $5. ", "Then he pays $10. "]


def test_enumeration_markers_do_not_end_a_sentence() -> None:
    text = "Intro.\n1. Compute A now." + " Filler words here." * 40
    pieces = _pieces(text, split_steps(text))
    assert pieces[1] == "1. Compute A now. "


def test_lowercase_continuation_line_does_not_split() -> None:
    text = _long("Wrapped text goes\non here.")
    assert _pieces(text, split_steps(text))[0] == "Wrapped text goes\non here. "


@pytest.mark.parametrize("text", ["", " ", "\n\n \t\n"])
def test_text_without_content_is_rejected(text: str) -> None:
    with pytest.raises(InvalidTraceError):
        split_steps(text)


def test_sentence_starts_begin_with_the_range_start() -> None:
    text = "A b. C d! E f? G h. i j."
    assert compute_sentence_starts(text, 0, len(text)) == [0, 5, 10, 15]


# --- compute_claim_span ------------------------------------------------------------------------


def test_claim_is_the_trimmed_last_sentence() -> None:
    text = "We add. So the total is 82 degrees.  \n\n"
    claim = compute_claim_span(text, Span(start=0, end=len(text)))
    assert text[claim.start : claim.end] == "So the total is 82 degrees."


def test_claim_after_display_math_is_its_last_line() -> None:
    text = "Finally, solve.\n\\[ g = \\sqrt{81} \\]\n\\[ g = 9 \\]\n\n"
    claim = compute_claim_span(text, Span(start=0, end=len(text)))
    assert text[claim.start : claim.end] == "\\[ g = 9 \\]"


def test_claim_keeps_a_multiline_display_together() -> None:
    text = "Thus:\n\\[\na = 1\n\\]"
    claim = compute_claim_span(text, Span(start=0, end=len(text)))
    assert text[claim.start : claim.end] == "\\[\na = 1\n\\]"


def test_claim_of_a_one_sentence_span_is_the_span_trimmed() -> None:
    text = "xx  answer is 4  yy"
    claim = compute_claim_span(text, Span(start=2, end=17))
    assert (claim.start, claim.end) == (4, 15)


def test_claim_of_a_whitespace_span_is_the_span() -> None:
    text = "a   b"
    span = Span(start=1, end=4)
    assert compute_claim_span(text, span) == span
