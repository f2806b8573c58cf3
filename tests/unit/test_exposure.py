"""Exposure figures: per-auditor union of visible text, the largest share, the top-3 coalition."""

from __future__ import annotations

import pytest

from protocol.errors import SortitionError
from protocol.exposure import (
    ExposureFigures,
    compute_coalition,
    compute_exposure,
    compute_union_length,
)
from protocol.models import Span
from protocol.signing import compute_address

A, B, C, D, E = (compute_address("0x" + f"{i:064x}") for i in range(1, 6))


def _span(start: int, end: int) -> Span:
    return Span(start=start, end=end)


@pytest.mark.parametrize(
    ("spans", "length"),
    [
        ([], 0),
        ([(0, 10)], 10),
        ([(0, 10), (5, 15)], 15),  # overlapping
        ([(0, 10), (2, 4)], 10),  # nested
        ([(0, 5), (5, 10)], 10),  # adjacent
        ([(20, 30), (0, 5), (3, 8)], 18),  # unsorted
        ([(0, 10), (0, 10)], 10),  # repeated
    ],
)
def test_union_length(spans: list[tuple[int, int]], length: int) -> None:
    assert compute_union_length(_span(*s) for s in spans) == length


def test_coalition_is_the_three_largest_stakes_ties_by_address() -> None:
    stakes = {A: 10, B: 30, C: 20, D: 40, E: 5}
    assert compute_coalition(stakes) == (D, B, C)
    tied = dict.fromkeys((E, D, C, B, A), 1)
    assert compute_coalition(tied) == tuple(sorted(tied))[:3]
    assert compute_coalition({A: 1}) == (A,)


VISIBLE = [
    [_span(0, 50)],
    [_span(40, 60)],
    [_span(90, 100), _span(0, 10)],
]


def test_exposure_figures() -> None:
    assignments = {0: [A, B], 1: [A], 2: [C]}
    stakes = {A: 10, B: 30, C: 20, D: 40}
    figures = compute_exposure(100, VISIBLE, assignments, stakes, 2500)
    assert figures == ExposureFigures(
        per_auditor_bps=dict(sorted({A: 6000, B: 5000, C: 2000, D: 0}.items())),
        max_auditor_bps=6000,
        max_auditor=A,
        # D, B, C hold the most stake: D saw nothing, B [0, 50), C [0, 10) and [90, 100).
        coalition_bps=6000,
        budget_bps=2500,
    )


def test_exposure_floors_basis_points() -> None:
    figures = compute_exposure(3, [[_span(0, 1)]], {0: [A]}, {A: 1}, 2500)
    assert figures.per_auditor_bps == {A: 3333}


def test_max_auditor_ties_go_to_the_lower_address() -> None:
    figures = compute_exposure(10, [[_span(0, 5)]], {0: [B, A]}, {A: 1, B: 1}, 2500)
    assert figures.max_auditor == min(A, B)
    assert figures.max_auditor_bps == 5000


def test_no_auditor_at_all() -> None:
    figures = compute_exposure(10, [[_span(0, 5)]], {}, {}, 2500)
    assert figures == ExposureFigures({}, 0, None, 0, 2500)


def test_assigned_auditor_without_stake_counts_as_zero_stake() -> None:
    figures = compute_exposure(100, VISIBLE, {0: [A], 1: [E]}, {B: 1, C: 1, D: 1}, 2500)
    assert figures.per_auditor_bps == dict(sorted({A: 5000, E: 2000, B: 0, C: 0, D: 0}.items()))
    assert figures.coalition_bps == 0  # B, C, D hold the stake and saw nothing


def test_bad_inputs_are_rejected() -> None:
    with pytest.raises(SortitionError, match="text length"):
        compute_exposure(0, [], {}, {}, 2500)
    with pytest.raises(SortitionError, match="past the text"):
        compute_exposure(10, [[_span(0, 11)]], {}, {}, 2500)
    with pytest.raises(SortitionError, match="no visible spans"):
        compute_exposure(10, [[_span(0, 5)]], {1: [A]}, {A: 1}, 2500)
