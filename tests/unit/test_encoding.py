from __future__ import annotations

import pytest
from eth_abi import encode as abi_encode
from eth_hash.auto import keccak as eth_hash_keccak
from hypothesis import given
from hypothesis import strategies as st

from protocol.encoding import (
    abi_address,
    abi_bytes32,
    abi_uint,
    canonical_json,
    from_hex,
    keccak,
    keccak_hex,
)
from protocol.errors import EncodingError
from protocol.ids import compute_node_id, compute_trace_id
from protocol.models import Level, Span, Trace


def test_keccak_is_ethereum_keccak_not_sha3() -> None:
    assert keccak_hex(b"") == "0xc5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470"


@given(st.binary(max_size=300))
def test_keccak_agrees_with_eth_hash(data: bytes) -> None:
    assert keccak(data) == eth_hash_keccak(data)


def test_canonical_json_sorts_keys_and_drops_whitespace() -> None:
    assert canonical_json({"b": [1, 2], "a": "é"}) == '{"a":"é","b":[1,2]}'.encode()


@pytest.mark.parametrize("value", [float("nan"), float("inf"), {"x": [float("-inf")]}, {1: "a"}])
def test_canonical_json_rejects_what_has_no_canonical_form(value: object) -> None:
    with pytest.raises(EncodingError):
        canonical_json(value)


@given(st.integers(0, 2**256 - 1))
def test_abi_uint_matches_eth_abi(value: int) -> None:
    assert abi_uint(value) == abi_encode(["uint256"], [value])


def test_abi_words_match_eth_abi() -> None:
    address = "0x" + "ab" * 20
    word = "0x" + "cd" * 32
    assert abi_address(address) == abi_encode(["address"], [address])
    assert abi_bytes32(word) == abi_encode(["bytes32"], [from_hex(word)])
    assert abi_uint(255, 8) == abi_encode(["uint8"], [255])


@pytest.mark.parametrize(
    ("call", "arg"),
    [(abi_uint, 2**256), (abi_uint, -1), (abi_bytes32, "0x12"), (abi_address, "0x" + "00" * 32)],
)
def test_abi_words_reject_out_of_range(call: object, arg: object) -> None:
    with pytest.raises(EncodingError):
        call(arg)  # type: ignore[operator]


def test_from_hex_requires_prefix_and_hex() -> None:
    for bad in ("1234", "0xzz"):
        with pytest.raises(EncodingError):
            from_hex(bad)


def test_trace_id_is_content_addressed() -> None:
    a = Trace(problem="p", steps=("1 + 1 = 2",))
    b = Trace.model_validate_json('{"steps": ["1 + 1 = 2"], "problem": "p"}')
    c = Trace(problem="p", steps=("1 + 1 = 3",))
    assert compute_trace_id(a) == compute_trace_id(b) != compute_trace_id(c)


def test_node_id_commits_to_text_and_structure() -> None:
    trace_id, text = "0x" + "11" * 32, "abcdef"
    span, claim = Span(start=0, end=3), Span(start=1, end=3)
    parent, dep = "0x" + "33" * 32, "0x" + "44" * 32

    def node_id(**change: object) -> str:
        args: dict[str, object] = {
            "trace_id": trace_id,
            "level": Level.STEP,
            "span": span,
            "text": text,
            "parent": parent,
            "deps": (dep,),
            "claim": claim,
        }
        return compute_node_id(**{**args, **change})  # type: ignore[arg-type]

    base = node_id()
    variants = [
        node_id(trace_id="0x" + "22" * 32),
        node_id(level=Level.TACTIC),
        node_id(span=Span(start=0, end=4)),
        node_id(text="abXdef"),
        node_id(parent=None),
        node_id(deps=()),
        node_id(deps=(dep, dep)),
        node_id(claim=Span(start=2, end=3)),
    ]
    assert len({base, *variants}) == len(variants) + 1
    assert base == node_id(text="abcXYZ")  # only the node's own span of the text counts
