"""Hypothesis strategies shared by the unit and integration tests."""

from __future__ import annotations

from hypothesis import strategies as st

from protocol.encoding import to_hex
from protocol.models import Vote, VoteEntry

HASHES = st.binary(min_size=32, max_size=32).map(to_hex)
ADDRESSES = st.binary(min_size=20, max_size=20).map(to_hex)

#: A valid vote vector: one vote per segment, sorted by segment.
VOTE_VECTORS = st.lists(
    st.builds(
        VoteEntry,
        segment=st.integers(0, 2**32 - 1),
        vote=st.sampled_from(Vote),
        confidence=st.integers(0, 10_000),
        rationale=HASHES,
    ),
    min_size=1,
    max_size=6,
    unique_by=lambda entry: entry.segment,
).map(lambda entries: tuple(sorted(entries, key=lambda entry: entry.segment)))
