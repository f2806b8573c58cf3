"""One async client for any OpenAI-compatible chat-completions endpoint.

It retries only what a retry can fix (connect errors, 429, 5xx) with capped exponential backoff
and jitter, bounds concurrent requests with a semaphore, bounds the bytes it reads, and keeps
token totals. Sleep, randomness and the HTTP transport are injected, so tests pass
`httpx.MockTransport` and a recording sleep instead of patching.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from types import TracebackType

import httpx

from auditors.judgement import TokenUsage
from auditors.llm.errors import (
    LlmStatusError,
    LlmTimeoutError,
    LlmTransportError,
    ResponseTooLargeError,
)
from auditors.llm.settings import LlmSettings
from auditors.llm.wire import ChatCompletion, ChatRequest, parse_chat_completion

Sleep = Callable[[float], Awaitable[None]]

#: How much of an error body goes into an LlmStatusError message.
MAX_ERROR_DETAIL_BYTES = 512
HTTP_TOO_MANY_REQUESTS = 429
HTTP_SERVER_ERROR = 500


class _RetryableError(Exception):
    """Internal: one attempt failed in a way a later attempt may not; carries the final error."""

    def __init__(self, final: Exception, retry_after_s: float | None = None) -> None:
        super().__init__(str(final))
        self.final = final
        self.retry_after_s = retry_after_s


def is_retryable_status(status_code: int) -> bool:
    """429 (rate limited) and every 5xx; never another 4xx, which would fail the same way again."""
    return status_code == HTTP_TOO_MANY_REQUESTS or status_code >= HTTP_SERVER_ERROR


def compute_backoff_s(
    attempt: int,
    *,
    base_s: float,
    max_s: float,
    jitter: float,
    draw: float,
    retry_after_s: float | None = None,
) -> float:
    """Delay before retry number `attempt + 1`: `min(max_s, base_s * 2**attempt)` stretched by
    `jitter * draw` (draw in [0, 1)). A server's Retry-After raises it, but never above `max_s`."""
    delay = min(max_s, base_s * 2.0**attempt) * (1.0 + jitter * draw)
    if retry_after_s is not None:
        delay = max(delay, min(retry_after_s, max_s))
    return delay


def parse_retry_after_s(value: str | None) -> float | None:
    """Retry-After in delta-seconds; None when absent, negative or an HTTP date (not honoured)."""
    if value is None:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None
    return seconds if seconds >= 0 else None


class LlmClient:
    """Chat completions against `settings.base_url`, usable as an async context manager.

    Raises LlmStatusError, LlmTransportError (LlmTimeoutError for a read timeout, which is not
    retried: the server may still be generating) or LlmResponseError; see `auditors.llm.errors`.
    """

    def __init__(
        self,
        settings: LlmSettings,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Sleep = asyncio.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self._settings = settings
        self._http = httpx.AsyncClient(
            transport=transport,
            headers=_headers(settings),
            timeout=httpx.Timeout(settings.read_timeout_s, connect=settings.connect_timeout_s),
        )
        self._semaphore = asyncio.Semaphore(settings.max_concurrency)
        self._sleep = sleep
        self._rng = rng if rng is not None else random.Random()
        self._totals = TokenUsage()

    async def __aenter__(self) -> LlmClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    @property
    def settings(self) -> LlmSettings:
        return self._settings

    @property
    def totals(self) -> TokenUsage:
        """Tokens and requests of every completion this client has returned."""
        return self._totals

    async def complete(self, request: ChatRequest) -> ChatCompletion:
        """The endpoint's answer to `request`, after at most `max_retries` retries."""
        body = request.body(self._settings.model)
        attempt = 0
        while True:
            try:
                raw = await self._post_once(body)
            except _RetryableError as failure:
                if attempt >= self._settings.max_retries:
                    raise failure.final from None
                await self._sleep(self._backoff_s(attempt, failure.retry_after_s))
                attempt += 1
                continue
            completion = parse_chat_completion(raw)
            self._totals += completion.usage
            return completion

    def _backoff_s(self, attempt: int, retry_after_s: float | None) -> float:
        return compute_backoff_s(
            attempt,
            base_s=self._settings.backoff_base_s,
            max_s=self._settings.backoff_max_s,
            jitter=self._settings.backoff_jitter,
            draw=self._rng.random(),
            retry_after_s=retry_after_s,
        )

    async def _post_once(self, body: dict[str, object]) -> bytes:
        """One attempt, holding a concurrency slot only while the request is in flight."""
        async with self._semaphore:
            try:
                return await self._exchange(body)
            except (httpx.ConnectError, httpx.ConnectTimeout) as error:
                raise _RetryableError(LlmTransportError(f"cannot connect: {error}")) from None
            except httpx.TimeoutException as error:
                raise LlmTimeoutError(f"{type(error).__name__}: {error}") from None
            except httpx.HTTPError as error:
                raise LlmTransportError(f"{type(error).__name__}: {error}") from None

    async def _exchange(self, body: dict[str, object]) -> bytes:
        url = self._settings.chat_completions_url
        async with self._http.stream("POST", url, json=body) as response:
            if response.is_success:
                return await read_bounded(response, self._settings.max_response_bytes)
            detail = await _read_detail(response)
            error = LlmStatusError(response.status_code, detail)
            if is_retryable_status(response.status_code):
                retry_after = parse_retry_after_s(response.headers.get("retry-after"))
                raise _RetryableError(error, retry_after)
            raise error


def _headers(settings: LlmSettings) -> dict[str, str]:
    headers = {"Accept": "application/json"}
    if settings.api_key is not None:
        headers["Authorization"] = f"Bearer {settings.api_key}"
    return headers


async def read_bounded(response: httpx.Response, limit: int) -> bytes:
    """The body, or ResponseTooLargeError as soon as it passes `limit` bytes (a declared
    Content-Length over the limit fails before reading; a lying one is caught while reading)."""
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise ResponseTooLargeError(f"declared {declared} bytes, limit {limit}")
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > limit:
            raise ResponseTooLargeError(f"more than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


async def _read_detail(response: httpx.Response) -> str:
    """At most MAX_ERROR_DETAIL_BYTES of an error body, for the message; never raises on size."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        chunks.append(chunk)
        size += len(chunk)
        if size >= MAX_ERROR_DETAIL_BYTES:
            break
    text = b"".join(chunks)[:MAX_ERROR_DETAIL_BYTES].decode("utf-8", errors="replace")
    return text.strip() or response.reason_phrase
