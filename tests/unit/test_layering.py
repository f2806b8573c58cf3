"""The three layers import in one direction, and I/O libraries stay where the design puts them."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

#: Everything protocol/ may import: pure standard-library modules and pure third-party ones.
PROTOCOL_ALLOWED = {
    "__future__",
    "abc",
    "bisect",
    "collections",
    "dataclasses",
    "decimal",
    "enum",
    "fractions",
    "functools",
    "heapq",
    "itertools",
    "json",
    "math",
    "operator",
    "re",
    "string",
    "typing",
    "unicodedata",
    "eth_account",
    "eth_hash",
    "eth_keys",
    "eth_utils",
    "pydantic",
    "sha3",
    "protocol",
}

#: Our packages each layer must not import.
FORBIDDEN_OURS = {
    "protocol": {"auditors", "node", "devnet", "contracts"},
    "auditors": {"node", "devnet", "contracts"},
    "node": {"devnet"},
}

#: The CLI is the one entry point of node/ that may reach up into devnet/ (`trustnode devnet`).
LAYERING_EXCEPTIONS = {"node/cli.py"}

#: Libraries only one place may import.
CONFINED = {
    "trio": "node/p2p",
    "libp2p": "node/p2p",
    "web3": "node/chain",
    "xllamacpp": "node/llm",
    "sympy": "auditors/checkers",
}


def _imports(path: Path) -> Iterator[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.module.split(".")[0]


def _sources(package: str) -> list[Path]:
    return sorted((REPO / package).rglob("*.py"))


def test_protocol_imports_only_pure_modules() -> None:
    offenders = {
        f"{path.relative_to(REPO)}: {name}"
        for path in _sources("protocol")
        for name in _imports(path)
        if name not in PROTOCOL_ALLOWED
    }
    assert not offenders, sorted(offenders)


@pytest.mark.parametrize("layer", sorted(FORBIDDEN_OURS))
def test_layers_import_in_one_direction(layer: str) -> None:
    offenders = {
        f"{path.relative_to(REPO)}: {name}"
        for path in _sources(layer)
        for name in _imports(path)
        if name in FORBIDDEN_OURS[layer] and str(path.relative_to(REPO)) not in LAYERING_EXCEPTIONS
    }
    assert not offenders, sorted(offenders)


@pytest.mark.parametrize("library", sorted(CONFINED))
def test_io_libraries_stay_in_their_module(library: str) -> None:
    home = REPO / CONFINED[library]
    offenders = [
        str(path.relative_to(REPO))
        for package in ("protocol", "auditors", "node", "devnet", "contracts")
        for path in _sources(package)
        if library in set(_imports(path)) and home not in path.parents
    ]
    assert not offenders


def test_the_check_sees_imports() -> None:
    """Guard against a vacuous pass: the scanner must find protocol's own imports."""
    names = set(_imports(REPO / "protocol" / "eip712.py"))
    assert {"protocol", "__future__"} <= names
