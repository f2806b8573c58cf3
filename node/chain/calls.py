"""Contract view calls encoded and decoded directly, without web3's request stack.

web3's `ContractFunction.call` runs every request through its formatters, validation and
middleware: measured on this project's 2-core host, a `stakeOf` call cost 4.5 ms of CPU, the
same `eth_call` encoded with eth_abi and posted on the client's keep-alive session 0.6 ms, and a
node makes a few such calls per audited trace. `CallCodec` holds what one function needs (its
selector and ABI types, read once from the function's ABI entry); the answer has web3's shape,
so callers cannot tell the difference: one output is returned as itself, several as a list, a
struct as a tuple, and addresses are checksummed.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from eth_abi.abi import decode as abi_decode
from eth_abi.abi import encode as abi_encode
from eth_abi.exceptions import DecodingError
from eth_abi.grammar import ABIType, TupleType, parse
from eth_utils.abi import (
    function_abi_to_4byte_selector,
    get_abi_input_types,
    get_abi_output_types,
)
from eth_utils.address import to_checksum_address


class CallOutputError(ValueError):
    """The answer is not the function's ABI encoding (no contract there, or another one)."""


@dataclass(frozen=True)
class CallCodec:
    """How to encode a call of one function and decode its answer."""

    selector: bytes
    input_types: tuple[str, ...]
    output_types: tuple[str, ...]

    @classmethod
    def of(cls, abi: Mapping[str, Any]) -> CallCodec:
        """The codec of a function ABI entry (cached: a node calls the same few functions)."""
        return _codec_of(json.dumps(abi, sort_keys=True))

    def encode(self, args: Sequence[Any]) -> str:
        """The call's `data`, 0x-prefixed hex."""
        return "0x" + (self.selector + abi_encode(self.input_types, list(args))).hex()

    def decode(self, data: bytes) -> Any:
        """The answer in web3's shape. Raises CallOutputError when `data` does not decode, as
        for an empty answer from an address without code."""
        if not self.output_types:
            return []
        try:
            values = abi_decode(self.output_types, data)
        except DecodingError as exc:
            raise CallOutputError(
                f"cannot decode {len(data)} bytes as {self.output_types}"
            ) from exc
        normalized = [
            _normalize(parsed, value)
            for parsed, value in zip(_parsed(self.output_types), values, strict=True)
        ]
        return normalized[0] if len(normalized) == 1 else normalized


@functools.cache
def _codec_of(abi_json: str) -> CallCodec:
    abi = json.loads(abi_json)
    return CallCodec(
        selector=function_abi_to_4byte_selector(abi),
        input_types=tuple(get_abi_input_types(abi)),
        output_types=tuple(get_abi_output_types(abi)),
    )


@functools.cache
def _parsed(types: tuple[str, ...]) -> tuple[ABIType, ...]:
    return tuple(parse(name) for name in types)


def normalize_output(type_name: str, value: Any) -> Any:
    """A value eth_abi decoded as `type_name`, in web3's shape."""
    return _normalize(_parsed((type_name,))[0], value)


def _normalize(abi_type: ABIType, value: Any) -> Any:
    """Checksummed addresses anywhere in the value, as web3 returns them."""
    if abi_type.is_array:
        return [_normalize(abi_type.item_type, item) for item in value]
    if isinstance(abi_type, TupleType):
        return tuple(
            _normalize(component, item)
            for component, item in zip(abi_type.components, value, strict=True)
        )
    if getattr(abi_type, "base", None) == "address":
        return to_checksum_address(value)
    return value
