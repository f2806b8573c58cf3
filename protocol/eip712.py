"""EIP-712 typed-data hashes of Commit, Reveal and Report, as the Ledger contract verifies them.

The domain binds every signature to one chain and one Ledger deployment, so a vote signed for a
devnet cannot be replayed on another chain or contract. Struct hashes follow EIP-712 exactly:
arrays of structs hash to keccak of the concatenated member struct hashes.

A reveal commits to its votes' rationales with one hash (`rationales`, keccak of the per-vote
rationale hashes in vote order) rather than one field per vote: the contract never reads a
rationale, so each one would be 32 bytes of calldata per vote for nothing.
"""

from __future__ import annotations

from collections.abc import Sequence

from protocol.encoding import abi_address, abi_bytes32, abi_uint, keccak, to_hex
from protocol.models import Commit, Report, Reveal, VoteEntry
from protocol.params import EIP712_DOMAIN_NAME, EIP712_DOMAIN_VERSION

DOMAIN_TYPE = "EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"
VOTE_TYPE = "Vote(uint32 segment,uint8 vote,uint16 confidence)"
COMMIT_TYPE = "Commit(bytes32 traceId,uint8 round,address auditor,bytes32 commitment)"
REVEAL_TYPE = (
    "Reveal(bytes32 traceId,uint8 round,address auditor,Vote[] votes,bytes32 rationales,"
    "bytes32 salt)" + VOTE_TYPE
)
REPORT_TYPE = "Report(bytes32 traceId,Reveal[] reveals)" + REVEAL_TYPE

DOMAIN_TYPEHASH = keccak(DOMAIN_TYPE.encode())
VOTE_TYPEHASH = keccak(VOTE_TYPE.encode())
COMMIT_TYPEHASH = keccak(COMMIT_TYPE.encode())
REVEAL_TYPEHASH = keccak(REVEAL_TYPE.encode())
REPORT_TYPEHASH = keccak(REPORT_TYPE.encode())


def compute_domain_separator(chain_id: int, verifying_contract: str) -> bytes:
    return keccak(
        DOMAIN_TYPEHASH
        + keccak(EIP712_DOMAIN_NAME.encode())
        + keccak(EIP712_DOMAIN_VERSION.encode())
        + abi_uint(chain_id)
        + abi_address(verifying_contract)
    )


def compute_vote_hash(entry: VoteEntry) -> bytes:
    return keccak(
        VOTE_TYPEHASH
        + abi_uint(entry.segment, 32)
        + abi_uint(int(entry.vote), 8)
        + abi_uint(entry.confidence, 16)
    )


def compute_votes_hash(votes: Sequence[VoteEntry]) -> bytes:
    """EIP-712 hash of a `Vote[]`: keccak of the concatenated vote struct hashes."""
    return keccak(b"".join(compute_vote_hash(entry) for entry in votes))


def compute_rationales_hash(votes: Sequence[VoteEntry]) -> bytes:
    """The `rationales` field of a Reveal: keccak of the per-vote rationale hashes in vote order."""
    return keccak(b"".join(abi_bytes32(entry.rationale) for entry in votes))


def compute_commit_struct_hash(trace_id: str, round_: int, auditor: str, commitment: str) -> bytes:
    return keccak(
        COMMIT_TYPEHASH
        + abi_bytes32(trace_id)
        + abi_uint(round_, 8)
        + abi_address(auditor)
        + abi_bytes32(commitment)
    )


def compute_reveal_struct_hash(
    trace_id: str, round_: int, auditor: str, votes: Sequence[VoteEntry], salt: str
) -> bytes:
    return keccak(
        REVEAL_TYPEHASH
        + abi_bytes32(trace_id)
        + abi_uint(round_, 8)
        + abi_address(auditor)
        + compute_votes_hash(votes)
        + compute_rationales_hash(votes)
        + abi_bytes32(salt)
    )


def compute_report_struct_hash(report: Report) -> bytes:
    reveals_hash = keccak(b"".join(_reveal_hash(reveal) for reveal in report.reveals))
    return keccak(REPORT_TYPEHASH + abi_bytes32(report.trace_id) + reveals_hash)


def _reveal_hash(reveal: Reveal) -> bytes:
    return compute_reveal_struct_hash(
        reveal.trace_id, reveal.round, reveal.auditor, reveal.votes, reveal.salt
    )


def compute_typed_digest(domain_separator: bytes, struct_hash: bytes) -> bytes:
    """The 32 bytes that get signed: keccak(0x1901 || domainSeparator || structHash)."""
    return keccak(b"\x19\x01" + domain_separator + struct_hash)


def compute_commit_digest(commit: Commit, domain_separator: bytes) -> str:
    struct_hash = compute_commit_struct_hash(
        commit.trace_id, commit.round, commit.auditor, commit.commitment
    )
    return to_hex(compute_typed_digest(domain_separator, struct_hash))


def compute_reveal_digest(reveal: Reveal, domain_separator: bytes) -> str:
    return to_hex(compute_typed_digest(domain_separator, _reveal_hash(reveal)))


def compute_report_digest(report: Report, domain_separator: bytes) -> str:
    return to_hex(compute_typed_digest(domain_separator, compute_report_struct_hash(report)))
