"""Binary Merkle tree over HDAG node ids, with proofs a contract can check.

Leaves and inner nodes are domain-separated (0x00 / 0x01 prefix) so no inner node can pass for
a leaf. A level with an odd count carries its last node up unchanged. The root of an empty list
is the zero hash.
"""

from __future__ import annotations

from collections.abc import Sequence

from protocol.encoding import ZERO_HASH, abi_bytes32, keccak, to_hex
from protocol.errors import EncodingError

_LEAF_PREFIX = b"\x00"
_NODE_PREFIX = b"\x01"


def compute_leaf_hash(node_id: str) -> bytes:
    return keccak(_LEAF_PREFIX + abi_bytes32(node_id))


def _hash_pair(left: bytes, right: bytes) -> bytes:
    return keccak(_NODE_PREFIX + left + right)


def _next_level(level: list[bytes]) -> list[bytes]:
    paired = [_hash_pair(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
    if len(level) % 2:
        paired.append(level[-1])
    return paired


def compute_merkle_root(node_ids: Sequence[str]) -> str:
    if not node_ids:
        return ZERO_HASH
    level = [compute_leaf_hash(node_id) for node_id in node_ids]
    while len(level) > 1:
        level = _next_level(level)
    return to_hex(level[0])


def _compute_levels(node_ids: Sequence[str]) -> list[list[bytes]]:
    levels = [[compute_leaf_hash(node_id) for node_id in node_ids]]
    while len(levels[-1]) > 1:
        levels.append(_next_level(levels[-1]))
    return levels


def _proof_from_levels(levels: Sequence[Sequence[bytes]], index: int) -> tuple[str, ...]:
    proof: list[str] = []
    for level in levels[:-1]:
        sibling = index ^ 1
        if sibling < len(level):
            proof.append(to_hex(level[sibling]))
        index //= 2
    return tuple(proof)


def compute_merkle_proof(node_ids: Sequence[str], index: int) -> tuple[str, ...]:
    """Sibling hashes from leaf `index` up; a carried-up odd node contributes no sibling."""
    if not 0 <= index < len(node_ids):
        raise IndexError(f"leaf {index} out of range for {len(node_ids)} leaves")
    return _proof_from_levels(_compute_levels(node_ids), index)


def compute_merkle_proofs(node_ids: Sequence[str]) -> tuple[tuple[str, ...], ...]:
    """Every leaf's proof from one pass over the tree: O(n log n) rather than O(n^2)."""
    levels = _compute_levels(node_ids)
    return tuple(_proof_from_levels(levels, index) for index in range(len(node_ids)))


def is_valid_merkle_proof(
    root: str, node_id: str, index: int, leaf_count: int, proof: Sequence[str]
) -> bool:
    """True when `proof` places `node_id` at `index` of a tree of `leaf_count` leaves."""
    if not 0 <= index < leaf_count:
        return False
    try:
        return _fold_proof(node_id, index, leaf_count, proof) == root
    except EncodingError:
        return False


def _fold_proof(node_id: str, index: int, leaf_count: int, proof: Sequence[str]) -> str | None:
    current = compute_leaf_hash(node_id)
    remaining = list(proof)
    width = leaf_count
    while width > 1:
        sibling = index ^ 1
        if sibling < width:
            if not remaining:
                return None
            other = abi_bytes32(remaining.pop(0))
            current = _hash_pair(other, current) if index % 2 else _hash_pair(current, other)
        index //= 2
        width = (width + 1) // 2
    return None if remaining else to_hex(current)
