"""The node daemon: store, libp2p host and JSON-RPC server as services of one TaskGroup.

`run_node` opens the store, then runs every long-running service inside one `asyncio.TaskGroup`.
Once the RPC server and the libp2p host are both up it writes `<data_dir>/node.json` (RPC URL,
listen addresses, peer id, pid) and sets `ready`. SIGTERM/SIGINT or cancellation stop it: each
service stops what it started in its own `finally` (RPC server, libp2p host), then the chain
client and the store are closed, and `node.json` is removed.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import json
import logging
import os
import signal
import time
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from auditors.judgement import TokenUsage
from auditors.llm import LlmEvaluator
from node.chain import ChainClient, ChainError
from node.chain.ledger import LedgerClient
from node.config import NodeConfig, load_account_key
from node.identity import NodeIdentity, derive_identity
from node.llm.judge import open_llm_judge
from node.p2p.bridge import TOPICS, P2PError, P2PNode
from node.pipeline import Pipeline
from node.review import ReviewQueue
from node.rpc.server import RpcServer, VerdictReader
from node.store import MAX_PAGE_LIMIT, Store

__all__ = [
    "DATABASE_FILE",
    "NODE_FILE",
    "STARTUP_TIMEOUT_S",
    "STATUS_CHAIN_TIMEOUT_S",
    "NodeInfo",
    "run_node",
]

DATABASE_FILE = "node.db"
NODE_FILE = "node.json"
#: How long the RPC server and the libp2p host together may take to come up.
STARTUP_TIMEOUT_S = 30.0
#: Threads for blocking work (SQLite, chain reads in web3's sync parts): the store serializes
#: its writes anyway, so more threads add memory, not throughput.
WORKER_THREADS = 4
MALLOC_ARENAS = 2
_M_ARENA_MAX = -8  # glibc's mallopt parameter number
#: node_status answers without chain fields rather than wait longer than this for the chain.
STATUS_CHAIN_TIMEOUT_S = 2.0

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class NodeInfo:
    """What `node.json` says: how tests, the devnet and clients find a running node."""

    rpc_url: str
    p2p_addrs: tuple[str, ...]
    peer_id: str
    address: str
    pid: int


class _StopRequestedError(Exception):
    """Raised inside the TaskGroup to end it on SIGTERM/SIGINT."""


class _P2PService:
    """The libp2p host: started, dialled to the bootstrap peers, stopped when cancelled."""

    def __init__(self, node: P2PNode, listen_port: int, bootstrap: tuple[str, ...]) -> None:
        self.node = node
        self.up = asyncio.Event()
        self._listen_port = listen_port
        self._bootstrap = bootstrap

    async def run(self) -> None:
        try:
            await self.node.start(self._listen_port)
            logger.info("libp2p host %s on %s", self.node.peer_id, self.node.listen_addrs)
            for address in self._bootstrap:
                await self._dial(address)
            self.up.set()
            # Only cancellation stops the host on purpose; if it ends by itself the node cannot
            # gossip, so it fails loudly (and resumes its traces on restart) instead of idling.
            await self.node.wait_stopped()
            raise P2PError("the libp2p host stopped by itself")
        finally:
            await self.node.stop()

    async def _dial(self, address: str) -> None:
        # An unreachable bootstrap peer must not keep the node down: reported, then skipped.
        try:
            await self.node.connect(address)
        except Exception as exc:
            logger.warning("bootstrap peer %s unreachable: %s", address, exc or type(exc).__name__)
        else:
            logger.info("connected to bootstrap peer %s", address)


class _RpcService:
    """The JSON-RPC server; `url` is known once `up` is set."""

    def __init__(self, server: RpcServer, host: str, port: int) -> None:
        self.server = server
        self.up = asyncio.Event()
        self.url = ""
        self._host = host
        self._port = port

    async def run(self) -> None:
        try:
            self.url = await self.server.start(self._host, self._port)
            logger.info("JSON-RPC listening on %s", self.url)
            self.up.set()
            await asyncio.Event().wait()
        finally:
            await self.server.stop()


def _llm_usage(usage: TokenUsage) -> dict[str, int]:
    return {
        "requests": usage.requests,
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
    }


def _canary_status(store: Store) -> dict[str, Any]:
    submitted, scored = store.count_canaries()
    return {
        "submitted": submitted,
        "scored": scored,
        "auditors": {
            auditor: {"passed": s.passed, "failed": s.failed, "abstained": s.abstained}
            for auditor, s in store.canary_scores().items()
        },
    }


class _Status:
    """The node_status and node_peers providers."""

    def __init__(
        self,
        store: Store,
        identity: NodeIdentity,
        p2p: P2PNode,
        chain: ChainClient | None,
        llm: LlmEvaluator | None = None,
    ) -> None:
        self._store = store
        self._identity = identity
        self._p2p = p2p
        self._chain = chain
        self._llm = llm

    async def status(self) -> Mapping[str, Any]:
        chain_id, block = await self._chain_head()
        return {
            "node_address": self._identity.address,
            "peer_id": self._p2p.peer_id,
            "chain_id": chain_id,
            "block": block,
            "traces_by_state": await asyncio.to_thread(_count_traces_by_state, self._store),
            "gossip": {
                "published": self._p2p.published,
                "delivered": self._p2p.delivered,
                "unreadable": self._p2p.unreadable_rpcs,
                "dropped": self._p2p.dropped_messages,
            },
            "fetches": {
                "sent": self._p2p.fetches_sent,
                "answered": self._p2p.fetches_answered,
                "served": self._p2p.fetches_served,
            },
            "llm": None if self._llm is None else _llm_usage(self._llm.totals),
            "canaries": await asyncio.to_thread(_canary_status, self._store),
        }

    async def _chain_head(self) -> tuple[int | None, int | None]:
        if self._chain is None:
            return None, None
        try:
            async with asyncio.timeout(STATUS_CHAIN_TIMEOUT_S):
                return await self._chain.chain_id(), await self._chain.block_number()
        except (TimeoutError, ChainError) as exc:
            logger.warning("chain head unavailable for node_status: %s", type(exc).__name__)
            return None, None

    def peers(self) -> list[dict[str, Any]]:
        """Connected peers, each with the topics on whose GossipSub mesh it is here."""
        mesh = {topic: set(self._p2p.mesh_peers(topic)) for topic in TOPICS}
        return [
            {"peer_id": peer, "mesh_topics": [t for t in TOPICS if peer in mesh[t]]}
            for peer in self._p2p.connected_peers()
        ]


def _count_traces_by_state(store: Store) -> dict[str, int]:
    counts: dict[str, int] = {}
    after: int | None = None
    while True:
        page = store.list_traces(limit=MAX_PAGE_LIMIT, after=after)
        for record in page.records:
            counts[record.state.value] = counts.get(record.state.value, 0) + 1
        if page.next_after is None:
            return counts
        after = page.next_after


def _clock_ms() -> int:
    return time.time_ns() // 1_000_000


def _write_node_file(data_dir: Path, info: NodeInfo) -> None:
    """Atomically: a reader sees no file or the whole file."""
    partial = data_dir / (NODE_FILE + ".tmp")
    body = {
        "rpc_url": info.rpc_url,
        "p2p_addrs": list(info.p2p_addrs),
        "peer_id": info.peer_id,
        "address": info.address,
        "pid": info.pid,
    }
    partial.write_text(json.dumps(body, indent=1) + "\n", encoding="utf-8")
    partial.replace(data_dir / NODE_FILE)


@contextlib.contextmanager
def _stop_on_signals(stop: asyncio.Event) -> Iterator[None]:
    loop = asyncio.get_running_loop()
    signals = (signal.SIGTERM, signal.SIGINT)
    for signum in signals:
        loop.add_signal_handler(signum, stop.set)
    try:
        yield
    finally:
        for signum in signals:
            loop.remove_signal_handler(signum)


async def _until_stopped(stop: asyncio.Event) -> None:
    await stop.wait()
    logger.info("stop requested")
    raise _StopRequestedError


async def _announce(
    data_dir: Path,
    rpc: _RpcService,
    p2p: _P2PService,
    address: str,
    ready: asyncio.Event | None,
) -> None:
    async with asyncio.timeout(STARTUP_TIMEOUT_S):
        await rpc.up.wait()
        await p2p.up.wait()
    info = NodeInfo(
        rpc_url=rpc.url,
        p2p_addrs=tuple(p2p.node.listen_addrs),
        peer_id=p2p.node.peer_id,
        address=address,
        pid=os.getpid(),
    )
    await asyncio.to_thread(_write_node_file, data_dir, info)
    logger.info("node ready: %s", data_dir / NODE_FILE)
    if ready is not None:
        ready.set()


def _limit_malloc_arenas() -> None:
    """glibc gives every thread its own malloc arena (up to 8 per core), and each fragments on
    its own: with the store's and libp2p's threads that costs tens of MiB of RSS per node."""
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:  # not glibc: nothing to tune
        return
    libc.mallopt(_M_ARENA_MAX, MALLOC_ARENAS)


async def run_node(config: NodeConfig, *, ready: asyncio.Event | None = None) -> None:
    """Run the node until SIGTERM/SIGINT (a normal return) or cancellation.

    Raises `ConfigError` for an unusable account key before anything starts. Signal handlers
    are installed on the running loop, so this must run in the main thread.
    """
    _limit_malloc_arenas()
    asyncio.get_running_loop().set_default_executor(
        ThreadPoolExecutor(WORKER_THREADS, thread_name_prefix="node-io")
    )
    identity = derive_identity(load_account_key(config.account))
    config.data_dir.mkdir(parents=True, exist_ok=True)
    (config.data_dir / NODE_FILE).unlink(missing_ok=True)  # never leave a stale one to be read
    store = Store(config.data_dir / DATABASE_FILE)
    chain = None if config.chain is None else ChainClient(config.chain.rpc_url)
    try:
        audits = config.chain is not None and config.chain.registry is not None
        async with open_llm_judge(config.audit.llm if audits else None, config.data_dir) as llm:
            await _serve(config, identity, store, chain, llm, ready)
    finally:
        (config.data_dir / NODE_FILE).unlink(missing_ok=True)
        if chain is not None:
            await chain.close()
        store.close()
        logger.info("node stopped")


async def _serve(
    config: NodeConfig,
    identity: NodeIdentity,
    store: Store,
    chain: ChainClient | None,
    llm: LlmEvaluator | None,
    ready: asyncio.Event | None,
) -> None:
    p2p = _P2PService(P2PNode(identity.host_key), config.p2p.listen_port, config.p2p.bootstrap)
    status = _Status(store, identity, p2p.node, chain, llm)
    # Tier 3: segments for human review wait here; review_submit answers them.
    reviews = ReviewQueue(store, clock_ms=_clock_ms) if config.audit.human_review else None
    verdict_reader: VerdictReader | None = None
    pipeline: Pipeline | None = None
    if chain is not None and config.chain is not None:
        ledger = LedgerClient(chain, config.chain.ledger, config.chain.registry)
        verdict_reader = ledger.verdict_of
        if config.chain.registry is not None:
            pipeline = Pipeline(
                store, p2p.node, ledger, identity, config.audit, llm=llm, reviews=reviews
            )
    token = None if config.rpc.token is None else config.rpc.token.get_secret_value()
    server = RpcServer(
        store,
        clock_ms=_clock_ms,
        status=status.status,
        peers=status.peers,
        verdict_reader=verdict_reader,
        on_trace_accepted=None if pipeline is None else pipeline.on_trace_accepted,
        review_queue=reviews,
        token=token,
    )
    rpc = _RpcService(server, config.rpc.host, config.rpc.port)
    stop = asyncio.Event()
    with _stop_on_signals(stop):
        try:
            async with asyncio.TaskGroup() as services:
                services.create_task(p2p.run(), name="p2p")
                services.create_task(rpc.run(), name="rpc")
                if pipeline is not None:
                    services.create_task(pipeline.run(p2p.up), name="pipeline")
                services.create_task(
                    _announce(config.data_dir, rpc, p2p, identity.address, ready), name="announce"
                )
                services.create_task(_until_stopped(stop), name="signals")
        except* _StopRequestedError:
            pass
