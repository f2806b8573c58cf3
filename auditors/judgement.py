"""What every auditor produces for a segment, and the interfaces every judging policy implements."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from protocol.models import Segment, Vote


@dataclass(frozen=True)
class TokenUsage:
    """Tokens an LLM endpoint billed, and the requests that billed them.

    Servers that omit `usage` count as zero tokens, so totals are lower bounds there.
    """

    prompt_tokens: int = 0
    completion_tokens: int = 0
    requests: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def __add__(self, other: TokenUsage) -> TokenUsage:
        return TokenUsage(
            self.prompt_tokens + other.prompt_tokens,
            self.completion_tokens + other.completion_tokens,
            self.requests + other.requests,
        )


@dataclass(frozen=True)
class Judgement:
    """A vote on one segment, with a confidence in [0, 1] and a short human-readable reason.

    `usage` is the LLM tokens spent reaching it; None for judges that call no LLM.
    """

    vote: Vote
    confidence: float
    rationale: str
    usage: TokenUsage | None = None


ABSTAIN = Judgement(Vote.ABSTAIN, 0.0, "cannot judge this segment")


class Judge(Protocol):
    """A judging policy. Synchronous policies implement this; I/O-bound ones get their clients
    injected and live behind the node's async auditor service."""

    def judge(self, segment: Segment) -> Judgement: ...


class AsyncJudge(Protocol):
    """A judging policy that does I/O (an LLM endpoint, a human queue) through injected clients."""

    async def judge(self, segment: Segment) -> Judgement: ...
