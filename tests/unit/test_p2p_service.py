"""The daemon's P2P service: a host that ends by itself fails the node instead of idling."""

from __future__ import annotations

import asyncio

import pytest

from node.daemon import _P2PService
from node.p2p.bridge import P2PError


class _FakeNode:
    """Stands in for P2PNode: starts at once; its host ends when `end` is set."""

    peer_id = "12D3KooWfake"

    def __init__(self, failure: BaseException | None = None) -> None:
        self.listen_addrs = ["/ip4/127.0.0.1/tcp/1"]
        self.end = asyncio.Event()
        self.stopped = False
        self._failure = failure

    async def start(self, listen_port: int = 0) -> None:
        pass

    async def connect(self, address: str) -> None:
        pass

    async def wait_stopped(self) -> None:
        await self.end.wait()
        if self._failure is not None:
            raise self._failure

    async def stop(self) -> None:
        self.stopped = True


async def _run_until_the_host_ends(node: _FakeNode) -> None:
    service = _P2PService(node, 0, ())  # type: ignore[arg-type]
    task = asyncio.create_task(service.run())
    await service.up.wait()
    node.end.set()
    await asyncio.wait_for(task, 5)


async def test_a_host_that_stops_by_itself_fails_the_service() -> None:
    node = _FakeNode()
    with pytest.raises(P2PError, match="stopped by itself"):
        await _run_until_the_host_ends(node)
    assert node.stopped


async def test_the_error_that_ended_the_host_is_the_services() -> None:
    node = _FakeNode(RuntimeError("swarm task failed"))
    with pytest.raises(RuntimeError, match="swarm task failed"):
        await _run_until_the_host_ends(node)


async def test_cancelling_the_service_stops_the_host_quietly() -> None:
    node = _FakeNode()
    service = _P2PService(node, 0, ())  # type: ignore[arg-type]
    task = asyncio.create_task(service.run())
    await service.up.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert node.stopped
