"""Tier-1 computational checkers: pure, bounded judging policies with no I/O.

`Tier1Checker` runs every built-in checker; `CompositeChecker` runs any set, so a deployment
registers its own (see `auditors.checkers.registry`). Each built-in checker is also a judge
on its own (`ArithmeticChecker().judge(segment)`).
"""

from __future__ import annotations

from auditors.checkers.arithmetic import ArithmeticChecker
from auditors.checkers.base import Checker, Claim, compute_judgement
from auditors.checkers.dyck import DyckChecker
from auditors.checkers.equations import AlgebraChecker
from auditors.checkers.errors import UnparseableError
from auditors.checkers.ordering import OrderingChecker
from auditors.checkers.registry import CompositeChecker, Tier1Checker, default_checkers

__all__ = [
    "AlgebraChecker",
    "ArithmeticChecker",
    "Checker",
    "Claim",
    "CompositeChecker",
    "DyckChecker",
    "OrderingChecker",
    "Tier1Checker",
    "UnparseableError",
    "compute_judgement",
    "default_checkers",
]
