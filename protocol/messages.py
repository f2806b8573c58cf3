"""Gossip message models: what travels on the `/trust/1/*` topics.

Every message is a frozen strict model with a `kind` discriminator; `decode_gossip_message`
is the one way bytes off the wire become a message. Commits and reveals carry their own EIP-712
signatures; announcements and segment bundles are signed by the trace's submitter, and a sealed
round-0 reveal by its auditor, over the keccak of their canonical encoding without the signature
field (the envelope).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Literal, TypeVar

from pydantic import Field, TypeAdapter, ValidationError, model_validator

from protocol.encoding import canonical_json, keccak_hex
from protocol.errors import EncodingError
from protocol.models import (
    Address,
    Commit,
    Hash32,
    PlannedEscalation,
    Reveal,
    Signature,
    StrictModel,
    Uint32,
)
from protocol.params import MAX_SEGMENTS
from protocol.signing import sign_digest

#: Largest gossip message accepted, before any parsing: bounds the work a peer can cause.
MAX_GOSSIP_MESSAGE_BYTES = 1_048_576
#: Largest ciphertext of one encrypted segment (a segment's context pack plus AEAD overhead).
MAX_SEGMENT_CIPHERTEXT_BYTES = 262_144
#: Most encrypted segments batched in one bundle message.
MAX_BUNDLE_ITEMS = 256
#: Most round-0 revealers a round-1 bundle can name.
MAX_BASIS_AUDITORS = 1_024
#: Largest ciphertext of one sealed reveal: as hex it still fits one gossip message. A vote
#: encodes to about 120 bytes, so this holds some 4,000 votes (`MAX_SEGMENTS` would not fit).
MAX_SEALED_REVEAL_BYTES = 500_000
#: Most votes (commits, reveals and sealed reveals together) one vote batch carries.
MAX_VOTE_BATCH_ITEMS = 64

Hex = Annotated[str, Field(pattern=r"^0x([0-9a-f]{2})*$")]
X25519Key = Annotated[str, Field(pattern=r"^0x[0-9a-f]{64}$")]
Nonce = Annotated[str, Field(pattern=r"^0x[0-9a-f]{24}$")]

_ENVELOPE_DOMAIN_TAG = b"TRUST gossip envelope v1\x00"

TOPIC_TRACES = "/trust/1/traces"
TOPIC_SEGMENTS = "/trust/1/segments"
TOPIC_VOTES = "/trust/1/votes"


class TraceAnnouncement(StrictModel):
    """A trace was submitted on-chain; auditors check it against the Ledger before acting."""

    kind: Literal["trace"] = "trace"
    trace_id: Hash32
    root: Hash32
    segment_count: Uint32 = Field(ge=1, le=MAX_SEGMENTS)
    submitter: Address
    signature: Signature


class EncryptedSegment(StrictModel):
    """One segment sealed to one recipient (X25519 + HKDF + ChaCha20-Poly1305)."""

    index: Uint32 = Field(lt=MAX_SEGMENTS)
    recipient: Address
    ephemeral_key: X25519Key
    nonce: Nonce
    ciphertext: Hex = Field(max_length=2 + 2 * MAX_SEGMENT_CIPHERTEXT_BYTES)


class SegmentBundle(StrictModel):
    """A batch of sealed segments of one trace, sent by its submitter.

    `basis` (round 1 only) names the auditors whose round-0 reveals the submitter closed round 0
    with, and `plan` the escalations those reveals give: round 1's committees follow from the
    plan, and every node checks the plan against the basis reveals once they are public.
    """

    kind: Literal["segments"] = "segments"
    trace_id: Hash32
    round: int = Field(ge=0, le=255)
    sender: Address
    items: tuple[EncryptedSegment, ...] = Field(min_length=1, max_length=MAX_BUNDLE_ITEMS)
    basis: tuple[Address, ...] = Field(default=(), max_length=MAX_BASIS_AUDITORS)
    #: Round 1 only: where each escalated segment went, which every node draws round 1 from.
    plan: tuple[PlannedEscalation, ...] = Field(default=(), max_length=MAX_SEGMENTS)
    signature: Signature


class CommitMessage(StrictModel):
    kind: Literal["commit"] = "commit"
    commit: Commit


class RevealMessage(StrictModel):
    kind: Literal["reveal"] = "reveal"
    reveal: Reveal


class SealedReveal(StrictModel):
    """A round-0 reveal sealed to the trace's submitter (X25519, as segments are).

    Round-0 votes stay hidden from everyone but the submitter until round 1's commits close, so
    an auditor seated in round 1 has nothing to copy. The header tells every node that the
    auditor revealed (its round can close); the auditor signs the whole message as an envelope.
    """

    trace_id: Hash32
    round: int = Field(ge=0, le=0)
    auditor: Address
    recipient: Address
    ephemeral_key: X25519Key
    nonce: Nonce
    ciphertext: Hex = Field(max_length=2 + 2 * MAX_SEALED_REVEAL_BYTES)
    signature: Signature


class SealedRevealMessage(StrictModel):
    kind: Literal["sealed-reveal"] = "sealed-reveal"
    sealed: SealedReveal


class VoteBatch(StrictModel):
    """Commits and reveals published together. Under load a node's votes on many traces share
    one message, since py-libp2p's cost is per message, not per byte. Every vote carries its
    own EIP-712 signature, so the batch itself is unsigned and may hold any auditors' votes.
    """

    kind: Literal["votes"] = "votes"
    commits: tuple[Commit, ...] = Field(default=(), max_length=MAX_VOTE_BATCH_ITEMS)
    reveals: tuple[Reveal, ...] = Field(default=(), max_length=MAX_VOTE_BATCH_ITEMS)
    sealed_reveals: tuple[SealedReveal, ...] = Field(default=(), max_length=MAX_VOTE_BATCH_ITEMS)

    @model_validator(mode="after")
    def _check_size(self) -> VoteBatch:
        count = len(self.commits) + len(self.reveals) + len(self.sealed_reveals)
        if not 1 <= count <= MAX_VOTE_BATCH_ITEMS:
            raise ValueError(f"a vote batch holds 1 to {MAX_VOTE_BATCH_ITEMS} votes, not {count}")
        return self

    def messages(self) -> tuple[VoteMessage, ...]:
        """The votes as single messages: commits first, so a reveal meets its commit."""
        commits = tuple(CommitMessage(commit=commit) for commit in self.commits)
        sealed = tuple(SealedRevealMessage(sealed=s) for s in self.sealed_reveals)
        return commits + tuple(RevealMessage(reveal=reveal) for reveal in self.reveals) + sealed


#: One vote as a message of its own.
VoteMessage = CommitMessage | RevealMessage | SealedRevealMessage


def make_vote_batch(messages: Sequence[VoteMessage]) -> VoteBatch:
    """Batch votes in the order given within each kind (1 to MAX_VOTE_BATCH_ITEMS of them)."""
    return VoteBatch(
        commits=tuple(m.commit for m in messages if isinstance(m, CommitMessage)),
        reveals=tuple(m.reveal for m in messages if isinstance(m, RevealMessage)),
        sealed_reveals=tuple(m.sealed for m in messages if isinstance(m, SealedRevealMessage)),
    )


GossipMessage = Annotated[
    TraceAnnouncement
    | SegmentBundle
    | CommitMessage
    | RevealMessage
    | SealedRevealMessage
    | VoteBatch,
    Field(discriminator="kind"),
]
_GOSSIP_ADAPTER: TypeAdapter[GossipMessage] = TypeAdapter(GossipMessage)


class MessageDecodeError(EncodingError):
    """Bytes off the wire are not a well-formed gossip message."""


def decode_gossip_message(raw: bytes) -> GossipMessage:
    """Parse wire bytes into a message; oversized or malformed input raises MessageDecodeError."""
    return _decode_strict(_GOSSIP_ADAPTER, raw, MAX_GOSSIP_MESSAGE_BYTES, "message")


_Decoded = TypeVar("_Decoded")


def _decode_strict(adapter: TypeAdapter[_Decoded], raw: bytes, limit: int, what: str) -> _Decoded:
    """Size check before any parsing, then strict JSON validation; one error line."""
    if len(raw) > limit:
        raise MessageDecodeError(f"{what} of {len(raw)} bytes exceeds {limit}")
    try:
        return adapter.validate_json(raw, strict=True)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or what
        raise MessageDecodeError(f"{where}: {first['msg']}") from None


def encode_gossip_message(message: GossipMessage) -> bytes:
    return canonical_json(message.model_dump(mode="json"))


#: A message signed as a whole: by the trace's submitter, or (a sealed reveal) its auditor.
Envelope = TraceAnnouncement | SegmentBundle | SealedReveal


def compute_envelope_digest(message: Envelope) -> str:
    """What the signer signs: keccak of a domain tag and the canonical encoding without
    `signature`. The tag keeps these digests apart from every EIP-712 digest a node signs."""
    body = canonical_json(message.model_dump(mode="json", exclude={"signature"}))
    return keccak_hex(_ENVELOPE_DOMAIN_TAG + body)


_Envelope = TypeVar("_Envelope", TraceAnnouncement, SegmentBundle, SealedReveal)


def sign_envelope(message: _Envelope, private_key: str) -> _Envelope:
    """The message with its `signature` set by `private_key` over `compute_envelope_digest`."""
    signature = sign_digest(private_key, compute_envelope_digest(message))
    return message.model_copy(update={"signature": signature})


# --- Anti-entropy requests (`/trust/1/fetch`) ----------------------------------------------------


class VoteRequest(StrictModel):
    """Ask a peer for the commit or reveal it holds of one auditor, trace and round."""

    kind: Literal["commit", "reveal"]
    trace_id: Hash32
    round: int = Field(ge=0, le=255)
    auditor: Address


class SegmentsRequest(StrictModel):
    """Ask a trace's submitter for the segments of `round` sealed to the requesting peer."""

    kind: Literal["segments"] = "segments"
    trace_id: Hash32
    round: int = Field(ge=0, le=255)


FetchRequest = Annotated[VoteRequest | SegmentsRequest, Field(discriminator="kind")]
_FETCH_ADAPTER: TypeAdapter[FetchRequest] = TypeAdapter(FetchRequest)
#: Largest fetch request: a request is a few hundred bytes.
MAX_FETCH_REQUEST_BYTES = 4_096


def decode_fetch_request(raw: bytes) -> FetchRequest:
    """Parse a fetch request; oversized or malformed input raises MessageDecodeError."""
    return _decode_strict(_FETCH_ADAPTER, raw, MAX_FETCH_REQUEST_BYTES, "request")


def encode_fetch_request(request: VoteRequest | SegmentsRequest) -> bytes:
    return canonical_json(request.model_dump(mode="json"))
