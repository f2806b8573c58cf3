"""Tier-2 LLM evaluator: asks an OpenAI-compatible model whether one segment is correct.

The judge sees the segment's context pack only (problem, the claims it depends on, its text),
rendered by a versioned prompt. It prefers the Yes/No log-probabilities of the first answer
token; a server that returns none is asked again for a strict JSON verdict (mode AUTO), and an
answer it cannot read abstains with the reason. Endpoint failures (LlmError) propagate: the
auditor service, not the judge, decides whether to retry later or abstain.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Protocol

from auditors.judgement import Judgement, TokenUsage
from auditors.llm.prompts import SEGMENT_JSON_PROMPT, SEGMENT_PROMPT, load_prompt
from auditors.llm.scoring import (
    DEFAULT_ABSTAIN_BAND,
    DEFAULT_MIN_ANSWER_MASS,
    VERDICT_JSON_SCHEMA,
    AnswerScore,
    Unscored,
    compute_json_score,
    compute_logprob_score,
    compute_vote,
)
from auditors.llm.wire import ChatCompletion, ChatRequest
from protocol.models import Segment, Vote

#: Room for the answer word and a stray leading space or newline.
DEFAULT_MAX_TOKENS = 4
#: `{"verdict": "INVALID", "confidence": 0.85}` is about 20 tokens.
DEFAULT_JSON_MAX_TOKENS = 48
#: The most alternatives OpenAI's API gives per token; llama.cpp and vLLM accept it too.
DEFAULT_TOP_LOGPROBS = 5
#: Off by default: structured output is less widely supported than plain chat, and a server
#: without it answers 400. llama.cpp, vLLM and OpenAI support it; small models need it.
DEFAULT_CONSTRAIN_JSON = False


class ScoringMode(StrEnum):
    """How the evaluator reads a verdict from the model."""

    #: Logprobs; after the first answer without them, JSON verdicts from then on.
    AUTO = "auto"
    #: Logprobs only: an answer without them abstains.
    LOGPROBS = "logprobs"
    #: JSON verdicts only, for endpoints known to have no logprobs.
    JSON = "json"


class ChatClient(Protocol):
    """What the evaluator needs from a client: `LlmClient` or a test double."""

    async def complete(self, request: ChatRequest) -> ChatCompletion: ...


class LlmEvaluator:
    """An `AsyncJudge` backed by an LLM endpoint; every Judgement carries its token usage."""

    def __init__(
        self,
        client: ChatClient,
        *,
        mode: ScoringMode = ScoringMode.AUTO,
        abstain_band: tuple[float, float] = DEFAULT_ABSTAIN_BAND,
        min_answer_mass: float = DEFAULT_MIN_ANSWER_MASS,
        max_tokens: int = DEFAULT_MAX_TOKENS,
        json_max_tokens: int = DEFAULT_JSON_MAX_TOKENS,
        top_logprobs: int = DEFAULT_TOP_LOGPROBS,
        prompt_version: str = SEGMENT_PROMPT,
        json_prompt_version: str = SEGMENT_JSON_PROMPT,
        constrain_json: bool = DEFAULT_CONSTRAIN_JSON,
    ) -> None:
        """`constrain_json` sends the JSON verdict's schema as `response_format` in JSON mode.

        Raises LlmConfigError for an unknown prompt version; ValueError for a band that is
        not 0 <= low <= high <= 1."""
        low, high = abstain_band
        if not 0.0 <= low <= high <= 1.0:
            raise ValueError(f"abstain band must satisfy 0 <= low <= high <= 1: {abstain_band}")
        self._client = client
        self._mode = mode
        self._band = abstain_band
        self._min_mass = min_answer_mass
        self._max_tokens = max_tokens
        self._json_max_tokens = json_max_tokens
        self._top_logprobs = top_logprobs
        self._prompt = load_prompt(prompt_version)
        self._json_prompt = load_prompt(json_prompt_version)
        self._json_schema = VERDICT_JSON_SCHEMA if constrain_json else None
        self._logprobs_missing = False
        self._totals = TokenUsage()

    @property
    def totals(self) -> TokenUsage:
        """Tokens and requests spent by every judgement this evaluator returned."""
        return self._totals

    async def judge(self, segment: Segment) -> Judgement:
        """The model's verdict on `segment`; ABSTAIN (with the reason) when its answer is
        unreadable or inside the abstain band. Raises LlmError when the endpoint fails."""
        if self._mode is ScoringMode.JSON or self._logprobs_missing:
            judgement = await self._judge_json(segment, TokenUsage())
        else:
            judgement = await self._judge_logprobs(segment)
        self._totals += judgement.usage or TokenUsage()
        return judgement

    async def _judge_logprobs(self, segment: Segment) -> Judgement:
        request = ChatRequest(
            self._prompt.render(segment),
            max_tokens=self._max_tokens,
            logprobs=True,
            top_logprobs=self._top_logprobs,
        )
        completion = await self._client.complete(request)
        if completion.logprobs is not None:
            score = compute_logprob_score(completion.logprobs, self._min_mass)
            return self._judgement(score, self._prompt.version, completion.usage)
        as_json = compute_json_score(completion.content)
        if isinstance(as_json, AnswerScore):  # the model answered in JSON unasked: take it
            return self._judgement(as_json, self._prompt.version, completion.usage)
        if self._mode is ScoringMode.LOGPROBS:
            unscored = Unscored("the server returned no logprobs")
            return self._judgement(unscored, self._prompt.version, completion.usage)
        # AUTO: this server has no logprobs; ask for JSON now and for every later segment.
        self._logprobs_missing = True
        return await self._judge_json(segment, completion.usage)

    async def _judge_json(self, segment: Segment, spent: TokenUsage) -> Judgement:
        request = ChatRequest(
            self._json_prompt.render(segment),
            max_tokens=self._json_max_tokens,
            response_schema=self._json_schema,
        )
        completion = await self._client.complete(request)
        score = compute_json_score(completion.content)
        return self._judgement(score, self._json_prompt.version, spent + completion.usage)

    def _judgement(
        self, score: AnswerScore | Unscored, version: str, usage: TokenUsage
    ) -> Judgement:
        if isinstance(score, Unscored):
            return Judgement(Vote.ABSTAIN, 0.0, f"llm {version}: abstain: {score.reason}", usage)
        vote, confidence = compute_vote(score.p_correct, self._band)
        reading = f"P(correct)={score.p_correct:.3f} by {score.method}"
        if vote is Vote.ABSTAIN:
            low, high = self._band
            reading += f", inside the abstain band [{low}, {high}]"
        return Judgement(vote, confidence, f"llm {version}: {reading}", usage)
