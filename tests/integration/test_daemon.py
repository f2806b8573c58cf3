"""`trustnode run` and `trustnode submit` as real processes on 127.0.0.1.

Two daemons (the second bootstraps from the first, found through its node.json), traces
submitted through the CLI, status and peers read over JSON-RPC, then SIGTERM and a clean exit.
Every wait is on a condition with a deadline.
"""

from __future__ import annotations

import json
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from devnet.anvil import AnvilProcess
from node.config import ConfigError, load_account_key, load_config
from node.daemon import NODE_FILE
from node.rpc_client import RpcClient, RpcClientError, RpcUnreachableError
from node.tracefile import read_traces
from protocol.ids import compute_trace_id

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples" / "traces.jsonl"
START_TIMEOUT_S = 20.0
STOP_TIMEOUT_S = 15.0
TOKEN = "test-token-0123456789abcdef"

T = TypeVar("T")


def _wait_for(probe: Callable[[], T | None], timeout: float, what: str) -> T:
    """Poll `probe` until it returns a value other than None, or fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value is not None:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)


def _trustnode(*args: str) -> list[str]:
    return [sys.executable, "-m", "node", *args]


def _write_config(directory: Path, **extra: Any) -> Path:
    directory.mkdir(parents=True)
    key = directory / "account.key"
    key.write_text("0x" + secrets.token_hex(32) + "\n", encoding="ascii")
    key.chmod(0o600)
    config = {"data_dir": "data", "account": {"key_file": "account.key"}, **extra}
    path = directory / "config.json"
    path.write_text(json.dumps(config), encoding="utf-8")
    return path


class Daemon:
    def __init__(self, config: Path) -> None:
        self.config = config
        self.node_file = config.parent / "data" / NODE_FILE
        self.log = (config.parent / "node.log").open("wb")
        self.process = subprocess.Popen(
            _trustnode("run", "--config", str(config)),
            cwd=REPO,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        self.info: dict[str, Any] = {}

    def wait_ready(self) -> dict[str, Any]:
        def node_file() -> dict[str, Any] | None:
            if self.process.poll() is not None:
                pytest.fail(f"node exited with {self.process.returncode}: {self.log_text()}")
            return json.loads(self.node_file.read_text()) if self.node_file.exists() else None

        self.info = _wait_for(node_file, START_TIMEOUT_S, f"{self.node_file}")
        _wait_for(self._answers, START_TIMEOUT_S, f"RPC at {self.info['rpc_url']}")
        return self.info

    def _answers(self) -> bool | None:
        try:
            self.call("node_status")
        except RpcUnreachableError:
            return None
        return True

    def call(self, method: str, params: Any = None) -> Any:
        with RpcClient(self.info["rpc_url"], token=TOKEN, timeout_s=5.0) as client:
            return client.call(method, params)

    def log_text(self) -> str:
        return (self.config.parent / "node.log").read_text(errors="replace")[-2000:]

    def stop(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=STOP_TIMEOUT_S)

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=STOP_TIMEOUT_S)
        self.log.close()


@pytest.fixture
def network(tmp_path: Path) -> Iterator[tuple[Daemon, Daemon]]:
    daemons: list[Daemon] = []
    try:
        first = Daemon(_write_config(tmp_path / "a", rpc={"token": TOKEN}))
        daemons.append(first)
        bootstrap = first.wait_ready()["p2p_addrs"][0]
        second = Daemon(_write_config(tmp_path / "b", p2p={"bootstrap": [bootstrap]}))
        daemons.append(second)
        second.wait_ready()
        yield first, second
    finally:
        for daemon in daemons:
            daemon.kill()


def _submit(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        _trustnode("submit", *args),
        check=False,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_two_daemons_submit_status_peers_and_clean_stop(network: tuple[Daemon, Daemon]) -> None:
    first, second = network
    expected = [compute_trace_id(record.trace) for record in read_traces(EXAMPLES)]
    assert len(expected) == 5

    submitted = _submit(str(EXAMPLES), "--rpc", first.info["rpc_url"], "--token", TOKEN)
    assert submitted.returncode == 0, submitted.stderr
    assert submitted.stdout.split() == expected
    again = _submit(str(EXAMPLES), "--rpc", first.info["rpc_url"], "--token", TOKEN)
    assert again.returncode == 0, again.stderr
    assert again.stdout.split() == expected

    status = first.call("node_status")
    assert status["traces_by_state"] == {"received": 5}
    assert status["peer_id"] == first.info["peer_id"]
    assert status["node_address"] == first.info["address"]
    assert (status["chain_id"], status["block"]) == (None, None)
    assert second.call("node_status")["traces_by_state"] == {}

    for here, there in ((first, second), (second, first)):
        _wait_for(
            lambda here=here, there=there: (
                True
                if there.info["peer_id"] in [peer["peer_id"] for peer in here.call("node_peers")]
                else None
            ),
            START_TIMEOUT_S,
            "the peers to see each other",
        )

    with pytest.raises(RpcClientError, match="-32002"):
        first.call("audit_getVerdict", {"trace_id": expected[0]})

    for daemon in (second, first):
        assert daemon.stop() == 0, daemon.log_text()
        assert not Path(f"/proc/{daemon.process.pid}").exists()
        assert not daemon.node_file.exists()
        assert "Traceback" not in daemon.log_text()


def test_submit_errors_are_one_line(network: tuple[Daemon, Daemon]) -> None:
    first, _ = network
    unauthorized = _submit(str(EXAMPLES), "--rpc", first.info["rpc_url"])
    assert unauthorized.returncode == 2
    assert unauthorized.stdout == ""
    assert unauthorized.stderr.count("\n") == 1
    assert "-32003" in unauthorized.stderr

    first.kill()
    unreachable = _submit(str(EXAMPLES), "--rpc", first.info["rpc_url"])
    assert unreachable.returncode == 2
    assert unreachable.stderr.count("\n") == 1
    assert "cannot reach" in unreachable.stderr


def test_bad_config_exits_2_with_one_line(tmp_path: Path) -> None:
    config = _write_config(tmp_path / "bad", rpc={"port": 70000})
    result = subprocess.run(
        _trustnode("run", "--config", str(config)),
        check=False,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert "rpc.port" in result.stderr


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"colour": "blue"}, "colour"),
        ({"data_dir": 3}, "data_dir"),
        ({"p2p": {"bootstrap": ["/ip4/127.0.0.1/tcp/1"]}}, "p2p.bootstrap.0"),
        ({"rpc": {"host": "0.0.0.0"}}, "rpc"),
        ({"account": {}}, "account"),
        ({"account": {"key_file": "k", "key_env": "K"}}, "account"),
        ({"chain": {"rpc_url": "http://127.0.0.1:8545", "ledger": "0x12"}}, "chain.ledger"),
    ],
)
def test_config_errors_name_the_field(tmp_path: Path, change: dict[str, Any], field: str) -> None:
    config = _write_config(tmp_path / "node", **change)
    with pytest.raises(ConfigError, match=f"field '{field}'"):
        load_config(config)


def test_config_resolves_paths_and_reads_the_key(tmp_path: Path) -> None:
    path = _write_config(tmp_path / "node")
    config = load_config(path)
    assert config.data_dir == tmp_path / "node" / "data"
    key = load_account_key(config.account)
    assert key == (tmp_path / "node" / "account.key").read_text().strip()


def test_an_open_key_file_is_refused_without_showing_the_key(tmp_path: Path) -> None:
    path = _write_config(tmp_path / "node")
    key_file = tmp_path / "node" / "account.key"
    key_file.chmod(0o644)
    with pytest.raises(ConfigError, match="0644") as raised:
        load_account_key(load_config(path).account)
    assert key_file.read_text().strip()[2:] not in str(raised.value)


def test_key_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _write_config(tmp_path / "node")
    data = json.loads(path.read_text())
    data["account"] = {"key_env": "TRUST_TEST_KEY"}
    path.write_text(json.dumps(data))
    account = load_config(path).account
    monkeypatch.delenv("TRUST_TEST_KEY", raising=False)
    with pytest.raises(ConfigError, match="not set"):
        load_account_key(account)
    monkeypatch.setenv("TRUST_TEST_KEY", "not a key")
    with pytest.raises(ConfigError, match="TRUST_TEST_KEY: not a 32-byte"):
        load_account_key(account)
    monkeypatch.setenv("TRUST_TEST_KEY", "AB" * 32)
    assert load_account_key(account) == "0x" + "ab" * 32


def test_status_reports_the_chain_head(tmp_path: Path, anvil: AnvilProcess) -> None:
    chain = {"rpc_url": anvil.rpc_url, "ledger": "0x" + "11" * 20}
    daemon = Daemon(_write_config(tmp_path / "node", chain=chain))
    try:
        daemon.wait_ready()
        status = daemon.call("node_status")
        assert status["chain_id"] == 31337
        assert isinstance(status["block"], int)
        assert daemon.stop() == 0, daemon.log_text()
    finally:
        daemon.kill()
