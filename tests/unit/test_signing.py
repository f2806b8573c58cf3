from __future__ import annotations

import pytest
from eth_account import Account

from protocol.encoding import keccak, to_hex
from protocol.errors import VoteError
from protocol.signing import compute_address, recover_signer, sign_digest

KEY = "0x" + "42" * 32
DIGEST = to_hex(keccak(b"a vote"))
SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


def test_sign_and_recover_round_trip() -> None:
    signature = sign_digest(KEY, DIGEST)
    assert recover_signer(DIGEST, signature) == compute_address(KEY)
    assert compute_address(KEY) == Account.from_key(KEY).address.lower()


def test_signing_is_deterministic() -> None:
    assert sign_digest(KEY, DIGEST) == sign_digest(KEY, DIGEST)


def test_other_digest_recovers_someone_else() -> None:
    signature = sign_digest(KEY, DIGEST)
    assert recover_signer(to_hex(keccak(b"another vote")), signature) != compute_address(KEY)


def test_high_s_twin_is_rejected_like_openzeppelin() -> None:
    raw = bytes.fromhex(sign_digest(KEY, DIGEST)[2:])
    s = int.from_bytes(raw[32:64], "big")
    twin = raw[:32] + (SECP256K1_N - s).to_bytes(32, "big") + bytes([55 - raw[64]])
    with pytest.raises(VoteError, match="malleable"):
        recover_signer(DIGEST, to_hex(twin))


@pytest.mark.parametrize(
    "signature",
    ["0x" + "00" * 64, "0x" + "00" * 64 + "1b", "0x" + "11" * 64 + "01", "nothex"],
)
def test_garbage_signatures_raise_vote_error(signature: str) -> None:
    with pytest.raises(VoteError):
        recover_signer(DIGEST, signature)
