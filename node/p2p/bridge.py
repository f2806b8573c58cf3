"""The libp2p bridge: one py-libp2p host (trio) serving an asyncio node.

py-libp2p runs only under trio. `P2PNode` runs the host either as a trio *guest run* on the
caller's asyncio loop (the default: one thread, no locks) or, with `threaded=True`, as `trio.run`
in a thread of its own (needed when one process holds several hosts, e.g. tests: trio allows one
run per thread). Either way the two sides only talk through `loop.call_soon_threadsafe` and the
trio token's `run_sync_soon`, and every asyncio-side callback (message handler, validator,
fetch handler) runs on the asyncio loop.

Gossip: GossipSub on the three `/trust/1/*` topics. Incoming bytes become messages only through
`decode_gossip_message`; a decode failure, or a REJECT from the optional validator, is counted
against the peer that forwarded the message and stops it from being relayed. Outgoing messages
go through a publish queue drained at `publish_rate` messages per second, so a burst never
overflows py-libp2p's 32-message subscription and outbound queues (which drop silently).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import inspect
import logging
import os
import threading
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from typing import Any, TypeVar

import multiaddr  # type: ignore[import-untyped]
import trio
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from libp2p import new_host
from libp2p.crypto.ed25519 import create_new_key_pair
from libp2p.custom_types import TProtocol
from libp2p.peer.id import ID
from libp2p.peer.peerinfo import info_from_p2p_addr
from libp2p.tools.anyio_service import background_trio_service

from node.p2p.framing import FrameError, encode_frame, read_frame
from node.p2p.gossipsub import DigestGossipSub
from node.p2p.pubsub import GuardedPubsub
from node.p2p.records import install as install_record_cache
from protocol.gossip import Outcome, Verdict
from protocol.messages import (
    MAX_GOSSIP_MESSAGE_BYTES,
    TOPIC_SEGMENTS,
    TOPIC_TRACES,
    TOPIC_VOTES,
    GossipMessage,
    MessageDecodeError,
    decode_gossip_message,
    encode_gossip_message,
)

logger = logging.getLogger(__name__)

T = TypeVar("T")

TOPICS = (TOPIC_TRACES, TOPIC_SEGMENTS, TOPIC_VOTES)
GOSSIPSUB_PROTOCOL = TProtocol("/meshsub/1.0.0")
FETCH_PROTOCOL = TProtocol("/trust/1/fetch")

#: Messages per second the publish queue hands to GossipSub. py-libp2p saturates near
#: 225-290 msg/s on loopback and its queues hold 32 messages: 100/s leaves room for relaying.
DEFAULT_PUBLISH_RATE = 100.0
#: Publishes waiting in the queue before `publish` blocks its caller (backpressure).
DEFAULT_PUBLISH_QUEUE = 1024
#: GossipSub's per-peer, per-topic rate limit. The default (10/s) silently drops legitimate
#: bursts, and a relay forwards every publisher's messages, so on our private network of
#: registered, staked auditors it is raised far above any honest aggregate rate; abuse is
#: handled by our own REJECT penalties instead.
DEFAULT_SPAM_LIMIT_PER_SECOND = 5000.0
#: Largest fetch request or response.
DEFAULT_MAX_FETCH_BYTES = MAX_GOSSIP_MESSAGE_BYTES
DEFAULT_FETCH_TIMEOUT = 10.0
DEFAULT_CONNECT_TIMEOUT = 10.0
DEFAULT_START_TIMEOUT = 10.0
#: Seconds between GossipSub heartbeats (mesh maintenance); py-libp2p's default is 120. The
#: message cache keeps every relayed message for `gossip_history` (5) heartbeats.
DEFAULT_HEARTBEAT_INTERVAL = 1
#: Message ids remembered per topic to drop duplicate deliveries.
_RECENT_IDS = 4096
#: py-libp2p's yamux by default answers every read with a WINDOW_UPDATE frame (its
#: RELEASE_ON_READ tuning, read from the environment at call time): one more encrypted frame
#: and socket write per gossip message received. Off, credit is returned in batches once half
#: the window is consumed, as go-yamux does: about a quarter less CPU per audited trace on the
#: five-node devnet. An operator's own setting wins.
_YAMUX_TUNING = {"PY_YAMUX_RELEASE_ON_READ": "0"}

MessageHandler = Callable[[str, GossipMessage, str], None]
#: Sync or async: the node's validator first loads what it needs (the trace from the chain).
Validator = Callable[[GossipMessage], Verdict | Awaitable[Verdict]]
FetchHandler = Callable[[str, bytes], Awaitable[bytes]]


class P2PError(Exception):
    """Base of the bridge's errors."""


class P2PNotRunningError(P2PError):
    """The host is not started, or has stopped."""


class FetchError(P2PError):
    """A `/trust/1/fetch` exchange failed: no handler, oversized frame, timeout, or EOF."""


@dataclass(frozen=True)
class P2PConfig:
    publish_rate: float = DEFAULT_PUBLISH_RATE
    publish_queue: int = DEFAULT_PUBLISH_QUEUE
    spam_limit_per_second: float = DEFAULT_SPAM_LIMIT_PER_SECOND
    max_fetch_bytes: int = DEFAULT_MAX_FETCH_BYTES
    fetch_timeout: float = DEFAULT_FETCH_TIMEOUT
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT
    start_timeout: float = DEFAULT_START_TIMEOUT
    heartbeat_interval: int = DEFAULT_HEARTBEAT_INTERVAL


def _schedule(loop: asyncio.AbstractEventLoop, fn: Callable[[], object]) -> None:
    loop.call_soon_threadsafe(fn)


def _raw_key(host_key: bytes | Ed25519PrivateKey) -> bytes:
    if isinstance(host_key, Ed25519PrivateKey):
        return host_key.private_bytes_raw()
    if len(host_key) != 32:
        raise ValueError("an ed25519 host key is 32 raw private bytes")
    return host_key


class P2PNode:
    """One libp2p host, driven from asyncio. Create, `await start()`, use, `await stop()`."""

    def __init__(
        self,
        host_key: bytes | Ed25519PrivateKey,
        on_message: MessageHandler | None = None,
        *,
        config: P2PConfig | None = None,
        threaded: bool = False,
    ) -> None:
        self._key_pair = create_new_key_pair(_raw_key(host_key))
        self.peer_id: str = ID.from_pubkey(self._key_pair.public_key).to_base58()
        self.listen_addrs: list[str] = []
        self.config = config or P2PConfig()
        self.on_message = on_message
        #: Applied after decoding when set; IGNORE and REJECT stop the message, REJECT penalizes.
        self.validator: Validator | None = None
        #: Serves `/trust/1/fetch`: (requesting peer id, request bytes) -> response bytes.
        self.fetch_handler: FetchHandler | None = None
        #: REJECTs (decode failures and validator rejects) per forwarding peer id.
        self.penalties: dict[str, int] = {}
        #: Gossip messages this node originated (handed to GossipSub) and delivered to it (each
        #: distinct message once, relays and duplicates not counted): benchmark counters.
        self.published = 0
        self.delivered = 0
        #: `/trust/1/fetch` requests this node sent, those answered with something, and those
        #: it served: how much anti-entropy a run needed (each request opens a stream).
        self.fetches_sent = 0
        self.fetches_answered = 0
        self.fetches_served = 0
        self._threaded = threaded
        self._loop: asyncio.AbstractEventLoop | None = None
        self._token: trio.lowlevel.TrioToken | None = None
        self._nursery: trio.Nursery | None = None
        self._stop_event: trio.Event | None = None
        self._setup_scope: trio.CancelScope | None = None
        self._host: Any = None
        self._pubsub: Any = None
        self._publish_send: trio.MemorySendChannel[tuple[str, bytes, Callable[[], None]]]
        self._started: asyncio.Future[None] | None = None
        self._done: asyncio.Future[None] | None = None
        self._thread: threading.Thread | None = None

    # ---- lifecycle -------------------------------------------------------------------------

    async def start(self, listen_port: int = 0) -> None:
        """Listen on 127.0.0.1:`listen_port` (0 picks a free port) and join the topics."""
        if self._done is not None:
            raise P2PError("a P2PNode starts once")
        loop = asyncio.get_running_loop()
        self._loop = loop
        self._started = loop.create_future()
        self._done = loop.create_future()
        if self._threaded:
            self._thread = threading.Thread(
                target=self._thread_main, args=(loop, listen_port), name=f"p2p-{self.peer_id[-6:]}"
            )
            self._thread.start()
        else:
            trio.lowlevel.start_guest_run(
                self._trio_main,
                listen_port,
                run_sync_soon_threadsafe=partial(_schedule, loop),
                done_callback=self._on_trio_done,
                host_uses_signal_set_wakeup_fd=True,
            )
        try:
            await asyncio.wait_for(asyncio.shield(self._started), self.config.start_timeout)
        except TimeoutError:
            await self.stop()
            raise P2PError("libp2p host did not start in time") from None

    def _thread_main(self, loop: asyncio.AbstractEventLoop, listen_port: int) -> None:
        try:
            trio.run(self._trio_main, listen_port)
        except BaseException as exc:  # reported to the asyncio side, which re-raises it
            loop.call_soon_threadsafe(self._finish, exc)
        else:
            loop.call_soon_threadsafe(self._finish, None)

    def _on_trio_done(self, outcome: Any) -> None:
        try:
            outcome.unwrap()
        except BaseException as exc:  # reported to the asyncio side, which re-raises it
            self._finish(exc)
        else:
            self._finish(None)

    def _finish(self, exc: BaseException | None) -> None:
        """On the asyncio loop, once the trio run has returned."""
        self._token = None
        for future in (self._started, self._done):
            if future is None or future.done():
                continue
            if exc is None and future is self._done:
                future.set_result(None)
            else:
                future.set_exception(exc or P2PNotRunningError("host stopped before it started"))
        if self._started is not None and self._started.done() and not self._started.cancelled():
            self._started.exception()  # mark retrieved: stop() reports the failure instead

    async def wait_stopped(self) -> None:
        """Return when the trio run has ended (raising what ended it, if anything did)."""
        if self._done is None:
            raise P2PNotRunningError("the libp2p host was never started")
        await asyncio.shield(self._done)

    async def stop(self) -> None:
        """Close the host and wait for the trio run to end; safe to call twice."""
        if self._done is None:
            return
        token, stop_event, scope = self._token, self._stop_event, self._setup_scope
        if token is not None and stop_event is not None and scope is not None:
            up = self._started is not None and self._started.done()
            with contextlib.suppress(trio.RunFinishedError):
                token.run_sync_soon(stop_event.set if up else scope.cancel)
        await self._done
        if self._thread is not None:
            # The thread's last act was to report, so this join returns at once.
            self._thread.join()

    async def _trio_main(self, listen_port: int) -> None:
        self._stop_event = stop_event = trio.Event()
        with trio.CancelScope() as scope:
            # stop() before the host is up cancels this scope; once up, it sets the stop event.
            self._setup_scope = scope
            self._token = trio.lowlevel.current_trio_token()
            await self._run_host(listen_port, stop_event)

    async def _run_host(self, listen_port: int, stop_event: trio.Event) -> None:
        config = self.config
        for name, value in _YAMUX_TUNING.items():
            os.environ.setdefault(name, value)
        install_record_cache()
        host = new_host(key_pair=self._key_pair)
        gossipsub = DigestGossipSub(
            protocols=[GOSSIPSUB_PROTOCOL],
            degree=6,
            degree_low=4,
            degree_high=12,
            heartbeat_interval=config.heartbeat_interval,
            spam_protection_enabled=True,
            max_messages_per_topic_per_second=config.spam_limit_per_second,
            # py-libp2p's "adaptive gossip" rates network health every 30 s (0.46-0.6 on the
            # five-node devnet: four mesh peers against a degree of 6 count as unhealthy) and
            # below 0.7 replaces the heartbeat with 30-60 s. The message cache then keeps 5
            # heartbeats, up to 5 minutes of every relayed bundle and vote batch: under load RSS
            # grew ~165 KiB per audited trace and node (+26 MiB over 158 traces), and the mesh
            # was repaired once a minute. Off, the configured heartbeat and degree bounds hold.
            adaptive_gossip_enabled=False,
        )
        pubsub = GuardedPubsub(
            host, gossipsub, max_inbound_rpc_size=MAX_GOSSIP_MESSAGE_BYTES + 65_536
        )
        self._host, self._pubsub = host, pubsub
        listen = multiaddr.Multiaddr(f"/ip4/127.0.0.1/tcp/{listen_port}")
        try:
            async with (
                host.run(listen_addrs=[listen]),
                background_trio_service(pubsub),
                background_trio_service(gossipsub),
            ):
                await pubsub.wait_until_ready()
                host.set_stream_handler(FETCH_PROTOCOL, self._serve_fetch)
                await self._serve(host, pubsub, stop_event)
        finally:
            # Pubsub starts a sweeper thread for its seen-message cache and never stops it.
            pubsub.seen_messages.stop()

    async def _serve(self, host: Any, pubsub: Any, stop_event: trio.Event) -> None:
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            await self._join_topics(pubsub, nursery)
            send, receive = trio.open_memory_channel[tuple[str, bytes, Callable[[], None]]](
                self.config.publish_queue
            )
            self._publish_send = send
            nursery.start_soon(self._drain_publish_queue, receive)
            addrs = [f"{addr}" for addr in host.get_addrs()]
            self._to_loop(self._report_started, addrs)
            await stop_event.wait()
            nursery.cancel_scope.cancel()
        self._nursery = None
        await self._disconnect_all(host)

    async def _disconnect_all(self, host: Any) -> None:
        """Hang up before the services stop: a peer's message arriving while Pubsub shuts down
        makes py-libp2p raise "Nursery is closed to new arrivals"."""
        with trio.move_on_after(self.config.connect_timeout):
            for peer in list(host.get_connected_peers()):
                await host.disconnect(peer)

    def _report_started(self, addrs: list[str]) -> None:
        self.listen_addrs = addrs
        if self._started is not None and not self._started.done():
            self._started.set_result(None)

    # ---- crossing between the two event loops ---------------------------------------------

    def _to_loop(self, fn: Callable[..., Any], *args: Any) -> None:
        """Run `fn(*args)` on the asyncio loop (from trio)."""
        if self._loop is not None:
            self._loop.call_soon_threadsafe(fn, *args)

    async def _call_on_loop(self, make: Callable[[], Awaitable[T]], timeout: float) -> T:
        """From trio: await `make()` on the asyncio loop, within `timeout` seconds."""
        loop = self._loop
        if loop is None:
            raise P2PNotRunningError("no asyncio loop")

        async def runner() -> T:
            return await make()

        future = asyncio.run_coroutine_threadsafe(runner(), loop)
        token = trio.lowlevel.current_trio_token()
        done = trio.Event()

        def wake(_: concurrent.futures.Future[T]) -> None:
            with contextlib.suppress(trio.RunFinishedError):
                token.run_sync_soon(done.set)

        future.add_done_callback(wake)
        try:
            with trio.fail_after(timeout):
                await done.wait()
        except BaseException:
            future.cancel()
            raise
        return future.result()

    async def _call_in_trio(self, fn: Callable[[], Awaitable[T]]) -> T:
        """From asyncio: run `fn` as a task of the host's nursery and await its result."""
        loop = asyncio.get_running_loop()
        token, nursery = self._token, self._nursery
        if token is None or nursery is None:
            raise P2PNotRunningError("the libp2p host is not running")
        future: asyncio.Future[T] = loop.create_future()

        def settle(result: T | None, exc: BaseException | None) -> None:
            if future.done():
                return
            if exc is not None:
                future.set_exception(exc)
            else:
                future.set_result(result)  # type: ignore[arg-type]

        async def task() -> None:
            try:
                result = await fn()
            except trio.Cancelled:
                loop.call_soon_threadsafe(settle, None, P2PNotRunningError("the host stopped"))
                raise
            except Exception as exc:
                loop.call_soon_threadsafe(settle, None, exc)
            else:
                loop.call_soon_threadsafe(settle, result, None)

        def spawn() -> None:
            # Raising here would crash the trio run: a stopping host refuses instead.
            try:
                nursery.start_soon(task)
            except RuntimeError:  # "Nursery is closed to new arrivals"
                loop.call_soon_threadsafe(settle, None, P2PNotRunningError("the host is stopping"))

        try:
            token.run_sync_soon(spawn)
        except trio.RunFinishedError:
            raise P2PNotRunningError("the libp2p host is not running") from None
        return await future

    # ---- peers ------------------------------------------------------------------------------

    async def connect(self, address: str) -> None:
        """Dial a peer by its full multiaddr (`/ip4/127.0.0.1/tcp/PORT/p2p/PEER_ID`)."""
        info = info_from_p2p_addr(multiaddr.Multiaddr(address))
        timeout = self.config.connect_timeout

        async def dial() -> None:
            with trio.fail_after(timeout):
                await self._host.connect(info)

        await self._call_in_trio(dial)

    async def wait_for_mesh(self, peer_id: str, topic: str, timeout: float = 5.0) -> None:
        """Return once `peer_id` is in this host's GossipSub mesh for `topic`."""
        peer = ID.from_base58(peer_id)

        async def wait() -> None:
            with trio.fail_after(timeout):
                await self._pubsub.wait_for_peer(peer, timeout=timeout)
                await self._pubsub.wait_for_mesh(peer, topic, timeout=timeout)

        await self._call_in_trio(wait)

    @property
    def unreadable_rpcs(self) -> int:
        """Pubsub RPCs from peers that did not parse (`GuardedPubsub`); 0 before the start."""
        pubsub = self._pubsub
        return 0 if pubsub is None else int(pubsub.unreadable_rpcs)

    @property
    def dropped_messages(self) -> int:
        """Gossip messages GossipSub dropped on the way out (a peer's queue was full)."""
        pubsub = self._pubsub
        return 0 if pubsub is None else int(pubsub.router.dropped_messages)

    def connected_peers(self) -> list[str]:
        host = self._host
        return [] if host is None else [peer.to_base58() for peer in host.get_connected_peers()]

    def mesh_peers(self, topic: str) -> list[str]:
        """Peer ids in this host's GossipSub mesh for `topic`; empty before the host starts.

        The mesh lives on the trio side: a threaded host may change it while this reads, so
        the set is copied in one step (a C-level copy under the GIL) before it is looked at.
        """
        if topic not in TOPICS:
            raise ValueError(f"unknown topic {topic!r}")
        pubsub = self._pubsub
        if pubsub is None:
            return []
        members = pubsub.router.mesh.get(topic)
        snapshot = set() if members is None else set(members)
        return sorted(peer.to_base58() for peer in snapshot)

    # ---- gossip -----------------------------------------------------------------------------

    async def publish(self, topic: str, message: GossipMessage) -> None:
        """Queue a message; returns once GossipSub has taken it (paced at `publish_rate`)."""
        await self.publish_raw(topic, encode_gossip_message(message))

    async def publish_raw(self, topic: str, data: bytes) -> None:
        """Publish bytes unchecked: for adversarial tests and experiments only."""
        if topic not in TOPICS:
            raise ValueError(f"unknown topic {topic!r}")
        loop = asyncio.get_running_loop()
        taken: asyncio.Future[None] = loop.create_future()

        def on_taken() -> None:
            if not taken.done():
                taken.set_result(None)

        async def enqueue() -> None:
            await self._publish_send.send((topic, data, on_taken))

        await self._call_in_trio(enqueue)
        await taken

    async def _drain_publish_queue(
        self, receive: trio.MemoryReceiveChannel[tuple[str, bytes, Callable[[], None]]]
    ) -> None:
        interval = 1.0 / self.config.publish_rate
        next_slot = trio.current_time()
        async for topic, data, on_taken in receive:
            now = trio.current_time()
            if next_slot > now:
                await trio.sleep(next_slot - now)
            next_slot = max(now, next_slot) + interval
            await self._pubsub.publish(topic, data)
            self.published += 1
            self._to_loop(on_taken)

    async def _join_topics(self, pubsub: Any, nursery: trio.Nursery) -> None:
        for topic in TOPICS:
            pubsub.set_topic_validator(topic, self._validate, True)
            subscription = await pubsub.subscribe(topic)
            nursery.start_soon(self._deliver, topic, subscription)

    def _penalize(self, peer: str) -> None:
        self.penalties[peer] = self.penalties.get(peer, 0) + 1

    async def _validate(self, forwarder: ID, msg: Any) -> bool:
        """GossipSub's validator: False stops delivery and relaying (and lowers the score)."""
        if forwarder == self._host.get_id():
            return True  # our own `publish`, encoded from a model
        try:
            message = decode_gossip_message(msg.data)
        except MessageDecodeError:
            self._penalize(forwarder.to_base58())
            return False
        validator = self.validator
        if validator is None:
            return True

        async def judge() -> Verdict:
            verdict = validator(message)
            return await verdict if inspect.isawaitable(verdict) else verdict

        # Under py-libp2p's 5 s validation timeout.
        verdict = await self._call_on_loop(judge, timeout=4.0)
        if verdict.outcome is Outcome.REJECT:
            self._penalize(forwarder.to_base58())
        return verdict.accepted

    async def _deliver(self, topic: str, subscription: Any) -> None:
        own = self._host.get_id().to_bytes()
        # py-libp2p marks a message seen only after validation, so one arriving from two peers
        # at once can be delivered twice: remember recent ids (origin, sequence number).
        recent: OrderedDict[bytes, None] = OrderedDict()
        while True:
            msg = await subscription.get()
            msg_id = msg.from_id + msg.seqno
            if msg.from_id == own or msg_id in recent:
                continue
            recent[msg_id] = None
            if len(recent) > _RECENT_IDS:
                recent.popitem(last=False)
            try:
                message = decode_gossip_message(msg.data)
            except MessageDecodeError:
                continue  # the validator already counted it
            self.delivered += 1
            handler = self.on_message
            if handler is not None:
                self._to_loop(handler, topic, message, ID(msg.from_id).to_base58())

    # ---- request / response -----------------------------------------------------------------

    async def request(self, peer_id: str, request: bytes) -> bytes:
        """Send one `/trust/1/fetch` request and return the response; FetchError on failure."""
        peer = ID.from_base58(peer_id)
        limit, timeout = self.config.max_fetch_bytes, self.config.fetch_timeout

        async def exchange() -> bytes:
            try:
                with trio.fail_after(timeout):
                    stream = await self._host.new_stream(peer, [FETCH_PROTOCOL])
                    try:
                        await stream.write(encode_frame(request, limit))
                        return await read_frame(stream, limit)
                    finally:
                        await stream.close()
            except trio.TooSlowError:
                raise FetchError(f"no response from {peer_id} within {timeout} s") from None
            except FrameError as exc:
                raise FetchError(str(exc)) from None
            except Exception as exc:  # py-libp2p's dial and stream errors share no base class
                raise FetchError(f"{peer_id}: {type(exc).__name__}: {exc}") from None

        self.fetches_sent += 1
        response = await self._call_in_trio(exchange)
        self.fetches_answered += bool(response)
        return response

    async def _serve_fetch(self, stream: Any) -> None:
        limit, timeout = self.config.max_fetch_bytes, self.config.fetch_timeout
        handler = self.fetch_handler
        peer = stream.muxed_conn.peer_id.to_base58()
        try:
            with trio.fail_after(timeout):
                request = await read_frame(stream, limit)
                if handler is None:
                    return
                response = await self._call_on_loop(lambda: handler(peer, request), timeout)
                await stream.write(encode_frame(response, limit))
                self.fetches_served += 1
        except Exception as exc:  # outermost loop of this stream: one failed request only
            logger.warning("fetch request from %s failed: %r", peer, exc)
        finally:
            await stream.close()
