from __future__ import annotations

from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat
from libp2p.crypto.ed25519 import Ed25519PrivateKey as Libp2pEd25519
from libp2p.peer.id import ID

from devnet.accounts import dev_private_key
from node.identity import derive_identity, encode_base58


def test_peer_id_matches_libp2p() -> None:
    identity = derive_identity(dev_private_key(1))
    raw = identity.host_key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    expected = ID.from_pubkey(Libp2pEd25519.from_bytes(raw).get_public_key())
    assert identity.peer_id == expected.to_bytes()
    assert encode_base58(identity.peer_id) == expected.to_base58()


def test_identity_is_deterministic_and_keys_are_separate() -> None:
    first, again = derive_identity(dev_private_key(1)), derive_identity(dev_private_key(1))
    other = derive_identity(dev_private_key(2))
    assert first.x25519_public == again.x25519_public != other.x25519_public
    assert first.peer_id == again.peer_id != other.peer_id
    assert first.address == "0x70997970c51812dc3a010c7d01b50e0d17dc79c8"
    assert len(first.x25519_public) == 32


def test_base58_keeps_leading_zero_bytes() -> None:
    assert encode_base58(b"\0\0\x01") == "112"
    assert encode_base58(b"") == ""
