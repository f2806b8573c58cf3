from __future__ import annotations

from eth_abi.abi import encode

from contracts import load_artifact
from node.chain.revert import ErrorDecoder
from protocol.encoding import keccak

ABI = [
    {
        "type": "error",
        "name": "NotAssigned",
        "inputs": [
            {"name": "auditor", "type": "address"},
            {"name": "round", "type": "uint8"},
            {"name": "segment", "type": "uint32"},
        ],
    },
    {
        "type": "error",
        "name": "Nested",
        "inputs": [
            {
                "name": "entry",
                "type": "tuple",
                "components": [{"name": "a", "type": "uint256"}, {"name": "b", "type": "bytes32"}],
            }
        ],
    },
]


def _selector(signature: str) -> bytes:
    return keccak(signature.encode())[:4]


def test_custom_errors_decode_with_their_arguments() -> None:
    decoder = ErrorDecoder([ABI])
    address = "0x" + "11" * 20
    data = _selector("NotAssigned(address,uint8,uint32)") + encode(
        ["address", "uint8", "uint32"], [address, 1, 7]
    )
    assert decoder.decode(data) == ("NotAssigned", (address, 1, 7))
    nested = _selector("Nested((uint256,bytes32))") + encode(
        ["(uint256,bytes32)"], [(5, b"x" * 32)]
    )
    assert decoder.decode(nested) == ("Nested", ((5, b"x" * 32),))


def test_builtin_and_unknown_reverts() -> None:
    decoder = ErrorDecoder()
    assert decoder.decode(bytes.fromhex("08c379a0") + encode(["string"], ["boom"])) == (
        "Error",
        ("boom",),
    )
    assert decoder.decode(bytes.fromhex("4e487b71") + encode(["uint256"], [0x11])) == (
        "Panic",
        (0x11,),
    )
    assert decoder.decode(b"\x01\x02\x03\x04") == ("0x01020304", ())
    assert decoder.decode(b"") == ("revert without data", ())


def test_every_ledger_error_is_decodable() -> None:
    decoder = ErrorDecoder()
    for name in ("Ledger", "Registry"):
        decoder.add(load_artifact(name).abi)
    errors = [e for e in load_artifact("Ledger").abi if e["type"] == "error"]
    assert errors
    for entry in errors:
        types = [arg["type"] for arg in entry["inputs"]]
        if any(t.startswith("tuple") for t in types):
            continue
        signature = f"{entry['name']}({','.join(types)})"
        zeros = encode(types, [_zero(t) for t in types])
        assert decoder.decode(_selector(signature) + zeros)[0] == entry["name"]


def _zero(kind: str) -> object:
    if kind == "address":
        return "0x" + "00" * 20
    if kind.startswith("bytes") and kind != "bytes":
        return bytes(int(kind[5:]))
    if kind in ("bytes", "string"):
        return b"" if kind == "bytes" else ""
    if kind == "bool":
        return False
    return 0
