"""Canonical encoding, keccak-256, and the ABI words the contracts hash.

One canonical JSON encoding defines every content id: UTF-8, keys sorted, no whitespace,
integers as integers, floats only if finite. ABI helpers produce exactly the bytes of Solidity's
`abi.encode` for static types, so Python and the contracts hash the same preimages.
"""

from __future__ import annotations

import json
import math
from typing import Any

from sha3 import keccak_256

from protocol.errors import EncodingError

ZERO_HASH = "0x" + "00" * 32


def keccak(data: bytes) -> bytes:
    """keccak-256 (Ethereum's, not NIST SHA3-256)."""
    digest: bytes = keccak_256(data).digest()
    return digest


def to_hex(data: bytes) -> str:
    return "0x" + data.hex()


def from_hex(value: str) -> bytes:
    """Decode 0x-prefixed hex; raises EncodingError on anything else."""
    if not value.startswith("0x"):
        raise EncodingError(f"expected 0x-prefixed hex, got {value[:12]!r}")
    try:
        return bytes.fromhex(value[2:])
    except ValueError as exc:
        raise EncodingError(f"invalid hex: {value[:12]!r}") from exc


def keccak_hex(data: bytes) -> str:
    return to_hex(keccak(data))


def _check_canonical(value: Any) -> None:
    """Reject what has no single canonical JSON form."""
    if isinstance(value, float) and not math.isfinite(value):
        raise EncodingError("non-finite numbers have no canonical encoding")
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise EncodingError("object keys must be strings")
            _check_canonical(item)
    elif isinstance(value, list | tuple):
        for item in value:
            _check_canonical(item)


def canonical_json(value: Any) -> bytes:
    """The canonical encoding: sorted keys, no whitespace, UTF-8 (not ASCII-escaped)."""
    _check_canonical(value)
    text = json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )
    return text.encode("utf-8")


# --- ABI words (Solidity `abi.encode` of static types) -----------------------------------------


def abi_uint(value: int, bits: int = 256) -> bytes:
    if not 0 <= value < 2**bits:
        raise EncodingError(f"{value} does not fit in uint{bits}")
    return value.to_bytes(32, "big")


def abi_bytes32(value: str | bytes) -> bytes:
    raw = from_hex(value) if isinstance(value, str) else value
    if len(raw) != 32:
        raise EncodingError(f"expected 32 bytes, got {len(raw)}")
    return raw


def abi_address(value: str) -> bytes:
    raw = from_hex(value)
    if len(raw) != 20:
        raise EncodingError(f"expected a 20-byte address, got {len(raw)} bytes")
    return raw.rjust(32, b"\0")
