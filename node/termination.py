"""Run a coroutine so that SIGTERM ends it the way Ctrl-C does: by cancellation.

Python's default SIGTERM ends the process at once, so `finally` blocks never run, and a
command that started a devnet (`trustnode eval`, `trustnode demo`, the benchmarks) left its
Anvil and five node processes running when a shell, `timeout` or CI stopped it. Cancelled
instead, the command stops what it started, saves what it measured, and the caller learns it
was terminated.
"""

from __future__ import annotations

import asyncio
import signal
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

#: The shell's exit status for a process ended by SIGTERM.
EXIT_TERMINATED = 128 + signal.SIGTERM


class TerminatedError(Exception):
    """SIGTERM cancelled the run; its cleanup has finished."""


def run_until_terminated(make: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """`asyncio.run(make())`, with SIGTERM cancelling the run and then raising
    TerminatedError (after every `finally` of the cancelled code has run).

    Only the main thread receives signals, so elsewhere (the CLI called from a worker thread,
    as tests do) this is plain `asyncio.run`."""
    if threading.current_thread() is not threading.main_thread():
        return asyncio.run(make())

    async def guarded() -> T:
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        assert task is not None  # asyncio.run runs this as a task
        terminated = asyncio.Event()

        def on_sigterm() -> None:
            terminated.set()
            task.cancel()

        loop.add_signal_handler(signal.SIGTERM, on_sigterm)
        try:
            return await make()
        except asyncio.CancelledError:
            if terminated.is_set():
                raise TerminatedError("terminated by SIGTERM") from None
            raise
        finally:
            loop.remove_signal_handler(signal.SIGTERM)

    return asyncio.run(guarded())
