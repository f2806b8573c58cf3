"""SIGTERM cancels a run like Ctrl-C, so its cleanup runs (a real signal to this process)."""

from __future__ import annotations

import asyncio
import os
import signal
from concurrent.futures import ThreadPoolExecutor

import pytest

from node.termination import TerminatedError, run_until_terminated


def test_sigterm_cancels_the_run_after_its_cleanup() -> None:
    cleaned: list[str] = []

    async def owns_processes() -> None:
        try:
            os.kill(os.getpid(), signal.SIGTERM)
            await asyncio.sleep(30)
        finally:
            await asyncio.sleep(0)  # cleanup may itself await (stopping a devnet does)
            cleaned.append("stopped")

    with pytest.raises(TerminatedError):
        run_until_terminated(owns_processes)
    assert cleaned == ["stopped"]
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL


def test_a_run_without_sigterm_returns_its_value() -> None:
    async def answer() -> int:
        return 42

    assert run_until_terminated(answer) == 42


def test_other_cancellations_stay_cancellations() -> None:
    async def cancels_itself() -> None:
        task = asyncio.current_task()
        assert task is not None
        task.cancel()
        await asyncio.sleep(1)

    with pytest.raises(asyncio.CancelledError):
        run_until_terminated(cancels_itself)


def test_outside_the_main_thread_it_runs_without_a_signal_handler() -> None:
    """Signal handlers can only be set from the main thread; the CLI is also run from others."""

    async def answer() -> int:
        return 7

    with ThreadPoolExecutor(1) as pool:
        assert pool.submit(run_until_terminated, answer).result() == 7
