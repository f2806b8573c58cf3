"""`trustnode devnet up/down` and `trustnode verdict` as a user runs them, on a real Anvil."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

from devnet.accounts import dev_private_key
from devnet.anvil import is_anvil, is_running
from devnet.deployment import Deployment
from devnet.direct_audit import DirectAudit, run_direct_audit
from node.chain import ChainClient, Sender
from node.chain.ledger import LedgerClient
from protocol.models import Segment, Trace, Vote

REPO = Path(__file__).resolve().parents[2]
TRUSTNODE = str(Path(sys.executable).with_name("trustnode"))


def _trustnode(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [TRUSTNODE, *args], capture_output=True, text=True, timeout=120, check=False
    )


def _audit(deployment: Deployment) -> DirectAudit:
    trace = Trace.model_validate_json(
        (REPO / "examples" / "traces" / "flawed-comparison.json").read_bytes()
    )

    def rule(address: str, segment: Segment) -> Vote:
        return Vote.INVALID if "47 > 52" in segment.text else Vote.VALID

    async def run() -> DirectAudit:
        chain = ChainClient(deployment.rpc_url)
        try:
            ledger = LedgerClient(chain, deployment.ledger, deployment.registry)
            keys = [auditor.private_key for auditor in deployment.auditors]
            submitter = Sender.from_key(dev_private_key(0))
            return await run_direct_audit(ledger, submitter, keys, trace, 3, rule, 10**16)
        finally:
            await chain.close()

    return asyncio.run(run())


def test_devnet_up_verdict_down(tmp_path: Path) -> None:
    directory = str(tmp_path / "devnet")
    stakes = ("--stakes", "10,10,20,60")
    up = _trustnode("devnet", "up", "--auditors", "4", *stakes, "--dir", directory)
    assert up.returncode == 0, up.stderr
    deployment = Deployment.load(Path(directory) / "deployment.json")
    try:
        assert [a.stake // 10**18 for a in deployment.auditors] == [10, 10, 20, 60]
        assert deployment.anvil_pid is not None and is_running(deployment.anvil_pid)
        assert f"ledger   {deployment.ledger}" in up.stdout
        again = _trustnode("devnet", "up", "--dir", directory)
        assert again.returncode == 2 and "already holds a devnet" in again.stderr

        audit = _audit(deployment)
        shown = _trustnode("verdict", audit.trace_id, "--dir", directory, "--json")
        assert shown.returncode == 0, shown.stderr
        printed = json.loads(shown.stdout)
        stored = audit.verdict
        assert printed["verdict"] == stored.verdict.name == "FLAWED"
        assert printed["first_error"] == stored.first_error == 0
        assert printed["segment_verdicts"] == [v.name for v in stored.segment_verdicts]

        text = _trustnode(
            "verdict", audit.trace_id, "--rpc", deployment.rpc_url, "--ledger", deployment.ledger
        )
        assert text.returncode == 0
        assert "FLAWED" in text.stdout and "first error: step 0" in text.stdout

        missing = _trustnode("verdict", "0x" + "00" * 32, "--dir", directory)
        assert missing.returncode == 1 and "not finalized" in missing.stdout
    finally:
        down = _trustnode("devnet", "down", "--dir", directory)
    assert down.returncode == 0, down.stderr
    assert not is_anvil(deployment.anvil_pid)


def test_verdict_without_a_devnet_is_a_clear_error(tmp_path: Path) -> None:
    result = _trustnode("verdict", "0x" + "00" * 32, "--dir", str(tmp_path))
    assert result.returncode == 2
    assert "no devnet in" in result.stderr and "Traceback" not in result.stderr
    unreachable = _trustnode(
        "verdict", "0x" + "00" * 32, "--rpc", "http://127.0.0.1:9", "--ledger", "0x" + "11" * 20
    )
    assert unreachable.returncode == 2
    assert "cannot reach the chain at http://127.0.0.1:9" in unreachable.stderr
    bad_address = _trustnode(
        "verdict", "0x" + "00" * 32, "--rpc", "http://127.0.0.1:9", "--ledger", "0x12"
    )
    assert bad_address.returncode == 2 and "--ledger must be" in bad_address.stderr


def test_verdict_from_an_address_without_the_ledger(tmp_path: Path) -> None:
    directory = str(tmp_path / "devnet")
    assert _trustnode("devnet", "up", "--auditors", "1", "--dir", directory).returncode == 0
    try:
        deployment = Deployment.load(Path(directory) / "deployment.json")
        no_code = _trustnode(
            "verdict", "0x" + "00" * 32, "--rpc", deployment.rpc_url, "--ledger", "0x" + "11" * 20
        )
        assert no_code.returncode == 2
        assert "no contract answering verdictOf" in no_code.stderr
    finally:
        assert _trustnode("devnet", "down", "--dir", directory).returncode == 0
