"""The committed contract artifacts are reproducible, and the contracts agree with protocol/.

Compiles through contracts/solc/solc.js (solc-js), so these tests need `npm ci` but no network.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from contracts import ARTIFACT_DIR, CONTRACT_NAMES, ArtifactError, load_artifact
from contracts.build import compile_standard, write_artifacts
from protocol.eip712 import REVEAL_TYPE, VOTE_TYPE
from protocol.encoding import keccak
from protocol.models import SegmentVerdict, Tier, TraceVerdict, Vote
from protocol.params import DEVNET, MAX_COMMITTEE_SIZE, MAX_ROUNDS, MAX_SEGMENTS


@pytest.fixture(scope="module")
def solc_output() -> dict[str, Any]:
    return compile_standard()


def _walk(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list):
        for item in node:
            yield from _walk(item)


def _enums(output: dict[str, Any]) -> dict[str, list[str]]:
    return {
        node["canonicalName"]: [member["name"] for member in node["members"]]
        for source in output["sources"].values()
        for node in _walk(source["ast"])
        if node.get("nodeType") == "EnumDefinition"
    }


def _constants(output: dict[str, Any], contract: str) -> dict[str, Any]:
    """Literal values of the constants declared in `contract` (a library or contract)."""
    values: dict[str, Any] = {}
    for source in output["sources"].values():
        for node in _walk(source["ast"]):
            if node.get("nodeType") != "ContractDefinition" or node["name"] != contract:
                continue
            for member in node["nodes"]:
                value = member.get("value") or {}
                if member.get("constant") and value.get("nodeType") == "Literal":
                    values[member["name"]] = value["value"]
    return values


def test_recompiling_gives_the_committed_artifacts(tmp_path: Path) -> None:
    written = write_artifacts(tmp_path)
    assert sorted(path.name for path in written) == sorted(
        path.name for path in ARTIFACT_DIR.glob("*.json")
    )
    for path in written:
        assert path.read_bytes() == (ARTIFACT_DIR / path.name).read_bytes(), path.name


@pytest.mark.parametrize(
    ("canonical_name", "python_enum"),
    [
        ("IRegistry.Tier", Tier),
        ("ILedger.Vote", Vote),
        ("ILedger.SegmentVerdict", SegmentVerdict),
        ("ILedger.TraceVerdict", TraceVerdict),
    ],
)
def test_solidity_enums_declare_the_python_order(
    solc_output: dict[str, Any], canonical_name: str, python_enum: Any
) -> None:
    assert _enums(solc_output)[canonical_name] == [member.name for member in python_enum]
    assert [member.value for member in python_enum] == list(range(len(python_enum)))


def test_the_abi_carries_the_enums() -> None:
    abi = load_artifact("Ledger").abi
    verdict_of = next(item for item in abi if item.get("name") == "verdictOf")
    assert verdict_of["outputs"][0]["internalType"] == "enum ILedger.TraceVerdict"
    finalized = next(item for item in abi if item.get("name") == "VerdictFinalized")
    assert finalized["inputs"][1]["internalType"] == "enum ILedger.TraceVerdict"


def test_consensus_constants_equal_the_devnet_preset(solc_output: dict[str, Any]) -> None:
    constants = {name: int(value) for name, value in _constants(solc_output, "Consensus").items()}
    assert constants["QUORUM_NUM"] == DEVNET.quorum_num
    assert constants["QUORUM_DEN"] == DEVNET.quorum_den
    assert constants["SUPERMAJORITY_NUM"] == DEVNET.supermajority_num
    assert constants["SUPERMAJORITY_DEN"] == DEVNET.supermajority_den
    assert constants["SLASH_BPS"] == DEVNET.slash_bps
    assert constants["ABSTAIN_ESCALATION_BPS"] == DEVNET.abstain_escalation_bps
    assert constants["MAX_ROUNDS"] == MAX_ROUNDS
    assert constants["MAX_SEGMENTS"] == MAX_SEGMENTS
    assert constants["MAX_COMMITTEE_SIZE"] == MAX_COMMITTEE_SIZE


def test_vote_typehash_literal_matches_the_type_string(solc_output: dict[str, Any]) -> None:
    literal = _constants(solc_output, "LedgerBase")["_VOTE_TYPEHASH"]
    assert int(literal, 16) == int.from_bytes(keccak(VOTE_TYPE.encode()), "big")
    assert REVEAL_TYPE.endswith(VOTE_TYPE)


def test_load_artifact() -> None:
    for name in CONTRACT_NAMES:
        artifact = load_artifact(name)
        assert artifact.bytecode.startswith("0x") and len(artifact.bytecode) > 2
        assert artifact.deployed_bytecode.startswith("0x")
    names = {item.get("name") for item in load_artifact("Ledger").abi}
    assert {"submitTrace", "finalize", "verdictOf", "slashEquivocation"} <= names
    with pytest.raises(ArtifactError):
        load_artifact("NoSuchContract")
