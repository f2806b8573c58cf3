"""Judging policies: each turns a segment into a vote, doing I/O only through injected clients."""

from __future__ import annotations

from auditors.adversaries import FlipJudge
from auditors.arithmetic import ArithmeticChecker
from auditors.checkers import Tier1Checker
from auditors.judgement import ABSTAIN, AsyncJudge, Judge, Judgement, TokenUsage

__all__ = [
    "ABSTAIN",
    "ArithmeticChecker",
    "AsyncJudge",
    "FlipJudge",
    "Judge",
    "Judgement",
    "Tier1Checker",
    "TokenUsage",
]
