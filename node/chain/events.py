"""Contract event logs filtered and decoded directly, without web3's request stack.

Every node polls the Ledger's `TraceSubmitted` and `VerdictFinalized` events twice a second and
reads a trace's submission event when it first hears of the trace. Through web3's
`ContractEvent.get_logs` (filter building, formatters, middleware, its event decoder) that was
6% of a loaded node's profile, and reading the logs here cut the CPU per audited trace of the
five-node devnet by about a fifth (interleaved load probes, README). `EventCodec` holds what
one event needs (its topic and the ABI types of its indexed and data fields, read once from
its ABI entry) and returns each log in web3's shape, so callers cannot tell the difference:
`args` by field name (addresses checksummed), `blockNumber`, `transactionHash`, `address`.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from eth_abi.abi import decode as abi_decode
from eth_abi.abi import encode as abi_encode
from eth_abi.exceptions import DecodingError
from eth_utils.abi import collapse_if_tuple, event_abi_to_log_topic
from eth_utils.address import to_checksum_address

from node.chain.calls import CallOutputError, normalize_output


class LogDecodeError(CallOutputError):
    """A log whose topics or data are not the event's ABI encoding."""


@dataclass(frozen=True)
class Field:
    name: str
    type: str


@dataclass(frozen=True)
class EventCodec:
    """How to filter one event's logs and decode them."""

    topic: bytes
    indexed: tuple[Field, ...]
    data: tuple[Field, ...]

    @classmethod
    def of(cls, abi: Mapping[str, Any]) -> EventCodec:
        """The codec of an event ABI entry (cached: a node reads the same few events)."""
        return _codec_of(json.dumps(abi, sort_keys=True))

    def topics(self, argument_filters: Mapping[str, Any]) -> list[str | None]:
        """The `topics` of an `eth_getLogs` filter: the event, then each filtered indexed field
        in order (None matches any value), without trailing wildcards."""
        unknown = set(argument_filters) - {field.name for field in self.indexed}
        if unknown:
            raise ValueError(f"not indexed fields of the event: {sorted(unknown)}")
        topics: list[str | None] = [_hex(self.topic)]
        for field in self.indexed:
            value = argument_filters.get(field.name)
            topics.append(None if value is None else _hex(abi_encode([field.type], [value])))
        while topics[-1] is None:
            topics.pop()
        return topics

    def decode(self, log: Mapping[str, Any]) -> dict[str, Any]:
        """One raw `eth_getLogs` entry in web3's shape."""
        try:
            topics = [_bytes(topic) for topic in log["topics"]]
            if len(topics) != 1 + len(self.indexed) or topics[0] != self.topic:
                raise LogDecodeError(f"topics {log['topics']} are not those of this event")
            indexed = [
                (field, abi_decode([field.type], topic)[0])
                for field, topic in zip(self.indexed, topics[1:], strict=True)
            ]
            values = abi_decode([field.type for field in self.data], _bytes(log["data"]))
            decoded = [*indexed, *zip(self.data, values, strict=True)]
            return {
                "args": {f.name: normalize_output(f.type, value) for f, value in decoded},
                "address": to_checksum_address(log["address"]),
                "blockNumber": int(log["blockNumber"], 16),
                "transactionHash": _bytes(log["transactionHash"]),
                "logIndex": int(log["logIndex"], 16),
            }
        except LogDecodeError:
            raise
        except (AttributeError, DecodingError, KeyError, TypeError, ValueError) as exc:
            raise LogDecodeError(f"undecodable log: {exc!r}") from exc


@functools.cache
def _codec_of(abi_json: str) -> EventCodec:
    abi = json.loads(abi_json)
    fields = [(Field(f["name"], collapse_if_tuple(f)), bool(f["indexed"])) for f in abi["inputs"]]
    if any(indexed and _is_dynamic(field.type) for field, indexed in fields):
        # An indexed dynamic field is stored as its hash: it cannot be decoded back.
        raise ValueError(f"event {abi['name']} indexes a dynamic field")
    return EventCodec(
        topic=event_abi_to_log_topic(abi),
        indexed=tuple(field for field, indexed in fields if indexed),
        data=tuple(field for field, indexed in fields if not indexed),
    )


def _is_dynamic(abi_type: str) -> bool:
    return abi_type in ("bytes", "string") or abi_type.endswith("]") or abi_type.startswith("(")


def _hex(data: bytes) -> str:
    return "0x" + data.hex()


def _bytes(value: str) -> bytes:
    return bytes.fromhex(value.removeprefix("0x"))
