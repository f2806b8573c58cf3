"""Judging policies: each turns a segment into a vote, doing I/O only through injected clients."""

from __future__ import annotations

from auditors.adversaries import FlipJudge
from auditors.arithmetic import ArithmeticChecker
from auditors.judgement import ABSTAIN, Judge, Judgement

__all__ = ["ABSTAIN", "ArithmeticChecker", "FlipJudge", "Judge", "Judgement"]
