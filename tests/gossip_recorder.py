"""A libp2p host's `on_message` for tests: every delivered gossip message, awaitable."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

from protocol.messages import GossipMessage


@dataclass
class GossipRecorder:
    """Keeps (topic, message, forwarding peer) in delivery order and wakes waiters on each."""

    messages: list[tuple[str, GossipMessage, str]] = field(default_factory=list)
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def __call__(self, topic: str, message: GossipMessage, peer: str) -> None:
        self.messages.append((topic, message, peer))
        self.changed.set()

    async def wait_until(self, what: str, done: Callable[[], bool], timeout_s: float) -> None:
        """Return once `done()` holds; AssertionError naming `what` after `timeout_s`."""
        try:
            async with asyncio.timeout(timeout_s):
                while not done():
                    self.changed.clear()
                    await self.changed.wait()
        except TimeoutError:
            delivered = len(self.messages)
            raise AssertionError(
                f"no {what} within {timeout_s:g} s ({delivered} delivered)"
            ) from None

    async def wait_for(self, count: int, timeout_s: float) -> None:
        """Return once `count` messages have been delivered."""
        await self.wait_until(f"{count} messages", lambda: len(self.messages) >= count, timeout_s)
