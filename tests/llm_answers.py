"""Chat-completion bodies as OpenAI-compatible servers send them, and segments to judge."""

from __future__ import annotations

import math

from protocol.models import Level, Segment, Tier

TRACE_ID = "0x" + "ab" * 32
PROBLEM = "Tom has 3 apples and buys 4 more, then gives away 2. How many apples does he have?"


def make_segment(text: str, context: tuple[str, ...] = (), index: int = 0) -> Segment:
    return Segment(
        trace_id=TRACE_ID,
        index=index,
        node_id=TRACE_ID,
        level=Level.STEP,
        tier=Tier.LLM,
        problem=PROBLEM,
        text=text,
        context=context,
    )


def token_entry(token: str, top: dict[str, float]) -> dict[str, object]:
    """One `logprobs.content` entry; `top` maps candidate tokens to probabilities."""
    return {
        "token": token,
        "logprob": math.log(top[token]) if token in top else -10.0,
        "bytes": list(token.encode()),
        "top_logprobs": [{"token": t, "logprob": math.log(p)} for t, p in top.items()],
    }


def completion(
    content: str,
    *,
    logprobs: list[dict[str, object]] | None = None,
    prompt_tokens: int = 120,
    completion_tokens: int = 2,
) -> dict[str, object]:
    choice: dict[str, object] = {
        "index": 0,
        "finish_reason": "length",
        "message": {"role": "assistant", "content": content},
    }
    if logprobs is not None:
        choice["logprobs"] = {"content": logprobs}
    return {
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "choices": [choice],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
        "timings": {"prompt_ms": 1.0},  # llama.cpp's extra field: must be ignored
    }


def yes_no_completion(
    p_yes: float, p_no: float, prompt_tokens: int = 120, completion_tokens: int = 2
) -> dict[str, object]:
    """A one-word answer whose first token's candidates give Yes and No these probabilities."""
    top = {"Yes": p_yes, "No": p_no, "The": max(0.0, 1.0 - p_yes - p_no) or 1e-6}
    chosen = "Yes" if p_yes >= p_no else "No"
    return completion(
        chosen,
        logprobs=[token_entry(chosen, top)],
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
    )
