"""Segment and reveal encryption: each segment is sealed to one auditor's registered X25519 key,
each round-0 reveal to the trace's submitter's.

Construction (per sealed item): an ephemeral X25519 key agrees a secret with the recipient's key;
HKDF-SHA256 turns it into a 32-byte ChaCha20-Poly1305 key, with salt = ephemeral public ||
recipient public and info = the header below; the AEAD's associated data is the same header, so a
ciphertext opens only for its trace, its segment index and its recipient:

    header = b"trust/segment/v1" || trace_id (32 bytes) || index (4 bytes, big-endian)
             || recipient address (20 bytes)

The plaintext is the canonical JSON of the `Segment`. A round-0 reveal is sealed the same way
under `b"trust/reveal/v1" || trace_id || auditor || recipient`. The module does no I/O;
randomness (the ephemeral key and nonce) comes from the OS unless a test injects it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping, Sequence
from typing import TypeVar

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from pydantic import ValidationError

from protocol.encoding import canonical_json, from_hex, to_hex
from protocol.messages import (
    MAX_BUNDLE_ITEMS,
    MAX_GOSSIP_MESSAGE_BYTES,
    MAX_SEALED_REVEAL_BYTES,
    MAX_SEGMENT_CIPHERTEXT_BYTES,
    EncryptedSegment,
    SealedReveal,
    SegmentBundle,
    sign_envelope,
)
from protocol.models import PlannedEscalation, Reveal, Segment
from protocol.signing import compute_address

SEALING_DOMAIN = b"trust/segment/v1"
REVEAL_SEALING_DOMAIN = b"trust/reveal/v1"
#: Poly1305 tag appended to every ciphertext.
TAG_BYTES = 16
NONCE_BYTES = 12
KEY_BYTES = 32
#: Largest canonical-JSON segment that still fits `MAX_SEGMENT_CIPHERTEXT_BYTES` once sealed.
MAX_SEGMENT_PLAINTEXT_BYTES = MAX_SEGMENT_CIPHERTEXT_BYTES - TAG_BYTES

_ADDRESS = re.compile(r"^0x[0-9a-f]{40}$")
_HASH32 = re.compile(r"^0x[0-9a-f]{64}$")
#: Stands in for the signature while sizing a bundle: same length as any real one.
_PLACEHOLDER_SIGNATURE = "0x" + "00" * 65


class SealingError(Exception):
    """A segment cannot be sealed or opened; the message says which check failed."""


class SegmentTooLargeError(SealingError):
    """A segment's canonical encoding exceeds `MAX_SEGMENT_PLAINTEXT_BYTES`."""


def seal_segment(
    segment: Segment,
    recipient: str,
    recipient_x25519_public: bytes,
    *,
    ephemeral_private: X25519PrivateKey | None = None,
    nonce: bytes | None = None,
) -> EncryptedSegment:
    """`segment` encrypted to `recipient`'s registered X25519 key.

    Raises SegmentTooLargeError above `MAX_SEGMENT_PLAINTEXT_BYTES`, SealingError for a malformed
    address, key or nonce. Tests inject `ephemeral_private` and `nonce`; never reuse them.
    """
    plaintext = canonical_json(segment.model_dump(mode="json"))
    if len(plaintext) > MAX_SEGMENT_PLAINTEXT_BYTES:
        raise SegmentTooLargeError(
            f"segment {segment.index} encodes to {len(plaintext)} bytes, "
            f"above {MAX_SEGMENT_PLAINTEXT_BYTES}"
        )
    nonce = os.urandom(NONCE_BYTES) if nonce is None else nonce
    if len(nonce) != NONCE_BYTES:
        raise SealingError(f"nonce must be {NONCE_BYTES} bytes, got {len(nonce)}")
    ephemeral = X25519PrivateKey.generate() if ephemeral_private is None else ephemeral_private
    header = compute_header(segment.trace_id, segment.index, recipient)
    ephemeral_public, ciphertext = _encrypt(
        plaintext, recipient_x25519_public, header, ephemeral, nonce
    )
    return EncryptedSegment(
        index=segment.index,
        recipient=recipient,
        ephemeral_key=to_hex(ephemeral_public),
        nonce=to_hex(nonce),
        ciphertext=to_hex(ciphertext),
    )


def open_segment(
    sealed: EncryptedSegment,
    trace_id: str,
    identity_x25519: X25519PrivateKey,
    recipient: str,
) -> Segment:
    """Decrypt and validate a segment sealed to `recipient` (this node) for `trace_id`.

    Raises SealingError for a wrong recipient, a failed authentication (wrong key or any tampered
    byte of the header or item), a plaintext that is not a strict `Segment`, or a `Segment` whose
    trace id or index differs from the sealed header. Never returns unauthenticated data.
    """
    if sealed.recipient != recipient:
        raise SealingError(
            f"segment {sealed.index} is sealed to {sealed.recipient}, not {recipient}"
        )
    header = compute_header(trace_id, sealed.index, recipient)
    plaintext = _decrypt(identity_x25519, sealed, header, f"segment {sealed.index}")
    segment = _parse(Segment, plaintext, f"segment {sealed.index}")
    if segment.trace_id != trace_id or segment.index != sealed.index:
        raise SealingError(
            f"segment {sealed.index}: plaintext is segment {segment.index} of trace "
            f"{segment.trace_id}, not the sealed header's"
        )
    return segment


def seal_bundle(
    trace_id: str,
    round_: int,
    segments_by_recipient: Mapping[str, tuple[bytes, Sequence[Segment]]],
    sender_key: str,
    *,
    basis: Sequence[str] = (),
    plan: Sequence[PlannedEscalation] = (),
    max_items: int = MAX_BUNDLE_ITEMS,
) -> list[SegmentBundle]:
    """Seal every segment to its recipient and pack the items into signed bundles.

    Recipients go in address order, each one's segments in the given order. Each bundle holds at
    most `max_items` items (1 disables batching, for baselines) and encodes to at most
    `MAX_GOSSIP_MESSAGE_BYTES`; every bundle names `basis` and `plan` (round 1). Raises
    SealingError for a segment of another trace; no segments at all gives an empty list.
    """
    items: list[EncryptedSegment] = []
    for recipient in sorted(segments_by_recipient):
        public, segments = segments_by_recipient[recipient]
        for segment in segments:
            if segment.trace_id != trace_id:
                raise SealingError(f"segment {segment.index} belongs to trace {segment.trace_id}")
            items.append(seal_segment(segment, recipient, public))
    sender = compute_address(sender_key)
    return [
        sign_envelope(
            SegmentBundle(
                trace_id=trace_id,
                round=round_,
                sender=sender,
                items=tuple(chunk),
                basis=tuple(basis),
                plan=tuple(plan),
                signature=_PLACEHOLDER_SIGNATURE,
            ),
            sender_key,
        )
        for chunk in _chunk_items(
            trace_id, round_, sender, items, (tuple(basis), tuple(plan)), max_items
        )
    ]


def seal_reveal(
    reveal: Reveal,
    recipient: str,
    recipient_x25519_public: bytes,
    auditor_key: str,
) -> SealedReveal:
    """A round-0 reveal sealed to the trace's submitter `recipient` and signed by its auditor.

    Same construction as a segment's, under the header `compute_reveal_header`. Raises
    SealingError for a reveal of another round, one too large to seal, a key that is not the
    reveal's auditor's, or a malformed address or key.
    """
    if reveal.round != 0:
        raise SealingError(f"only round-0 reveals are sealed, not round {reveal.round}")
    if compute_address(auditor_key) != reveal.auditor:
        raise SealingError("the signing key is not the reveal's auditor's")
    plaintext = canonical_json(reveal.model_dump(mode="json"))
    if len(plaintext) + TAG_BYTES > MAX_SEALED_REVEAL_BYTES:
        raise SealingError(f"reveal encodes to {len(plaintext)} bytes, too large to seal")
    header = compute_reveal_header(reveal.trace_id, reveal.auditor, recipient)
    nonce = os.urandom(NONCE_BYTES)
    ephemeral_public, ciphertext = _encrypt(
        plaintext, recipient_x25519_public, header, X25519PrivateKey.generate(), nonce
    )
    sealed = SealedReveal(
        trace_id=reveal.trace_id,
        round=0,
        auditor=reveal.auditor,
        recipient=recipient,
        ephemeral_key=to_hex(ephemeral_public),
        nonce=to_hex(nonce),
        ciphertext=to_hex(ciphertext),
        signature=_PLACEHOLDER_SIGNATURE,
    )
    return sign_envelope(sealed, auditor_key)


def open_reveal(sealed: SealedReveal, identity_x25519: X25519PrivateKey, recipient: str) -> Reveal:
    """Decrypt a reveal sealed to `recipient` (this node). Raises SealingError for another
    recipient, a failed authentication, or a plaintext that is not a strict `Reveal` of the
    sealed header's trace, round and auditor. The reveal's own signature and its match with the
    commit are the gossip validator's to check, as for a reveal in clear."""
    if sealed.recipient != recipient:
        raise SealingError(f"reveal is sealed to {sealed.recipient}, not {recipient}")
    header = compute_reveal_header(sealed.trace_id, sealed.auditor, recipient)
    plaintext = _decrypt(identity_x25519, sealed, header, f"reveal of {sealed.auditor}")
    reveal = _parse(Reveal, plaintext, f"reveal of {sealed.auditor}")
    if (reveal.trace_id, reveal.round, reveal.auditor) != (sealed.trace_id, 0, sealed.auditor):
        raise SealingError(f"reveal of {sealed.auditor}: plaintext differs from its header")
    return reveal


def compute_reveal_header(trace_id: str, auditor: str, recipient: str) -> bytes:
    """A sealed reveal's HKDF info and AEAD data: domain || trace id || auditor || recipient."""
    if not _HASH32.match(trace_id):
        raise SealingError(f"trace id must be 32-byte lowercase hex, got {trace_id[:20]!r}")
    for address in (auditor, recipient):
        if not _ADDRESS.match(address):
            raise SealingError(f"address must be lowercase hex, got {address[:20]!r}")
    return REVEAL_SEALING_DOMAIN + from_hex(trace_id) + from_hex(auditor) + from_hex(recipient)


def compute_header(trace_id: str, index: int, recipient: str) -> bytes:
    """HKDF info and AEAD associated data: domain || trace id || index (u32 BE) || recipient."""
    if not _HASH32.match(trace_id):
        raise SealingError(f"trace id must be 32-byte lowercase hex, got {trace_id[:20]!r}")
    if not _ADDRESS.match(recipient):
        raise SealingError(f"recipient must be a lowercase address, got {recipient[:20]!r}")
    if not 0 <= index < 2**32:
        raise SealingError(f"segment index {index} is not a uint32")
    return SEALING_DOMAIN + from_hex(trace_id) + index.to_bytes(4, "big") + from_hex(recipient)


def _encrypt(
    plaintext: bytes,
    recipient_public: bytes,
    header: bytes,
    ephemeral: X25519PrivateKey,
    nonce: bytes,
) -> tuple[bytes, bytes]:
    """(ephemeral public key, ciphertext) of `plaintext` sealed to `recipient_public`."""
    ephemeral_public = _public_bytes(ephemeral)
    key = _derive_key(ephemeral, recipient_public, ephemeral_public, recipient_public, header)
    return ephemeral_public, ChaCha20Poly1305(key).encrypt(nonce, plaintext, header)


_Opened = TypeVar("_Opened", Segment, Reveal)


def _parse(model: type[_Opened], plaintext: bytes, what: str) -> _Opened:
    """The strict model an authenticated plaintext holds; SealingError names `what` otherwise."""
    try:
        return model.model_validate_json(plaintext, strict=True)
    except ValidationError as exc:
        raise SealingError(f"{what}: malformed plaintext ({exc.error_count()} errors)") from None


def _decrypt(
    identity_x25519: X25519PrivateKey,
    sealed: EncryptedSegment | SealedReveal,
    header: bytes,
    what: str,
) -> bytes:
    """The authenticated plaintext of a sealed item; SealingError names `what` otherwise."""
    own_public = _public_bytes(identity_x25519)
    ephemeral_public = from_hex(sealed.ephemeral_key)
    key = _derive_key(identity_x25519, ephemeral_public, ephemeral_public, own_public, header)
    try:
        return ChaCha20Poly1305(key).decrypt(
            from_hex(sealed.nonce), from_hex(sealed.ciphertext), header
        )
    except InvalidTag:
        raise SealingError(f"{what}: authentication failed") from None


def _public_bytes(private: X25519PrivateKey) -> bytes:
    return private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def _derive_key(
    own: X25519PrivateKey,
    peer_public: bytes,
    ephemeral_public: bytes,
    recipient_public: bytes,
    header: bytes,
) -> bytes:
    """The AEAD key: the sealer's `own` is the ephemeral key, the opener's its identity key."""
    try:
        shared = own.exchange(X25519PublicKey.from_public_bytes(peer_public))
    except ValueError as exc:
        # Wrong length, or a low-order point giving the all-zero secret.
        raise SealingError(f"unusable X25519 key: {exc}") from None
    hkdf = HKDF(
        algorithm=SHA256(),
        length=KEY_BYTES,
        salt=ephemeral_public + recipient_public,
        info=header,
    )
    return hkdf.derive(shared)


def _chunk_items(
    trace_id: str,
    round_: int,
    sender: str,
    items: Sequence[EncryptedSegment],
    basis_and_plan: tuple[tuple[str, ...], tuple[PlannedEscalation, ...]],
    max_items: int,
) -> Iterator[list[EncryptedSegment]]:
    """Greedy split under both limits, from exact canonical sizes (items joined by commas)."""
    if not items:
        return
    sizes = [len(canonical_json(item.model_dump(mode="json"))) for item in items]
    probe = SegmentBundle(
        trace_id=trace_id,
        round=round_,
        sender=sender,
        items=(items[0],),
        basis=basis_and_plan[0],
        plan=basis_and_plan[1],
        signature=_PLACEHOLDER_SIGNATURE,
    )
    overhead = len(canonical_json(probe.model_dump(mode="json"))) - sizes[0]
    chunk: list[EncryptedSegment] = []
    size = overhead
    for item, item_size in zip(items, sizes, strict=True):
        added = item_size + (1 if chunk else 0)
        if chunk and (
            len(chunk) >= min(max_items, MAX_BUNDLE_ITEMS)
            or size + added > MAX_GOSSIP_MESSAGE_BYTES
        ):
            yield chunk
            chunk, size, added = [], overhead, item_size
        chunk.append(item)
        size += added
    yield chunk
