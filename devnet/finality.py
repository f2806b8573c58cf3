"""Waiting for verdicts: one poll of the Ledger's `VerdictFinalized` events serves every waiter.

Used by the benchmarks and `trustnode eval`, which keep many traces in flight: one log query per
poll for all of them instead of a `verdictOf` call per trace.
"""

from __future__ import annotations

import asyncio
import contextlib
import time

from node.chain.ledger import LedgerClient

#: How often the chain is polled for new `VerdictFinalized` events (Anvil mines instantly).
DEFAULT_POLL_S = 0.02


class FinalityWatcher:
    """Polls `VerdictFinalized` events from `from_block` on and notes when each trace was seen
    final (perf_counter seconds); `run` until cancelled."""

    def __init__(
        self, ledger: LedgerClient, from_block: int, poll_s: float = DEFAULT_POLL_S
    ) -> None:
        self.ledger = ledger
        self.poll_s = poll_s
        self.seen_at: dict[str, float] = {}
        self._next_block = from_block
        self._waiters: dict[str, asyncio.Event] = {}

    async def run(self) -> None:
        while True:
            head = await self.ledger.chain.block_number()
            if head >= self._next_block:
                found = await self.ledger.finalizations(self._next_block, head)
                now = time.perf_counter()
                for event in found:
                    self.seen_at.setdefault(event.trace_id, now)
                    self._waiter(event.trace_id).set()
                self._next_block = head + 1
            await asyncio.sleep(self.poll_s)

    def _waiter(self, trace_id: str) -> asyncio.Event:
        return self._waiters.setdefault(trace_id, asyncio.Event())

    async def wait(self, trace_id: str, timeout_s: float) -> float | None:
        """When the trace was seen final, or None if not within `timeout_s`."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout_s):
                await self._waiter(trace_id).wait()
        return self.seen_at.get(trace_id)
