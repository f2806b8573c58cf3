"""A node's keys: its Ethereum account, its X25519 segment-encryption key, its libp2p host key.

The registry stores the X25519 public key (segments are sealed to it) and the libp2p peer id
(gossip peers are matched to auditors by it). `derive_identity` makes all three from one
account key, for development networks where reproducibility matters more than key separation.
"""

from __future__ import annotations

from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from protocol.encoding import keccak
from protocol.signing import compute_address

_BASE58_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
#: libp2p PublicKey protobuf: field 1 (KeyType) = 1 (Ed25519), field 2 (Data) = 32 bytes.
_ED25519_PROTOBUF_PREFIX = bytes([0x08, 0x01, 0x12, 0x20])
#: Multihash "identity" code and length: small keys are inlined in the peer id.
_IDENTITY_MULTIHASH = bytes([0x00, 0x24])


@dataclass(frozen=True)
class NodeIdentity:
    account_key: str
    x25519: X25519PrivateKey
    host_key: Ed25519PrivateKey

    @property
    def address(self) -> str:
        return compute_address(self.account_key)

    @property
    def x25519_public(self) -> bytes:
        return self.x25519.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)

    @property
    def peer_id(self) -> bytes:
        return compute_peer_id(
            self.host_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        )


def derive_identity(account_key: str) -> NodeIdentity:
    """Deterministic sub-keys from the account key (domain-separated keccak seeds)."""
    secret = bytes.fromhex(account_key.removeprefix("0x"))
    return NodeIdentity(
        account_key=account_key,
        x25519=X25519PrivateKey.from_private_bytes(keccak(b"trust/x25519/v1" + secret)),
        host_key=Ed25519PrivateKey.from_private_bytes(keccak(b"trust/ed25519/v1" + secret)),
    )


def compute_peer_id(ed25519_public: bytes) -> bytes:
    """The binary libp2p peer id of an Ed25519 public key (identity multihash of its protobuf)."""
    return _IDENTITY_MULTIHASH + _ED25519_PROTOBUF_PREFIX + ed25519_public


def encode_base58(data: bytes) -> str:
    """Bitcoin base58, as libp2p prints peer ids ("12D3KooW...")."""
    number = int.from_bytes(data, "big")
    digits = ""
    while number:
        number, remainder = divmod(number, 58)
        digits = _BASE58_ALPHABET[remainder] + digits
    leading_zeros = len(data) - len(data.lstrip(b"\0"))
    return "1" * leading_zeros + digits
