"""Typed access to the Registry and Ledger contracts, in the protocol's own models.

Nothing here decides anything: the contracts re-check every report, and readers get exactly
what the contract stores (a verdict is read from the chain, never from a node's database).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from web3.contract import AsyncContract

from contracts import load_artifact
from node.chain.client import ChainClient, Receipt, Sender, checksum
from protocol.eip712 import compute_rationales_hash
from protocol.encoding import from_hex, to_hex
from protocol.models import (
    Auditor,
    Reveal,
    SegmentVerdict,
    Tier,
    TraceVerdict,
    Vote,
    VoteEntry,
)
from protocol.rounds import RoundAbsence

ZERO_HASH = "0x" + "00" * 32
#: The Ledger stores "no first error" as type(uint32).max.
NO_FIRST_ERROR = 2**32 - 1


#: An auditor assigned segments in a round that did not reveal (finalize's `Absence`).
Absence = RoundAbsence


@dataclass(frozen=True)
class OnChainVerdict:
    trace_id: str
    verdict: TraceVerdict
    #: Index among the trace's steps of the first error; -1 when there is none.
    first_error: int
    segment_verdicts: tuple[SegmentVerdict, ...]
    finalized_at: int

    @property
    def is_final(self) -> bool:
        return self.verdict is not TraceVerdict.NONE


@dataclass(frozen=True)
class LedgerSettings:
    min_fee: int
    dispute_window_s: int


@dataclass(frozen=True)
class Submission:
    """A `TraceSubmitted` event: what anyone needs to draw the trace's committees."""

    trace_id: str
    submitter: str
    root: str
    seed: str
    k: int
    layout: bytes
    #: Stakes are read at the block before the submission (the Ledger's snapshot block).
    snapshot_block: int
    tx_hash: str


@dataclass(frozen=True)
class Finalization:
    """A `VerdictFinalized` event: which trace, in which transaction."""

    trace_id: str
    tx_hash: str


@dataclass(frozen=True)
class AuditorKeys:
    """An auditor's registered X25519 key (segments are sealed to it) and libp2p peer id."""

    address: str
    x25519: bytes
    peer_id: bytes


@dataclass(frozen=True)
class SubmittedTrace:
    receipt: Receipt
    seed: str
    snapshot_block: int


def compute_tier_mask(tiers: Sequence[Tier]) -> int:
    """Bit i set for Tier i, as `Registry.register` takes it."""
    return sum(1 << int(tier) for tier in set(tiers))


def pack_votes(votes: Sequence[VoteEntry]) -> bytes:
    """Votes as `SignedReveal.votes` carries them: 7 big-endian bytes each (uint32 segment,
    uint8 vote, uint16 confidence). The contract rebuilds each signed `Vote` struct from them."""
    return b"".join(
        entry.segment.to_bytes(4, "big")
        + int(entry.vote).to_bytes(1, "big")
        + entry.confidence.to_bytes(2, "big")
        for entry in votes
    )


def unpack_votes(packed: bytes) -> tuple[VoteEntry, ...]:
    """The inverse of `pack_votes`. Per-vote rationale hashes are not on-chain (only their
    combined commitment is), so each entry carries the zero hash."""
    if len(packed) % 7:
        raise ValueError(f"packed votes are 7 bytes each, not {len(packed)} bytes in all")
    return tuple(
        VoteEntry(
            segment=int.from_bytes(packed[at : at + 4], "big"),
            vote=Vote(packed[at + 4]),
            confidence=int.from_bytes(packed[at + 5 : at + 7], "big"),
            rationale=ZERO_HASH,
        )
        for at in range(0, len(packed), 7)
    )


def _reveal_tuple(reveal: Reveal) -> tuple[Any, ...]:
    return (
        checksum(reveal.auditor),
        reveal.round,
        pack_votes(reveal.votes),
        compute_rationales_hash(reveal.votes),
        from_hex(reveal.salt),
        from_hex(reveal.signature),
    )


def sort_reveals(reveals: Sequence[Reveal]) -> list[Reveal]:
    """The order `finalize` requires: by round, then auditor address."""
    return sorted(reveals, key=lambda reveal: (reveal.round, int(reveal.auditor, 16)))


def _reveal_of(trace_id: str, raw: Any) -> Reveal:
    """One `SignedReveal` argument of `finalize`, as decoded by web3 (a tuple or a mapping)."""
    auditor, round_, votes, _rationales, salt, signature = (
        raw.values() if isinstance(raw, Mapping) else raw
    )
    return Reveal(
        trace_id=trace_id,
        round=int(round_),
        auditor=str(auditor).lower(),
        votes=unpack_votes(bytes(votes)),
        salt=to_hex(bytes(salt)),
        signature=to_hex(bytes(signature)),
    )


def _submission(log: Mapping[str, Any]) -> Submission:
    args = log["args"]
    return Submission(
        trace_id=to_hex(bytes(args["traceId"])),
        submitter=str(args["submitter"]).lower(),
        root=to_hex(bytes(args["root"])),
        seed=to_hex(bytes(args["seed"])),
        k=int(args["k"]),
        layout=bytes(args["segmentLayout"]),
        snapshot_block=int(log["blockNumber"]) - 1,
        tx_hash=to_hex(bytes(log["transactionHash"])),
    )


def _absence_tuple(absence: Absence) -> tuple[Any, ...]:
    return (checksum(absence.auditor), absence.round, list(absence.segments))


class LedgerClient:
    """Registry and Ledger at known addresses, reached through one ChainClient."""

    def __init__(self, chain: ChainClient, ledger: str, registry: str | None = None) -> None:
        """`registry` is needed only for the Registry calls (readers of verdicts can omit it)."""
        self.chain = chain
        self.ledger_address = ledger.lower()
        self.ledger = chain.contract(ledger, load_artifact("Ledger").abi)
        self._registry = (
            None if registry is None else chain.contract(registry, load_artifact("Registry").abi)
        )

    @property
    def registry(self) -> AsyncContract:
        if self._registry is None:
            raise ValueError("this LedgerClient was made without a Registry address")
        return self._registry

    # --- Registry ------------------------------------------------------------------------------

    async def register(
        self, sender: Sender, tiers: Sequence[Tier], x25519: bytes, peer_id: bytes, stake: int
    ) -> Receipt:
        function = self.registry.functions.register(compute_tier_mask(tiers), x25519, peer_id)
        return await self.chain.transact(function, sender, value=stake)

    async def add_stake(self, sender: Sender, amount: int) -> Receipt:
        """Bond `amount` more wei of the sender's (a registered auditor's) own ether."""
        return await self.chain.transact(self.registry.functions.addStake(), sender, value=amount)

    async def withdraw_rewards(self, sender: Sender) -> Receipt:
        """Pay the sender every wei the Ledger has credited to it (reverts when there is none)."""
        return await self.chain.transact(self.ledger.functions.withdrawRewards(), sender)

    async def stake_of(self, auditor: str) -> int:
        return int(await self.chain.call(self.registry.functions.stakeOf(checksum(auditor))))

    async def rewards_of(self, account: str) -> int:
        """Wei the Ledger has credited to `account` and not yet paid out (`withdrawRewards`)."""
        return int(await self.chain.call(self.ledger.functions.rewardsOf(checksum(account))))

    async def auditors_at(self, addresses: Sequence[str], block: int) -> tuple[Auditor, ...]:
        """The auditors among `addresses` with stake at `block`, with their tiers, as the
        Registry snapshotted them: one call however many auditors there are."""
        function = self.registry.functions.stakesAndTiersAt(
            [checksum(address) for address in addresses], block
        )
        stakes, masks = await self.chain.call(function)
        return tuple(
            Auditor(
                address=address.lower(),
                stake=int(stake),
                tiers=tuple(tier for tier in Tier if mask >> int(tier) & 1),
            )
            for address, stake, mask in zip(addresses, stakes, masks, strict=True)
            if stake > 0
        )

    async def registrations(self, from_block: int, to_block: int) -> list[AuditorKeys]:
        """Keys of the auditors that registered in [from_block, to_block], in order."""
        logs = await self.chain.get_logs(
            self.registry.events.AuditorRegistered, from_block, to_block
        )
        return [
            AuditorKeys(
                address=str(log["args"]["auditor"]).lower(),
                x25519=bytes(log["args"]["x25519Key"]),
                peer_id=bytes(log["args"]["peerId"]),
            )
            for log in logs
        ]

    async def tier_stake_at(self, tier: Tier, block: int) -> int:
        return int(await self.chain.call(self.registry.functions.tierStakeAt(int(tier), block)))

    # --- Ledger --------------------------------------------------------------------------------

    async def submit_trace(
        self, sender: Sender, trace_id: str, root: str, k: int, layout: bytes, fee: int
    ) -> SubmittedTrace:
        function = self.ledger.functions.submitTrace(from_hex(trace_id), from_hex(root), k, layout)
        receipt = await self.chain.transact(function, sender, value=fee)
        event = self._event(receipt, "TraceSubmitted")
        return SubmittedTrace(receipt, to_hex(bytes(event["seed"])), receipt.block_number - 1)

    async def finalize(
        self,
        sender: Sender,
        trace_id: str,
        layout: bytes,
        reveals: Sequence[Reveal],
        absences: Sequence[Absence] = (),
    ) -> Receipt:
        function = self.ledger.functions.finalize(
            from_hex(trace_id),
            layout,
            [_reveal_tuple(reveal) for reveal in sort_reveals(reveals)],
            [_absence_tuple(absence) for absence in absences],
        )
        return await self.chain.transact(function, sender)

    def events(self, receipt: Receipt, name: str) -> list[Mapping[str, Any]]:
        """Decoded arguments of every `name` event the Ledger or Registry emitted in `receipt`."""
        found: list[Mapping[str, Any]] = []
        contracts = [self.ledger] + ([self._registry] if self._registry is not None else [])
        for contract in contracts:
            if not any(entry.get("name") == name for entry in contract.abi):
                continue
            event = getattr(contract.events, name)()
            topic = bytes.fromhex(str(event.topic).removeprefix("0x"))
            for log in receipt.logs:
                same_emitter = str(log["address"]).lower() == str(contract.address).lower()
                if same_emitter and bytes(log["topics"][0]) == topic:
                    found.append(event.process_log(log)["args"])
        return found

    async def verdict_of(self, trace_id: str) -> OnChainVerdict:
        raw = await self.chain.call(self.ledger.functions.verdictOf(from_hex(trace_id)))
        verdict, first_error, segments, finalized_at = raw
        return OnChainVerdict(
            trace_id=trace_id,
            verdict=TraceVerdict(verdict),
            first_error=-1 if first_error == NO_FIRST_ERROR else int(first_error),
            segment_verdicts=tuple(SegmentVerdict(b) for b in bytes(segments)),
            finalized_at=int(finalized_at),
        )

    async def submissions(
        self, from_block: int, to_block: int | str = "latest", trace_id: str | None = None
    ) -> list[Submission]:
        """`TraceSubmitted` events in a block range, optionally of one trace."""
        filters = {} if trace_id is None else {"traceId": from_hex(trace_id)}
        logs = await self.chain.get_logs(
            self.ledger.events.TraceSubmitted, from_block, to_block, filters
        )
        return [_submission(log) for log in logs]

    async def submission_of(self, trace_id: str) -> Submission | None:
        """The trace's `TraceSubmitted` event, found from its stored record without scanning
        the chain's history (the event sits in the block after the snapshot block)."""
        record = await self.chain.call(self.ledger.functions.traceOf(from_hex(trace_id)))
        submitter, snapshot_block = str(record[0]), int(record[1])
        if int(submitter, 16) == 0:
            return None
        block = snapshot_block + 1
        found = await self.submissions(block, block, trace_id=trace_id)
        return found[0] if found else None

    async def finalizations(
        self, from_block: int, to_block: int | str = "latest", trace_id: str | None = None
    ) -> list[Finalization]:
        """`VerdictFinalized` events in a block range, optionally of one trace."""
        filters = {} if trace_id is None else {"traceId": from_hex(trace_id)}
        logs = await self.chain.get_logs(
            self.ledger.events.VerdictFinalized, from_block, to_block, filters
        )
        return [
            Finalization(
                trace_id=to_hex(bytes(log["args"]["traceId"])),
                tx_hash=to_hex(bytes(log["transactionHash"])),
            )
            for log in logs
        ]

    async def finalized_reveals(self, finalization: Finalization) -> tuple[Reveal, ...]:
        """The reveals the finalizing transaction carried, decoded from its calldata: what the
        contract tallied, readable by anyone. Votes carry zero rationale hashes (see
        `unpack_votes`)."""
        calldata = await self.chain.transaction_input(finalization.tx_hash)
        function, arguments = self.ledger.decode_function_input(calldata)
        if function.fn_name != "finalize":
            raise ValueError(f"{finalization.tx_hash} called {function.fn_name}, not finalize")
        return tuple(_reveal_of(finalization.trace_id, raw) for raw in arguments["reveals"])

    async def settings(self) -> LedgerSettings:
        min_fee = await self.chain.call(self.ledger.functions.minFee())
        window = await self.chain.call(self.ledger.functions.disputeWindow())
        return LedgerSettings(int(min_fee), int(window))

    async def reveal_digest(self, reveal: Reveal) -> str:
        """The EIP-712 digest the Ledger recovers `reveal`'s signer from."""
        function = self.ledger.functions.revealDigest(
            from_hex(reveal.trace_id), _reveal_tuple(reveal)
        )
        return to_hex(bytes(await self.chain.call(function)))

    async def is_assigned(
        self, seed: str, segment: int, auditor: str, stake: int, tier_stake: int, k: int
    ) -> bool:
        """The Ledger's sortition predicate, for checking an assignment against the contract."""
        function = self.ledger.functions.isAssigned(
            from_hex(seed), segment, checksum(auditor), stake, tier_stake, k
        )
        return bool(await self.chain.call(function))

    async def domain_separator(self) -> bytes:
        return bytes(await self.chain.call(self.ledger.functions.domainSeparator()))

    def _event(self, receipt: Receipt, name: str) -> Mapping[str, Any]:
        found = self.events(receipt, name)
        if not found:
            raise LookupError(f"no {name} event in transaction {receipt.tx_hash}")
        return found[0]
