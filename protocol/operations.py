"""Mechanically checkable acts inside a step: equalities, equality chains and comparisons.

The text is read as tokens (numbers, one-letter variables, quoted words, LaTeX commands,
operators, brackets, relations). Tokens separated by nothing but spaces form a run; a run with a
relation between operands is an operation, trimmed to start and end on an operand. Words, commas,
line breaks, arrows ("==>", "\\implies") and math delimiters end a run, so prose never joins one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from protocol.models import Span

_NUMBER_CORE = r"\d+(?:,\d{3}(?!\d))*(?:\.\d+)?"
_NUMBER = re.compile(r"(?<![\d.])" + _NUMBER_CORE)

# One alternative per token kind; order matters: arrows before relations ("==>" is no
# equality), relations before operators, specific LaTeX commands before the generic one.
_TOKEN = re.compile(
    r"""
    (?P<stop><=>|=+>|-+>|[⇒→⟹⟶↦]|\\\\
        |\\(?:[Rr]ightarrow|Longrightarrow|implies|iff|to|mapsto|Leftrightarrow|quad|qquad
            |text|textbf|mbox|hline|end|begin)(?![A-Za-z]))
    |(?P<relation><=|>=|!=|==|[=<>≤≥≠≈]
        |\\(?:neq|ne|leq|le|geq|ge|lt|gt|approx|equiv)(?![A-Za-z]))
    |(?P<number>(?<![\d.A-Za-z_])"""
    + _NUMBER_CORE
    + r"""(?:\s*\\?%(?:\s+of(?![A-Za-z]))?)?)
    |(?P<word>"[^"\s]{1,60}")
    |(?P<variable>(?<![A-Za-z_'])[A-Za-zα-ωΑ-Ω](?![A-Za-z]))
    |(?P<operator>[-+*/×÷·⋅^_±−?]|\\(?:times|cdot|div|pm|mp|circ)(?![A-Za-z]))
    |(?P<open>(?:\\left\s*)?(?:[(\[{]|\\\{|\\lfloor|\\lceil|\\langle))
    |(?P<close>(?:\\right\s*)?(?:[)\]}]|\\\}|\\rfloor|\\rceil|\\rangle)|!)
    |(?P<bar>(?:\\left|\\right)?\||\\mid)
    |(?P<command>\\[A-Za-z]+\d*)
    |(?P<space>\\[,;:!\ ]|&)
    """,
    re.VERBOSE,
)
# Tokens (stops included) separated by nothing but spaces or tabs: a candidate run.
_ANY_TOKEN = re.sub(r"\(\?P<\w+>", "(?:", _TOKEN.pattern)
_CANDIDATE_RUN = re.compile(f"(?:{_ANY_TOKEN})(?:[ \t]*(?:{_ANY_TOKEN}))*", re.VERBOSE)
_RELATION_HINT = re.compile(r"[=<>≤≥≠≈]|\\(?:ne|le|ge|lt|gt|approx|equiv)")
_URL = re.compile(r"(?:https?://|www\.)\S+")
_UNARY = frozenset({"-", "−", "±", "+"})

# A verdict of falsity the text gives to what it has just written (a substituted candidate
# checked and rejected, an absurdity reached): that statement is tested, not claimed.
_REFUTATION = re.compile(
    r"\(\s*false\s*\)"
    r"|\b(?:which|this|that|it)\s+(?:is|was)\s+(?:false|not\s+true|untrue|impossible)\b"
    r"|\bis\s+(?:false|not\s+true)\b"
    r"|(?<!by\s)(?<!by\sa\s)\bcontradiction\b",
    re.IGNORECASE,
)
# Prose ends the stretch a refutation covers: a word of three letters or more, no LaTeX command.
_PROSE_WORD = re.compile(r"(?<![\\A-Za-z])[A-Za-z]{3,}")
_MAX_REFUTED_CHARS = 400

_OPERANDS = frozenset({"number", "word", "variable", "command"})
_STARTS = _OPERANDS | {"open", "bar"}
_ENDS = _OPERANDS | {"close", "bar"}


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str
    start: int
    end: int
    text: str


def extract_operations(text: str, step: Span) -> tuple[Span, ...]:
    """Sorted, non-overlapping spans inside `step` of every equality, chain or comparison.

    A relation needs an operand on each side ("= 5" alone is no operation); "=" inside URLs is
    ignored, and so is a relation the text itself marks as false (`2 + 1 = 1 (False)`).
    Deterministic and linear in the step's length.
    """
    spans = (_compute_run_span(text, run) for run in _compute_runs(text, step))
    refuted = compute_refuted_ranges(text, step)
    return tuple(
        span for span in spans if span is not None and not _is_inside_any(refuted, span.start)
    )


def compute_refuted_ranges(text: str, step: Span) -> list[tuple[int, int]]:
    """Ranges of `step` the text marks as false: the math just before a refutation
    ("(False)", "which is false", "is not true", "a contradiction"), back to the nearest prose
    word or blank line, so a substitution check of several display lines is covered whole."""
    ranges: list[tuple[int, int]] = []
    for marker in _REFUTATION.finditer(text, step.start, step.end):
        start = max(step.start, marker.start() - _MAX_REFUTED_CHARS)
        words = [word.end() for word in _PROSE_WORD.finditer(text, start, marker.start())]
        paragraph = text.rfind("\n\n", start, marker.start())
        start = max(start, words[-1] if words else start, paragraph + 2 if paragraph >= 0 else 0)
        ranges.append((start, marker.start()))
    return ranges


def compute_numbers(text: str, start: int = 0, end: int | None = None) -> tuple[str, ...]:
    """The numbers of text[start:end] in order, normalised ("1,000" -> "1000", "3.50" -> "3.5")."""
    stop = len(text) if end is None else end
    return tuple(normalize_number(match.group()) for match in _NUMBER.finditer(text, start, stop))


def normalize_number(number: str) -> str:
    """Drop thousands separators, leading zeros and a fraction's trailing zeros; no sign."""
    whole, _, fraction = number.replace(",", "").partition(".")
    whole = whole.lstrip("0") or "0"
    fraction = fraction.rstrip("0")
    return f"{whole}.{fraction}" if fraction else whole


def _compute_runs(text: str, step: Span) -> list[list[_Token]]:
    """Maximal lists of tokens separated only by spaces or tabs, outside URLs.

    A C-level pass first finds the candidate runs; only those holding a relation are tokenized
    in Python, which keeps prose-heavy steps cheap.
    """
    relations = [m.start() for m in _RELATION_HINT.finditer(text, step.start, step.end)]
    if not relations:
        return []
    urls = [match.span() for match in _URL.finditer(text, step.start, step.end)]
    runs: list[list[_Token]] = []
    pending = iter(relations)
    relation = next(pending, None)
    for candidate in _CANDIDATE_RUN.finditer(text, step.start, step.end):
        while relation is not None and relation < candidate.start():
            relation = next(pending, None)
        if relation is not None and relation < candidate.end():
            runs.extend(_tokenize_run(text, candidate.start(), candidate.end(), urls))
    return [run for run in runs if len(run) >= 3]


def _tokenize_run(
    text: str, start: int, end: int, urls: list[tuple[int, int]]
) -> list[list[_Token]]:
    """Split one candidate run at arrows, math stops and URLs into token lists."""
    runs: list[list[_Token]] = [[]]
    for match in _TOKEN.finditer(text, start, end):
        kind = match.lastgroup or "stop"
        if kind == "stop" or _is_inside_any(urls, match.start()):
            runs.append([])
            continue
        runs[-1].append(_Token(kind, match.start(), match.end(), match.group()))
    return [run for run in runs if not _reads_two_ways(run)]


def _reads_two_ways(run: list[_Token]) -> bool:
    """Whether `run` may be two statements written on one line: `-14 = x + 2 -16 = x` is the
    false chain `-14 = x + 2 - 16 = x`, or the equations `-14 = x + 2` and `-16 = x`.

    The tell is a sign spaced from the operand before it and glued to the one after it, with
    a relation on each side, in a run that spaces its binary operators on both sides (without
    that style, `5 -3 = 2` is likely a careless minus). Neither reading is sure (`a + 3 = 5 -2
    = 3` splits into a false `-2 = 3`), so such a run is no operation: a checker abstains on it
    rather than judge a statement the text may not make.
    """
    relations = [i for i, token in enumerate(run) if token.kind == "relation"]
    if len(relations) < 2:
        return False
    if not any(_is_spaced_binary_operator(run, i) for i in range(len(run))):
        return False
    first, last = relations[0], relations[-1]
    return any(_is_glued_sign(run, i) for i in range(first + 1, last))


def _is_glued_sign(run: list[_Token], index: int) -> bool:
    """A "-" or "+" after an operand with a space between, glued to the operand after it."""
    before, sign, after = run[index - 1], run[index], run[index + 1]
    return (
        sign.text in ("-", "−", "+")
        and before.kind in _ENDS
        and before.end < sign.start
        and after.kind in _STARTS
        and after.start == sign.end
    )


def _is_spaced_binary_operator(run: list[_Token], index: int) -> bool:
    """An arithmetic operator between two tokens with space on both sides (`x + 2`)."""
    if not 0 < index < len(run) - 1 or not _is_binary_operator(run, index):
        return False
    before, operator, after = run[index - 1], run[index], run[index + 1]
    return before.kind in _ENDS and before.end < operator.start < operator.end < after.start


def _is_inside_any(ranges: list[tuple[int, int]], position: int) -> bool:
    return any(start <= position < end for start, end in ranges)


def _compute_run_span(text: str, run: list[_Token]) -> Span | None:
    """The operation in `run` trimmed to operands and balanced brackets, or None if none.

    An edge operand that is only the visible part of a longer expression is dropped with its
    relation (see `_drop_cut_edges`): judging the part would judge something never claimed.
    """
    low, high = _compute_trim_bounds(run)
    tokens = _drop_cut_edges(text, run, low, high)
    if not _has_operands_around_relations(tokens):
        return None
    return Span(start=tokens[0].start, end=tokens[-1].end)


def _drop_cut_edges(text: str, run: list[_Token], low: int, high: int) -> list[_Token]:
    """run[low:high + 1] without a first operand cut at its start or a last one cut at its end.

    A run stops at anything that is no token: a multi-letter symbol (`AC^2`, `Bx^2`, `2xy`), a
    parenthetical remark, a math delimiter. Where it stopped inside an expression, the trimmed
    edge holds a binary operator (`x^3 + Bx^2 + 50 = 0` is read from `^2 + 50 = 0`,
    `9^2 = 10^2 + AC^2` up to `10^2 +`), or the last number is glued to an inline-math opener
    (`70 ≤ 24\\( K \\)`): that operand is a fragment, so its relation is not the text's.
    """
    tokens = run[low : high + 1]
    if _is_cut_at_start(text, run, low):
        relation = next((i for i, t in enumerate(tokens) if t.kind == "relation"), len(tokens))
        tokens = tokens[relation + 1 :]
    if _is_cut_at_end(text, run, high):
        relation = max((i for i, t in enumerate(tokens) if t.kind == "relation"), default=0)
        tokens = tokens[:relation]
    return tokens


def _is_cut_at_start(text: str, run: list[_Token], low: int) -> bool:
    """A binary operator or closing bracket trimmed off just before the first operand (after
    any trimmed relation, whose right side is whole), after text on the same line: a line that
    opens with "- " or "* " is a list item, not a cut expression."""
    relations = [i for i in range(low) if run[i].kind == "relation"]
    after_relation = relations[-1] + 1 if relations else 0
    if not any(
        _is_binary_operator(run, i) or run[i].kind == "close" for i in range(after_relation, low)
    ):
        return False
    line = text[text.rfind("\n", 0, run[0].start) + 1 : run[0].start]
    return line.strip(" \t") != ""


def _is_cut_at_end(text: str, run: list[_Token], high: int) -> bool:
    """A binary operator trimmed off just after the last operand, or an inline-math opener
    glued to it."""
    relation = next((i for i in range(high + 1, len(run)) if run[i].kind == "relation"), len(run))
    if any(_is_binary_operator(run, i) for i in range(high + 1, relation)):
        return True
    return high >= 0 and text.startswith(_INLINE_MATH_OPENERS, run[high].end)


_INLINE_MATH_OPENERS = ("\\(", "\\[")


def _is_binary_operator(run: list[_Token], index: int) -> bool:
    """An arithmetic operator; "?" (a question, or a word-sorting gap) and a glued "**" (Markdown
    bold around an equation) are not."""
    token = run[index]
    if token.kind != "operator" or token.text == "?":
        return False
    if token.text != "*":
        return True
    glued_before = index > 0 and run[index - 1].text == "*" and run[index - 1].end == token.start
    glued_after = (
        index + 1 < len(run) and run[index + 1].text == "*" and run[index + 1].start == token.end
    )
    return not (glued_before or glued_after)


def _compute_trim_bounds(run: list[_Token]) -> tuple[int, int]:
    """Bounds (inclusive) of `run` without edge tokens that cannot start/end an operation and
    without unmatched edge brackets.

    Bracket counts are kept up to date while trimming so a long unbalanced run stays linear.
    """
    low, high = 0, len(run) - 1
    balance = sum(_bracket_weight(token) for token in run)
    while low <= high:
        if not _is_start(run, low, high) or (balance > 0 and run[low].kind == "open"):
            balance -= _bracket_weight(run[low])
            low += 1
        elif run[high].kind not in _ENDS or (balance < 0 and _bracket_weight(run[high]) < 0):
            balance -= _bracket_weight(run[high])
            high -= 1
        else:
            break
    return low, high


def _bracket_weight(token: _Token) -> int:
    """+1 for an opening bracket, -1 for a closing one ("!" is a postfix, not a bracket)."""
    if token.kind == "open":
        return 1
    return -1 if token.kind == "close" and token.text != "!" else 0


def _is_start(tokens: list[_Token], index: int, high: int) -> bool:
    """An operand or bracket, or a sign directly before one ("-3 < x")."""
    token = tokens[index]
    if token.kind in _STARTS:
        return True
    if token.text not in _UNARY or index >= high:
        return False
    following = tokens[index + 1]
    return following.kind in _STARTS and following.start == token.end


def _has_operands_around_relations(tokens: list[_Token]) -> bool:
    """At least one operand before the first relation and after the last one."""
    relations = [index for index, token in enumerate(tokens) if token.kind == "relation"]
    if not relations:
        return False
    before = tokens[: relations[0]]
    after = tokens[relations[-1] + 1 :]
    return any(t.kind in _OPERANDS for t in before) and any(t.kind in _OPERANDS for t in after)
