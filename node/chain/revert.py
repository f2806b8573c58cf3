"""Decoding revert data into the contracts' custom error names and arguments."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from eth_abi.abi import decode as abi_decode

from protocol.encoding import keccak

#: Solidity's built-in `Error(string)` and `Panic(uint256)` selectors.
_ERROR_STRING = bytes.fromhex("08c379a0")
_PANIC = bytes.fromhex("4e487b71")


def _canonical_type(component: Mapping[str, Any]) -> str:
    kind = str(component["type"])
    if kind.startswith("tuple"):
        inner = ",".join(_canonical_type(c) for c in component["components"])
        return f"({inner}){kind[len('tuple') :]}"
    return kind


class ErrorDecoder:
    """Maps 4-byte selectors of every `error` entry in the given ABIs to name and arg types."""

    def __init__(self, abis: Iterable[Sequence[Mapping[str, Any]]] = ()) -> None:
        self._errors: dict[bytes, tuple[str, list[str]]] = {}
        for abi in abis:
            self.add(abi)

    def add(self, abi: Sequence[Mapping[str, Any]]) -> None:
        """Learn the custom errors of one more contract."""
        for entry in abi:
            if entry.get("type") == "error":
                types = [_canonical_type(arg) for arg in entry.get("inputs", [])]
                signature = f"{entry['name']}({','.join(types)})"
                self._errors[keccak(signature.encode())[:4]] = (str(entry["name"]), types)

    def decode(self, data: bytes) -> tuple[str, tuple[Any, ...]]:
        """(name, args) of revert data; unknown selectors come back as their hex."""
        selector, payload = data[:4], data[4:]
        if selector == _ERROR_STRING:
            return "Error", tuple(abi_decode(["string"], payload))
        if selector == _PANIC:
            return "Panic", tuple(abi_decode(["uint256"], payload))
        if selector in self._errors:
            name, types = self._errors[selector]
            return name, tuple(abi_decode(types, payload))
        return ("0x" + data.hex()) if data else "revert without data", ()
