"""A multi-node devnet: the chain of `devnet.chain` plus one `trustnode run` process per auditor.

`start_network` starts Anvil, deploys, stakes dev auditors 1..N and gives each a node directory
`node-i/` (key file, config, log, database). Node 1 starts first; every later node bootstraps
from all the nodes already up. Once every node holds the N-1 others on the GossipSub mesh of
every topic, `network.json` lists them. `stop_network` signals exactly the processes that file
names, by pid, after checking each still runs that node's config.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from devnet.anvil import LOOPBACK
from devnet.chain import DevnetError, start_chain, stop_chain
from devnet.deployment import DEPLOYMENT_FILE, MAX_DEV_AUDITORS, Deployment
from node.rpc_client import RpcClient, RpcClientError
from protocol.messages import TOPIC_SEGMENTS, TOPIC_TRACES, TOPIC_VOTES
from protocol.models import Tier

__all__ = [
    "DEFAULT_MESH_TIMEOUT_S",
    "DEFAULT_NODE_START_TIMEOUT_S",
    "DEFAULT_NODE_STOP_TIMEOUT_S",
    "NETWORK_FILE",
    "Network",
    "NetworkNode",
    "compute_mesh_gaps",
    "compute_node_config",
    "is_devnet_node",
    "start_network",
    "stop_network",
]

NETWORK_FILE = "network.json"
#: `node.daemon.NODE_FILE`; not imported, so that the CLI does not load libp2p for every command.
DATABASE_FILE = "node.db"
NODE_FILE = "node.json"
CONFIG_FILE = "config.json"
KEY_FILE = "key"
LOG_FILE = "node.log"
#: The gossip topics every node joins (`node.p2p.TOPICS`, without importing libp2p).
TOPICS = (TOPIC_TRACES, TOPIC_SEGMENTS, TOPIC_VOTES)
#: Per node: from process start to its `node.json`.
DEFAULT_NODE_START_TIMEOUT_S = 60.0
#: From the last node up to every node meshed with every other on every topic.
DEFAULT_MESH_TIMEOUT_S = 60.0
DEFAULT_NODE_STOP_TIMEOUT_S = 15.0
#: Nodes and their files have no readiness signal of their own: they are polled this often.
POLL_INTERVAL_S = 0.05
MESH_POLL_INTERVAL_S = 0.25
RPC_TIMEOUT_S = 5.0
LOG_TAIL_LINES = 20

#: Popen handles of the nodes this process started, by pid: kept so they can be reaped.
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}


@dataclass(frozen=True)
class NetworkNode:
    """One node process of the devnet, as `network.json` lists it."""

    index: int
    address: str
    pid: int
    rpc_url: str
    peer_id: str
    p2p_addrs: tuple[str, ...]
    config: Path
    log: Path


@dataclass(frozen=True)
class Network:
    """What `network.json` says: the chain the nodes use and every node process."""

    chain_id: int
    chain_rpc_url: str
    registry: str
    ledger: str
    anvil_pid: int | None
    nodes: tuple[NetworkNode, ...]

    def save(self, directory: Path) -> Path:
        """Atomically: a reader sees no file or the whole file."""
        body = {
            "chain_id": self.chain_id,
            "chain_rpc_url": self.chain_rpc_url,
            "registry": self.registry,
            "ledger": self.ledger,
            "anvil_pid": self.anvil_pid,
            "nodes": [_node_json(node) for node in self.nodes],
        }
        partial = directory / (NETWORK_FILE + ".tmp")
        partial.write_text(json.dumps(body, indent=1) + "\n", encoding="utf-8")
        return partial.replace(directory / NETWORK_FILE)

    @classmethod
    def load(cls, directory: Path) -> Network:
        """Raises `DevnetError` when `directory` holds no network file."""
        path = directory / NETWORK_FILE
        if not path.is_file():
            raise DevnetError(f"no node network in {directory} (no {NETWORK_FILE})")
        raw = json.loads(path.read_text(encoding="utf-8"))
        nodes = tuple(
            NetworkNode(
                **{
                    **node,
                    "p2p_addrs": tuple(node["p2p_addrs"]),
                    "config": Path(node["config"]),
                    "log": Path(node["log"]),
                }
            )
            for node in raw.pop("nodes")
        )
        return cls(**raw, nodes=nodes)


def _node_json(node: NetworkNode) -> dict[str, Any]:
    return {
        "index": node.index,
        "address": node.address,
        "pid": node.pid,
        "rpc_url": node.rpc_url,
        "peer_id": node.peer_id,
        "p2p_addrs": list(node.p2p_addrs),
        "config": str(node.config),
        "log": str(node.log),
    }


# ---- starting ---------------------------------------------------------------------------------


async def start_network(
    directory: Path,
    nodes: int,
    *,
    node_settings: Sequence[Mapping[str, Any]] | None = None,
    node_tiers: Sequence[Sequence[Tier]] | None = None,
    node_stakes_eth: Sequence[int] | None = None,
    log_level: str = "INFO",
    node_timeout_s: float = DEFAULT_NODE_START_TIMEOUT_S,
    mesh_timeout_s: float = DEFAULT_MESH_TIMEOUT_S,
) -> Network:
    """Start the chain and `nodes` node processes, one per dev auditor; wait for a full mesh.

    `node_settings[i - 1]` is merged into node i's config: new top-level keys are added, and a
    section the devnet also writes (`rpc`, `p2p`, ...) is merged key by key, the caller's keys
    winning. `node_tiers[i - 1]` are the tiers node i's auditor registers on-chain (default:
    CHECKER and LLM for every node); a HUMAN-tier node also wants `audit.human_review` on, or it
    abstains on the segments drawn for that tier. `node_stakes_eth[i - 1]` is node i's stake in
    ETH (default: the dev stakes, 10, 20, 30, ...). On any failure every process started so far
    and Anvil are stopped again.
    """
    if not 1 <= nodes <= MAX_DEV_AUDITORS:
        raise DevnetError(f"between 1 and {MAX_DEV_AUDITORS} nodes, not {nodes}")
    if node_settings is not None and len(node_settings) != nodes:
        raise ValueError(f"node_settings has {len(node_settings)} entries for {nodes} nodes")
    if node_tiers is not None and len(node_tiers) != nodes:
        raise ValueError(f"node_tiers has {len(node_tiers)} entries for {nodes} nodes")
    directory = directory.resolve()
    if (directory / NETWORK_FILE).exists():
        raise DevnetError(f"{directory} already holds a network: run `trustnode devnet down`")
    directory.mkdir(parents=True, exist_ok=True)
    deployment = await start_chain(
        directory, auditors=nodes, tiers=node_tiers, stakes_eth=node_stakes_eth
    )
    started: list[tuple[int, Path]] = []
    try:
        network = await _start_nodes(
            directory, deployment, node_settings, log_level, started, node_timeout_s
        )
        await _wait_for_mesh(network.nodes, mesh_timeout_s)
    except BaseException:
        _stop_nodes(started, DEFAULT_NODE_STOP_TIMEOUT_S)
        stop_chain(directory)
        raise
    network.save(directory)
    return network


async def _start_nodes(
    directory: Path,
    deployment: Deployment,
    node_settings: Sequence[Mapping[str, Any]] | None,
    log_level: str,
    started: list[tuple[int, Path]],
    timeout_s: float,
) -> Network:
    """Start the nodes one after another, appending each (pid, config) to `started`."""
    up: list[NetworkNode] = []
    for auditor in deployment.auditors:
        settings = {} if node_settings is None else node_settings[auditor.index - 1]
        bootstrap = [_full_multiaddr(node) for node in up]
        config = _write_node_dir(
            directory / f"node-{auditor.index}",
            deployment,
            auditor.private_key,
            bootstrap,
            settings,
        )
        process = _spawn_node(config, log_level)
        started.append((process.pid, config))
        up.append(await _wait_for_node(auditor.index, process, config, timeout_s))
    return Network(
        chain_id=deployment.chain_id,
        chain_rpc_url=deployment.rpc_url,
        registry=deployment.registry,
        ledger=deployment.ledger,
        anvil_pid=deployment.anvil_pid,
        nodes=tuple(up),
    )


def compute_node_config(
    deployment: Deployment, bootstrap: Sequence[str], settings: Mapping[str, Any]
) -> dict[str, Any]:
    """A node's config document: paths relative to its directory, settings merged in."""
    config: dict[str, Any] = {
        "data_dir": ".",
        "account": {"key_file": KEY_FILE},
        "rpc": {"host": LOOPBACK, "port": 0},
        "p2p": {"listen_port": 0, "bootstrap": list(bootstrap)},
        "chain": {
            "rpc_url": deployment.rpc_url,
            "ledger": deployment.ledger,
            "registry": deployment.registry,
        },
    }
    for key, value in settings.items():
        section = config.get(key)
        if isinstance(section, dict) and isinstance(value, Mapping):
            config[key] = {**section, **value}
        else:
            config[key] = value
    return config


def _write_node_dir(
    node_dir: Path,
    deployment: Deployment,
    private_key: str,
    bootstrap: Sequence[str],
    settings: Mapping[str, Any],
) -> Path:
    """Write the key (mode 0600) and config of one node; returns the config path."""
    node_dir.mkdir(exist_ok=True)
    key = node_dir / KEY_FILE
    descriptor = os.open(key, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="ascii") as stream:
        stream.write(private_key + "\n")
    key.chmod(0o600)  # an existing file keeps its mode through os.open
    # A node.json left by a killed node would be read as this start's.
    (node_dir / NODE_FILE).unlink(missing_ok=True)
    # `up` always deploys a fresh chain: a database of a previous devnet holds traces and
    # votes of contracts that no longer exist, and its open traces would be resumed.
    for stale in node_dir.glob(f"{DATABASE_FILE}*"):
        stale.unlink()
    config = node_dir / CONFIG_FILE
    document = compute_node_config(deployment, bootstrap, settings)
    config.write_text(json.dumps(document, indent=1) + "\n", encoding="utf-8")
    return config


def _spawn_node(config: Path, log_level: str) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "node", "run", "--config", str(config)]
    command += ["--log-level", log_level]
    with (config.parent / LOG_FILE).open("ab") as log:
        # A session of its own: Ctrl-C in the shell that ran `devnet up` does not reach it.
        process = subprocess.Popen(
            command,
            cwd=config.parent,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    _CHILDREN[process.pid] = process
    return process


async def _wait_for_node(
    index: int, process: subprocess.Popen[bytes], config: Path, timeout_s: float
) -> NetworkNode:
    node_file = config.parent / NODE_FILE
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise _node_failed(index, config, f"exited with code {process.returncode}")
        info = _read_node_file(node_file)
        if info is not None and info["pid"] == process.pid:
            return NetworkNode(
                index=index,
                address=info["address"],
                pid=process.pid,
                rpc_url=info["rpc_url"],
                peer_id=info["peer_id"],
                p2p_addrs=tuple(info["p2p_addrs"]),
                config=config,
                log=config.parent / LOG_FILE,
            )
        await asyncio.sleep(POLL_INTERVAL_S)
    raise _node_failed(index, config, f"wrote no {NODE_FILE} within {timeout_s:g} s")


def _read_node_file(path: Path) -> dict[str, Any] | None:
    try:
        info: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    return info


def _full_multiaddr(node: NetworkNode) -> str:
    """The node's first listen address with its `/p2p/PEER_ID` suffix."""
    if not node.p2p_addrs:
        raise DevnetError(f"node {node.index} reports no libp2p listen address")
    address = node.p2p_addrs[0]
    suffix = f"/p2p/{node.peer_id}"
    return address if address.endswith(suffix) else address + suffix


def _node_failed(index: int, config: Path, what: str) -> DevnetError:
    log = config.parent / LOG_FILE
    try:
        lines = log.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        lines = []
    tail = "\n".join(lines[-LOG_TAIL_LINES:]) or "(empty)"
    return DevnetError(f"node {index} {what}; last lines of {log}:\n{tail}")


# ---- the mesh ---------------------------------------------------------------------------------


def compute_mesh_gaps(nodes: int, peers: Sequence[Mapping[str, Any]]) -> dict[str, int]:
    """Per topic, how many peers short of `nodes - 1` this node's GossipSub mesh is.

    `peers` is a `node_peers` result; a topic missing from the answer counts as empty.
    """
    counts = dict.fromkeys(TOPICS, 0)
    for peer in peers:
        for topic in peer.get("mesh_topics", ()):
            if topic in counts:
                counts[topic] += 1
    return {topic: nodes - 1 - count for topic, count in counts.items() if count < nodes - 1}


def _node_peers(rpc_url: str) -> list[dict[str, Any]]:
    with RpcClient(rpc_url, timeout_s=RPC_TIMEOUT_S) as client:
        peers: list[dict[str, Any]] = client.call("node_peers")
        return peers


async def _mesh_gaps(nodes: Sequence[NetworkNode]) -> dict[int, dict[str, int]]:
    """The nodes whose mesh is still short, each with its gaps; unreachable ones too."""
    gaps: dict[int, dict[str, int]] = {}
    for node in nodes:
        try:
            peers = await asyncio.to_thread(_node_peers, node.rpc_url)
        except RpcClientError as exc:
            gaps[node.index] = {f"unanswered ({exc})": len(nodes) - 1}
            continue
        short = compute_mesh_gaps(len(nodes), peers)
        if short:
            gaps[node.index] = short
    return gaps


async def _wait_for_mesh(nodes: Sequence[NetworkNode], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        gaps = await _mesh_gaps(nodes)
        if not gaps:
            return
        if time.monotonic() > deadline:
            index, short = next(iter(gaps.items()))
            node = nodes[index - 1]
            raise _node_failed(
                index, node.config, f"mesh incomplete after {timeout_s:g} s (peers short: {short})"
            )
        for node in nodes:
            process = _CHILDREN.get(node.pid)
            if process is not None and process.poll() is not None:
                raise _node_failed(node.index, node.config, f"exited with {process.returncode}")
        await asyncio.sleep(MESH_POLL_INTERVAL_S)


# ---- stopping ---------------------------------------------------------------------------------


def is_devnet_node(pid: int, config: Path) -> bool:
    """True when `pid` runs `trustnode run` on `config`: a recycled pid is never signalled."""
    try:
        arguments = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return b"run" in arguments and str(config).encode() in arguments


def stop_network(directory: Path, timeout_s: float = DEFAULT_NODE_STOP_TIMEOUT_S) -> Network:
    """Stop every node `network.json` names, then Anvil; remove the file and return what it said.

    A node already gone, or a pid now running something else, is skipped; a node that ignores
    SIGTERM for `timeout_s` seconds is killed. A missing deployment file leaves Anvil alone.
    """
    directory = directory.resolve()
    network = Network.load(directory)
    _stop_nodes([(node.pid, node.config) for node in network.nodes], timeout_s)
    (directory / NETWORK_FILE).unlink()
    if (directory / DEPLOYMENT_FILE).exists():
        stop_chain(directory)
    return network


def _stop_nodes(nodes: Sequence[tuple[int, Path]], timeout_s: float) -> None:
    """SIGTERM every node at once (each shuts down on its own), wait, then SIGKILL stragglers.

    A node this process started is signalled and reaped through its Popen handle; any other
    pid is signalled only while it still runs that node's config.
    """
    for pid, config in nodes:
        _signal_node(pid, config, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    running = list(nodes)
    while running and time.monotonic() < deadline:
        running = [(pid, config) for pid, config in running if _is_alive(pid, config)]
        if running:
            time.sleep(POLL_INTERVAL_S)  # a pid we did not start has no handle to wait on
    for pid, config in running:
        _signal_node(pid, config, signal.SIGKILL)
    for pid, _ in nodes:
        child = _CHILDREN.pop(pid, None)
        if child is not None:
            child.wait()


def _signal_node(pid: int, config: Path, signum: signal.Signals) -> None:
    child = _CHILDREN.get(pid)
    if child is not None:
        if child.poll() is None:
            child.send_signal(signum)
    elif is_devnet_node(pid, config):
        with contextlib.suppress(ProcessLookupError):  # exited since the check
            os.kill(pid, signum)


def _is_alive(pid: int, config: Path) -> bool:
    child = _CHILDREN.get(pid)
    return child.poll() is None if child is not None else is_devnet_node(pid, config)
