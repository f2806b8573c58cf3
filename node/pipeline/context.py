"""What the chain says about a trace and the auditors: loaded once, then read synchronously.

Gossip validation is a pure, synchronous function (`protocol.gossip`), so everything it consults
must already be in memory. `ChainContext.load` reads a trace's submission event, its stake
snapshot and the auditors' registered keys from the chain, once per trace (concurrent callers
share one read), and keeps it.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from dataclasses import dataclass

from node.chain.ledger import AuditorKeys, LedgerClient, Submission
from node.identity import encode_base58
from protocol.models import Auditor, Tier
from protocol.rounds import compute_layout_tiers

#: Trace contexts kept in memory; older ones are reloaded from the chain when needed again.
MAX_CACHED_TRACES = 4_096


@dataclass(frozen=True)
class TraceContext:
    """A submitted trace's public facts: enough to draw and check every committee."""

    submission: Submission
    #: Registered auditors with stake at the snapshot block, by address.
    snapshot: tuple[Auditor, ...]
    tiers: tuple[Tier, ...]

    @property
    def trace_id(self) -> str:
        return self.submission.trace_id

    @property
    def segment_count(self) -> int:
        return len(self.tiers)


class ChainContext:
    """Caches of trace contexts and registered auditors' keys, filled from the chain."""

    def __init__(self, ledger: LedgerClient, *, from_block: int = 0) -> None:
        self.ledger = ledger
        self.domain_separator = b""
        #: The first block worth reading events from (the contracts' deployment).
        self.from_block = from_block
        self._traces: OrderedDict[str, TraceContext] = OrderedDict()
        self._loading: dict[str, asyncio.Future[TraceContext | None]] = {}
        self._keys: dict[str, AuditorKeys] = {}
        self._auditor_of_peer: dict[str, str] = {}
        self._scanned_to = from_block - 1
        self._snapshots: OrderedDict[int, tuple[Auditor, ...]] = OrderedDict()

    async def start(self) -> None:
        self.domain_separator = await self.ledger.domain_separator()
        await self.refresh_auditors()

    # --- Auditors ------------------------------------------------------------------------------

    async def refresh_auditors(self) -> None:
        """Read the registrations since the last scan and the keys of the new auditors."""
        head = await self.ledger.chain.block_number()
        if head <= self._scanned_to:
            return
        for keys in await self.ledger.registrations(self._scanned_to + 1, head):
            self._keys[keys.address] = keys
            self._auditor_of_peer[encode_base58(keys.peer_id)] = keys.address
        self._scanned_to = head

    def is_registered(self, address: str) -> bool:
        return address in self._keys

    def keys_of(self, address: str) -> AuditorKeys | None:
        return self._keys.get(address)

    def peer_of(self, address: str) -> str | None:
        """The libp2p peer id (base58) the auditor registered."""
        keys = self._keys.get(address)
        return None if keys is None else encode_base58(keys.peer_id)

    def auditor_of_peer(self, peer_id: str) -> str | None:
        return self._auditor_of_peer.get(peer_id)

    # --- Traces --------------------------------------------------------------------------------

    def get(self, trace_id: str) -> TraceContext | None:
        return self._traces.get(trace_id)

    async def load(self, trace_id: str) -> TraceContext | None:
        """The trace's context, read from the chain on first use; None if it was never
        submitted (as far as the chain's latest block says)."""
        known = self._traces.get(trace_id)
        if known is not None:
            return known
        pending = self._loading.get(trace_id)
        if pending is None:
            pending = asyncio.ensure_future(self._read(trace_id))
            self._loading[trace_id] = pending
            pending.add_done_callback(lambda _: self._loading.pop(trace_id, None))
        return await asyncio.shield(pending)

    async def _read(self, trace_id: str) -> TraceContext | None:
        submission = await self.ledger.submission_of(trace_id)
        if submission is None:
            return None
        if submission.snapshot_block > self._scanned_to:
            await self.refresh_auditors()
        snapshot = await self._snapshot(submission.snapshot_block)
        context = TraceContext(
            submission=submission,
            snapshot=snapshot,
            tiers=compute_layout_tiers(submission.layout, snapshot),
        )
        self._remember(context)
        return context

    async def current_snapshot(self) -> tuple[Auditor, ...]:
        """Stakes as of the latest mined block's parent, what a submission now would see."""
        await self.refresh_auditors()
        return await self._snapshot(max(0, await self.ledger.chain.block_number() - 1))

    async def _snapshot(self, block: int) -> tuple[Auditor, ...]:
        """Stakes at `block`: traces submitted in one block share one read."""
        known = self._snapshots.get(block)
        if known is not None:
            return known
        snapshot = await self.ledger.auditors_at(sorted(self._keys), block)
        self._snapshots[block] = snapshot
        while len(self._snapshots) > MAX_CACHED_TRACES:
            self._snapshots.popitem(last=False)
        return snapshot

    def _remember(self, context: TraceContext) -> None:
        self._traces[context.trace_id] = context
        while len(self._traces) > MAX_CACHED_TRACES:
            self._traces.popitem(last=False)
