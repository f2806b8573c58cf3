"""Where the LLM endpoint is and how hard to try it: one frozen settings object.

Any OpenAI-compatible endpoint works (vLLM, llama.cpp server, Ollama, a hosted API); the
environment names the three per-deployment values, the rest are `DEFAULT_*` constants.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from auditors.llm.errors import LlmConfigError

ENV_BASE_URL = "TRUST_LLM_BASE_URL"
ENV_MODEL = "TRUST_LLM_MODEL"
ENV_API_KEY = "TRUST_LLM_API_KEY"

#: llama.cpp and Ollama ignore the model name; hosted APIs need a real one.
DEFAULT_MODEL = "default"
DEFAULT_CONNECT_TIMEOUT_S = 5.0
#: A judgement generates a few tokens; a CPU backend still needs seconds for a long prompt.
DEFAULT_READ_TIMEOUT_S = 120.0
DEFAULT_MAX_RETRIES = 3
DEFAULT_BACKOFF_BASE_S = 0.5
DEFAULT_BACKOFF_MAX_S = 8.0
#: Each delay is stretched by up to this fraction, drawn from the injected random.
DEFAULT_BACKOFF_JITTER = 0.25
DEFAULT_MAX_CONCURRENCY = 4
#: A 5-token answer with top-5 logprobs is a few KiB; anything near this bound is abuse.
DEFAULT_MAX_RESPONSE_BYTES = 256 * 1024


@dataclass(frozen=True)
class LlmSettings:
    """Endpoint, model and limits of one LLM client.

    `base_url` is the API root that `/chat/completions` is appended to, e.g.
    `http://127.0.0.1:8080/v1`; a trailing slash is dropped.
    """

    base_url: str
    model: str = DEFAULT_MODEL
    api_key: str | None = None
    connect_timeout_s: float = DEFAULT_CONNECT_TIMEOUT_S
    read_timeout_s: float = DEFAULT_READ_TIMEOUT_S
    max_retries: int = DEFAULT_MAX_RETRIES
    backoff_base_s: float = DEFAULT_BACKOFF_BASE_S
    backoff_max_s: float = DEFAULT_BACKOFF_MAX_S
    backoff_jitter: float = DEFAULT_BACKOFF_JITTER
    max_concurrency: int = DEFAULT_MAX_CONCURRENCY
    max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES

    def __post_init__(self) -> None:
        validate_settings(self)
        object.__setattr__(self, "base_url", self.base_url.rstrip("/"))

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> LlmSettings:
        """Settings from `TRUST_LLM_BASE_URL` (required), `TRUST_LLM_MODEL` and
        `TRUST_LLM_API_KEY` (optional; empty counts as unset). `environ` defaults to os.environ."""
        env = os.environ if environ is None else environ
        base_url = env.get(ENV_BASE_URL, "").strip()
        if not base_url:
            raise LlmConfigError(f"{ENV_BASE_URL} is not set (e.g. http://127.0.0.1:8080/v1)")
        model = env.get(ENV_MODEL, "").strip() or DEFAULT_MODEL
        api_key = env.get(ENV_API_KEY, "").strip() or None
        return cls(base_url=base_url, model=model, api_key=api_key)

    @property
    def chat_completions_url(self) -> str:
        return f"{self.base_url}/chat/completions"


def validate_settings(settings: LlmSettings) -> None:
    """Raise LlmConfigError on a non-HTTP base URL, an empty model or a non-positive limit."""
    if not settings.base_url.startswith(("http://", "https://")):
        raise LlmConfigError(f"base URL must be http(s): {settings.base_url!r}")
    if not settings.model:
        raise LlmConfigError("model name is empty")
    positive = {
        "connect_timeout_s": settings.connect_timeout_s,
        "read_timeout_s": settings.read_timeout_s,
        "max_concurrency": settings.max_concurrency,
        "max_response_bytes": settings.max_response_bytes,
    }
    for name, value in positive.items():
        if value <= 0:
            raise LlmConfigError(f"{name} must be positive, got {value}")
    if settings.max_retries < 0 or settings.backoff_base_s < 0 or settings.backoff_jitter < 0:
        raise LlmConfigError("retries, backoff base and jitter must not be negative")
