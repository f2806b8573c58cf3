"""Ordering claims: word chains (`"beetle" < "boutique"`), letter lookups, sorted answers.

- A chain of quoted words and `?`-groups (`"a" < ["b" ? "c"] < "d"`) holds when every word
  of an item precedes every word of the next, alphabetically (case-folded). Its `(N)`
  annotations, when present, must all be the alphabet position of one same letter index k.
- A letter claim `"canton": "c" (3)` holds when the letter is the word's k-th letter (k from
  a preceding "The first/second/... letter" header, when there is one) and N its position.
- When the problem is a word list (a bare list, or after `List:`), every quoted word, in a
  chain or a letter claim, must come from it; a chain may list a word at most as often as the
  list holds it; an answer (`The answer is w1 w2 ...`) must be the same multiset in order.
- A chain that directly follows another in one segment (a subpart's order, then the whole
  list "Hence" updated) must not leave undetermined (`[a ? b]`) a pair the first one ordered.
- Numbers claimed in ascending / descending order must be so.

Every check is linear in the sizes of the segment and the problem: the input list is read
once per segment, the letter headers once per text.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections import Counter
from dataclasses import dataclass
from fractions import Fraction
from itertools import pairwise

from auditors.checkers.base import Claim, judge_alone
from auditors.checkers.limits import MAX_CLAIMS, MAX_SEGMENT_CHARS
from auditors.judgement import Judgement
from protocol.models import Segment

_WORD = r'"([A-Za-z][\w\'&.-]*)"'
_ITEM = rf"(?:\((\d+)\)\s*)?(?:{_WORD}|\[\s*({_WORD}(?:\s*\?\s*{_WORD})*)\s*\])"
_ITEM_PATTERN = re.compile(_ITEM)
_CHAIN = re.compile(rf"{_ITEM}(?:\s*<\s*{_ITEM})+")
_GROUP_WORD = re.compile(_WORD)
_LETTER_HEADER = re.compile(r"\b(?:the\s+)?(\w+)\s+letters?\b", re.IGNORECASE)
_LETTER_CLAIM = re.compile(rf'{_WORD}\s*:\s*"([A-Za-z])"\s*\((\d+)\)')
_ANSWER = re.compile(r"\banswer is:?\s*([A-Za-z][\w'&.-]*(?:[ \t,]+[A-Za-z][\w'&.-]*)+)")
_NUMBERS_IN_ORDER = re.compile(
    r"\b(ascending|increasing|descending|decreasing) order(?: is)?:?\s*"
    r"(-?\d+(?:\.\d+)?(?:\s*,\s*-?\d+(?:\.\d+)?)+)",
    re.IGNORECASE,
)
_INPUT_WORD = re.compile(r"[A-Za-z][\w'&.-]*")
_ORDINAL_NAMES: tuple[str, ...] = ("first", "second", "third", "fourth", "fifth")
_ORDINAL_NAMES += ("sixth", "seventh", "eighth", "ninth", "tenth")
_ORDINALS = {name: index for index, name in enumerate(_ORDINAL_NAMES)}


@dataclass(frozen=True)
class InputList:
    """The words a problem asks to sort, and how often each (case-folded) occurs in it."""

    words: tuple[str, ...]
    counts: Counter[str]

    def has(self, word: str) -> bool:
        return _key(word) in self.counts


class OrderingChecker:
    """Judges word orderings, letter lookups, sorted answers and numeric order claims."""

    name = "ordering"

    def judge(self, segment: Segment) -> Judgement:
        """This checker alone as a judge (the registry's composite runs them together)."""
        return judge_alone(self, segment)

    def can_judge(self, segment: Segment) -> bool:
        text = segment.text
        return ('"' in text and ("<" in text or "letter" in text)) or _has_answer_or_order(text)

    def check(self, segment: Segment) -> tuple[Claim, ...]:
        if len(segment.text) > MAX_SEGMENT_CHARS:
            return ()
        words = compute_input_list(segment.problem)
        claims = [
            *_chain_claims(segment.text, words),
            *_letter_claims(segment.text, words),
            *_answer_claims(segment.text, words),
            *_number_order_claims(segment.text),
        ]
        return tuple(claims[:MAX_CLAIMS])


def _has_answer_or_order(text: str) -> bool:
    lowered = text.lower()
    return "answer is" in lowered or " order" in lowered


def compute_input_words(problem: str) -> tuple[str, ...] | None:
    """The words to sort: after `List:` if present, else the whole problem when it is nothing
    but two or more bare words. None when the problem is not such a list."""
    _, marker, after = problem.partition("List:")
    candidate = after if marker else problem
    tokens = candidate.split()
    if len(tokens) < 2 or not all(_INPUT_WORD.fullmatch(token) for token in tokens):
        return None
    return tuple(tokens)


def compute_input_list(problem: str) -> InputList | None:
    """`compute_input_words` with the words' case-folded counts, computed once per segment."""
    words = compute_input_words(problem)
    return None if words is None else InputList(words, Counter(map(_key, words)))


def _key(word: str) -> str:
    return word.casefold()


def _is_plain(word: str) -> bool:
    """Only ASCII letters: conventions for ordering "o's" or "x-ray" differ, so those abstain."""
    return word.isascii() and word.isalpha()


def _chain_claims(text: str, words: InputList | None) -> list[Claim]:
    claims: list[Claim] = []
    previous: list[tuple[int | None, tuple[str, ...]]] = []
    for match in _CHAIN.finditer(text):
        items = [_item(item) for item in _ITEM_PATTERN.finditer(match.group())]
        claim = _judge_chain(match.group(), items, words)
        if claim.holds and words is not None and _is_whole_list(text, match, items, words):
            claim = _judge_whole_list(match.group(), items, words)
        regrouped = _compute_regrouped(previous, items) if claim.holds else None
        if regrouped is not None:
            reason = f"leaves {list(regrouped)!r} unordered after ordering them"
            claim = Claim(match.group(), False, reason)
        claims.append(claim)
        previous = items
    return claims


def _compute_regrouped(
    previous: list[tuple[int | None, tuple[str, ...]]],
    items: list[tuple[int | None, tuple[str, ...]]],
) -> tuple[str, ...] | None:
    """The first `?`-group of `items` holding two words that `previous` put in different items.

    A chain that follows another in one segment (`... for the subpart. Hence, ...`) states what
    that one derived, so it may not leave undetermined an order the other just established.
    Only the directly preceding chain is compared, which keeps the check linear.
    """
    rank = {_key(word): index for index, (_, group) in enumerate(previous) for word in group}
    for _, group in items:
        ranks = {rank[_key(word)] for word in group if _key(word) in rank}
        if len(ranks) > 1:
            return group
    return None


def _is_whole_list(
    text: str,
    match: re.Match[str],
    items: list[tuple[int | None, tuple[str, ...]]],
    words: InputList,
) -> bool:
    """A chain not marked as a subpart that orders more than half of the input's words claims
    to order them all (a word silently dropped from it is a sorting error)."""
    nearby = text[max(0, match.start() - 40) : match.end() + 40].lower()
    if "subpart" in nearby or "sublist" in nearby:
        return False
    chained = {_key(word) for _, group in items for word in group}
    return len(chained & words.counts.keys()) * 2 > len(words.counts)


def _judge_whole_list(
    text: str, items: list[tuple[int | None, tuple[str, ...]]], words: InputList
) -> Claim:
    chained = Counter(_key(word) for _, group in items for word in group)
    missing = sorted((words.counts - chained).elements())
    if missing:
        return Claim(text, False, f"drops {missing[0]!r} from the input list")
    return Claim(text, True, "orders every input word")


def _item(match: re.Match[str]) -> tuple[int | None, tuple[str, ...]]:
    """(annotation N or None, the item's words)."""
    annotation = int(match.group(1)) if match.group(1) else None
    if match.group(2):
        return annotation, (match.group(2),)
    return annotation, tuple(_GROUP_WORD.findall(match.group(3)))


def _judge_chain(
    text: str, items: list[tuple[int | None, tuple[str, ...]]], words: InputList | None
) -> Claim:
    for (_, left), (_, right) in pairwise(items):
        if not all(map(_is_plain, (*left, *right))):
            continue
        # Non-strict: a word listed twice in the input may stand twice in a row.
        if max(map(_key, left)) > min(map(_key, right)):
            return Claim(text, False, f"{max(left, key=_key)!r} does not precede {right!r}")
    chained = [word for _, group in items for word in group]
    if words is not None:
        claim = _judge_chained_words(text, chained, words)
        if claim is not None:
            return claim
    if not _has_consistent_annotations(items):
        return Claim(text, False, "the (N) annotations match no single letter position")
    return Claim(text, True, "in alphabetical order")


def _judge_chained_words(text: str, chained: list[str], words: InputList) -> Claim | None:
    """A false claim when the chain names a word not in the list, or names a word more often
    than the list holds it (ordering words of a list places each of its copies once)."""
    strangers = [word for word in chained if not words.has(word)]
    if strangers:
        return Claim(text, False, f"{strangers[0]!r} is not in the input list")
    # Not `Counter - Counter`: that walks the whole input list once per chain.
    counts = Counter(map(_key, chained))
    extra = sorted(word for word, count in counts.items() if count > words.counts[word])
    if extra:
        return Claim(text, False, f"{extra[0]!r} appears more often than in the input list")
    return None


def _has_consistent_annotations(items: list[tuple[int | None, tuple[str, ...]]]) -> bool:
    """Some letter index k makes every (N) the alphabet position of each word's k-th letter."""
    annotated = [(n, group) for n, group in items if n is not None]
    if not all(_is_plain(word) for _, group in annotated for word in group):
        return True
    if not annotated:
        return True
    longest = max(len(word) for _, group in annotated for word in group)
    return any(
        all(_letter_position(word, k) == n for n, group in annotated for word in group)
        for k in range(longest)
    )


def _letter_position(word: str, index: int) -> int | None:
    """1 for a/A ... 26 for z/Z at word[index]; None past the word's end or for a non-letter."""
    if index >= len(word) or not word[index].isascii() or not word[index].isalpha():
        return None
    return ord(word[index].lower()) - ord("a") + 1


def _letter_claims(text: str, words: InputList | None) -> list[Claim]:
    claims: list[Claim] = []
    headers = _ordinal_headers(text)
    starts = [start for start, _ in headers]
    for match in _LETTER_CLAIM.finditer(text):
        word, letter, number = match.group(1), match.group(2), int(match.group(3))
        if not _is_plain(word):
            continue
        if words is not None and not words.has(word):
            claims.append(Claim(match.group(), False, f"{word!r} is not in the input list"))
            continue
        before = bisect_left(starts, match.start())
        index = headers[before - 1][1] if before else None
        claims.append(_judge_letter(match.group(), word, letter, number, index))
    return claims


def _ordinal_headers(text: str) -> list[tuple[int, int]]:
    """(start, letter index) of every "The <ordinal> letter" header, in text order; a letter
    claim reads the nearest one before it."""
    headers: list[tuple[int, int]] = []
    for header in _LETTER_HEADER.finditer(text):
        ordinal = header.group(1).lower()
        if ordinal in _ORDINALS:
            headers.append((header.start(), _ORDINALS[ordinal]))
    return headers


def _judge_letter(text: str, word: str, letter: str, number: int, index: int | None) -> Claim:
    if index is not None and (index >= len(word) or word[index].lower() != letter.lower()):
        return Claim(text, False, f"letter {index + 1} of {word!r} is not {letter!r}")
    if index is None and letter.lower() not in word.lower():
        return Claim(text, False, f"{letter!r} is not in {word!r}")
    if _letter_position(letter, 0) != number:
        return Claim(text, False, f"{letter!r} is not letter {number} of the alphabet")
    return Claim(text, True, "letter and position match")


def _answer_claims(text: str, words: InputList | None) -> list[Claim]:
    if words is None:
        return []
    claims: list[Claim] = []
    for match in _ANSWER.finditer(text):
        answer = re.split(r"[ \t,]+", match.group(1).strip().rstrip("."))
        if sum(map(words.has, answer)) * 2 < len(answer):
            continue  # mostly other words: not an answer to this list
        claims.append(_judge_sorted_answer(match.group(), answer, words))
    return claims


def _judge_sorted_answer(text: str, answer: list[str], words: InputList) -> Claim:
    if Counter(map(_key, answer)) != words.counts:
        return Claim(text, False, "not the same words as the input list")
    plain_pairs = [(a, b) for a, b in pairwise(answer) if _is_plain(a) and _is_plain(b)]
    if any(_key(a) > _key(b) for a, b in plain_pairs):
        return Claim(text, False, "not in alphabetical order")
    return Claim(text, True, "the input words in alphabetical order")


def _number_order_claims(text: str) -> list[Claim]:
    claims: list[Claim] = []
    for match in _NUMBERS_IN_ORDER.finditer(text):
        values = [Fraction(item.strip()) for item in match.group(2).split(",")]
        ascending = match.group(1).lower() in ("ascending", "increasing")
        ordered = values == sorted(values, reverse=not ascending)
        claims.append(Claim(match.group(), ordered, "ordered" if ordered else "out of order"))
    return claims
