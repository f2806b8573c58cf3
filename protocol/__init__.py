"""The TRUST protocol as an executable specification: pure, synchronous, deterministic.

Nothing here performs I/O, reads a clock or draws randomness; the node passes all of that in.
The names below are the stable public surface; submodules hold the details.
"""

from __future__ import annotations

from protocol.errors import (
    ConsensusError,
    EncodingError,
    HdagInvariantError,
    InvalidTraceError,
    ProtocolError,
    SortitionError,
    VoteError,
)
from protocol.hdag import build_hdag
from protocol.hdag_validation import is_valid_hdag, validate_hdag
from protocol.ids import compute_node_id, compute_trace_id
from protocol.models import (
    Auditor,
    Commit,
    Hdag,
    HdagNode,
    Level,
    Report,
    Reveal,
    Segment,
    SegmentVerdict,
    Span,
    Tier,
    Trace,
    TraceVerdict,
    Vote,
    VoteEntry,
)
from protocol.params import DEVNET, MINIMAL, ProtocolParams

__all__ = [
    "DEVNET",
    "MINIMAL",
    "Auditor",
    "Commit",
    "ConsensusError",
    "EncodingError",
    "Hdag",
    "HdagInvariantError",
    "HdagNode",
    "InvalidTraceError",
    "Level",
    "ProtocolError",
    "ProtocolParams",
    "Report",
    "Reveal",
    "Segment",
    "SegmentVerdict",
    "SortitionError",
    "Span",
    "Tier",
    "Trace",
    "TraceVerdict",
    "Vote",
    "VoteEntry",
    "VoteError",
    "build_hdag",
    "compute_node_id",
    "compute_trace_id",
    "is_valid_hdag",
    "validate_hdag",
]
