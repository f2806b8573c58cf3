"""Content ids: a trace's id and its HDAG node ids are keccak-256 over canonical encodings."""

from __future__ import annotations

from protocol.encoding import abi_bytes32, abi_uint, canonical_json, keccak, keccak_hex, to_hex
from protocol.models import Level, Span, Trace


def compute_trace_id(trace: Trace) -> str:
    """keccak-256 of the canonical JSON of the trace's wire fields."""
    return keccak_hex(canonical_json(trace.canonical_fields()))


def compute_node_id(trace_id: str, level: Level, span: Span, text: str) -> str:
    """keccak(abi.encode(traceId, depth, start, end, keccak(utf8(text[start:end])))).

    The trace id is part of the preimage so equal text in two traces never shares an id.
    """
    text_hash = keccak(text[span.start : span.end].encode("utf-8"))
    preimage = (
        abi_bytes32(trace_id)
        + abi_uint(level.depth, 8)
        + abi_uint(span.start, 32)
        + abi_uint(span.end, 32)
        + text_hash
    )
    return to_hex(keccak(preimage))
