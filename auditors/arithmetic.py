"""Tier-1 computational checker for arithmetic relations in plain text.

It judges relation chains such as `7 * 12 = 84 apples` or `47 > 52` exactly, with rationals,
through a small recursive-descent parser: untrusted text never reaches `eval`. Anything it
cannot parse makes it abstain, so the segment moves up a tier.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction

from auditors.judgement import ABSTAIN, Judgement
from protocol.models import Level, Segment, Span, Vote
from protocol.operations import extract_operations

#: Longest relation judged; longer text is not a single mechanical act.
MAX_RELATION_CHARS = 400
#: Bounds on powers so `9^9^9` cannot exhaust memory.
MAX_EXPONENT = 64
MAX_OPERAND_DIGITS = 200

_RELATION = re.compile(r"(<=|>=|!=|==|≤|≥|≠|=|<|>)")
_TOKEN = re.compile(r"\s*(\d+(?:,\d{3})*(?:\.\d+)?%?|\*\*|[-+*/×÷^()x])")
_UNIT_EDGES = re.compile(r"^[\s$€£:]*|[\s.,;:!?]*[A-Za-z][A-Za-z\s.²³^0-9]*$")
_NORMALIZED_RELATIONS = {"==": "=", "≤": "<=", "≥": ">=", "≠": "!="}


class UnparseableError(Exception):
    """The text is not an arithmetic expression this checker understands."""


@dataclass
class _Parser:
    tokens: list[str]
    position: int = 0

    def peek(self) -> str | None:
        return self.tokens[self.position] if self.position < len(self.tokens) else None

    def take(self) -> str:
        token = self.peek()
        if token is None:
            raise UnparseableError("unexpected end of expression")
        self.position += 1
        return token

    def expression(self) -> Fraction:
        value = self.term()
        while self.peek() in ("+", "-"):
            value = value + self.term() if self.take() == "+" else value - self.term()
        return value

    def term(self) -> Fraction:
        value = self.factor()
        while self.peek() in ("*", "×", "x", "/", "÷"):
            operator = self.take()
            right = self.factor()
            if operator in ("/", "÷"):
                if right == 0:
                    raise UnparseableError("division by zero")
                value /= right
            else:
                value *= right
        return value

    def factor(self) -> Fraction:
        if self.peek() in ("-", "+"):
            return -self.factor() if self.take() == "-" else self.factor()
        base = self.atom()
        if self.peek() in ("^", "**"):
            self.take()
            return _power(base, self.factor())
        return base

    def atom(self) -> Fraction:
        token = self.take()
        if token == "(":
            value = self.expression()
            if self.take() != ")":
                raise UnparseableError("unbalanced parenthesis")
            return value
        return _number(token)


def _number(token: str) -> Fraction:
    if not token[0].isdigit():
        raise UnparseableError(f"unexpected {token!r}")
    digits = token.rstrip("%").replace(",", "")
    if len(digits) > MAX_OPERAND_DIGITS:
        raise UnparseableError("operand too long")
    value = Fraction(digits)
    return value / 100 if token.endswith("%") else value


def _power(base: Fraction, exponent: Fraction) -> Fraction:
    if exponent.denominator != 1 or abs(exponent) > MAX_EXPONENT:
        raise UnparseableError("exponent out of range")
    if base == 0 and exponent < 0:
        raise UnparseableError("division by zero")
    return base ** int(exponent)


def _tokenize(text: str) -> list[str]:
    tokens: list[str] = []
    position = 0
    while position < len(text.rstrip()):
        match = _TOKEN.match(text, position)
        if match is None:
            raise UnparseableError(f"cannot read {text[position : position + 10]!r}")
        tokens.append(match.group(1))
        position = match.end()
    return tokens


def evaluate_expression(text: str) -> Fraction:
    """Exact value of an arithmetic expression with surrounding units and currency stripped."""
    parser = _Parser(_tokenize(_UNIT_EDGES.sub("", text.strip())))
    if not parser.tokens:
        raise UnparseableError("empty operand")
    value = parser.expression()
    if parser.peek() is not None:
        raise UnparseableError(f"unexpected {parser.peek()!r}")
    return value


def _holds(left: Fraction, relation: str, right: Fraction) -> bool:
    return {
        "=": left == right,
        "<": left < right,
        ">": left > right,
        "<=": left <= right,
        ">=": left >= right,
        "!=": left != right,
    }[relation]


def check_relation(text: str) -> bool:
    """True when every link of a relation chain holds; UnparseableError when it cannot be judged.

    Rounded results ("1/3 = 0.33") are accepted when they match to the decimals written.
    """
    if len(text) > MAX_RELATION_CHARS:
        raise UnparseableError("relation too long")
    parts = _RELATION.split(text)
    if len(parts) < 3:
        raise UnparseableError("no relation")
    values = [evaluate_expression(part) for part in parts[::2]]
    relations = [_NORMALIZED_RELATIONS.get(op, op) for op in parts[1::2]]
    written = parts[::2]
    return all(
        _holds(values[i], relations[i], _rounded_like(values[i + 1], values[i], written[i + 1]))
        for i in range(len(relations))
    )


def _rounded_like(right: Fraction, left: Fraction, right_text: str) -> Fraction:
    """If `right` is a decimal written with d places and `left` rounds to it, return `left`."""
    match = re.search(r"\.(\d+)", right_text)
    if match is None:
        return right
    places = len(match.group(1))
    return left if round(left, places) == right else right


class ArithmeticChecker:
    """Judges the arithmetic relations of a segment: an operation is one relation; any other
    level (a step's text, a tactic's or strategy's child claims, the goal's final claim) is
    judged on the relations found in its text. VALID when all it can parse hold, INVALID when
    one fails, ABSTAIN when it finds none it can parse."""

    def judge(self, segment: Segment) -> Judgement:
        if segment.level is Level.OPERATION:
            return _judge_relations([segment.text])
        spans = extract_operations(segment.text, Span(start=0, end=len(segment.text)))
        return _judge_relations([segment.text[span.start : span.end] for span in spans])


def _judge_relations(relations: list[str]) -> Judgement:
    verdicts: list[bool] = []
    for relation in relations:
        try:
            verdicts.append(check_relation(relation))
        except UnparseableError:
            continue
    if not verdicts:
        return ABSTAIN
    if all(verdicts):
        return Judgement(Vote.VALID, 1.0, f"{len(verdicts)} relation(s) hold exactly")
    return Judgement(Vote.INVALID, 1.0, "a relation does not hold")
