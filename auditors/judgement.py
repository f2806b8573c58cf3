"""What every auditor produces for a segment, and the interface every judging policy implements."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from protocol.models import Segment, Vote


@dataclass(frozen=True)
class Judgement:
    """A vote on one segment, with a confidence in [0, 1] and a short human-readable reason."""

    vote: Vote
    confidence: float
    rationale: str


ABSTAIN = Judgement(Vote.ABSTAIN, 0.0, "cannot judge this segment")


class Judge(Protocol):
    """A judging policy. Synchronous policies implement this; I/O-bound ones get their clients
    injected and live behind the node's async auditor service."""

    def judge(self, segment: Segment) -> Judgement: ...
