"""Turning an LLM's answer into P(correct), and P(correct) into a vote. Pure functions.

Two answer forms: the log-probabilities of Yes and No as the first answer token (preferred:
a calibrated-ish number for free), or a strict JSON object `{"verdict", "confidence"}` from
servers that return no logprobs. Anything else is `Unscored`, with the reason, and abstains.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from auditors.llm.wire import TokenChoice, TokenLogprobs
from protocol.models import Vote

#: P(correct) inside [low, high] abstains: the judge is close to a coin flip.
DEFAULT_ABSTAIN_BAND = (0.4, 0.6)
#: Below this P(yes) + P(no) among the first token's candidates, the model was not answering.
DEFAULT_MIN_ANSWER_MASS = 0.05

YES, NO = "yes", "no"
_FENCED = re.compile(r"^```(?:json)?\s*(.*?)\s*```$", re.DOTALL | re.IGNORECASE)
_TOKEN_EDGES = " \t\r\n.,:;!\"'`*"

Method = Literal["logprobs", "json"]


@dataclass(frozen=True)
class AnswerScore:
    """The judge's probability that the segment is correct, and how it was read."""

    p_correct: float
    method: Method
    #: logprobs: P(yes) + P(no) among the candidates; json: 1.
    mass: float = 1.0


@dataclass(frozen=True)
class Unscored:
    """The answer could not be read as a verdict; `reason` says why (it goes in the rationale)."""

    reason: str


def normalize_answer_token(token: str) -> str:
    """Case-, space- and punctuation-insensitive form: " Yes." -> "yes"."""
    return token.strip(_TOKEN_EDGES).lower()


def first_answer_token(tokens: tuple[TokenLogprobs, ...]) -> TokenLogprobs | None:
    """The first generated token that is not only whitespace or punctuation, if any."""
    return next((entry for entry in tokens if normalize_answer_token(entry.token)), None)


def compute_logprob_score(
    tokens: tuple[TokenLogprobs, ...], min_mass: float = DEFAULT_MIN_ANSWER_MASS
) -> AnswerScore | Unscored:
    """P(yes) / (P(yes) + P(no)) over the first answer token's candidates (the chosen token
    counts when the server lists no alternatives). Variants such as "Yes", " yes" and "YES"
    add up. Unscored when neither word is a candidate or their mass is below `min_mass`."""
    entry = first_answer_token(tokens)
    if entry is None:
        return Unscored("the answer has no word token")
    p_yes, p_no = _yes_no_mass(_candidates(entry))
    mass = p_yes + p_no
    if mass == 0.0:
        seen = ", ".join(repr(c.token) for c in _candidates(entry)[:5])
        return Unscored(f"neither Yes nor No among the first token's candidates ({seen})")
    if mass < min_mass:
        return Unscored(f"Yes/No hold only {mass:.3f} of the first token's probability")
    return AnswerScore(p_yes / mass, "logprobs", mass)


def _candidates(entry: TokenLogprobs) -> tuple[TokenChoice, ...]:
    chosen = TokenChoice(entry.token, entry.logprob)
    if any(top.token == entry.token for top in entry.top):
        return entry.top
    return (chosen, *entry.top)


def _yes_no_mass(candidates: tuple[TokenChoice, ...]) -> tuple[float, float]:
    mass = {YES: 0.0, NO: 0.0}
    for candidate in candidates:
        word = normalize_answer_token(candidate.token)
        if word in mass and math.isfinite(candidate.logprob):
            mass[word] += math.exp(min(candidate.logprob, 0.0))
    return mass[YES], mass[NO]


#: The JSON answer's schema, for endpoints that can constrain decoding to it.
VERDICT_JSON_SCHEMA: dict[str, object] = {
    "type": "object",
    "properties": {
        "verdict": {"type": "string", "enum": ["VALID", "INVALID"]},
        "confidence": {"type": "number", "minimum": 0, "maximum": 1},
    },
    "required": ["verdict", "confidence"],
    "additionalProperties": False,
}


class _JsonAnswer(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)

    verdict: Literal["VALID", "INVALID"]
    confidence: float = Field(ge=0.0, le=1.0)


def compute_json_score(content: str) -> AnswerScore | Unscored:
    """Read `{"verdict": "VALID"|"INVALID", "confidence": 0..1}` (one surrounding ``` fence is
    tolerated, nothing else: no extra keys, no prose). The confidence is in the verdict, so
    P(correct) is `confidence` for VALID and `1 - confidence` for INVALID."""
    text = content.strip()
    fenced = _FENCED.match(text)
    if fenced is not None:
        text = fenced.group(1)
    try:
        answer = _JsonAnswer.model_validate_json(text)
    except ValidationError:
        return Unscored(f"not a verdict: {_excerpt(content)}")
    p_correct = answer.confidence if answer.verdict == "VALID" else 1.0 - answer.confidence
    return AnswerScore(p_correct, "json")


def compute_vote(
    p_correct: float, band: tuple[float, float] = DEFAULT_ABSTAIN_BAND
) -> tuple[Vote, float]:
    """VALID above the band with confidence p, INVALID below it with confidence 1 - p, ABSTAIN
    (confidence 0) inside it, bounds included."""
    low, high = band
    if p_correct > high:
        return Vote.VALID, p_correct
    if p_correct < low:
        return Vote.INVALID, 1.0 - p_correct
    return Vote.ABSTAIN, 0.0


def _excerpt(text: str, limit: int = 60) -> str:
    flat = " ".join(text.split())
    return repr(flat if len(flat) <= limit else flat[:limit] + "...")
