"""Solidity sources, their committed compiled artifacts, and the loader for them.

`load_artifact("Ledger")` reads `contracts/artifacts/Ledger.json`, written by
`python -m contracts.build`; no compiler is needed at run time.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["ARTIFACT_DIR", "CONTRACT_NAMES", "Artifact", "ArtifactError", "load_artifact"]

ARTIFACT_DIR = Path(__file__).resolve().parent / "artifacts"

#: The deployable contracts, in deployment order (the Ledger needs the Registry's address).
CONTRACT_NAMES = ("Registry", "Ledger")


class ArtifactError(Exception):
    """An artifact is missing or malformed."""


@dataclass(frozen=True)
class Artifact:
    """A compiled contract: its ABI and creation / runtime bytecode as 0x-hex."""

    name: str
    abi: list[dict[str, Any]]
    bytecode: str
    deployed_bytecode: str


def load_artifact(name: str) -> Artifact:
    """The committed artifact of contract `name`; ArtifactError when absent or malformed."""
    path = ARTIFACT_DIR / f"{name}.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return Artifact(
            name=name,
            abi=data["abi"],
            bytecode=data["bytecode"],
            deployed_bytecode=data["deployedBytecode"],
        )
    except FileNotFoundError as exc:
        raise ArtifactError(f"no artifact for contract {name!r} in {ARTIFACT_DIR}") from exc
    except (ValueError, KeyError, TypeError) as exc:
        raise ArtifactError(f"malformed artifact {path}: {exc}") from exc
