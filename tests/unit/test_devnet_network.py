"""`devnet.network` without a chain: configs, mesh gaps, the pid check, and CLI validation."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from devnet.deployment import Deployment
from devnet.network import (
    DATABASE_FILE,
    NETWORK_FILE,
    NODE_FILE,
    TOPICS,
    Network,
    NetworkNode,
    compute_mesh_gaps,
    compute_node_config,
    is_devnet_node,
    stop_network,
)
from node.cli import main
from node.daemon import DATABASE_FILE as DAEMON_DATABASE_FILE
from node.daemon import NODE_FILE as DAEMON_NODE_FILE
from node.p2p import TOPICS as P2P_TOPICS

DEPLOYMENT = Deployment(
    chain_id=31337,
    rpc_url="http://127.0.0.1:8545",
    registry="0x" + "11" * 20,
    ledger="0x" + "22" * 20,
    deployer="0x" + "33" * 20,
    deployed_block=3,
    min_fee=1,
    dispute_window_s=3600,
)


def test_node_config_merges_settings_section_by_section() -> None:
    settings = {"auditor": {"tiers": [1]}, "rpc": {"token": "t" * 16}, "data_dir": "data"}
    config = compute_node_config(DEPLOYMENT, ["/ip4/127.0.0.1/tcp/1/p2p/Qm"], settings)
    assert config["auditor"] == {"tiers": [1]}
    assert config["rpc"] == {"host": "127.0.0.1", "port": 0, "token": "t" * 16}
    assert config["data_dir"] == "data"
    assert config["p2p"] == {"listen_port": 0, "bootstrap": ["/ip4/127.0.0.1/tcp/1/p2p/Qm"]}
    assert config["chain"]["ledger"] == DEPLOYMENT.ledger
    assert compute_node_config(DEPLOYMENT, [], {})["account"] == {"key_file": "key"}


def test_mesh_gaps_count_peers_per_topic() -> None:
    full = [{"peer_id": p, "mesh_topics": list(TOPICS)} for p in ("a", "b")]
    assert compute_mesh_gaps(3, full) == {}
    partial: list[dict[str, Any]] = [{"peer_id": "a", "mesh_topics": [TOPICS[0]]}, {"peer_id": "b"}]
    assert compute_mesh_gaps(3, partial) == {TOPICS[0]: 1, TOPICS[1]: 2, TOPICS[2]: 2}
    assert compute_mesh_gaps(1, []) == {}


def _wait_for_exec(pid: int, argument: str, timeout_s: float = 10.0) -> None:
    """Between fork and exec a child's cmdline is still its parent's: wait for the exec."""
    give_up = time.monotonic() + timeout_s
    while argument.encode() not in Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0"):
        if time.monotonic() > give_up:
            raise TimeoutError(f"pid {pid} did not exec {argument}")
        time.sleep(0.005)


@pytest.fixture
def impostor(tmp_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    """A process whose command line looks like `trustnode run --config <tmp>/ours.json`."""
    command = [sys.executable, "-c", "import sys; sys.stdin.read()"]
    with subprocess.Popen(
        [*command, "run", "--config", str(tmp_path / "ours.json")], stdin=subprocess.PIPE
    ) as process:
        try:
            _wait_for_exec(process.pid, str(tmp_path / "ours.json"))
            yield process
        finally:
            process.kill()


def test_pid_check_names_only_the_node_of_that_config(
    tmp_path: Path, impostor: subprocess.Popen[bytes]
) -> None:
    assert is_devnet_node(impostor.pid, tmp_path / "ours.json")
    assert not is_devnet_node(impostor.pid, tmp_path / "other.json")
    assert not is_devnet_node(impostor.pid, tmp_path)
    impostor.kill()
    impostor.wait()
    assert not is_devnet_node(impostor.pid, tmp_path / "ours.json")


def test_stop_refuses_a_pid_that_runs_another_config(
    tmp_path: Path, impostor: subprocess.Popen[bytes]
) -> None:
    node = NetworkNode(
        index=1,
        address="0x" + "44" * 20,
        pid=impostor.pid,
        rpc_url="http://127.0.0.1:9/",
        peer_id="12D3KooW",
        p2p_addrs=(),
        config=tmp_path / "node-1" / "config.json",  # not what that pid runs
        log=tmp_path / "node-1" / "node.log",
    )
    Network(31337, "http://127.0.0.1:9", "0x" + "11" * 20, "0x" + "22" * 20, None, (node,)).save(
        tmp_path
    )
    assert stop_network(tmp_path).nodes == (node,)
    assert impostor.poll() is None  # never signalled
    assert not (tmp_path / NETWORK_FILE).exists()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--nodes", "10"], "--nodes must be between 1 and 9, got 10"),
        (["--nodes", "-1"], "--nodes must be between 1 and 9, got -1"),
        (["--nodes", "3", "--auditors", "2"], "leave out --auditors"),
        (["--nodes", "3", "--stakes", "10,20"], "--stakes: 2 stakes for 3 dev auditors"),
        (["--auditors", "2", "--stakes", "10,20000"], "a dev stake is 1 to 9000 ETH"),
    ],
)
def test_devnet_up_refuses_a_bad_node_count(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    code = main(["devnet", "up", *argv, "--dir", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("trustnode: error: ") and err.count("\n") == 1
    assert message in err
    assert list(tmp_path.iterdir()) == []


def test_names_copied_to_keep_libp2p_out_of_the_cli_match_the_node() -> None:
    assert TOPICS == P2P_TOPICS
    assert NODE_FILE == DAEMON_NODE_FILE
    assert DATABASE_FILE == DAEMON_DATABASE_FILE
