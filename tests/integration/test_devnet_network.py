"""`devnet.network` and `trustnode devnet up --nodes/down` with real Anvil and real node processes.

Every node is a `trustnode run` process on 127.0.0.1; the mesh is read back over JSON-RPC and
the processes are stopped by pid. Every wait is on a condition with a deadline.
"""

from __future__ import annotations

import asyncio
import json
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from devnet.accounts import dev_private_key
from devnet.anvil import is_anvil, is_running
from devnet.chain import DevnetError
from devnet.deployment import DEPLOYMENT_FILE
from devnet.network import (
    NETWORK_FILE,
    TOPICS,
    Network,
    is_devnet_node,
    start_network,
    stop_network,
)
from node.chain import Sender
from node.config import load_account_key, load_config
from node.rpc_client import RpcClient

TRUSTNODE = str(Path(sys.executable).with_name("trustnode"))


def _call(url: str, method: str) -> object:
    with RpcClient(url, timeout_s=5.0) as client:
        return client.call(method)


def _assert_stopped(network: Network, directory: Path) -> None:
    for node in network.nodes:
        assert not is_devnet_node(node.pid, node.config), f"node {node.index} still runs"
    assert network.anvil_pid is not None and not is_anvil(network.anvil_pid)
    assert not (directory / NETWORK_FILE).exists()
    assert not (directory / DEPLOYMENT_FILE).exists()


def test_three_nodes_mesh_report_status_and_stop(tmp_path: Path) -> None:
    directory = tmp_path / "devnet"
    network = asyncio.run(start_network(directory, 3))
    try:
        assert Network.load(directory) == network
        assert [node.index for node in network.nodes] == [1, 2, 3]
        assert network.anvil_pid is not None and is_running(network.anvil_pid)
        peer_ids = {node.peer_id for node in network.nodes}
        assert len(peer_ids) == 3
        for node in network.nodes:
            assert node.address == Sender.from_key(dev_private_key(node.index)).address.lower()
            assert is_devnet_node(node.pid, node.config)
            config = load_config(node.config)
            assert len(config.p2p.bootstrap) == node.index - 1
            assert config.chain is not None and config.chain.ledger == network.ledger
            key_file = node.config.parent / "key"
            assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
            assert load_account_key(config.account) == dev_private_key(node.index)

            status = _call(node.rpc_url, "node_status")
            assert isinstance(status, dict)
            assert (status["node_address"], status["peer_id"]) == (node.address, node.peer_id)
            assert status["chain_id"] == network.chain_id == 31337

            peers = _call(node.rpc_url, "node_peers")
            assert isinstance(peers, list)
            assert {peer["peer_id"] for peer in peers} == peer_ids - {node.peer_id}
            for topic in TOPICS:
                on_mesh = [peer for peer in peers if topic in peer["mesh_topics"]]
                assert len(on_mesh) == 2, (node.index, topic, peers)
    finally:
        stopped = stop_network(directory)
    assert stopped == network
    for node in network.nodes:
        assert not Path(f"/proc/{node.pid}").exists()  # stopped and reaped
        assert "Traceback" not in node.log.read_text()
    _assert_stopped(network, directory)


def test_a_node_that_fails_stops_everything_and_names_itself(tmp_path: Path) -> None:
    directory = tmp_path / "devnet"
    settings = [{}, {"colour": "blue"}]
    with pytest.raises(DevnetError, match="node 2 exited with code 2") as raised:
        asyncio.run(start_network(directory, 2, node_settings=settings))
    assert "field 'colour'" in str(raised.value)  # the tail of node 2's log
    assert not (directory / NETWORK_FILE).exists()
    assert not (directory / DEPLOYMENT_FILE).exists()
    first = json.loads((directory / "node-1" / "config.json").read_text())
    assert "colour" not in first
    log = (directory / "node-1" / "node.log").read_text()
    assert "node stopped" in log  # SIGTERM, then a clean shutdown


def _trustnode(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [TRUSTNODE, *args], capture_output=True, text=True, timeout=180, check=False
    )


def test_cli_up_nodes_and_down_from_another_process(tmp_path: Path) -> None:
    directory = tmp_path / "devnet"
    up = _trustnode("devnet", "up", "--nodes", "3", "--dir", str(directory))
    assert up.returncode == 0, up.stderr
    network = Network.load(directory)
    try:
        for node in network.nodes:
            line = f"node {node.index}  {node.address}  {node.rpc_url}  peer {node.peer_id}"
            assert line in up.stdout.splitlines()
            assert is_devnet_node(node.pid, node.config)
        again = _trustnode("devnet", "up", "--nodes", "3", "--dir", str(directory))
        assert again.returncode == 2 and "already holds a network" in again.stderr
    finally:
        down = _trustnode("devnet", "down", "--dir", str(directory))
    assert down.returncode == 0, down.stderr
    assert down.stdout.splitlines() == [
        *(f"stopped node {node.index} (pid {node.pid})" for node in network.nodes),
        f"stopped anvil (pid {network.anvil_pid})",
    ]
    _assert_stopped(network, directory)
    for node in network.nodes:
        assert "node stopped" in node.log.read_text()  # SIGTERM, not SIGKILL
