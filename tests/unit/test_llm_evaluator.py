"""LlmEvaluator through LlmClient and httpx.MockTransport: scoring, fallback, abstention, usage."""

from __future__ import annotations

import inspect
import json
import math
from typing import Any

import httpx
import pytest

from auditors import AsyncJudge
from auditors.judgement import TokenUsage
from auditors.llm import (
    LlmClient,
    LlmConfigError,
    LlmEvaluator,
    LlmSettings,
    MalformedResponseError,
    ScoringMode,
)
from auditors.llm.prompts import NO_CONTEXT, load_prompt, parse_prompt
from auditors.llm.scoring import (
    AnswerScore,
    Unscored,
    compute_json_score,
    compute_logprob_score,
    compute_vote,
)
from auditors.llm.wire import TokenChoice, TokenLogprobs
from protocol.models import Vote
from tests.llm_answers import completion, make_segment, token_entry, yes_no_completion

BASE_URL = "http://127.0.0.1:8080/v1"
SEGMENT = make_segment("He gives away 2, so he has 7 - 2 = 5 apples.", ("Tom has 7 apples.",))
Answer = dict[str, object] | httpx.Response


def evaluator_over(
    *answers: Answer, **options: Any
) -> tuple[LlmEvaluator, list[dict[str, object]]]:
    """An evaluator whose endpoint answers `answers` in order; and the request bodies it sent."""
    bodies: list[dict[str, object]] = []
    queue = list(answers)

    def handler(request: httpx.Request) -> httpx.Response:
        bodies.append(json.loads(request.content))
        answer = queue.pop(0)
        return answer if isinstance(answer, httpx.Response) else httpx.Response(200, json=answer)

    client = LlmClient(LlmSettings(base_url=BASE_URL), transport=httpx.MockTransport(handler))
    return LlmEvaluator(client, **options), bodies


def tokens(*entries: tuple[str, dict[str, float]]) -> tuple[TokenLogprobs, ...]:
    return tuple(
        TokenLogprobs(token, math.log(top.get(token, 1e-9)), _choices(top))
        for token, top in entries
    )


def _choices(top: dict[str, float]) -> tuple[TokenChoice, ...]:
    return tuple(TokenChoice(t, math.log(p)) for t, p in top.items())


def test_evaluator_is_an_async_judge() -> None:
    evaluator: AsyncJudge = evaluator_over()[0]
    assert inspect.iscoroutinefunction(evaluator.judge)


async def test_logprobs_give_a_valid_vote_with_p_yes_as_confidence() -> None:
    evaluator, bodies = evaluator_over(yes_no_completion(0.72, 0.08))
    judgement = await evaluator.judge(SEGMENT)
    assert judgement.vote is Vote.VALID
    assert judgement.confidence == pytest.approx(0.9)
    assert "segment-v1" in judgement.rationale
    assert "by logprobs" in judgement.rationale
    assert bodies[0]["logprobs"] is True
    assert bodies[0]["top_logprobs"] == 5
    assert isinstance(bodies[0]["max_tokens"], int) and bodies[0]["max_tokens"] <= 8


async def test_logprobs_give_an_invalid_vote() -> None:
    evaluator, _ = evaluator_over(yes_no_completion(0.1, 0.6))
    judgement = await evaluator.judge(SEGMENT)
    assert judgement.vote is Vote.INVALID
    assert judgement.confidence == pytest.approx(0.6 / 0.7)


async def test_the_abstain_band_abstains() -> None:
    evaluator, _ = evaluator_over(yes_no_completion(0.3, 0.25))
    judgement = await evaluator.judge(SEGMENT)
    assert judgement.vote is Vote.ABSTAIN
    assert judgement.confidence == 0.0
    assert "abstain band" in judgement.rationale


async def test_the_prompt_carries_the_context_pack_and_nothing_else() -> None:
    evaluator, bodies = evaluator_over(yes_no_completion(0.9, 0.1))
    await evaluator.judge(SEGMENT)
    messages = bodies[0]["messages"]
    assert isinstance(messages, list)
    user = messages[-1]["content"]
    assert SEGMENT.problem in user
    assert "1. Tom has 7 apples." in user
    assert SEGMENT.text in user
    assert SEGMENT.trace_id not in json.dumps(bodies[0])


def test_logprob_score_is_case_and_space_insensitive_and_adds_variants() -> None:
    first = (" Yes", {" Yes": 0.3, "yes": 0.2, "NO": 0.25, " no": 0.25})
    score = compute_logprob_score(tokens(first))
    assert isinstance(score, AnswerScore)
    assert score.p_correct == pytest.approx(0.5)
    assert score.mass == pytest.approx(1.0)


def test_logprob_score_skips_leading_whitespace_tokens() -> None:
    score = compute_logprob_score(tokens(("\n", {"\n": 0.9}), ("No", {"No": 0.8, "Yes": 0.2})))
    assert isinstance(score, AnswerScore)
    assert score.p_correct == pytest.approx(0.2)


def test_logprob_score_counts_the_chosen_token_when_no_alternatives_are_listed() -> None:
    lone = (TokenLogprobs("No", math.log(0.7), ()),)
    score = compute_logprob_score(lone)
    assert isinstance(score, AnswerScore)
    assert score.p_correct == 0.0


@pytest.mark.parametrize(
    ("entries", "reason"),
    [
        ((("The", {"The": 0.9, "This": 0.1}),), "neither Yes nor No"),
        ((("The", {"The": 0.98, "Yes": 0.01, "No": 0.01}),), "only 0.020"),
        ((("\n", {"\n": 1.0}),), "no word token"),
    ],
)
def test_logprob_score_refuses_non_answers(
    entries: tuple[tuple[str, dict[str, float]], ...], reason: str
) -> None:
    score = compute_logprob_score(tokens(*entries))
    assert isinstance(score, Unscored)
    assert reason in score.reason


@pytest.mark.parametrize(
    ("content", "p_correct"),
    [
        ('{"verdict": "VALID", "confidence": 0.8}', 0.8),
        ('{"verdict": "INVALID", "confidence": 0.9}', 0.1),
        ('{"verdict": "VALID", "confidence": 1}', 1.0),
        ('```json\n{"verdict": "INVALID", "confidence": 0}\n```', 1.0),
    ],
)
def test_json_score_reads_strict_verdicts(content: str, p_correct: float) -> None:
    score = compute_json_score(content)
    assert isinstance(score, AnswerScore)
    assert score.p_correct == pytest.approx(p_correct)


@pytest.mark.parametrize(
    "content",
    [
        "Yes",
        "The piece is correct.",
        '{"verdict": "valid", "confidence": 0.8}',
        '{"verdict": "VALID", "confidence": 1.5}',
        '{"verdict": "VALID", "confidence": "0.8"}',
        '{"verdict": "VALID", "confidence": 0.8, "why": "ok"}',
        'Sure! {"verdict": "VALID", "confidence": 0.8}',
        "",
    ],
)
def test_json_score_refuses_anything_else(content: str) -> None:
    assert isinstance(compute_json_score(content), Unscored)


def test_vote_band_bounds_abstain() -> None:
    assert compute_vote(0.4) == (Vote.ABSTAIN, 0.0)
    assert compute_vote(0.6) == (Vote.ABSTAIN, 0.0)
    assert compute_vote(0.61) == (Vote.VALID, 0.61)
    assert compute_vote(0.25) == (Vote.INVALID, 0.75)


async def test_auto_mode_falls_back_to_json_and_stays_there() -> None:
    no_logprobs = completion("Yes", prompt_tokens=100, completion_tokens=1)
    verdict = completion('{"verdict": "INVALID", "confidence": 0.9}', prompt_tokens=140)
    evaluator, bodies = evaluator_over(no_logprobs, verdict, verdict)
    first = await evaluator.judge(SEGMENT)
    assert first.vote is Vote.INVALID
    assert first.confidence == pytest.approx(0.9)
    assert "segment-json-v1" in first.rationale
    assert first.usage == TokenUsage(240, 3, requests=2)
    second = await evaluator.judge(SEGMENT)
    assert second.usage == TokenUsage(140, 2, requests=1)
    assert [("logprobs" in body) for body in bodies] == [True, False, False]


async def test_json_answer_without_logprobs_is_taken_without_a_second_request() -> None:
    evaluator, bodies = evaluator_over(completion('{"verdict": "VALID", "confidence": 0.7}'))
    judgement = await evaluator.judge(SEGMENT)
    assert judgement.vote is Vote.VALID
    assert len(bodies) == 1


async def test_logprobs_mode_abstains_without_logprobs() -> None:
    evaluator, bodies = evaluator_over(completion("Yes"), mode=ScoringMode.LOGPROBS)
    judgement = await evaluator.judge(SEGMENT)
    assert judgement.vote is Vote.ABSTAIN
    assert "no logprobs" in judgement.rationale
    assert len(bodies) == 1


async def test_json_mode_can_constrain_decoding_to_the_verdict_schema() -> None:
    answer = completion('{"verdict": "VALID", "confidence": 0.95}')
    evaluator, bodies = evaluator_over(answer, mode=ScoringMode.JSON, constrain_json=True)
    judgement = await evaluator.judge(SEGMENT)
    assert judgement.vote is Vote.VALID
    response_format = bodies[0]["response_format"]
    assert isinstance(response_format, dict)
    assert response_format["type"] == "json_schema"
    assert "logprobs" not in bodies[0]


@pytest.mark.parametrize(
    "answer",
    [
        completion("Banana banana banana"),
        completion("", logprobs=[token_entry("The", {"The": 0.7, "It": 0.3})]),
    ],
)
async def test_garbage_abstains_with_a_reason(answer: dict[str, object]) -> None:
    evaluator, _ = evaluator_over(answer, completion("I think it is fine."))
    judgement = await evaluator.judge(SEGMENT)
    assert judgement.vote is Vote.ABSTAIN
    assert "abstain:" in judgement.rationale
    assert judgement.usage is not None and judgement.usage.requests >= 1


async def test_malformed_endpoint_answers_propagate() -> None:
    evaluator, _ = evaluator_over(httpx.Response(200, content=b"<html>oops</html>"))
    with pytest.raises(MalformedResponseError):
        await evaluator.judge(SEGMENT)


async def test_token_accounting_per_verdict_and_in_totals() -> None:
    evaluator, _ = evaluator_over(
        yes_no_completion(0.9, 0.1, prompt_tokens=150, completion_tokens=2),
        yes_no_completion(0.1, 0.9, prompt_tokens=160, completion_tokens=4),
    )
    first = await evaluator.judge(SEGMENT)
    second = await evaluator.judge(SEGMENT)
    assert first.usage == TokenUsage(150, 2, requests=1)
    assert second.usage == TokenUsage(160, 4, requests=1)
    assert evaluator.totals == TokenUsage(310, 6, requests=2)


def test_evaluator_refuses_a_bad_band_or_prompt() -> None:
    with pytest.raises(ValueError, match="abstain band"):
        evaluator_over(abstain_band=(0.7, 0.3))
    with pytest.raises(LlmConfigError, match="no prompt file"):
        evaluator_over(prompt_version="segment-v999")
    with pytest.raises(LlmConfigError, match="not a prompt version"):
        evaluator_over(prompt_version="../../etc/passwd")


@pytest.mark.parametrize("version", ["segment-v1", "segment-json-v1"])
def test_shipped_prompts_render_the_context_pack(version: str) -> None:
    prompt = load_prompt(version)
    lonely = make_segment("Costs $5 {each}.")
    system, user = prompt.render(lonely)
    assert (system.role, user.role) == ("system", "user")
    assert "Costs $5 {each}." in user.content
    assert NO_CONTEXT in user.content


@pytest.mark.parametrize(
    "source",
    [
        "[user]\nhi\n[system]\nx",
        "[system]\nx",
        "[system]\n$secret\n[user]\n$text",
        "oops\n[system]",
    ],
)
def test_ill_formed_prompts_are_refused(source: str) -> None:
    with pytest.raises(LlmConfigError):
        parse_prompt("test-v1", source)
