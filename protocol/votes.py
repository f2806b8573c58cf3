"""Commit-reveal voting: commitments, EIP-712 signed commits and reveals, equivocation evidence.

An auditor commits once per trace and round to its whole vote vector, so the contract recovers
one signature per auditor and round, not one per vote. The commitment binds the votes, a secret
salt, the auditor, the trace and the round:

    commitment = keccak(abi.encode(bytes32 votesHash, bytes32 rationales, bytes32 salt,
                                   address auditor, bytes32 traceId, uint8 round))

where votesHash is the EIP-712 hash of the `Vote[]` (`protocol.eip712.compute_votes_hash`) and
rationales the hash of the per-vote rationale hashes in vote order
(`protocol.eip712.compute_rationales_hash`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from itertools import pairwise

from protocol.eip712 import (
    compute_commit_digest,
    compute_rationales_hash,
    compute_reveal_digest,
    compute_votes_hash,
)
from protocol.encoding import abi_address, abi_bytes32, abi_uint, keccak_hex
from protocol.errors import VoteError
from protocol.models import Commit, Reveal, VoteEntry
from protocol.params import BASIS_POINTS
from protocol.signing import compute_address, recover_signer, sign_digest

#: Placeholder signature used only while computing the digest of an unsigned message.
_UNSIGNED = "0x" + "00" * 65


def compute_commitment(
    votes: Sequence[VoteEntry], salt: str, auditor: str, trace_id: str, round_: int
) -> str:
    """The commitment hash that a later reveal of (votes, salt) must reproduce."""
    return keccak_hex(
        compute_votes_hash(votes)
        + compute_rationales_hash(votes)
        + abi_bytes32(salt)
        + abi_address(auditor)
        + abi_bytes32(trace_id)
        + abi_uint(round_, 8)
    )


def compute_confidence_bps(confidence: float) -> int:
    """Confidence in [0, 1] as basis points, rounded half up; out-of-range values are clamped.

    NaN has no meaningful confidence and raises VoteError.
    """
    if math.isnan(confidence):
        raise VoteError("confidence is NaN")
    clamped = min(1.0, max(0.0, confidence))
    return math.floor(clamped * BASIS_POINTS + 0.5)


def validate_votes_order(votes: Sequence[VoteEntry]) -> None:
    """Raise VoteError unless the votes are non-empty, sorted by segment, one per segment."""
    if not votes:
        raise VoteError("a vote vector needs at least one vote")
    segments = [entry.segment for entry in votes]
    if any(a >= b for a, b in pairwise(segments)):
        raise VoteError("votes must be sorted by segment with no segment twice")


def make_commit(
    private_key: str,
    trace_id: str,
    round_: int,
    votes: Sequence[VoteEntry],
    salt: str,
    domain_separator: bytes,
) -> Commit:
    """A signed commit to `votes`; the salt must stay secret until the reveal."""
    validate_votes_order(votes)
    auditor = compute_address(private_key)
    commitment = compute_commitment(votes, salt, auditor, trace_id, round_)
    unsigned = Commit(
        trace_id=trace_id,
        round=round_,
        auditor=auditor,
        commitment=commitment,
        signature=_UNSIGNED,
    )
    digest = compute_commit_digest(unsigned, domain_separator)
    return unsigned.model_copy(update={"signature": sign_digest(private_key, digest)})


def make_reveal(
    private_key: str,
    trace_id: str,
    round_: int,
    votes: Sequence[VoteEntry],
    salt: str,
    domain_separator: bytes,
) -> Reveal:
    """A signed reveal opening the commit made with the same votes and salt."""
    validate_votes_order(votes)
    unsigned = Reveal(
        trace_id=trace_id,
        round=round_,
        auditor=compute_address(private_key),
        votes=tuple(votes),
        salt=salt,
        signature=_UNSIGNED,
    )
    digest = compute_reveal_digest(unsigned, domain_separator)
    return unsigned.model_copy(update={"signature": sign_digest(private_key, digest)})


def validate_commit_signature(commit: Commit, domain_separator: bytes) -> None:
    """Raise VoteError unless `commit.auditor` signed the commit under this domain."""
    signer = recover_signer(compute_commit_digest(commit, domain_separator), commit.signature)
    if signer != commit.auditor:
        raise VoteError(f"commit signed by {signer}, not by its auditor {commit.auditor}")


def validate_reveal_signature(reveal: Reveal, domain_separator: bytes) -> None:
    """Raise VoteError unless `reveal.auditor` signed the reveal under this domain."""
    signer = recover_signer(compute_reveal_digest(reveal, domain_separator), reveal.signature)
    if signer != reveal.auditor:
        raise VoteError(f"reveal signed by {signer}, not by its auditor {reveal.auditor}")


def validate_reveal_against_commit(reveal: Reveal, commit: Commit) -> None:
    """Raise VoteError naming why `reveal` does not open `commit`; signatures are not checked."""
    if reveal.trace_id != commit.trace_id:
        raise VoteError("reveal and commit are for different traces")
    if reveal.round != commit.round:
        raise VoteError(f"reveal is for round {reveal.round}, commit for round {commit.round}")
    if reveal.auditor != commit.auditor:
        raise VoteError("reveal and commit are by different auditors")
    opened = compute_commitment(
        reveal.votes, reveal.salt, reveal.auditor, reveal.trace_id, reveal.round
    )
    if opened != commit.commitment:
        raise VoteError("the revealed votes and salt do not reproduce the commitment")


def _passes(validate: Callable[[], None]) -> bool:
    """A `validate_` check as a predicate: False instead of VoteError."""
    try:
        validate()
    except VoteError:
        return False
    return True


def is_reveal_matching_commit(reveal: Reveal, commit: Commit) -> bool:
    """True when `reveal` opens `commit` (same trace, round, auditor and commitment)."""
    return _passes(lambda: validate_reveal_against_commit(reveal, commit))


def _is_commit_signed(commit: Commit, domain_separator: bytes) -> bool:
    return _passes(lambda: validate_commit_signature(commit, domain_separator))


def _is_reveal_signed(reveal: Reveal, domain_separator: bytes) -> bool:
    return _passes(lambda: validate_reveal_signature(reveal, domain_separator))


def find_commit_equivocation(a: Commit, b: Commit, domain_separator: bytes) -> bool:
    """True when `a` and `b` prove equivocation: one signer, trace and round, two commitments.

    Unsigned or forged commits are never evidence, so they yield False.
    """
    same_slot = (a.auditor, a.trace_id, a.round) == (b.auditor, b.trace_id, b.round)
    if not same_slot or a.commitment == b.commitment:
        return False
    return _is_commit_signed(a, domain_separator) and _is_commit_signed(b, domain_separator)


def find_reveal_equivocation(a: Reveal, b: Reveal, domain_separator: bytes) -> int | None:
    """Lowest segment on which two validly signed reveals of one slot differ in vote or confidence.

    None when the slots (auditor, trace, round) differ, a signature is invalid, or the two agree
    on every segment both vote on (differing rationales or salts alone are not evidence).
    """
    if (a.auditor, a.trace_id, a.round) != (b.auditor, b.trace_id, b.round):
        return None
    b_votes = {entry.segment: entry for entry in b.votes}
    conflicts = [
        entry.segment
        for entry in a.votes
        if entry.segment in b_votes
        and (entry.vote, entry.confidence)
        != (b_votes[entry.segment].vote, b_votes[entry.segment].confidence)
    ]
    if not conflicts:
        return None
    if not (_is_reveal_signed(a, domain_separator) and _is_reveal_signed(b, domain_separator)):
        return None
    return conflicts[0]
