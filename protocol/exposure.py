"""Measured privacy: how much of a trace's text each auditor, and the largest coalition, saw.

An auditor sees the visible spans (own text and context claims) of the segments it was assigned;
its exposure is the number of distinct characters in their union over the text length, floored
to basis points. The coalition is the 3 auditors with the largest stake (ties broken by the lower
address), whose union of views is what colluding large stakers could reassemble.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from protocol.errors import SortitionError
from protocol.models import Span
from protocol.params import BASIS_POINTS

#: Size of the colluding coalition the exposure figures report on.
COALITION_SIZE = 3


@dataclass(frozen=True)
class ExposureFigures:
    """Per-auditor and worst-case shares of a trace's text, in basis points (floored)."""

    per_auditor_bps: dict[str, int]
    max_auditor_bps: int
    #: The auditor with the largest share (lowest address among equals); None with no auditor.
    max_auditor: str | None
    coalition_bps: int
    budget_bps: int


def compute_union_length(spans: Iterable[Span]) -> int:
    """Number of characters covered by at least one span."""
    covered = 0
    reach = 0
    for span in sorted(spans, key=lambda s: s.start):
        start = max(span.start, reach)
        if span.end > start:
            covered += span.end - start
        reach = max(reach, span.end)
    return covered


def _compute_share_bps(
    segments: Iterable[int], visible_spans: Sequence[Sequence[Span]], text_length: int
) -> int:
    spans = [span for segment in segments for span in visible_spans[segment]]
    return compute_union_length(spans) * BASIS_POINTS // text_length


def _validate_exposure_inputs(
    text_length: int,
    visible_spans: Sequence[Sequence[Span]],
    assignments: Mapping[int, Sequence[str]],
) -> None:
    if text_length <= 0:
        raise SortitionError(f"text length must be positive, got {text_length}")
    if any(span.end > text_length for spans in visible_spans for span in spans):
        raise SortitionError("a visible span ends past the text")
    if any(not 0 <= segment < len(visible_spans) for segment in assignments):
        raise SortitionError("an assigned segment has no visible spans")


def _compute_segments_by_auditor(
    assignments: Mapping[int, Sequence[str]], stakes: Mapping[str, int]
) -> dict[str, set[int]]:
    """Every auditor known by stake or assignment, with the segments it was assigned."""
    by_auditor: dict[str, set[int]] = {auditor: set() for auditor in stakes}
    for segment, committee in assignments.items():
        for auditor in committee:
            by_auditor.setdefault(auditor, set()).add(segment)
    return by_auditor


def compute_coalition(stakes: Mapping[str, int], size: int = COALITION_SIZE) -> tuple[str, ...]:
    """The `size` auditors with the largest stake, ties broken by the lower address."""
    return tuple(sorted(stakes, key=lambda auditor: (-stakes[auditor], auditor))[:size])


def compute_exposure(
    text_length: int,
    visible_spans: Sequence[Sequence[Span]],
    assignments: Mapping[int, Sequence[str]],
    stakes: Mapping[str, int],
    budget_bps: int,
) -> ExposureFigures:
    """Exposure figures of one audit: `assignments` maps segment index -> assigned auditors.

    Auditors listed only in `stakes` appear with 0 bps; an assigned auditor missing from `stakes`
    counts with stake 0 for the coalition. Raises SortitionError for a non-positive text length,
    a span past the text, or an assigned segment without an entry in `visible_spans`.
    """
    _validate_exposure_inputs(text_length, visible_spans, assignments)
    by_auditor = _compute_segments_by_auditor(assignments, stakes)
    per_auditor = {
        auditor: _compute_share_bps(segments, visible_spans, text_length)
        for auditor, segments in sorted(by_auditor.items())
    }
    max_auditor = min(per_auditor, key=lambda a: (-per_auditor[a], a), default=None)
    coalition = compute_coalition({a: stakes.get(a, 0) for a in by_auditor})
    coalition_segments = {segment for auditor in coalition for segment in by_auditor[auditor]}
    return ExposureFigures(
        per_auditor_bps=per_auditor,
        max_auditor_bps=per_auditor[max_auditor] if max_auditor is not None else 0,
        max_auditor=max_auditor,
        coalition_bps=_compute_share_bps(coalition_segments, visible_spans, text_length),
        budget_bps=budget_bps,
    )
