"""`trustnode eval`: labelled records through a real devnet, scored from the chain."""

from devnet.evaluation.metrics import format_eval_metrics, summarize
from devnet.evaluation.runner import (
    AUDITOR_KINDS,
    DEFAULT_JUDGE_ACCURACY,
    STRATEGIES,
    EvalError,
    EvalOptions,
    run_evaluation,
)
from devnet.evaluation.runner import (
    DEFAULT_IN_FLIGHT as DEFAULT_EVAL_IN_FLIGHT,
)
from devnet.evaluation.runner import (
    DEFAULT_NODES as DEFAULT_EVAL_NODES,
)
from devnet.evaluation.runner import (
    DEFAULT_TRACE_TIMEOUT_S as DEFAULT_EVAL_TRACE_TIMEOUT_S,
)

__all__ = [
    "AUDITOR_KINDS",
    "DEFAULT_EVAL_IN_FLIGHT",
    "DEFAULT_EVAL_NODES",
    "DEFAULT_EVAL_TRACE_TIMEOUT_S",
    "DEFAULT_JUDGE_ACCURACY",
    "STRATEGIES",
    "EvalError",
    "EvalOptions",
    "format_eval_metrics",
    "run_evaluation",
    "summarize",
]
