"""Tier-2 LLM evaluator: judges segments through any OpenAI-compatible chat endpoint.

`LlmEvaluator(LlmClient(LlmSettings.from_env()))` is an `AsyncJudge`. The optional local backend,
`node.llm.local.LocalLlmServer` (extra `local-llm`, not imported here), serves a small
bundled model on loopback.
"""

from __future__ import annotations

from auditors.llm.client import LlmClient
from auditors.llm.errors import (
    LlmConfigError,
    LlmError,
    LlmResponseError,
    LlmStatusError,
    LlmTimeoutError,
    LlmTransportError,
    LocalLlmError,
    MalformedResponseError,
    ResponseTooLargeError,
)
from auditors.llm.evaluator import ChatClient, LlmEvaluator, ScoringMode
from auditors.llm.settings import LlmSettings
from auditors.llm.wire import ChatCompletion, ChatMessage, ChatRequest

__all__ = [
    "ChatClient",
    "ChatCompletion",
    "ChatMessage",
    "ChatRequest",
    "LlmClient",
    "LlmConfigError",
    "LlmError",
    "LlmEvaluator",
    "LlmResponseError",
    "LlmSettings",
    "LlmStatusError",
    "LlmTimeoutError",
    "LlmTransportError",
    "LocalLlmError",
    "MalformedResponseError",
    "ResponseTooLargeError",
    "ScoringMode",
]
