"""Content ids: a trace's id and its HDAG node ids are keccak-256 over canonical encodings."""

from __future__ import annotations

from collections.abc import Sequence

from protocol.encoding import (
    ZERO_HASH,
    abi_bytes32,
    abi_uint,
    canonical_json,
    keccak,
    keccak_hex,
    to_hex,
)
from protocol.models import Level, Span, Trace


def compute_trace_id(trace: Trace) -> str:
    """keccak-256 of the canonical JSON of the trace's wire fields."""
    return keccak_hex(canonical_json(trace.canonical_fields()))


def compute_node_id(
    trace_id: str,
    level: Level,
    span: Span,
    text: str,
    parent: str | None,
    deps: Sequence[str],
    claim: Span,
) -> str:
    """keccak(abi.encode(traceId, depth, start, end, textHash, parent, depsHash, claimStart,
    claimEnd)) with textHash = keccak(utf8(text[start:end])), depsHash = keccak(dep ids in order)
    and parent = 0 for the goal.

    The id covers the node's place in the structure as well as its text, so the HDAG root
    commits to the whole tree, its dependency edges, and what each dependant is shown (the
    claim). The trace id keeps equal text in two traces from sharing an id.
    """
    preimage = (
        abi_bytes32(trace_id)
        + abi_uint(level.depth, 8)
        + abi_uint(span.start)
        + abi_uint(span.end)
        + keccak(text[span.start : span.end].encode("utf-8"))
        + abi_bytes32(parent or ZERO_HASH)
        + keccak(b"".join(abi_bytes32(dep) for dep in deps))
        + abi_uint(claim.start)
        + abi_uint(claim.end)
    )
    return to_hex(keccak(preimage))
