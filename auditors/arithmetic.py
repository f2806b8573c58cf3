"""Tier-1 arithmetic checking, kept at its original import path.

The implementation lives in `auditors.checkers` (tokenizer, parser, exact evaluator, the
checker plugins); this module keeps `ArithmeticChecker`, `check_relation`,
`evaluate_expression` and `UnparseableError` importable from here.
"""

from __future__ import annotations

from auditors.checkers.arithmetic import ArithmeticChecker
from auditors.checkers.errors import UnparseableError
from auditors.checkers.numeric import evaluate_expression
from auditors.checkers.relations import is_link_true, split_chain

__all__ = ["ArithmeticChecker", "UnparseableError", "check_relation", "evaluate_expression"]


def check_relation(text: str) -> bool:
    """True when every link of a numeric relation chain holds; UnparseableError when some
    operand is not plain arithmetic (symbols included) or the text holds no relation.

    Rounded results ("1/3 = 0.33") are accepted when they match to the decimals written.
    """
    operands, relations = split_chain(text)
    values = [evaluate_expression(operand) for operand in operands]
    return all(
        is_link_true(values[index], relation, values[index + 1], operands[index + 1])
        for index, relation in enumerate(relations)
    )
