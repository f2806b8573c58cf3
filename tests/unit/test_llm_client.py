"""LlmClient against httpx.MockTransport: retries, backoff, limits, bounds, accounting, config."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import random
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any

import httpx
import pytest

from auditors.judgement import TokenUsage
from auditors.llm import (
    ChatMessage,
    ChatRequest,
    LlmClient,
    LlmConfigError,
    LlmSettings,
    LlmStatusError,
    LlmTimeoutError,
    LlmTransportError,
    MalformedResponseError,
    ResponseTooLargeError,
)
from auditors.llm.client import compute_backoff_s, parse_retry_after_s
from tests.llm_answers import completion

BASE_URL = "http://127.0.0.1:8080/v1"
REQUEST = ChatRequest((ChatMessage("user", "Is 2 + 2 = 4? Answer Yes or No."),), max_tokens=4)
Handler = (
    Callable[[httpx.Request], httpx.Response]
    | Callable[[httpx.Request], Coroutine[None, None, httpx.Response]]
)


class RecordingSleep:
    """An injected sleep that records the delays and returns at once."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)


class FixedRandom(random.Random):
    def random(self) -> float:
        return 0.5


def ok(
    content: str = "Yes", prompt_tokens: int = 120, completion_tokens: int = 2
) -> httpx.Response:
    body = completion(content, prompt_tokens=prompt_tokens, completion_tokens=completion_tokens)
    return httpx.Response(200, json=body)


def scripted(
    *responses: httpx.Response | Exception,
) -> tuple[Callable[[httpx.Request], httpx.Response], list[httpx.Request]]:
    """A handler answering `responses` in order (exceptions are raised), and the requests seen."""
    seen: list[httpx.Request] = []
    queue = list(responses)

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        answer = queue.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    return handler, seen


def make_client(
    handler: Handler, sleep: RecordingSleep | None = None, **settings: Any
) -> LlmClient:
    return LlmClient(
        dataclasses.replace(LlmSettings(base_url=BASE_URL), **settings),
        transport=httpx.MockTransport(handler),
        sleep=sleep or RecordingSleep(),
        rng=FixedRandom(),
    )


async def test_posts_the_request_to_chat_completions() -> None:
    handler, seen = scripted(ok())
    async with make_client(handler, model="smol", api_key="sk-test") as client:
        answer = await client.complete(
            ChatRequest(REQUEST.messages, max_tokens=4, logprobs=True, top_logprobs=5)
        )
    assert answer.content == "Yes"
    assert str(seen[0].url) == f"{BASE_URL}/chat/completions"
    assert seen[0].headers["authorization"] == "Bearer sk-test"
    body = json.loads(seen[0].content)
    assert body["model"] == "smol"
    assert body["logprobs"] is True
    assert body["top_logprobs"] == 5
    assert body["max_tokens"] == 4
    assert body["temperature"] == 0.0
    assert body["messages"] == [{"role": "user", "content": REQUEST.messages[0].content}]


async def test_retries_503_then_succeeds() -> None:
    handler, seen = scripted(httpx.Response(503), httpx.Response(503), ok())
    sleep = RecordingSleep()
    async with make_client(handler, sleep) as client:
        answer = await client.complete(REQUEST)
    assert answer.content == "Yes"
    assert len(seen) == 3
    assert len(sleep.delays) == 2


async def test_retries_429_and_connect_errors() -> None:
    refused = httpx.ConnectError("connection refused")
    handler, seen = scripted(httpx.Response(429), refused, ok())
    async with make_client(handler) as client:
        await client.complete(REQUEST)
    assert len(seen) == 3


async def test_does_not_retry_400() -> None:
    handler, seen = scripted(httpx.Response(400, text="context too long"), ok())
    sleep = RecordingSleep()
    async with make_client(handler, sleep) as client:
        with pytest.raises(LlmStatusError, match="context too long") as raised:
            await client.complete(REQUEST)
    assert raised.value.status_code == 400
    assert len(seen) == 1
    assert sleep.delays == []


async def test_does_not_retry_a_read_timeout() -> None:
    handler, seen = scripted(httpx.ReadTimeout("slow"), ok())
    async with make_client(handler) as client:
        with pytest.raises(LlmTimeoutError):
            await client.complete(REQUEST)
    assert len(seen) == 1


async def test_gives_up_after_max_retries_with_the_last_error() -> None:
    handler, seen = scripted(*[httpx.Response(502)] * 3)
    async with make_client(handler, max_retries=2) as client:
        with pytest.raises(LlmStatusError) as raised:
            await client.complete(REQUEST)
    assert raised.value.status_code == 502
    assert len(seen) == 3


async def test_gives_up_on_connect_errors_as_a_transport_error() -> None:
    handler, _ = scripted(*[httpx.ConnectError("refused")] * 2)
    async with make_client(handler, max_retries=1) as client:
        with pytest.raises(LlmTransportError, match="cannot connect"):
            await client.complete(REQUEST)


async def test_backoff_doubles_with_jitter_and_a_cap() -> None:
    handler, _ = scripted(*[httpx.Response(500)] * 5, ok())
    sleep = RecordingSleep()
    settings = {"max_retries": 5, "backoff_base_s": 1.0, "backoff_max_s": 4.0}
    async with make_client(handler, sleep, backoff_jitter=0.2, **settings) as client:
        await client.complete(REQUEST)
    # min(4, 1 * 2**n) stretched by 0.2 * 0.5 (FixedRandom draws 0.5)
    assert sleep.delays == pytest.approx([1.1, 2.2, 4.4, 4.4, 4.4])


async def test_honours_retry_after_up_to_the_cap() -> None:
    handler, _ = scripted(
        httpx.Response(429, headers={"Retry-After": "3"}),
        httpx.Response(429, headers={"Retry-After": "120"}),
        ok(),
    )
    sleep = RecordingSleep()
    async with make_client(handler, sleep, backoff_jitter=0.0, backoff_max_s=8.0) as client:
        await client.complete(REQUEST)
    assert sleep.delays == [3.0, 8.0]


def test_backoff_and_retry_after_edge_cases() -> None:
    assert compute_backoff_s(0, base_s=0.5, max_s=8, jitter=0.25, draw=0.0) == 0.5
    assert compute_backoff_s(10, base_s=0.5, max_s=8, jitter=0.0, draw=0.9) == 8.0
    assert parse_retry_after_s("2.5") == 2.5
    assert parse_retry_after_s("Wed, 21 Oct 2015 07:28:00 GMT") is None
    assert parse_retry_after_s("-1") is None
    assert parse_retry_after_s(None) is None


async def test_concurrency_limit_is_honoured() -> None:
    limit, requests = 2, 5
    in_flight, peak = 0, 0
    at_limit, release = asyncio.Event(), asyncio.Event()

    async def handler(request: httpx.Request) -> httpx.Response:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        if in_flight == limit:
            at_limit.set()
        await release.wait()
        in_flight -= 1
        return ok()

    async with make_client(handler, max_concurrency=limit) as client:
        tasks = [asyncio.create_task(client.complete(REQUEST)) for _ in range(requests)]
        await asyncio.wait_for(at_limit.wait(), timeout=5)
        for _ in range(20):  # let any task the semaphore wrongly admitted reach the handler
            await asyncio.sleep(0)
        assert in_flight == limit
        release.set()
        answers = await asyncio.wait_for(asyncio.gather(*tasks), timeout=5)
    assert len(answers) == requests
    assert peak == limit


async def test_oversized_response_is_refused() -> None:
    handler, _ = scripted(httpx.Response(200, content=b"x" * 2048))
    async with make_client(handler, max_response_bytes=1024) as client:
        with pytest.raises(ResponseTooLargeError, match="declared 2048"):
            await client.complete(REQUEST)


async def test_oversized_chunked_response_is_cut_while_reading() -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(100):
            yield b"x" * 100

    handler, _ = scripted(httpx.Response(200, content=chunks()))
    async with make_client(handler, max_response_bytes=1024) as client:
        with pytest.raises(ResponseTooLargeError, match="more than 1024"):
            await client.complete(REQUEST)


@pytest.mark.parametrize(
    "body",
    [b"not json", b"{}", b'{"choices": []}', b'{"choices": [{"message": {"content": 3}}]}'],
)
async def test_malformed_response_is_refused(body: bytes) -> None:
    handler, _ = scripted(httpx.Response(200, content=body))
    async with make_client(handler) as client:
        with pytest.raises(MalformedResponseError, match="not a chat completion"):
            await client.complete(REQUEST)


async def test_token_accounting_per_answer_and_in_totals() -> None:
    handler, _ = scripted(
        ok(prompt_tokens=100, completion_tokens=3),
        httpx.Response(503),
        ok(prompt_tokens=50, completion_tokens=1),
        httpx.Response(200, json={"choices": [{"message": {"content": "No"}}]}),
    )
    async with make_client(handler) as client:
        first = await client.complete(REQUEST)
        second = await client.complete(REQUEST)
        unbilled = await client.complete(REQUEST)
        assert first.usage == TokenUsage(100, 3, requests=1)
        assert second.usage == TokenUsage(50, 1, requests=1)
        assert unbilled.usage == TokenUsage(0, 0, requests=1)
        assert client.totals == TokenUsage(150, 4, requests=3)
        assert client.totals.total_tokens == 154


def test_settings_from_env() -> None:
    settings = LlmSettings.from_env(
        {
            "TRUST_LLM_BASE_URL": "http://127.0.0.1:9000/v1/",
            "TRUST_LLM_MODEL": "qwen",
            "TRUST_LLM_API_KEY": "sk-1",
        }
    )
    assert settings.chat_completions_url == "http://127.0.0.1:9000/v1/chat/completions"
    assert (settings.model, settings.api_key) == ("qwen", "sk-1")
    defaults = LlmSettings.from_env({"TRUST_LLM_BASE_URL": BASE_URL, "TRUST_LLM_API_KEY": ""})
    assert (defaults.model, defaults.api_key) == ("default", None)


def test_settings_from_env_reads_os_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRUST_LLM_BASE_URL", BASE_URL)
    monkeypatch.delenv("TRUST_LLM_MODEL", raising=False)
    assert LlmSettings.from_env().base_url == BASE_URL


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({}, "TRUST_LLM_BASE_URL is not set"),
        ({"TRUST_LLM_BASE_URL": "127.0.0.1:8080"}, "must be http"),
    ],
)
def test_settings_from_env_refuses(environ: dict[str, str], message: str) -> None:
    with pytest.raises(LlmConfigError, match=message):
        LlmSettings.from_env(environ)


def test_settings_refuse_non_positive_limits() -> None:
    with pytest.raises(LlmConfigError, match="max_concurrency"):
        LlmSettings(base_url=BASE_URL, max_concurrency=0)
    with pytest.raises(LlmConfigError, match="negative"):
        LlmSettings(base_url=BASE_URL, max_retries=-1)
