"""The OpenAI chat-completions wire format: the request we send and the part of the answer we read.

Servers add fields of their own (llama.cpp's `timings`, vLLM's `prompt_logprobs`), so the
answer models ignore unknown fields; what we read is type-checked, and anything else in the
shape is a MalformedResponseError.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from auditors.judgement import TokenUsage
from auditors.llm.errors import MalformedResponseError

Role = Literal["system", "user", "assistant"]


@dataclass(frozen=True)
class ChatMessage:
    role: Role
    content: str


@dataclass(frozen=True)
class ChatRequest:
    """One chat completion to ask for. `top_logprobs` is sent only with `logprobs`;
    `response_schema`, a JSON schema, goes out as an OpenAI structured-output `response_format`
    (llama.cpp and vLLM constrain decoding to it; a server without it may answer 400)."""

    messages: tuple[ChatMessage, ...]
    max_tokens: int
    logprobs: bool = False
    top_logprobs: int = 0
    temperature: float = 0.0
    response_schema: Mapping[str, object] | None = None

    def body(self, model: str) -> dict[str, object]:
        body: dict[str, object] = {
            "model": model,
            "messages": [{"role": m.role, "content": m.content} for m in self.messages],
            "max_tokens": self.max_tokens,
            "temperature": self.temperature,
        }
        if self.logprobs:
            body["logprobs"] = True
            body["top_logprobs"] = self.top_logprobs
        if self.response_schema is not None:
            body["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": "answer", "strict": True, "schema": self.response_schema},
            }
        return body


@dataclass(frozen=True)
class TokenChoice:
    """A candidate token and its natural-log probability."""

    token: str
    logprob: float


@dataclass(frozen=True)
class TokenLogprobs:
    """One generated token, its log-probability and the top alternatives the server listed."""

    token: str
    logprob: float
    top: tuple[TokenChoice, ...]


@dataclass(frozen=True)
class ChatCompletion:
    """The first choice of an answer: its text, its logprobs (None when the server sent none)
    and the tokens billed for it."""

    content: str
    logprobs: tuple[TokenLogprobs, ...] | None
    usage: TokenUsage
    finish_reason: str | None = None


class _Wire(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class _TopLogprob(_Wire):
    token: str
    logprob: float


class _TokenLogprob(_Wire):
    token: str
    logprob: float
    top_logprobs: list[_TopLogprob] = Field(default_factory=list)


class _Logprobs(_Wire):
    content: list[_TokenLogprob] | None = None


class _Message(_Wire):
    content: str | None = None


class _Choice(_Wire):
    message: _Message
    logprobs: _Logprobs | None = None
    finish_reason: str | None = None


class _Usage(_Wire):
    prompt_tokens: int = Field(default=0, ge=0)
    completion_tokens: int = Field(default=0, ge=0)


class _Answer(_Wire):
    choices: list[_Choice] = Field(min_length=1)
    usage: _Usage | None = None


def parse_chat_completion(raw: bytes) -> ChatCompletion:
    """The first choice of a chat-completion body; MalformedResponseError when it is not one.

    A null `content` reads as "" (the model said nothing); empty `logprobs.content` as None.
    """
    try:
        answer = _Answer.model_validate_json(raw)
    except ValidationError as error:
        raise MalformedResponseError(_summarize(error)) from None
    choice = answer.choices[0]
    usage = answer.usage or _Usage()
    return ChatCompletion(
        content=choice.message.content or "",
        logprobs=_logprobs(choice.logprobs),
        usage=TokenUsage(usage.prompt_tokens, usage.completion_tokens, requests=1),
        finish_reason=choice.finish_reason,
    )


def _logprobs(wire: _Logprobs | None) -> tuple[TokenLogprobs, ...] | None:
    if wire is None or not wire.content:
        return None
    return tuple(
        TokenLogprobs(
            entry.token,
            entry.logprob,
            tuple(TokenChoice(top.token, top.logprob) for top in entry.top_logprobs),
        )
        for entry in wire.content
    )


def _summarize(error: ValidationError) -> str:
    """The first problem only, without echoing the (untrusted, possibly huge) input."""
    first = error.errors(include_input=False, include_url=False)[0]
    where = ".".join(str(part) for part in first["loc"]) or "body"
    return f"not a chat completion: {where}: {first['msg']} ({error.error_count()} error(s))"
