"""The segment layout a trace commits to on-chain, so the Ledger can route and place errors.

Three bytes per segment in canonical order: the level's depth (1 goal ... 5 operation) and a
big-endian uint16 step index: for the goal, the index of the last step (where the final claim
is, the first error of a trace whose goal alone is INVALID); for every other node, the step
holding its first character. With it `finalize` routes each segment to its tier and computes
the first error without the HDAG itself.
"""

from __future__ import annotations

from bisect import bisect_right

from protocol.errors import HdagInvariantError
from protocol.models import Hdag, Level

LAYOUT_ENTRY_BYTES = 3
MAX_STEP_INDEX = 2**16 - 1


def compute_segment_layout(hdag: Hdag) -> bytes:
    """The layout bytes of `hdag`; raises HdagInvariantError for an HDAG without steps."""
    step_starts = sorted(node.span.start for node in hdag.nodes if node.level is Level.STEP)
    if not step_starts:
        raise HdagInvariantError("layout: the HDAG has no step")
    if len(step_starts) - 1 > MAX_STEP_INDEX:
        raise HdagInvariantError(f"layout: {len(step_starts)} steps exceed a uint16 index")
    entries = bytearray()
    for node in hdag.nodes:
        if node.level is Level.GOAL:
            step = len(step_starts) - 1
        else:
            step = max(0, bisect_right(step_starts, node.span.start) - 1)
        entries += bytes([node.level.depth]) + step.to_bytes(2, "big")
    return bytes(entries)


def compute_layout_levels(layout: bytes) -> tuple[Level, ...]:
    """The levels a layout declares, in segment order."""
    by_depth = {level.depth: level for level in Level}
    return tuple(by_depth[layout[i]] for i in range(0, len(layout), LAYOUT_ENTRY_BYTES))


def compute_layout_steps(layout: bytes) -> tuple[int, ...]:
    """The step index a layout declares for each segment, in segment order (for the goal, the
    last step; for every other node, the step holding its first character)."""
    return tuple(
        int.from_bytes(layout[i + 1 : i + LAYOUT_ENTRY_BYTES], "big")
        for i in range(0, len(layout), LAYOUT_ENTRY_BYTES)
    )
