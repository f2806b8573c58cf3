"""`oracle:P` auditors: a labelled simulation that answers each segment from its record's label.

**For experiments only, never a deployment judge.** It isolates the protocol (committees, tally,
escalation, adversaries) from judge quality: an auditor that knows the first wrong step of every
trace (the ProcessBench / BIG-Bench Mistake `label`) answers each segment correctly with
probability P, else the opposite. The labels are keyed by trace id before anything is submitted
(`compute_oracle_labels`); where a segment lies comes from the layout the trace committed to
on-chain (`protocol.layout`), injected as `layout_of`, never from the segment's text.

The truth by level, for a record whose first wrong step is `label` (-1: none):

| segment | truth |
|---|---|
| step or operation on step s < label | VALID |
| step or operation on step s == label | INVALID (every operation of the step shares its truth) |
| step or operation on step s > label | VALID: the label says nothing after the first error |
| goal, strategy, tactic | VALID |

A step after the first error may be wrong too, but it is never the trace's *first* error, which
is all the label states and all the verdict places. Groups are VALID because their own plan is
not what the label judges: by the protocol's first-error rule an INVALID tactic or strategy
places the error at its first step (an INVALID goal at the last step), not at the label.

Each answer is right when keccak(tag, seed, auditor, trace id, segment index) / 2^256 < P, so
reruns reproduce it, and different auditors (or seeds) err independently. An auditor asked the
same segment again in an escalation round gives the same answer.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from auditors.adversaries import compute_flip
from auditors.judgement import Judgement
from protocol.encoding import abi_address, abi_bytes32, abi_uint, keccak
from protocol.errors import EncodingError
from protocol.ids import compute_trace_id
from protocol.layout import compute_layout_steps
from protocol.models import Level, Segment, Trace, Vote

__all__ = [
    "NO_ERROR",
    "ORACLE_DRAW_TAG",
    "LayoutOf",
    "OracleConfigError",
    "OracleJudge",
    "compute_oracle_draw",
    "compute_oracle_labels",
    "compute_oracle_truth",
    "is_oracle_correct",
]

NO_ERROR = -1
"""The label of a record whose every step is right."""

ORACLE_DRAW_TAG = keccak(b"TRUST oracle auditor v1")
"""Separates the oracle's draws from every other keccak draw (sortition, a colluding bloc)."""

_DRAW_SPACE = 2.0**256
_LINE_STEPS = frozenset({Level.STEP, Level.OPERATION})

LayoutOf = Callable[[str], bytes | None]
"""The segment layout a trace committed to on-chain, by trace id; None when not known."""


class OracleConfigError(ValueError):
    """An oracle judge's parameters are unusable (accuracy, seed, auditor, missing inputs)."""


def compute_oracle_truth(level: Level, step: int, label: int) -> Vote:
    """The correct vote on a segment of `level` lying on `step`, for a record labelled `label`.

    INVALID only for a step or operation on the labelled first wrong step; VALID everywhere
    else (earlier steps, later steps, about which the label says nothing, and groups).
    """
    if level in _LINE_STEPS and step == label:
        return Vote.INVALID
    return Vote.VALID


def compute_oracle_draw(seed: int, auditor: str, trace_id: str, index: int) -> int:
    """The uniform draw in [0, 2**256) deciding whether `auditor` answers this segment right."""
    preimage = (
        ORACLE_DRAW_TAG
        + abi_uint(seed)
        + abi_address(auditor)
        + abi_bytes32(trace_id)
        + abi_uint(index)
    )
    return int.from_bytes(keccak(preimage), "big")


def is_oracle_correct(draw: int, accuracy: float) -> bool:
    """Whether a draw falls in the first `accuracy` of the draw space (always, for 1.0)."""
    # int < float compares exactly in Python, so the rate is exactly `accuracy`.
    return draw < accuracy * _DRAW_SPACE


def compute_oracle_labels(traces: Iterable[Trace]) -> dict[str, int]:
    """{trace id: label} for labelled records, keyed by the id of the record as submitted.

    The id covers every wire field (the record's `id`, `source` and `label` included), so the
    records must be submitted unchanged. A record without a label raises OracleConfigError.
    """
    labels: dict[str, int] = {}
    for trace in traces:
        if trace.label is None:
            name = trace.record_id or trace.problem[:40]
            raise OracleConfigError(f"record {name!r} has no label")
        labels[compute_trace_id(trace)] = trace.label
    return labels


def _check_parameters(accuracy: float, seed: int, auditor: str) -> None:
    if not (math.isfinite(accuracy) and 0.0 < accuracy <= 1.0):
        raise OracleConfigError(f"oracle accuracy must be in (0, 1], got {accuracy}")
    if not 0 <= seed < 2**256:
        raise OracleConfigError(f"oracle seed must be in [0, 2**256), got {seed}")
    try:
        abi_address(auditor)
    except EncodingError:
        raise OracleConfigError(f"oracle auditor must be an address, got {auditor!r}") from None


@dataclass(frozen=True)
class OracleJudge:
    """A synchronous judge answering from labels with probability `accuracy` of being right.

    ABSTAIN on a trace without a label or without a known on-chain layout, and on a segment
    index the layout does not hold. Confidence is `accuracy`, so a vote carries P in basis
    points. Bad parameters raise OracleConfigError at construction.
    """

    labels: Mapping[str, int] = field(repr=False)
    accuracy: float
    seed: int
    #: This auditor's address: it keys the draws, so auditors err independently.
    auditor: str
    layout_of: LayoutOf = field(repr=False)

    def __post_init__(self) -> None:
        _check_parameters(self.accuracy, self.seed, self.auditor)

    def judge(self, segment: Segment) -> Judgement:
        label = self.labels.get(segment.trace_id)
        if label is None:
            return Judgement(Vote.ABSTAIN, 0.0, "oracle: no label for this trace")
        layout = self.layout_of(segment.trace_id)
        steps = () if layout is None else compute_layout_steps(layout)
        if segment.index >= len(steps):
            return Judgement(Vote.ABSTAIN, 0.0, "oracle: segment not in a known on-chain layout")
        step = steps[segment.index]
        truth = compute_oracle_truth(segment.level, step, label)
        draw = compute_oracle_draw(self.seed, self.auditor, segment.trace_id, segment.index)
        correct = is_oracle_correct(draw, self.accuracy)
        vote = truth if correct else compute_flip(truth)
        rationale = (
            f"oracle P={self.accuracy:g}: {segment.level.value} on step {step}, label {label}, "
            f"truth {truth.name}, answered {vote.name}"
        )
        return Judgement(vote, self.accuracy, rationale)
