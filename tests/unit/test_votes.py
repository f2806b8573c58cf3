"""Commit-reveal: commitments, signed commits and reveals, matching, equivocation."""

from __future__ import annotations

import math

import pytest
from eth_abi.abi import encode as abi_encode
from eth_hash.auto import keccak

from protocol.eip712 import VOTE_TYPEHASH, compute_domain_separator
from protocol.encoding import ZERO_HASH
from protocol.errors import VoteError
from protocol.models import Vote, VoteEntry
from protocol.signing import compute_address
from protocol.votes import (
    compute_commitment,
    compute_confidence_bps,
    find_commit_equivocation,
    find_reveal_equivocation,
    is_reveal_matching_commit,
    make_commit,
    make_reveal,
    validate_commit_signature,
    validate_reveal_against_commit,
    validate_reveal_signature,
    validate_votes_order,
)

KEY_1 = "0x" + f"{1:064x}"
KEY_2 = "0x" + f"{2:064x}"
AUDITOR_1 = compute_address(KEY_1)
LEDGER = "0x" + "ab" * 20
DOMAIN = compute_domain_separator(31337, LEDGER)
OTHER_CHAIN = compute_domain_separator(1, LEDGER)
TRACE = "0x" + "01" * 32
SALT = "0x" + "5a" * 32
RATIONALE = "0x" + "77" * 32


def _vote(segment: int, vote: Vote = Vote.VALID, confidence: int = 9000) -> VoteEntry:
    return VoteEntry(segment=segment, vote=vote, confidence=confidence, rationale=RATIONALE)


VOTES = (_vote(0), _vote(3, Vote.INVALID, 7000), _vote(5, Vote.ABSTAIN, 0))


# --- commitment and confidence -----------------------------------------------------------------


def test_commitment_matches_an_independent_abi_encoding() -> None:
    vote_hashes = b"".join(
        keccak(
            VOTE_TYPEHASH
            + abi_encode(["uint32", "uint8", "uint16"], [e.segment, int(e.vote), e.confidence])
        )
        for e in VOTES
    )
    rationales = keccak(b"".join(bytes.fromhex(e.rationale[2:]) for e in VOTES))
    preimage = abi_encode(
        ["bytes32", "bytes32", "bytes32", "address", "bytes32", "uint8"],
        [
            keccak(vote_hashes),
            rationales,
            bytes.fromhex(SALT[2:]),
            AUDITOR_1,
            bytes.fromhex(TRACE[2:]),
            1,
        ],
    )
    assert compute_commitment(VOTES, SALT, AUDITOR_1, TRACE, 1) == "0x" + keccak(preimage).hex()


@pytest.mark.parametrize(
    "change",
    [
        {"salt": "0x" + "5b" * 32},
        {"auditor": compute_address(KEY_2)},
        {"trace_id": "0x" + "02" * 32},
        {"round_": 0},
        {"votes": (_vote(0), _vote(3, Vote.VALID, 7000), _vote(5, Vote.ABSTAIN, 0))},
        # One rationale changed: the per-reveal rationales hash still binds each of them.
        {"votes": (VOTES[0].model_copy(update={"rationale": ZERO_HASH}), *VOTES[1:])},
    ],
)
def test_commitment_binds_every_input(change: dict[str, object]) -> None:
    base: dict[str, object] = {
        "votes": VOTES,
        "salt": SALT,
        "auditor": AUDITOR_1,
        "trace_id": TRACE,
        "round_": 1,
    }
    assert compute_commitment(**base) != compute_commitment(**{**base, **change})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("confidence", "expected"),
    [
        (0.0, 0),
        (1.0, 10_000),
        (0.25, 2500),
        (0.12344, 1234),
        (0.12346, 1235),
        (0.99996, 10_000),
        (-0.5, 0),
        (1.5, 10_000),
        (math.inf, 10_000),
        (-math.inf, 0),
    ],
)
def test_confidence_bps_clamps_and_rounds(confidence: float, expected: int) -> None:
    assert compute_confidence_bps(confidence) == expected


def test_confidence_nan_is_rejected() -> None:
    with pytest.raises(VoteError, match="NaN"):
        compute_confidence_bps(math.nan)


def test_votes_must_be_sorted_unique_and_non_empty() -> None:
    validate_votes_order(VOTES)
    with pytest.raises(VoteError, match="sorted"):
        validate_votes_order((_vote(3), _vote(1)))
    with pytest.raises(VoteError, match="sorted"):
        make_commit(KEY_1, TRACE, 0, (_vote(1), _vote(1)), SALT, DOMAIN)
    with pytest.raises(VoteError, match="at least one"):
        make_reveal(KEY_1, TRACE, 0, (), SALT, DOMAIN)


# --- round trip and rejections -----------------------------------------------------------------


def test_commit_reveal_round_trip() -> None:
    commit = make_commit(KEY_1, TRACE, 0, VOTES, SALT, DOMAIN)
    reveal = make_reveal(KEY_1, TRACE, 0, VOTES, SALT, DOMAIN)
    assert commit.auditor == reveal.auditor == AUDITOR_1
    assert commit.commitment == compute_commitment(VOTES, SALT, AUDITOR_1, TRACE, 0)
    validate_commit_signature(commit, DOMAIN)
    validate_reveal_signature(reveal, DOMAIN)
    validate_reveal_against_commit(reveal, commit)
    assert is_reveal_matching_commit(reveal, commit)


def test_signing_is_deterministic() -> None:
    assert make_commit(KEY_1, TRACE, 0, VOTES, SALT, DOMAIN) == make_commit(
        KEY_1, TRACE, 0, VOTES, SALT, DOMAIN
    )


def test_tampered_votes_are_rejected() -> None:
    commit = make_commit(KEY_1, TRACE, 0, VOTES, SALT, DOMAIN)
    reveal = make_reveal(KEY_1, TRACE, 0, VOTES, SALT, DOMAIN)
    tampered = reveal.model_copy(update={"votes": (_vote(0, Vote.INVALID), *VOTES[1:])})
    with pytest.raises(VoteError, match="signed by"):
        validate_reveal_signature(tampered, DOMAIN)
    with pytest.raises(VoteError, match="do not reproduce"):
        validate_reveal_against_commit(tampered, commit)
    assert not is_reveal_matching_commit(tampered, commit)


def test_wrong_salt_is_rejected() -> None:
    commit = make_commit(KEY_1, TRACE, 0, VOTES, SALT, DOMAIN)
    reveal = make_reveal(KEY_1, TRACE, 0, VOTES, "0x" + "00" * 31 + "01", DOMAIN)
    validate_reveal_signature(reveal, DOMAIN)  # a genuine signature, but the wrong opening
    assert not is_reveal_matching_commit(reveal, commit)
    with pytest.raises(VoteError, match="do not reproduce"):
        validate_reveal_against_commit(reveal, commit)


def test_wrong_signer_is_rejected() -> None:
    forged_commit = make_commit(KEY_2, TRACE, 0, VOTES, SALT, DOMAIN).model_copy(
        update={"auditor": AUDITOR_1}
    )
    with pytest.raises(VoteError, match="not by its auditor"):
        validate_commit_signature(forged_commit, DOMAIN)
    forged_reveal = make_reveal(KEY_2, TRACE, 0, VOTES, SALT, DOMAIN).model_copy(
        update={"auditor": AUDITOR_1}
    )
    with pytest.raises(VoteError, match="not by its auditor"):
        validate_reveal_signature(forged_reveal, DOMAIN)


def test_other_chain_signatures_are_rejected() -> None:
    commit = make_commit(KEY_1, TRACE, 0, VOTES, SALT, OTHER_CHAIN)
    reveal = make_reveal(KEY_1, TRACE, 0, VOTES, SALT, OTHER_CHAIN)
    with pytest.raises(VoteError):
        validate_commit_signature(commit, DOMAIN)
    with pytest.raises(VoteError):
        validate_reveal_signature(reveal, DOMAIN)


def test_garbage_signature_is_rejected() -> None:
    commit = make_commit(KEY_1, TRACE, 0, VOTES, SALT, DOMAIN)
    broken = commit.model_copy(update={"signature": "0x" + "00" * 64 + "1b"})
    with pytest.raises(VoteError):
        validate_commit_signature(broken, DOMAIN)


@pytest.mark.parametrize(
    ("reveal_args", "reason"),
    [
        ((KEY_1, "0x" + "02" * 32, 0), "different traces"),
        ((KEY_1, TRACE, 1), "round 1"),
        ((KEY_2, TRACE, 0), "different auditors"),
    ],
)
def test_reveal_for_another_slot_does_not_match(
    reveal_args: tuple[str, str, int], reason: str
) -> None:
    commit = make_commit(KEY_1, TRACE, 0, VOTES, SALT, DOMAIN)
    key, trace, round_ = reveal_args
    reveal = make_reveal(key, trace, round_, VOTES, SALT, DOMAIN)
    assert not is_reveal_matching_commit(reveal, commit)
    with pytest.raises(VoteError, match=reason):
        validate_reveal_against_commit(reveal, commit)


# --- equivocation ------------------------------------------------------------------------------


def test_commit_equivocation_found() -> None:
    a = make_commit(KEY_1, TRACE, 0, VOTES, SALT, DOMAIN)
    b = make_commit(KEY_1, TRACE, 0, (_vote(0, Vote.INVALID),), SALT, DOMAIN)
    assert find_commit_equivocation(a, b, DOMAIN)
    assert find_commit_equivocation(b, a, DOMAIN)


def test_commit_equivocation_not_found() -> None:
    a = make_commit(KEY_1, TRACE, 0, VOTES, SALT, DOMAIN)
    other_votes = (_vote(0, Vote.INVALID),)
    assert not find_commit_equivocation(a, a, DOMAIN)
    assert not find_commit_equivocation(
        a, make_commit(KEY_1, TRACE, 1, other_votes, SALT, DOMAIN), DOMAIN
    )
    assert not find_commit_equivocation(
        a, make_commit(KEY_2, TRACE, 0, other_votes, SALT, DOMAIN), DOMAIN
    )
    assert not find_commit_equivocation(
        a, make_commit(KEY_1, "0x" + "02" * 32, 0, other_votes, SALT, DOMAIN), DOMAIN
    )


def test_commit_equivocation_needs_valid_signatures() -> None:
    a = make_commit(KEY_1, TRACE, 0, VOTES, SALT, DOMAIN)
    forged = make_commit(KEY_2, TRACE, 0, (_vote(0, Vote.INVALID),), SALT, DOMAIN).model_copy(
        update={"auditor": AUDITOR_1}
    )
    assert not find_commit_equivocation(a, forged, DOMAIN)
    other_chain = make_commit(KEY_1, TRACE, 0, (_vote(0, Vote.INVALID),), SALT, OTHER_CHAIN)
    assert not find_commit_equivocation(a, other_chain, DOMAIN)


def test_reveal_equivocation_returns_the_lowest_conflicting_segment() -> None:
    a = make_reveal(KEY_1, TRACE, 0, VOTES, SALT, DOMAIN)
    b_votes = (_vote(0), _vote(3, Vote.VALID, 7000), _vote(5, Vote.VALID, 0))
    b = make_reveal(KEY_1, TRACE, 0, b_votes, SALT, DOMAIN)
    assert find_reveal_equivocation(a, b, DOMAIN) == 3
    assert find_reveal_equivocation(b, a, DOMAIN) == 3


def test_reveal_equivocation_on_confidence_alone() -> None:
    a = make_reveal(KEY_1, TRACE, 0, VOTES, SALT, DOMAIN)
    b_votes = (_vote(0, Vote.VALID, 8999), *VOTES[1:])
    b = make_reveal(KEY_1, TRACE, 0, b_votes, SALT, DOMAIN)
    assert find_reveal_equivocation(a, b, DOMAIN) == 0


def test_reveal_equivocation_not_found() -> None:
    a = make_reveal(KEY_1, TRACE, 0, VOTES, SALT, DOMAIN)
    # Same votes, other salt and rationale: not evidence.
    same = tuple(e.model_copy(update={"rationale": ZERO_HASH}) for e in VOTES)
    assert (
        find_reveal_equivocation(a, make_reveal(KEY_1, TRACE, 0, same, SALT, DOMAIN), DOMAIN)
        is None
    )
    # No segment in common.
    disjoint = make_reveal(KEY_1, TRACE, 0, (_vote(1, Vote.INVALID),), SALT, DOMAIN)
    assert find_reveal_equivocation(a, disjoint, DOMAIN) is None
    # Another auditor or round.
    conflicting = (_vote(0, Vote.INVALID),)
    other_auditor = make_reveal(KEY_2, TRACE, 0, conflicting, SALT, DOMAIN)
    assert find_reveal_equivocation(a, other_auditor, DOMAIN) is None
    other_round = make_reveal(KEY_1, TRACE, 1, conflicting, SALT, DOMAIN)
    assert find_reveal_equivocation(a, other_round, DOMAIN) is None


def test_reveal_equivocation_needs_valid_signatures() -> None:
    a = make_reveal(KEY_1, TRACE, 0, VOTES, SALT, DOMAIN)
    b = make_reveal(KEY_1, TRACE, 0, (_vote(0, Vote.INVALID),), SALT, DOMAIN)
    forged = b.model_copy(update={"votes": (_vote(0, Vote.INVALID, 1),)})
    assert find_reveal_equivocation(a, forged, DOMAIN) is None
    assert find_reveal_equivocation(a, b, OTHER_CHAIN) is None
