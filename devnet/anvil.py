"""Anvil, the local EVM devnet, started from `node_modules` and stopped by process id.

The binary comes from the npm package `@foundry-rs/anvil-linux-amd64` (see toolchain notes: the
generic wrapper package breaks `npm ci` here and orphans anvil on SIGKILL). Anvil listens on
127.0.0.1 only, on a port picked free beforehand (with `--port 0` it prints the port on stdout
alone), and dumps its state every second so a SIGKILL loses at most a second of blocks.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ANVIL_BINARY = REPO / "node_modules" / "@foundry-rs" / "anvil-linux-amd64" / "bin" / "anvil"
LOOPBACK = "127.0.0.1"
DEFAULT_STARTUP_TIMEOUT_S = 15.0
DEFAULT_STOP_TIMEOUT_S = 10.0
DEV_CHAIN_ID = 31337


#: Popen handles of the Anvils this process started, by pid: kept so they can be reaped.
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}


class AnvilError(Exception):
    """Anvil could not be started, reached or stopped."""


@dataclass(frozen=True)
class AnvilProcess:
    """A running Anvil: how to reach it and how to stop it."""

    pid: int
    port: int
    state_file: Path
    log_file: Path

    @property
    def rpc_url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"


def pick_free_port() -> int:
    """A port free on 127.0.0.1 right now (bound and released; a small race is accepted)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((LOOPBACK, 0))
        port: int = probe.getsockname()[1]
        return port


def _rpc_chain_id(rpc_url: str, timeout_s: float) -> int | None:
    """eth_chainId over plain HTTP, or None while Anvil is not answering yet."""
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []})
    request = urllib.request.Request(
        rpc_url, data=body.encode(), headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            return int(json.load(response)["result"], 16)
    except (urllib.error.URLError, ConnectionError, TimeoutError, KeyError, ValueError):
        return None


def start_anvil(
    data_dir: Path,
    *,
    port: int | None = None,
    chain_id: int = DEV_CHAIN_ID,
    block_time_s: float | None = None,
    automine: bool = True,
    timeout_s: float = DEFAULT_STARTUP_TIMEOUT_S,
) -> AnvilProcess:
    """Start Anvil with its state in `data_dir` (reloaded if present); wait until it answers."""
    if not ANVIL_BINARY.is_file():
        raise AnvilError(f"{ANVIL_BINARY} is missing: run `make setup` (npm ci) first")
    data_dir.mkdir(parents=True, exist_ok=True)
    port = port or pick_free_port()
    state_file, log_file = data_dir / "anvil-state.json", data_dir / "anvil.log"
    command = [
        str(ANVIL_BINARY),
        "--host", LOOPBACK,
        "--port", str(port),
        "--chain-id", str(chain_id),
        "--state", str(state_file),
        "--state-interval", "1",
        # Anvil moves the states of older blocks to ~/.foundry/anvil/tmp and never removes
        # them when it is stopped: 1.3 GB for 4,096 mined blocks, and over two days of
        # benchmarks 79 GB, which filled the disk. Nothing here reads state older than the
        # blocks Anvil keeps in memory, so none is written to disk.
        "--max-persisted-states", "0",
        "--silent",
    ]  # fmt: skip
    if block_time_s is not None:
        command += ["--block-time", str(block_time_s)]
    if not automine:
        command.append("--no-mining")
    with log_file.open("ab") as log:
        process = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    _CHILDREN[process.pid] = process
    anvil = AnvilProcess(process.pid, port, state_file, log_file)
    _wait_until_ready(anvil, process, chain_id, timeout_s)
    return anvil


def _wait_until_ready(
    anvil: AnvilProcess, process: subprocess.Popen[bytes], chain_id: int, timeout_s: float
) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AnvilError(f"anvil exited with {process.returncode}; see {anvil.log_file}")
        answered = _rpc_chain_id(anvil.rpc_url, timeout_s=1.0)
        if answered == chain_id:
            return
        if answered is not None:
            stop_anvil(anvil.pid)
            raise AnvilError(f"port {anvil.port} answers chain id {answered}, not {chain_id}")
        time.sleep(0.05)  # polling a child process that has no readiness signal of its own
    stop_anvil(anvil.pid)
    raise AnvilError(f"anvil did not answer on {anvil.rpc_url} within {timeout_s:.0f} s")


def is_running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def is_anvil(pid: int) -> bool:
    """True when `pid` runs our Anvil binary: a recycled pid is never signalled."""
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0]
    except OSError:
        return False
    return command == str(ANVIL_BINARY).encode()


def stop_anvil(pid: int, timeout_s: float = DEFAULT_STOP_TIMEOUT_S) -> None:
    """SIGTERM (Anvil dumps its state), then SIGKILL if it has not exited in time.

    An Anvil this process started is stopped and reaped through its Popen handle; any other
    pid (one read from a deployment file) is signalled only while it still runs our binary.
    """
    child = _CHILDREN.pop(pid, None)
    if child is not None:
        _stop_child(child, timeout_s)
    elif is_anvil(pid):
        _stop_foreign(pid, timeout_s)


def _stop_child(child: subprocess.Popen[bytes], timeout_s: float) -> None:
    if child.poll() is None:
        child.terminate()
    try:
        child.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        child.kill()
        child.wait()


def _stop_foreign(pid: int, timeout_s: float) -> None:
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not is_anvil(pid):
            return
        time.sleep(0.05)  # not our child: no handle to wait on, so poll its /proc entry
    os.kill(pid, signal.SIGKILL)
