"""A strict tokenizer for arithmetic and algebra written in plain text or LaTeX.

Only whitelisted token kinds exist: numbers, one-letter symbols, operators, brackets, a few
LaTeX commands (`\\frac`, `\\sqrt`, `\\times`, `\\cdot`, `\\div`, `\\left`/`\\right`) and unit
words. Anything else (`__import__`, quotes, unknown commands) makes the whole text unparseable,
so untrusted text never reaches an evaluator in any other form than these tokens.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from auditors.checkers.errors import UnparseableError
from auditors.checkers.limits import MAX_RELATION_CHARS, MAX_TOKENS


@dataclass(frozen=True, slots=True)
class Token:
    """One token: `kind` is one of number, symbol, op, open, close, frac, sqrt, percent, of,
    unit; `text` is normalised (`\\times` -> `*`, `\\left(` -> `(`, `1,000` -> `1000`)."""

    kind: str
    text: str


# Order matters: LaTeX commands before the generic command (which is refused), numbers before
# operators (a leading "." is no operator), words before one-letter symbols.
_TOKEN = re.compile(
    r"""
    (?P<skip>\s+|\$|\\[,;:!\ ]|\\quad|\\qquad|\\displaystyle|\\[()\[\]](?![A-Za-z])
        |\\left\.|\\right\.|\\text\{\s*[A-Za-z][A-Za-z\s.]*\}|\\mathrm\{\s*[A-Za-z]+\s*\})
    |(?P<number>\d+(?:,\d{3}(?!\d))*(?:\.\d+)?|\.\d+)
    |(?P<percent>\\?%)
    |(?P<frac>\\[dt]?frac(?![A-Za-z]))
    |(?P<sqrt>\\sqrt(?![A-Za-z]))
    |(?P<op>\*\*|[-+*/^×÷·⋅−]|\\(?:times|cdot|div|ast)(?![A-Za-z]))
    |(?P<open>(?:\\left\s*)?(?:\(|\[|\\\{|\\lbrace(?![A-Za-z]))|\{)
    |(?P<close>(?:\\right\s*)?(?:\)|\]|\\\}|\\rbrace(?![A-Za-z]))|\})
    |(?P<word>[A-Za-z]{2,}\.?)
    |(?P<symbol>[A-Za-z])
    |(?P<currency>[€£¥])
    """,
    re.VERBOSE,
)
_OPERATORS = {"×": "*", "·": "*", "⋅": "*", "−": "-", "÷": "/", "**": "^"}
_LATEX_OPERATORS = {"\\times": "*", "\\cdot": "*", "\\ast": "*", "\\div": "/"}
_OPENERS = {"\\{": "{", "\\lbrace": "{"}
_CLOSERS = {"\\}": "}", "\\rbrace": "}"}
_WORD_OPERATORS = {"times": "*"}


def tokenize(text: str) -> tuple[Token, ...]:
    """Tokens of `text`; UnparseableError on any character no token kind accepts.

    LaTeX thousands separators (`1{,}000`) are read as plain ones. Unit words (two letters or
    more) are kept as `unit` tokens for the parser to drop where a unit may stand.
    """
    if len(text) > MAX_RELATION_CHARS:
        raise UnparseableError("expression too long")
    text = text.replace("{,}", ",")
    tokens: list[Token] = []
    position = 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None:
            raise UnparseableError(f"cannot read {text[position : position + 10]!r}")
        position = match.end()
        token = _make_token(match.lastgroup or "skip", match.group())
        if token is not None:
            tokens.append(token)
        if len(tokens) > MAX_TOKENS:
            raise UnparseableError("too many tokens")
    return tuple(tokens)


def _make_token(kind: str, text: str) -> Token | None:
    """The normalised token for one match, or None for skipped text (spaces, delimiters)."""
    if kind in ("skip", "currency"):
        return None
    if kind == "number":
        return Token(kind, text.replace(",", ""))
    if kind == "op":
        return Token(kind, _LATEX_OPERATORS.get(text, _OPERATORS.get(text, text)))
    if kind in ("open", "close"):
        bare = re.sub(r"^\\(?:left|right)\s*", "", text)
        return Token(kind, _OPENERS.get(bare, _CLOSERS.get(bare, bare)))
    if kind == "word":
        word = text.rstrip(".").lower()
        if word in _WORD_OPERATORS:
            return Token("op", _WORD_OPERATORS[word])
        return Token("of" if word == "of" else "unit", word)
    if kind == "percent":
        return Token(kind, "%")
    return Token(kind, text)
