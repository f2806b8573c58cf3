"""Real Anvil from node_modules: start, reach, persist across SIGKILL, stop by pid."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from pathlib import Path

import aiohttp
import pytest

from devnet.accounts import dev_private_key
from devnet.anvil import AnvilError, AnvilProcess, is_running, start_anvil, stop_anvil
from node.chain import ChainClient, ChainTimeoutError, ChainUnavailableError, Sender

ETHER = 10**18


async def test_anvil_answers_on_loopback_with_dev_chain(anvil: AnvilProcess) -> None:
    client = ChainClient(anvil.rpc_url)
    try:
        assert anvil.rpc_url.startswith("http://127.0.0.1:")
        assert await client.chain_id() == 31337
        funded = Sender.from_key(dev_private_key(1))
        assert await client.balance(funded.address) > 1_000 * ETHER
    finally:
        await client.close()


async def test_concurrent_senders_share_one_nonce_sequence(anvil: AnvilProcess) -> None:
    client = ChainClient(anvil.rpc_url)
    sender = Sender.from_key(dev_private_key(1))
    recipient = Sender.from_key(dev_private_key(2)).address
    try:
        before = await client.balance(recipient)
        receipts = await asyncio.gather(
            *(client.transfer(sender, recipient, 1_000 + i) for i in range(20))
        )
        assert len({receipt.tx_hash for receipt in receipts}) == 20
        assert await client.balance(recipient) == before + sum(1_000 + i for i in range(20))
    finally:
        await client.close()


async def test_nonce_allocator_recovers_after_an_external_send(anvil: AnvilProcess) -> None:
    """Another client spends a nonce behind our back: the next send resyncs and succeeds."""
    ours, theirs = ChainClient(anvil.rpc_url), ChainClient(anvil.rpc_url)
    sender = Sender.from_key(dev_private_key(3))
    recipient = Sender.from_key(dev_private_key(4)).address
    try:
        await ours.transfer(sender, recipient, 1)
        await theirs.transfer(sender, recipient, 1)
        receipt = await ours.transfer(sender, recipient, 1)
        assert receipt.gas_used == 21_000
    finally:
        await ours.close()
        await theirs.close()


def test_state_survives_sigkill(tmp_path: Path) -> None:
    data = tmp_path / "anvil"
    first = start_anvil(data)
    try:
        client = ChainClient(first.rpc_url)
        sender = Sender.from_key(dev_private_key(5))
        recipient = Sender.from_key(dev_private_key(6)).address

        async def send_and_read() -> int:
            receipt = await client.transfer(sender, recipient, 12_345)
            await client.close()
            return receipt.block_number

        mined_block = asyncio.run(send_and_read())
        _wait_for_state_dump(first.state_file, mined_block)
    finally:
        os.kill(first.pid, signal.SIGKILL)
        stop_anvil(first.pid)
    second = start_anvil(data)
    try:
        client = ChainClient(second.rpc_url)

        async def read() -> int:
            height = await client.block_number()
            await client.close()
            return height

        assert asyncio.run(read()) >= mined_block
    finally:
        stop_anvil(second.pid)
    assert not is_running(second.pid)


def _wait_for_state_dump(state_file: Path, block: int) -> None:
    """Anvil dumps every second (`--state-interval 1`); wait for a dump holding `block`."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if state_file.exists():
            try:
                state = json.loads(state_file.read_text())
            except ValueError:
                state = {}
            if int(str(state.get("block", {}).get("number", "0x0")), 16) >= block:
                return
        time.sleep(0.1)
    pytest.fail(f"no state dump with block {block} in {state_file}")


def test_port_already_serving_another_chain_is_refused(tmp_path: Path) -> None:
    first = start_anvil(tmp_path / "a")
    try:
        with pytest.raises(AnvilError, match="chain id"):
            start_anvil(tmp_path / "b", port=first.port, chain_id=1)
    finally:
        stop_anvil(first.pid)


async def test_missing_receipt_times_out_with_a_named_error(tmp_path: Path) -> None:
    """With mining off nothing is ever included: the wait ends at its timeout, by name."""
    anvil = start_anvil(tmp_path / "stalled", automine=False)
    client = ChainClient(anvil.rpc_url, receipt_timeout_s=0.5)
    try:
        sender = Sender.from_key(dev_private_key(1))
        with pytest.raises(ChainTimeoutError, match="no receipt"):
            await client.transfer(sender, Sender.from_key(dev_private_key(2)).address, 1)
    finally:
        await client.close()
        stop_anvil(anvil.pid)


async def test_transient_failures_are_retried_then_reported() -> None:
    client = ChainClient("http://127.0.0.1:9", retries=2, backoff_s=0.001)
    attempts = []

    async def flaky() -> str:
        attempts.append(1)
        if len(attempts) < 3:
            raise aiohttp.ClientConnectionError("connection reset")
        return "answered"

    try:
        assert await client._with_retries(flaky) == "answered"
        assert len(attempts) == 3
        with pytest.raises(ChainUnavailableError, match="after 3 attempts"):
            await client.block_number()
    finally:
        await client.close()
