"""Ethereum-recoverable secp256k1 signatures over EIP-712 digests.

Signing is deterministic (RFC 6979) and recovery is pure computation, so both belong to the
protocol layer; key storage does not, and stays in the node. Recovery applies the same rules as
OpenZeppelin's `ECDSA.recover`, which the contracts use: v in {27, 28} and a low `s` (no
malleable twin of a signature is accepted).
"""

from __future__ import annotations

from eth_account import Account
from eth_keys.datatypes import Signature as KeySignature
from eth_keys.exceptions import BadSignature
from eth_utils.exceptions import ValidationError

from protocol.encoding import from_hex, to_hex
from protocol.errors import EncodingError, VoteError

_SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


def compute_address(private_key: str) -> str:
    """Lowercase address of a 0x-prefixed private key."""
    return str(Account.from_key(private_key).address).lower()


def sign_digest(private_key: str, digest: str) -> str:
    """65-byte r || s || v signature (v in {27, 28}) of a 32-byte digest, without prefixing."""
    signed = Account.unsafe_sign_hash(from_hex(digest), private_key)
    return to_hex(bytes(signed.signature))


def recover_signer(digest: str, signature: str) -> str:
    """Lowercase address that signed `digest`; raises VoteError when it cannot be recovered."""
    try:
        raw = from_hex(signature)
        digest_bytes = from_hex(digest)
    except EncodingError as exc:
        raise VoteError(str(exc)) from exc
    if len(raw) != 65 or len(digest_bytes) != 32:
        raise VoteError("a signature is 65 bytes over a 32-byte digest")
    v = raw[64]
    if v not in (27, 28):
        raise VoteError(f"signature v must be 27 or 28, got {v}")
    if int.from_bytes(raw[32:64], "big") > _SECP256K1_N // 2:
        raise VoteError("signature s is in the upper half of the curve order (malleable)")
    try:
        vrs = KeySignature(raw[:64] + bytes([v - 27]))
        public_key = vrs.recover_public_key_from_msg_hash(digest_bytes)
    except (BadSignature, ValidationError) as exc:
        raise VoteError(f"unrecoverable signature: {exc}") from exc
    return str(public_key.to_checksum_address()).lower()
