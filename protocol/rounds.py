"""One audit round as every node sees it: who is assigned, which phase it is in, who was absent.

Pure functions over what a node knows; time enters only as "has this deadline passed". The
committees themselves come from `protocol.consensus.compute_round_assignments`, which needs the
segment tiers: `compute_layout_tiers` derives them from the on-chain layout, so an auditor that
holds none of the trace's text draws exactly the committees the Ledger will check.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from protocol.gossip import Phase
from protocol.layout import compute_layout_levels
from protocol.models import Auditor, Reveal, Tier
from protocol.sortition import compute_segment_tier, compute_tier_stakes

#: (round, segment) -> {auditor: stake}, as `compute_round_assignments` returns it.
Assignments = Mapping[tuple[int, int], Mapping[str, int]]


@dataclass(frozen=True)
class RoundAbsence:
    """An auditor assigned to `segments` in `round` that did not reveal."""

    auditor: str
    round: int
    segments: tuple[int, ...]


def compute_layout_tiers(layout: bytes, auditors: Sequence[Auditor]) -> tuple[Tier, ...]:
    """The tier judging each segment, from the levels the layout declares and the snapshot."""
    tier_stakes = compute_tier_stakes(auditors)
    return tuple(
        compute_segment_tier(level, tier_stakes) for level in compute_layout_levels(layout)
    )


def compute_round_auditors(assignments: Assignments, round_: int) -> frozenset[str]:
    """Every auditor assigned at least one segment in `round_`."""
    return frozenset(
        auditor for (r, _), committee in assignments.items() if r == round_ for auditor in committee
    )


def compute_auditor_segments(
    assignments: Assignments, round_: int, auditor: str
) -> tuple[int, ...]:
    """The segments `auditor` must vote on in `round_`, ascending (a reveal covers all of them)."""
    return tuple(
        sorted(
            segment
            for (r, segment), committee in assignments.items()
            if r == round_ and auditor in committee
        )
    )


def compute_round_segments(assignments: Assignments, round_: int) -> tuple[int, ...]:
    """The segments drawn in `round_` (round 1: the escalated ones), ascending."""
    return tuple(sorted(segment for (r, segment) in assignments if r == round_))


def is_reveal_complete(reveal: Reveal, assignments: Assignments) -> bool:
    """True when the reveal votes on exactly the auditor's assigned segments of its round.

    The Ledger cannot see a revealer that skipped an assigned segment, so nodes count only
    complete reveals.
    """
    voted = tuple(entry.segment for entry in reveal.votes)
    return voted == compute_auditor_segments(assignments, reveal.round, reveal.auditor)


def compute_phase(
    assigned: Iterable[str],
    committed: Iterable[str],
    revealed: Iterable[str],
    *,
    commit_expired: bool,
    reveal_expired: bool,
) -> Phase:
    """COMMIT until every assigned auditor committed or the commit window ended; then REVEAL
    until every committer revealed or the reveal window ended; then CLOSED.

    A round with nobody assigned is CLOSED at once: there is nothing to wait for.
    """
    assigned_set, committed_set = frozenset(assigned), frozenset(committed)
    if not assigned_set:
        return Phase.CLOSED
    if not assigned_set <= committed_set and not commit_expired:
        return Phase.COMMIT
    if not committed_set <= frozenset(revealed) and not reveal_expired:
        return Phase.REVEAL
    return Phase.CLOSED


def compute_absences(assignments: Assignments, reveals: Iterable[Reveal]) -> list[RoundAbsence]:
    """Every (auditor, round) assigned segments but without a reveal, by round then address.

    Only rounds that have committees count; the order is the one `Ledger.finalize` requires.
    """
    revealed = {(reveal.round, reveal.auditor) for reveal in reveals}
    rounds = sorted({r for (r, _) in assignments})
    absences = []
    for round_ in rounds:
        for auditor in sorted(compute_round_auditors(assignments, round_), key=_address_order):
            if (round_, auditor) not in revealed:
                segments = compute_auditor_segments(assignments, round_, auditor)
                absences.append(RoundAbsence(auditor, round_, segments))
    return absences


def _address_order(address: str) -> int:
    return int(address, 16)
