"""`EventCodec`: eth_getLogs filters and log decoding without web3 (parity with web3 on a real
chain is in tests/integration/test_ledger_parity.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from eth_abi.abi import encode as abi_encode

from node.chain.events import EventCodec, LogDecodeError

ARTIFACTS = Path(__file__).resolve().parents[2] / "contracts" / "artifacts"
TRACE_ID = b"\x11" * 32
SUBMITTER = "0x" + "ab" * 20


def _event_abi(contract: str, name: str) -> dict[str, Any]:
    abi = json.loads((ARTIFACTS / f"{contract}.json").read_text())["abi"]
    return next(entry for entry in abi if entry.get("type") == "event" and entry["name"] == name)


CODEC = EventCodec.of(_event_abi("Ledger", "TraceSubmitted"))


def _raw_log(**changes: Any) -> dict[str, Any]:
    log = {
        "address": "0x" + "cd" * 20,
        "topics": [
            "0x" + CODEC.topic.hex(),
            "0x" + TRACE_ID.hex(),
            "0x" + abi_encode(["address"], [SUBMITTER]).hex(),
        ],
        "data": "0x"
        + abi_encode(
            ["bytes32", "bytes32", "uint16", "bytes"], [b"\x01" * 32, b"\x02" * 32, 3, b"\x00\x05"]
        ).hex(),
        "blockNumber": "0x2a",
        "transactionHash": "0x" + "ee" * 32,
        "logIndex": "0x0",
    }
    return log | changes


def test_a_log_decodes_into_named_fields_with_checksummed_addresses() -> None:
    log = CODEC.decode(_raw_log())
    assert log["args"] == {
        "traceId": TRACE_ID,
        "submitter": "0xABaBaBaBABabABabAbAbABAbABabababaBaBABaB",
        "root": b"\x01" * 32,
        "seed": b"\x02" * 32,
        "k": 3,
        "segmentLayout": b"\x00\x05",
    }
    assert (log["blockNumber"], log["transactionHash"], log["logIndex"]) == (42, b"\xee" * 32, 0)


def test_filters_name_indexed_fields_in_order_without_trailing_wildcards() -> None:
    event = "0x" + CODEC.topic.hex()
    assert CODEC.topics({}) == [event]
    assert CODEC.topics({"traceId": TRACE_ID}) == [event, "0x" + TRACE_ID.hex()]
    submitter = "0x" + abi_encode(["address"], [SUBMITTER]).hex()
    assert CODEC.topics({"submitter": SUBMITTER}) == [event, None, submitter]


def test_a_filter_on_a_field_that_is_not_indexed_is_refused() -> None:
    with pytest.raises(ValueError, match="not indexed"):
        CODEC.topics({"root": b"\x01" * 32})


@pytest.mark.parametrize(
    "changes",
    [
        {"topics": ["0x" + "00" * 32, "0x" + TRACE_ID.hex(), "0x" + "00" * 32]},  # another event
        {"topics": ["0x" + CODEC.topic.hex()]},  # indexed fields missing
        {"data": "0x1234"},  # truncated data
        {"blockNumber": "forty-two"},
        {"transactionHash": None},
    ],
)
def test_a_malformed_log_raises_a_decode_error(changes: dict[str, Any]) -> None:
    with pytest.raises(LogDecodeError):
        CODEC.decode(_raw_log(**changes))


def test_an_event_indexing_a_dynamic_field_is_refused() -> None:
    abi = {
        "type": "event",
        "name": "Named",
        "anonymous": False,
        "inputs": [{"name": "label", "type": "string", "indexed": True}],
    }
    with pytest.raises(ValueError, match="dynamic"):
        EventCodec.of(abi)
