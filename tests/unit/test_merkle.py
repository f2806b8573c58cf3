from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from protocol.encoding import ZERO_HASH, keccak, to_hex
from protocol.merkle import (
    compute_leaf_hash,
    compute_merkle_proof,
    compute_merkle_proofs,
    compute_merkle_root,
    is_valid_merkle_proof,
)

IDS = [to_hex(keccak(bytes([i]))) for i in range(9)]


def test_root_of_nothing_is_zero_and_of_one_is_its_leaf() -> None:
    assert compute_merkle_root([]) == ZERO_HASH
    assert compute_merkle_root(IDS[:1]) == to_hex(compute_leaf_hash(IDS[0]))


def test_root_by_hand_for_three_leaves() -> None:
    a, b, c = (compute_leaf_hash(x) for x in IDS[:3])
    expected = keccak(b"\x01" + keccak(b"\x01" + a + b) + c)
    assert compute_merkle_root(IDS[:3]) == to_hex(expected)


def test_root_depends_on_order() -> None:
    assert compute_merkle_root(IDS[:4]) != compute_merkle_root([IDS[1], IDS[0], *IDS[2:4]])


@given(st.integers(1, 40), st.data())
def test_every_proof_verifies_and_tampering_fails(count: int, data: st.DataObject) -> None:
    ids = [to_hex(keccak(i.to_bytes(4, "big"))) for i in range(count)]
    root = compute_merkle_root(ids)
    index = data.draw(st.integers(0, count - 1))
    proof = compute_merkle_proof(ids, index)
    assert compute_merkle_proofs(ids)[index] == proof
    assert is_valid_merkle_proof(root, ids[index], index, count, proof)
    other = (index + 1) % count
    if count > 1:
        assert not is_valid_merkle_proof(root, ids[other], index, count, proof)
        assert not is_valid_merkle_proof(root, ids[index], other, count, proof)
    assert not is_valid_merkle_proof(root, ids[index], index, count, (*proof, ZERO_HASH))


def test_malformed_proof_is_false_not_an_exception() -> None:
    root = compute_merkle_root(IDS)
    assert not is_valid_merkle_proof(root, IDS[0], 0, len(IDS), ("0xnothex",))
    assert not is_valid_merkle_proof(root, IDS[0], 99, len(IDS), ())
