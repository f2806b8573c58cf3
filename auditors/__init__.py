"""Judging policies: each turns a segment into a vote, doing I/O only through injected clients."""

from __future__ import annotations

from auditors.adversaries import (
    BEHAVIOURS,
    AdversaryConfigError,
    Behaviour,
    FlipJudge,
    make_adversary,
    make_async_adversary,
)
from auditors.checkers import ArithmeticChecker, Tier1Checker
from auditors.human import DEFAULT_REVIEW_DEADLINE_S, HumanReviewJudge, ReviewClient
from auditors.judgement import ABSTAIN, AsyncJudge, Judge, Judgement, TokenUsage
from auditors.oracle import OracleConfigError, OracleJudge

__all__ = [
    "ABSTAIN",
    "BEHAVIOURS",
    "DEFAULT_REVIEW_DEADLINE_S",
    "AdversaryConfigError",
    "ArithmeticChecker",
    "AsyncJudge",
    "Behaviour",
    "FlipJudge",
    "HumanReviewJudge",
    "Judge",
    "Judgement",
    "OracleConfigError",
    "OracleJudge",
    "ReviewClient",
    "Tier1Checker",
    "TokenUsage",
    "make_adversary",
    "make_async_adversary",
]
