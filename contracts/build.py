"""Compile contracts/src with solc-js (through contracts/solc/solc.js) into committed artifacts.

Run as `python -m contracts.build` (or `make contracts`). Each deployable contract becomes
`contracts/artifacts/<Name>.json` holding `{"abi", "bytecode", "deployedBytecode"}` with sorted
keys, indent 1 and a trailing newline. The settings are fixed (optimizer on with fixed runs, a
fixed EVM version, no metadata hash appended), so recompiling gives byte-identical files; a test
checks it.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import solcx

REPO_ROOT = Path(__file__).resolve().parent.parent
SOURCE_DIR = REPO_ROOT / "contracts" / "src"
ARTIFACT_DIR = REPO_ROOT / "contracts" / "artifacts"
SOLC_WRAPPER = REPO_ROOT / "contracts" / "solc" / "solc.js"

#: Anvil 1.7.1 runs Prague; foundry.toml declares the same settings for the Forge tests.
EVM_VERSION = "prague"
OPTIMIZER_RUNS = 200
REMAPPINGS = ("@openzeppelin/contracts/=node_modules/@openzeppelin/contracts/",)


class BuildError(Exception):
    """The compiler reported errors or produced no deployable contract."""


def make_standard_input(source_dir: Path = SOURCE_DIR) -> dict[str, Any]:
    """Standard-JSON input for every .sol file under `source_dir`, keyed by repo-relative path.

    Sources are inlined so the output does not depend on where the repository lies; imports of
    OpenZeppelin go through the remapping and the wrapper's import callback.
    """
    sources = {
        path.relative_to(REPO_ROOT).as_posix(): {"content": path.read_text(encoding="utf-8")}
        for path in sorted(source_dir.rglob("*.sol"))
    }
    if not sources:
        raise BuildError(f"no Solidity sources under {source_dir}")
    return {
        "language": "Solidity",
        "sources": sources,
        "settings": {
            "optimizer": {"enabled": True, "runs": OPTIMIZER_RUNS},
            "evmVersion": EVM_VERSION,
            "metadata": {"bytecodeHash": "none", "appendCBOR": False},
            "remappings": list(REMAPPINGS),
            "outputSelection": {
                "*": {
                    "*": ["abi", "evm.bytecode.object", "evm.deployedBytecode.object"],
                    "": ["ast"],
                }
            },
        },
    }


def compile_standard(
    source_dir: Path = SOURCE_DIR, solc_binary: Path = SOLC_WRAPPER
) -> dict[str, Any]:
    """The compiler's standard-JSON output (ABI, bytecode, AST); BuildError on any error."""
    try:
        output: dict[str, Any] = solcx.compile_standard(
            make_standard_input(source_dir), solc_binary=solc_binary, base_path=REPO_ROOT
        )
    except solcx.exceptions.SolcError as exc:
        raise BuildError(str(exc)) from exc
    errors = [e for e in output.get("errors", []) if e.get("severity") == "error"]
    if errors:
        raise BuildError("\n".join(e.get("formattedMessage", e["message"]) for e in errors))
    return output


def iter_deployable(output: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    """(source path, contract name) of every non-abstract `contract` of our own sources."""
    for path, source in sorted(output["sources"].items()):
        if not path.startswith("contracts/"):
            continue
        for node in source["ast"]["nodes"]:
            if (
                node.get("nodeType") == "ContractDefinition"
                and node["contractKind"] == "contract"
                and not node["abstract"]
            ):
                yield path, node["name"]


def make_artifacts(output: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """{contract name: {"abi", "bytecode", "deployedBytecode"}} of the deployable contracts."""
    artifacts: dict[str, dict[str, Any]] = {}
    for path, name in iter_deployable(output):
        contract = output["contracts"][path][name]
        artifacts[name] = {
            "abi": contract["abi"],
            "bytecode": "0x" + contract["evm"]["bytecode"]["object"],
            "deployedBytecode": "0x" + contract["evm"]["deployedBytecode"]["object"],
        }
    if not artifacts:
        raise BuildError("the compiler produced no deployable contract")
    return artifacts


def render_artifact(artifact: Mapping[str, Any]) -> str:
    """The committed text of one artifact: sorted keys, indent 1, trailing newline."""
    return json.dumps(artifact, sort_keys=True, indent=1) + "\n"


def write_artifacts(out_dir: Path = ARTIFACT_DIR, source_dir: Path = SOURCE_DIR) -> list[Path]:
    """Compile and write one JSON file per deployable contract; returns the paths written.

    Files of contracts that no longer exist are removed so the directory mirrors the sources.
    """
    artifacts = make_artifacts(compile_standard(source_dir))
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, artifact in sorted(artifacts.items()):
        path = out_dir / f"{name}.json"
        path.write_text(render_artifact(artifact), encoding="utf-8")
        written.append(path)
    for stale in set(out_dir.glob("*.json")) - set(written):
        stale.unlink()
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Compile contracts/src into contracts/artifacts.")
    parser.add_argument("--out", type=Path, default=ARTIFACT_DIR, help="artifact directory")
    args = parser.parse_args(argv)
    for path in write_artifacts(args.out):
        print(f"wrote {path.relative_to(REPO_ROOT) if path.is_relative_to(REPO_ROOT) else path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
