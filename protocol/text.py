"""Step and claim spans of a reasoning text.

A trace given as `steps` keeps its steps; free `reasoning` text is split into paragraphs, and a
paragraph longer than `MAX_PARAGRAPH_CHARS` into sentences. Either way the step spans partition
the text exactly: whitespace between two steps belongs to the earlier one, leading whitespace to
the first, so no character escapes the audit.
"""

from __future__ import annotations

import re
from bisect import bisect_right

from protocol.errors import InvalidTraceError
from protocol.models import STEP_SEPARATOR, Span, Trace

#: A paragraph longer than this (trimmed, in characters) is split further into sentences.
MAX_PARAGRAPH_CHARS = 600

#: Words that end with a period without ending a sentence (compared lowercased, without the dot).
ABBREVIATIONS = frozenset(
    {"e.g", "i.e", "etc", "vs", "cf", "mr", "mrs", "ms", "dr", "st", "fig", "eq", "approx", "al"}
)

# A run of whitespace holding at least two line breaks: a blank line between paragraphs.
_PARAGRAPH_BREAK = re.compile(r"[^\S\n]*\n(?:[^\S\n]*\n)+\s*")
# Where a sentence may end: terminal punctuation (plus closing quotes/brackets) then whitespace,
# or a line break. The lookahead keeps the match off trailing whitespace.
_SENTENCE_BREAK = re.compile(r"[.!?][\"')\]\u201d\u2019]*\s+(?=\S)|\n\s*(?=\S)")
_MATH_DELIMITER = re.compile(r"\$\$|\\\(|\\\[|\$")
_MATH_CLOSER = {"$$": "$$", "\\(": "\\)", "\\[": "\\]"}
# Characters that may open a sentence after terminal punctuation (besides capitals and digits).
_SENTENCE_OPENERS = frozenset("\"'([*#\u201c\u2018")
# Inline `$...$` math closes within this many characters on the same line (pandoc's rule).
_MAX_INLINE_MATH_CHARS = 200


def compute_step_spans(trace: Trace) -> tuple[Span, ...]:
    """One span per given step, the separator after a step included; else `split_steps`."""
    if trace.steps is None:
        return split_steps(trace.text)
    spans: list[Span] = []
    offset = 0
    last = len(trace.steps) - 1
    for index, step in enumerate(trace.steps):
        end = offset + len(step) + (0 if index == last else len(STEP_SEPARATOR))
        spans.append(Span(start=offset, end=end))
        offset = end
    return tuple(spans)


def split_steps(text: str) -> tuple[Span, ...]:
    """Split free text into step spans that partition it exactly.

    Paragraphs are separated by blank lines; a paragraph over `MAX_PARAGRAPH_CHARS` is cut at
    sentence ends (not after decimals, abbreviations or inside LaTeX math). Raises
    InvalidTraceError when the text has no non-whitespace character.
    """
    starts = [
        start for para in _compute_paragraphs(text) for start in _compute_step_starts(text, para)
    ]
    if not starts:
        raise InvalidTraceError("the reasoning text is empty", field="reasoning")
    starts[0] = 0
    ends = [*starts[1:], len(text)]
    return tuple(Span(start=start, end=end) for start, end in zip(starts, ends, strict=True))


def compute_claim_span(text: str, span: Span) -> Span:
    """The last sentence of `span`, trimmed of surrounding whitespace.

    A span holding only whitespace is its own claim, so every claim is non-empty and inside span.
    """
    start, end = _trim(text, span.start, span.end)
    if start == end:
        return span
    sentence_starts = compute_sentence_starts(text, start, end)
    return Span(start=sentence_starts[-1], end=end)


def compute_sentence_starts(text: str, start: int, end: int) -> list[int]:
    """Offsets where the sentences of the trimmed range text[start:end] begin, `start` first."""
    math = _compute_math_regions(text, start, end)
    starts = [start]
    for match in _SENTENCE_BREAK.finditer(text, start, end):
        if not _is_in_regions(math, match.start()) and _is_sentence_end(text, start, match):
            starts.append(match.end())
    return starts


def _trim(text: str, start: int, end: int) -> tuple[int, int]:
    """Shrink [start, end) to its first and last non-whitespace characters (empty: start == end)."""
    piece = text[start:end]
    stripped = piece.strip()
    if not stripped:
        return start, start
    first = start + len(piece) - len(piece.lstrip())
    return first, first + len(stripped)


def _compute_paragraphs(text: str) -> list[tuple[int, int]]:
    """Trimmed (start, end) of each non-blank paragraph, in order."""
    paragraphs: list[tuple[int, int]] = []
    position = 0
    for match in _PARAGRAPH_BREAK.finditer(text):
        paragraphs.append(_trim(text, position, match.start()))
        position = match.end()
    paragraphs.append(_trim(text, position, len(text)))
    return [(start, end) for start, end in paragraphs if end > start]


def _compute_step_starts(text: str, paragraph: tuple[int, int]) -> list[int]:
    start, end = paragraph
    if end - start <= MAX_PARAGRAPH_CHARS:
        return [start]
    return compute_sentence_starts(text, start, end)


def _is_sentence_end(text: str, region_start: int, match: re.Match[str]) -> bool:
    """A line break ends a sentence unless the next line goes on in lowercase (wrapped prose);
    terminal punctuation only before a sentence opener and not after "e.g." or "1."."""
    opener = text[match.end()]
    if "\n" in match.group():
        return not opener.islower()
    if not (opener.isupper() or opener.isdigit() or opener in _SENTENCE_OPENERS):
        return False
    return match.group()[0] != "." or not _is_period_inside_sentence(
        text, region_start, match.start()
    )


def _is_period_inside_sentence(text: str, region_start: int, period: int) -> bool:
    """True after an abbreviation ("e.g.") or an enumeration marker at a line start ("1.")."""
    word_start = period
    while word_start > region_start and not text[word_start - 1].isspace():
        word_start -= 1
    word = text[word_start:period].lstrip("(").lower()
    if word in ABBREVIATIONS:
        return True
    at_line_start = word_start == region_start or text[word_start - 1] == "\n"
    return at_line_start and word.isdigit()


def _compute_math_regions(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """LaTeX math regions ($$..$$, \\(..\\), \\[..\\], inline $..$) of text[start:end], sorted.

    An opener without a closer is plain text, so a stray "$" (currency) never hides the rest.
    """
    regions: list[tuple[int, int]] = []
    unclosed: set[str] = set()
    position = start
    while (match := _MATH_DELIMITER.search(text, position, end)) is not None:
        region = _find_math_region(text, match, end, unclosed)
        if region is None:
            position = match.end()
        else:
            regions.append(region)
            position = region[1]
    return regions


def _find_math_region(
    text: str, match: re.Match[str], end: int, unclosed: set[str]
) -> tuple[int, int] | None:
    opener = match.group()
    if opener == "$":
        return _find_inline_math(text, match.start(), end)
    if opener in unclosed:
        return None
    closer = text.find(_MATH_CLOSER[opener], match.end(), end)
    if closer < 0:
        # Remembered so a long text full of unclosed openers stays linear.
        unclosed.add(opener)
        return None
    return match.start(), closer + len(_MATH_CLOSER[opener])


def _find_inline_math(text: str, opener: int, end: int) -> tuple[int, int] | None:
    """Pandoc's rule: "$" then non-space ... non-space then "$" not followed by a digit."""
    line_end = text.find("\n", opener, end)
    limit = min(end, opener + _MAX_INLINE_MATH_CHARS, line_end if line_end >= 0 else end)
    closer = text.find("$", opener + 1, limit)
    if closer < 0 or closer == opener + 1:
        return None
    if text[opener + 1].isspace() or text[closer - 1].isspace():
        return None
    if closer + 1 < len(text) and text[closer + 1].isdigit():
        return None
    return opener, closer + 1


def _is_in_regions(regions: list[tuple[int, int]], position: int) -> bool:
    index = bisect_right(regions, position, key=lambda region: region[0]) - 1
    return index >= 0 and regions[index][0] <= position < regions[index][1]
