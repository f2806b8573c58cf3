"""Our hand-rolled EIP-712 hashes agree with eth-account's independent implementation."""

from __future__ import annotations

from typing import Any

from eth_account import Account
from eth_account.messages import encode_typed_data
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol.eip712 import (
    compute_commit_digest,
    compute_domain_separator,
    compute_report_digest,
    compute_reveal_digest,
)
from protocol.encoding import from_hex, keccak, to_hex
from protocol.models import Commit, Report, Reveal, VoteEntry
from protocol.signing import recover_signer
from tests.strategies import ADDRESSES, HASHES, VOTE_VECTORS

CHAIN_ID = 31337
LEDGER = "0x5fbdb2315678afecb367f032d93f642f64180aa3"
UNSIGNED = "0x" + "00" * 65
HASH = HASHES
ADDRESS = ADDRESSES

TYPES: dict[str, list[dict[str, str]]] = {
    "EIP712Domain": [
        {"name": "name", "type": "string"},
        {"name": "version", "type": "string"},
        {"name": "chainId", "type": "uint256"},
        {"name": "verifyingContract", "type": "address"},
    ],
    "Vote": [
        {"name": "segment", "type": "uint32"},
        {"name": "vote", "type": "uint8"},
        {"name": "confidence", "type": "uint16"},
    ],
    "Commit": [
        {"name": "traceId", "type": "bytes32"},
        {"name": "round", "type": "uint8"},
        {"name": "auditor", "type": "address"},
        {"name": "commitment", "type": "bytes32"},
    ],
    "Reveal": [
        {"name": "traceId", "type": "bytes32"},
        {"name": "round", "type": "uint8"},
        {"name": "auditor", "type": "address"},
        {"name": "votes", "type": "Vote[]"},
        {"name": "rationales", "type": "bytes32"},
        {"name": "salt", "type": "bytes32"},
    ],
    "Report": [
        {"name": "traceId", "type": "bytes32"},
        {"name": "reveals", "type": "Reveal[]"},
    ],
}


def _full_message(primary: str, message: dict[str, Any]) -> dict[str, Any]:
    needed = {"Commit": ["Commit"], "Reveal": ["Reveal", "Vote"]}.get(
        primary, ["Report", "Reveal", "Vote"]
    )
    return {
        "types": {name: TYPES[name] for name in ["EIP712Domain", *needed]},
        "primaryType": primary,
        "domain": {
            "name": "TRUST Ledger",
            "version": "1",
            "chainId": CHAIN_ID,
            "verifyingContract": LEDGER,
        },
        "message": message,
    }


def _reference_digest(primary: str, message: dict[str, Any]) -> str:
    signable = encode_typed_data(full_message=_full_message(primary, message))
    return to_hex(keccak(b"\x19" + signable.version + signable.header + signable.body))


def _vote_message(entry: VoteEntry) -> dict[str, Any]:
    return {
        "segment": entry.segment,
        "vote": int(entry.vote),
        "confidence": entry.confidence,
    }


def _reveal_message(reveal: Reveal) -> dict[str, Any]:
    return {
        "traceId": from_hex(reveal.trace_id),
        "round": reveal.round,
        "auditor": reveal.auditor,
        "votes": [_vote_message(entry) for entry in reveal.votes],
        # One commitment to all rationales: keccak of the per-vote hashes, in vote order.
        "rationales": keccak(b"".join(from_hex(entry.rationale) for entry in reveal.votes)),
        "salt": from_hex(reveal.salt),
    }


REVEALS = st.builds(
    Reveal,
    trace_id=HASH,
    round=st.integers(0, 255),
    auditor=ADDRESS,
    votes=VOTE_VECTORS,
    salt=HASH,
    signature=st.just(UNSIGNED),
)
DOMAIN = compute_domain_separator(CHAIN_ID, LEDGER)
KEY_FOR_SIGNING = "0x" + "01" * 32


@settings(max_examples=50, deadline=None)
@given(HASH, st.integers(0, 255), ADDRESS, HASH)
def test_commit_digest_matches_eth_account(
    trace_id: str, round_: int, auditor: str, commitment: str
) -> None:
    commit = Commit(
        trace_id=trace_id,
        round=round_,
        auditor=auditor,
        commitment=commitment,
        signature=UNSIGNED,
    )
    message = {
        "traceId": from_hex(trace_id),
        "round": round_,
        "auditor": auditor,
        "commitment": from_hex(commitment),
    }
    assert compute_commit_digest(commit, DOMAIN) == _reference_digest("Commit", message)


@settings(max_examples=50, deadline=None)
@given(REVEALS)
def test_reveal_digest_matches_eth_account(reveal: Reveal) -> None:
    assert compute_reveal_digest(reveal, DOMAIN) == _reference_digest(
        "Reveal", _reveal_message(reveal)
    )


@settings(max_examples=25, deadline=None)
@given(HASH, st.lists(REVEALS, max_size=3))
def test_report_digest_matches_eth_account(trace_id: str, reveals: list[Reveal]) -> None:
    report = Report(trace_id=trace_id, reveals=tuple(reveals))
    message = {
        "traceId": from_hex(trace_id),
        "reveals": [_reveal_message(reveal) for reveal in reveals],
    }
    assert compute_report_digest(report, DOMAIN) == _reference_digest("Report", message)


def test_domain_binds_chain_and_contract() -> None:
    other_chain = compute_domain_separator(1, LEDGER)
    other_ledger = compute_domain_separator(CHAIN_ID, "0x" + "11" * 20)
    assert len({DOMAIN, other_chain, other_ledger}) == 3


def test_eth_account_typed_signature_recovers_with_our_digest() -> None:
    auditor = Account.from_key(KEY_FOR_SIGNING).address.lower()
    commit = Commit(
        trace_id="0x" + "aa" * 32,
        round=0,
        auditor=auditor,
        commitment="0x" + "bb" * 32,
        signature=UNSIGNED,
    )
    message = {
        "traceId": from_hex(commit.trace_id),
        "round": 0,
        "auditor": auditor,
        "commitment": from_hex(commit.commitment),
    }
    signed = Account.sign_typed_data(KEY_FOR_SIGNING, full_message=_full_message("Commit", message))
    signature = to_hex(bytes(signed.signature))
    assert recover_signer(compute_commit_digest(commit, DOMAIN), signature) == auditor
