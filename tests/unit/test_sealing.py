"""Segment and reveal sealing: round trip, every tampered field refused, no clear text, limits."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

from devnet.accounts import dev_private_key
from node.identity import NodeIdentity, derive_identity
from node.sealing import (
    MAX_SEGMENT_PLAINTEXT_BYTES,
    SEALING_DOMAIN,
    SealingError,
    SegmentTooLargeError,
    _derive_key,
    compute_header,
    compute_reveal_header,
    open_reveal,
    open_segment,
    seal_bundle,
    seal_reveal,
    seal_segment,
)
from protocol.encoding import canonical_json, from_hex, keccak_hex, to_hex
from protocol.messages import (
    MAX_BUNDLE_ITEMS,
    MAX_GOSSIP_MESSAGE_BYTES,
    EncryptedSegment,
    SealedReveal,
    SealedRevealMessage,
    SegmentBundle,
    compute_envelope_digest,
    decode_gossip_message,
    encode_gossip_message,
)
from protocol.models import Level, PlannedEscalation, Reveal, Segment, Tier, Vote, VoteEntry
from protocol.signing import compute_address, recover_signer
from protocol.votes import make_reveal

TRACE_ID = keccak_hex(b"trace")
OTHER_TRACE_ID = keccak_hex(b"other trace")
SECRET_TEXT = "The derivative of x^3 is 3x^2, so the slope at x=2 is twelve."
FIXED_NONCE = bytes(range(12))


def _identity(index: int) -> NodeIdentity:
    return derive_identity(dev_private_key(index))


ALICE, BOB, SUBMITTER = _identity(1), _identity(2), _identity(0)


def _segment(index: int = 3, text: str = SECRET_TEXT, trace_id: str = TRACE_ID) -> Segment:
    return Segment(
        trace_id=trace_id,
        index=index,
        node_id=keccak_hex(index.to_bytes(4, "big")),
        level=Level.STEP,
        tier=Tier.LLM,
        problem="Find the slope of x^3 at x=2.",
        text=text,
        context=("f(x) = x^3",),
        proof=(keccak_hex(b"sibling"),),
    )


def _seal(segment: Segment, to: NodeIdentity = ALICE) -> EncryptedSegment:
    return seal_segment(
        segment,
        to.address,
        to.x25519_public,
        ephemeral_private=X25519PrivateKey.from_private_bytes(bytes([7]) * 32),
        nonce=FIXED_NONCE,
    )


def _open(sealed: EncryptedSegment, by: NodeIdentity = ALICE, trace_id: str = TRACE_ID) -> Segment:
    return open_segment(sealed, trace_id, by.x25519, by.address)


def _flip_hex(value: str, byte: int = 0) -> str:
    raw = bytearray(from_hex(value))
    raw[byte] ^= 0x01
    return to_hex(bytes(raw))


def test_round_trip() -> None:
    segment = _segment()
    assert _open(_seal(segment)) == segment


def test_default_randomness_gives_distinct_ciphertexts_that_both_open() -> None:
    segment = _segment()
    first = seal_segment(segment, ALICE.address, ALICE.x25519_public)
    second = seal_segment(segment, ALICE.address, ALICE.x25519_public)
    assert first.ciphertext != second.ciphertext
    assert first.ephemeral_key != second.ephemeral_key
    assert _open(first) == _open(second) == segment


def test_header_layout() -> None:
    header = compute_header(TRACE_ID, 258, ALICE.address)
    assert header == SEALING_DOMAIN + from_hex(TRACE_ID) + b"\0\0\x01\x02" + from_hex(ALICE.address)
    assert SEALING_DOMAIN == b"trust/segment/v1"


def test_construction_matches_the_documented_layout() -> None:
    """Decrypt by hand from the documented salt/info/AAD, to pin the construction."""
    segment = _segment()
    ephemeral = X25519PrivateKey.from_private_bytes(bytes([7]) * 32)
    sealed = _seal(segment)
    ephemeral_public = from_hex(sealed.ephemeral_key)
    header = SEALING_DOMAIN + from_hex(TRACE_ID) + (3).to_bytes(4, "big") + from_hex(ALICE.address)
    key = _derive_key(ephemeral, ALICE.x25519_public, ephemeral_public, ALICE.x25519_public, header)
    plaintext = ChaCha20Poly1305(key).decrypt(FIXED_NONCE, from_hex(sealed.ciphertext), header)
    assert plaintext == canonical_json(segment.model_dump(mode="json"))


def test_other_recipients_key_cannot_open() -> None:
    sealed = _seal(_segment())
    with pytest.raises(SealingError, match="authentication failed"):
        open_segment(sealed, TRACE_ID, BOB.x25519, ALICE.address)


def test_item_addressed_to_someone_else_is_refused() -> None:
    sealed = _seal(_segment())
    with pytest.raises(SealingError, match=r"sealed to .* not"):
        _open(sealed, by=BOB)


@pytest.mark.parametrize(
    "field",
    ["ciphertext", "ciphertext_tag", "nonce", "ephemeral_key", "index", "recipient", "trace_id"],
)
def test_tampering_fails_authentication(field: str) -> None:
    sealed = _seal(_segment())
    trace_id = TRACE_ID
    opener = ALICE
    match field:
        case "ciphertext":
            sealed = sealed.model_copy(update={"ciphertext": _flip_hex(sealed.ciphertext)})
        case "ciphertext_tag":
            sealed = sealed.model_copy(update={"ciphertext": _flip_hex(sealed.ciphertext, -1)})
        case "nonce":
            sealed = sealed.model_copy(update={"nonce": _flip_hex(sealed.nonce)})
        case "ephemeral_key":
            sealed = sealed.model_copy(update={"ephemeral_key": _flip_hex(sealed.ephemeral_key)})
        case "index":
            sealed = sealed.model_copy(update={"index": 4})
        case "recipient":
            # Re-addressed to Bob and opened by Bob: the AAD and the key both differ.
            sealed = sealed.model_copy(update={"recipient": BOB.address})
            opener = BOB
        case "trace_id":
            trace_id = OTHER_TRACE_ID
    with pytest.raises(SealingError, match="authentication failed"):
        _open(sealed, by=opener, trace_id=trace_id)


def test_item_replayed_under_another_index_fails() -> None:
    """Index 5's ciphertext moved into index 3's slot does not open as segment 3."""
    three, five = _seal(_segment(3)), _seal(_segment(5, text="another claim"))
    replayed = three.model_copy(
        update={
            "ciphertext": five.ciphertext,
            "nonce": five.nonce,
            "ephemeral_key": five.ephemeral_key,
        }
    )
    assert _open(five).index == 5
    with pytest.raises(SealingError, match="authentication failed"):
        _open(replayed)


def test_header_mismatch_with_plaintext_is_refused() -> None:
    """An authentic ciphertext whose plaintext claims another index or trace is still refused."""
    lying = _segment(9)
    header = compute_header(TRACE_ID, 3, ALICE.address)
    ephemeral = X25519PrivateKey.from_private_bytes(bytes([9]) * 32)
    ephemeral_public = ephemeral.public_key().public_bytes_raw()
    key = _derive_key(ephemeral, ALICE.x25519_public, ephemeral_public, ALICE.x25519_public, header)
    forged = EncryptedSegment(
        index=3,
        recipient=ALICE.address,
        ephemeral_key=to_hex(ephemeral_public),
        nonce=to_hex(FIXED_NONCE),
        ciphertext=to_hex(
            ChaCha20Poly1305(key).encrypt(
                FIXED_NONCE, canonical_json(lying.model_dump(mode="json")), header
            )
        ),
    )
    with pytest.raises(SealingError, match="not the sealed header"):
        _open(forged)


def test_malformed_plaintext_is_refused() -> None:
    header = compute_header(TRACE_ID, 3, ALICE.address)
    ephemeral = X25519PrivateKey.from_private_bytes(bytes([9]) * 32)
    ephemeral_public = ephemeral.public_key().public_bytes_raw()
    key = _derive_key(ephemeral, ALICE.x25519_public, ephemeral_public, ALICE.x25519_public, header)
    payload = dict(_segment().model_dump(mode="json"), extra_field=1)
    forged = EncryptedSegment(
        index=3,
        recipient=ALICE.address,
        ephemeral_key=to_hex(ephemeral_public),
        nonce=to_hex(FIXED_NONCE),
        ciphertext=to_hex(
            ChaCha20Poly1305(key).encrypt(FIXED_NONCE, canonical_json(payload), header)
        ),
    )
    with pytest.raises(SealingError, match="malformed plaintext"):
        _open(forged)


def test_low_order_ephemeral_key_is_refused() -> None:
    sealed = _seal(_segment()).model_copy(update={"ephemeral_key": "0x" + "00" * 32})
    with pytest.raises(SealingError, match="unusable X25519 key"):
        _open(sealed)


def test_oversized_segment_is_refused_and_the_limit_is_exact() -> None:
    base = len(canonical_json(_segment(text="").model_dump(mode="json")))
    fits = _segment(text="a" * (MAX_SEGMENT_PLAINTEXT_BYTES - base))
    sealed = _seal(fits)
    assert len(from_hex(sealed.ciphertext)) == MAX_SEGMENT_PLAINTEXT_BYTES + 16
    assert _open(sealed) == fits
    with pytest.raises(SegmentTooLargeError, match="above"):
        _seal(_segment(text="a" * (MAX_SEGMENT_PLAINTEXT_BYTES - base + 1)))


def test_bad_nonce_and_address_are_refused() -> None:
    with pytest.raises(SealingError, match="nonce must be 12 bytes"):
        seal_segment(_segment(), ALICE.address, ALICE.x25519_public, nonce=b"short")
    with pytest.raises(SealingError, match="lowercase address"):
        seal_segment(_segment(), ALICE.address.upper(), ALICE.x25519_public)
    with pytest.raises(SealingError, match="unusable X25519 key"):
        seal_segment(_segment(), ALICE.address, b"\1" * 31)


def _assert_signed_by_submitter(bundle: SegmentBundle) -> None:
    assert bundle.sender == SUBMITTER.address
    assert recover_signer(compute_envelope_digest(bundle), bundle.signature) == SUBMITTER.address


def test_bundle_round_trip_and_no_plaintext_on_the_wire() -> None:
    segments = {
        ALICE.address: (ALICE.x25519_public, [_segment(0), _segment(1)]),
        BOB.address: (BOB.x25519_public, [_segment(1), _segment(2)]),
    }
    bundles = seal_bundle(TRACE_ID, 0, segments, SUBMITTER.account_key)
    assert len(bundles) == 1
    _assert_signed_by_submitter(bundles[0])
    wire = encode_gossip_message(bundles[0])
    decoded = decode_gossip_message(wire)
    assert decoded == bundles[0]
    # The privacy property: neither the text, the problem nor the context travels in clear.
    for clear in (SECRET_TEXT, "Find the slope", "f(x) = x^3", "twelve"):
        assert clear.encode() not in wire
        assert clear.encode().hex().encode() not in wire
    opened = {
        (item.recipient, item.index): open_segment(
            item,
            TRACE_ID,
            (ALICE if item.recipient == ALICE.address else BOB).x25519,
            item.recipient,
        )
        for item in bundles[0].items
    }
    assert opened == {
        (ALICE.address, 0): _segment(0),
        (ALICE.address, 1): _segment(1),
        (BOB.address, 1): _segment(1),
        (BOB.address, 2): _segment(2),
    }


def test_bundles_split_at_the_item_limit() -> None:
    count = MAX_BUNDLE_ITEMS + 3
    segments = {ALICE.address: (ALICE.x25519_public, [_segment(i, "x") for i in range(count)])}
    bundles = seal_bundle(TRACE_ID, 1, segments, SUBMITTER.account_key)
    assert [len(bundle.items) for bundle in bundles] == [MAX_BUNDLE_ITEMS, 3]
    assert [item.index for bundle in bundles for item in bundle.items] == list(range(count))
    for bundle in bundles:
        _assert_signed_by_submitter(bundle)
        assert bundle.round == 1


def test_bundles_split_at_the_byte_limit() -> None:
    """Near-maximal segments: only one fits per bundle, and every bundle decodes."""
    base = len(canonical_json(_segment(text="").model_dump(mode="json")))
    big = "b" * (MAX_SEGMENT_PLAINTEXT_BYTES - base - 10)
    medium = "m" * 100_000
    segments = {
        ALICE.address: (ALICE.x25519_public, [_segment(0, big), _segment(1, big)]),
        BOB.address: (BOB.x25519_public, [_segment(i, medium) for i in range(2, 8)]),
    }
    bundles = seal_bundle(TRACE_ID, 0, segments, SUBMITTER.account_key)
    sizes = [len(encode_gossip_message(bundle)) for bundle in bundles]
    assert all(size <= MAX_GOSSIP_MESSAGE_BYTES for size in sizes)
    assert sum(len(bundle.items) for bundle in bundles) == 8
    assert len(bundles) >= 3
    # Greedy packing: no bundle could have taken the next bundle's first item.
    for size, after in zip(sizes, bundles[1:], strict=False):
        first_next = canonical_json(after.items[0].model_dump(mode="json"))
        assert size + 1 + len(first_next) > MAX_GOSSIP_MESSAGE_BYTES
    for bundle in bundles:
        assert decode_gossip_message(encode_gossip_message(bundle)) == bundle
        _assert_signed_by_submitter(bundle)


def test_bundle_refuses_a_segment_of_another_trace() -> None:
    segments = {ALICE.address: (ALICE.x25519_public, [_segment(0, trace_id=OTHER_TRACE_ID)])}
    with pytest.raises(SealingError, match="belongs to trace"):
        seal_bundle(TRACE_ID, 0, segments, SUBMITTER.account_key)


def test_empty_input_gives_no_bundles() -> None:
    assert seal_bundle(TRACE_ID, 0, {}, SUBMITTER.account_key) == []
    assert compute_address(SUBMITTER.account_key) == SUBMITTER.address


# --- Round-0 reveals, sealed to the submitter ----------------------------------------------------

DOMAIN = bytes(32)


def _reveal(by: NodeIdentity = ALICE, round_: int = 0) -> Reveal:
    votes = (
        VoteEntry(segment=1, vote=Vote.INVALID, confidence=9_000, rationale=keccak_hex(b"why")),
        VoteEntry(segment=4, vote=Vote.VALID, confidence=7_000, rationale=keccak_hex(b"ok")),
    )
    return make_reveal(by.account_key, TRACE_ID, round_, votes, keccak_hex(b"salt"), DOMAIN)


def _seal_reveal(reveal: Reveal, by: NodeIdentity = ALICE) -> SealedReveal:
    return seal_reveal(reveal, SUBMITTER.address, SUBMITTER.x25519_public, by.account_key)


def test_a_sealed_reveal_opens_for_the_submitter_only_and_hides_the_votes() -> None:
    reveal = _reveal()
    sealed = _seal_reveal(reveal)
    assert (sealed.trace_id, sealed.round, sealed.auditor) == (TRACE_ID, 0, ALICE.address)
    assert recover_signer(compute_envelope_digest(sealed), sealed.signature) == ALICE.address
    assert open_reveal(sealed, SUBMITTER.x25519, SUBMITTER.address) == reveal
    # Nothing of the votes is on the wire: not the salt, not a rationale, not the signature.
    wire = encode_gossip_message(SealedRevealMessage(sealed=sealed))
    for secret in (reveal.salt, reveal.votes[0].rationale, reveal.signature):
        assert secret[2:].encode() not in wire
    with pytest.raises(SealingError, match="sealed to"):
        open_reveal(sealed, BOB.x25519, BOB.address)
    with pytest.raises(SealingError, match="authentication failed"):
        open_reveal(sealed, BOB.x25519, SUBMITTER.address)


def test_a_tampered_or_relabelled_sealed_reveal_does_not_open() -> None:
    sealed = _seal_reveal(_reveal())
    for change in (
        {"ciphertext": _flip_hex(sealed.ciphertext, 5)},
        {"nonce": _flip_hex(sealed.nonce)},
        {"auditor": BOB.address},  # another auditor's header: the AEAD data differs
        {"trace_id": OTHER_TRACE_ID},
    ):
        with pytest.raises(SealingError, match="authentication failed"):
            open_reveal(sealed.model_copy(update=change), SUBMITTER.x25519, SUBMITTER.address)


def test_only_an_auditor_seals_its_own_round_zero_reveal() -> None:
    with pytest.raises(SealingError, match="only round-0"):
        _seal_reveal(_reveal(round_=1))
    with pytest.raises(SealingError, match="not the reveal's auditor"):
        _seal_reveal(_reveal(by=ALICE), by=BOB)


def test_a_sealed_plaintext_that_is_another_auditors_reveal_is_refused() -> None:
    """BOB seals ALICE's reveal under his own header: it opens, but does not match it."""
    alice = _reveal(ALICE)
    header = compute_reveal_header(TRACE_ID, BOB.address, SUBMITTER.address)
    ephemeral = X25519PrivateKey.from_private_bytes(bytes([9]) * 32)
    ephemeral_public = ephemeral.public_key().public_bytes_raw()
    key = _derive_key(
        ephemeral, SUBMITTER.x25519_public, ephemeral_public, SUBMITTER.x25519_public, header
    )
    plaintext = canonical_json(alice.model_dump(mode="json"))
    forged = SealedReveal(
        trace_id=TRACE_ID,
        round=0,
        auditor=BOB.address,
        recipient=SUBMITTER.address,
        ephemeral_key=to_hex(ephemeral_public),
        nonce=to_hex(FIXED_NONCE),
        ciphertext=to_hex(ChaCha20Poly1305(key).encrypt(FIXED_NONCE, plaintext, header)),
        signature="0x" + "00" * 65,
    )
    with pytest.raises(SealingError, match="differs from its header"):
        open_reveal(forged, SUBMITTER.x25519, SUBMITTER.address)


def test_round_one_bundles_carry_the_plan() -> None:
    plan = (PlannedEscalation(segment=2, tier=Tier.LLM, committee_multiplier=1),)
    segments = {ALICE.address: (ALICE.x25519_public, [_segment(2)])}
    (bundle,) = seal_bundle(
        TRACE_ID, 1, segments, SUBMITTER.account_key, basis=(BOB.address,), plan=plan
    )
    assert (bundle.basis, bundle.plan) == ((BOB.address,), plan)
    _assert_signed_by_submitter(bundle)
