"""Gossip validation: every rule has a case that trips it, and honest traffic is accepted."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import pytest

from protocol.eip712 import compute_domain_separator
from protocol.gossip import (
    GossipView,
    Outcome,
    Phase,
    TraceOnChain,
    Verdict,
    check_round_one_plan,
    compute_batch_verdict,
    validate_gossip_message,
    validate_opened_reveal,
)
from protocol.messages import (
    MAX_GOSSIP_MESSAGE_BYTES,
    MAX_VOTE_BATCH_ITEMS,
    CommitMessage,
    EncryptedSegment,
    MessageDecodeError,
    RevealMessage,
    SealedReveal,
    SealedRevealMessage,
    SegmentBundle,
    TraceAnnouncement,
    VoteBatch,
    decode_gossip_message,
    encode_gossip_message,
    make_vote_batch,
    sign_envelope,
)
from protocol.models import Commit, PlannedEscalation, Tier, Vote, VoteEntry
from protocol.signing import compute_address
from protocol.votes import make_commit, make_reveal

SUBMITTER_KEY = "0x" + f"{1:064x}"
AUDITOR_KEY = "0x" + f"{2:064x}"
STRANGER_KEY = "0x" + f"{3:064x}"
SUBMITTER = compute_address(SUBMITTER_KEY)
AUDITOR = compute_address(AUDITOR_KEY)
TRACE_ID = "0x" + "ab" * 32
ROOT = "0x" + "cd" * 32
SALT = "0x" + "5a" * 32
DOMAIN = compute_domain_separator(31337, "0x" + "11" * 20)
UNSIGNED = "0x" + "00" * 65
VOTES = (
    VoteEntry(segment=0, vote=Vote.VALID, confidence=9_000, rationale="0x" + "00" * 32),
    VoteEntry(segment=2, vote=Vote.INVALID, confidence=8_000, rationale="0x" + "00" * 32),
)


@dataclass
class View:
    """An in-memory GossipView: auditor AUDITOR is assigned segments 0 and 2 of round 0."""

    trace: TraceOnChain | None = field(
        default_factory=lambda: TraceOnChain(TRACE_ID, ROOT, 3, SUBMITTER, 0, Phase.COMMIT)
    )
    commits: dict[tuple[str, int, str], Commit] = field(default_factory=dict)
    reveals: set[tuple[str, int, str]] = field(default_factory=set)
    sealed: set[tuple[str, int, str]] = field(default_factory=set)
    assigned: set[tuple[int, str]] = field(default_factory=lambda: {(0, AUDITOR), (2, AUDITOR)})
    #: The round `assigned` is of; None: the trace's current round.
    assigned_round: int | None = None

    @property
    def domain_separator(self) -> bytes:
        return DOMAIN

    def get_trace(self, trace_id: str) -> TraceOnChain | None:
        return self.trace if self.trace and self.trace.trace_id == trace_id else None

    def is_registered(self, address: str) -> bool:
        return address in {SUBMITTER, AUDITOR}

    def get_commit(self, trace_id: str, round_: int, auditor: str) -> Commit | None:
        return self.commits.get((trace_id, round_, auditor))

    def has_reveal(self, trace_id: str, round_: int, auditor: str) -> bool:
        return (trace_id, round_, auditor) in self.reveals

    def has_sealed_reveal(self, trace_id: str, round_: int, auditor: str) -> bool:
        return (trace_id, round_, auditor) in self.sealed

    def is_assigned(self, trace_id: str, round_: int, segment: int, auditor: str) -> bool:
        of = self.round if self.assigned_round is None else self.assigned_round
        return trace_id == TRACE_ID and round_ == of and (segment, auditor) in self.assigned

    @property
    def round(self) -> int:
        return 0 if self.trace is None else self.trace.round

    def assigned_segments(self, trace_id: str, round_: int, auditor: str) -> tuple[int, ...]:
        return tuple(sorted(s for s in range(3) if self.is_assigned(trace_id, round_, s, auditor)))

    def in_phase(self, phase: Phase) -> View:
        assert self.trace is not None
        self.trace = replace(self.trace, phase=phase)
        return self


def _check(view: GossipView, message: object, outcome: Outcome, reason: str = "") -> None:
    verdict = validate_gossip_message(message, view)  # type: ignore[arg-type]
    assert verdict.outcome is outcome, verdict.reason
    assert reason in verdict.reason


def _announcement(key: str = SUBMITTER_KEY, **update: object) -> TraceAnnouncement:
    fields = {
        "trace_id": TRACE_ID,
        "root": ROOT,
        "segment_count": 3,
        "submitter": SUBMITTER,
        "signature": UNSIGNED,
    }
    return sign_envelope(TraceAnnouncement.model_validate({**fields, **update}), key)


PLAN = (PlannedEscalation(segment=1, tier=Tier.CHECKER, committee_multiplier=2),)


def _bundle(
    key: str = SUBMITTER_KEY,
    index: int = 0,
    round_: int = 0,
    basis: tuple[str, ...] = (),
    plan: tuple[PlannedEscalation, ...] = (),
) -> SegmentBundle:
    item = EncryptedSegment(
        index=index,
        recipient=AUDITOR,
        ephemeral_key="0x" + "01" * 32,
        nonce="0x" + "02" * 12,
        ciphertext="0xdeadbeef",
    )
    bundle = SegmentBundle(
        trace_id=TRACE_ID,
        round=round_,
        sender=compute_address(key),
        items=(item,),
        basis=basis,
        plan=plan,
        signature=UNSIGNED,
    )
    return sign_envelope(bundle, key)


def _commit(key: str = AUDITOR_KEY, votes: tuple[VoteEntry, ...] = VOTES) -> CommitMessage:
    return CommitMessage(commit=make_commit(key, TRACE_ID, 0, votes, SALT, DOMAIN))


def _reveal(key: str = AUDITOR_KEY, votes: tuple[VoteEntry, ...] = VOTES) -> RevealMessage:
    return RevealMessage(reveal=make_reveal(key, TRACE_ID, 0, votes, SALT, DOMAIN))


def _sealed(key: str = AUDITOR_KEY, recipient: str = SUBMITTER) -> SealedRevealMessage:
    """A sealed reveal: validators see only its header, so any ciphertext will do here."""
    sealed = SealedReveal(
        trace_id=TRACE_ID,
        round=0,
        auditor=AUDITOR,
        recipient=recipient,
        ephemeral_key="0x" + "01" * 32,
        nonce="0x" + "02" * 12,
        ciphertext="0xdeadbeef",
        signature=UNSIGNED,
    )
    return SealedRevealMessage(sealed=sign_envelope(sealed, key))


def _committed_view() -> View:
    view = View()
    view.commits[(TRACE_ID, 0, AUDITOR)] = _commit().commit
    return view


def test_honest_announcement_and_bundle_are_accepted() -> None:
    _check(View(), _announcement(), Outcome.ACCEPT)
    _check(View(), _bundle(), Outcome.ACCEPT)


def test_announcement_rules() -> None:
    forged = _announcement().model_copy(update={"root": "0x" + "ee" * 32})
    _check(View(), forged, Outcome.REJECT, "signature")
    _check(View(trace=None), _announcement(), Outcome.IGNORE, "not known")
    _check(View(), _announcement(segment_count=4), Outcome.REJECT, "disagrees")


def test_bundle_rules() -> None:
    _check(View(trace=None), _bundle(), Outcome.IGNORE, "not known")
    _check(View(), _bundle(key=STRANGER_KEY), Outcome.REJECT, "other than the trace's submitter")
    tampered = _bundle().model_copy(update={"round": 1})
    _check(View(), tampered, Outcome.REJECT, "signature")
    _check(View(), _bundle(round_=1), Outcome.IGNORE, "round 1")
    _check(View(), _bundle(index=3), Outcome.REJECT, "beyond")
    _check(View(), _bundle(index=1), Outcome.REJECT, "not assigned")


def test_commit_rules() -> None:
    _check(View(), _commit(), Outcome.ACCEPT)
    _check(View(), _commit(key=STRANGER_KEY), Outcome.REJECT, "not registered")
    forged = _commit().commit.model_copy(update={"commitment": "0x" + "99" * 32})
    _check(View(), CommitMessage(commit=forged), Outcome.REJECT, "does not recover")
    _check(View(trace=None), _commit(), Outcome.IGNORE, "not known")
    _check(View().in_phase(Phase.REVEAL), _commit(), Outcome.IGNORE, "commit phase has closed")
    _check(_committed_view(), _commit(), Outcome.IGNORE, "duplicate")
    other_votes = (VOTES[0],)
    _check(_committed_view(), _commit(votes=other_votes), Outcome.REJECT, "equivocation")


def test_commit_signed_for_another_ledger_is_rejected() -> None:
    other_domain = compute_domain_separator(31337, "0x" + "22" * 20)
    commit = make_commit(AUDITOR_KEY, TRACE_ID, 0, VOTES, SALT, other_domain)
    _check(View(), CommitMessage(commit=commit), Outcome.REJECT, "does not recover")


def test_reveal_rules() -> None:
    _check(_committed_view().in_phase(Phase.REVEAL), _reveal(), Outcome.ACCEPT)
    _check(_committed_view(), _reveal(), Outcome.IGNORE, "not open")
    _check(View().in_phase(Phase.REVEAL), _reveal(), Outcome.IGNORE, "no earlier commit")
    changed = (VOTES[0], VOTES[1].model_copy(update={"vote": Vote.VALID}))
    view = _committed_view().in_phase(Phase.REVEAL)
    _check(view, _reveal(votes=changed), Outcome.REJECT, "does not match")
    view.reveals.add((TRACE_ID, 0, AUDITOR))
    _check(view, _reveal(), Outcome.IGNORE, "duplicate")


def test_round_zero_reveal_made_public_after_its_round_closed() -> None:
    """Sealed to the submitter during round 0, a reveal is published in clear once round 1's
    commits closed (the submitter's basis) or the trace stalled (its auditor)."""
    # Round 0 closed, no round 1: it counts with the commit this node saw in time.
    _check(_committed_view().in_phase(Phase.CLOSED), _reveal(), Outcome.ACCEPT)
    _check(View().in_phase(Phase.CLOSED), _reveal(), Outcome.IGNORE, "no earlier commit")
    # Round 1 open: only the basis counts, commit seen or not (the submitter vouched for it).
    in_basis = _round1_view((AUDITOR,))
    in_basis.assigned, in_basis.assigned_round = {(0, AUDITOR), (2, AUDITOR)}, 0
    _check(in_basis, _reveal(), Outcome.ACCEPT)
    _check(_round1_view((SUBMITTER,)), _reveal(), Outcome.IGNORE, "outside the round-1 basis")
    in_basis.commits[(TRACE_ID, 0, AUDITOR)] = _commit(votes=(VOTES[0],)).commit
    _check(in_basis, _reveal(), Outcome.REJECT, "does not match")
    in_basis.reveals.add((TRACE_ID, 0, AUDITOR))
    _check(in_basis, _reveal(), Outcome.IGNORE, "duplicate")


def test_sealed_reveal_rules() -> None:
    _check(_committed_view().in_phase(Phase.REVEAL), _sealed(), Outcome.ACCEPT)
    view = _committed_view().in_phase(Phase.REVEAL)
    _check(view, _sealed(recipient=AUDITOR), Outcome.REJECT, "other than the trace's submitter")
    _check(view, _sealed(key=STRANGER_KEY), Outcome.REJECT, "does not recover")
    tampered = _sealed().sealed.model_copy(update={"ciphertext": "0xdeadbeee"})
    _check(view, SealedRevealMessage(sealed=tampered), Outcome.REJECT, "does not recover")
    _check(_committed_view(), _sealed(), Outcome.IGNORE, "not open")
    _check(View().in_phase(Phase.REVEAL), _sealed(), Outcome.IGNORE, "no earlier commit")
    view.sealed.add((TRACE_ID, 0, AUDITOR))
    _check(view, _sealed(), Outcome.IGNORE, "duplicate")
    view = _committed_view().in_phase(Phase.REVEAL)
    view.reveals.add((TRACE_ID, 0, AUDITOR))
    _check(view, _sealed(), Outcome.IGNORE, "duplicate")
    view = _committed_view().in_phase(Phase.REVEAL)
    view.assigned = set()
    _check(view, _sealed(), Outcome.REJECT, "assigned no segment")
    batch = make_vote_batch([_sealed(), _commit()])
    assert batch.messages() == (_commit(), _sealed())
    assert decode_gossip_message(encode_gossip_message(batch)) == batch


def test_an_opened_sealed_reveal_is_checked_like_one_in_clear() -> None:
    """The submitter opens a sealed reveal and accepts it only if it opens the auditor's
    commit, covers exactly its segments and carries the auditor's own EIP-712 signature."""
    reveal = _reveal().reveal
    assert validate_opened_reveal(reveal, _committed_view()).accepted
    assert "no earlier commit" in validate_opened_reveal(reveal, View()).reason
    changed = (VOTES[0], VOTES[1].model_copy(update={"vote": Vote.VALID}))
    verdict = validate_opened_reveal(_reveal(votes=changed).reveal, _committed_view())
    assert verdict.outcome is Outcome.REJECT and "does not match" in verdict.reason
    forged = reveal.model_copy(update={"signature": _reveal(key=STRANGER_KEY).reveal.signature})
    assert validate_opened_reveal(forged, _committed_view()).outcome is Outcome.REJECT


def test_reveal_on_unassigned_segment_is_rejected() -> None:
    extra = VoteEntry(segment=1, vote=Vote.VALID, confidence=1, rationale="0x" + "00" * 32)
    stray = tuple(sorted((*VOTES, extra), key=lambda entry: entry.segment))
    view = View().in_phase(Phase.REVEAL)
    view.commits[(TRACE_ID, 0, AUDITOR)] = _commit(votes=stray).commit
    _check(view, _reveal(votes=stray), Outcome.REJECT, "segment 1")


def test_wire_round_trip_and_hostile_bytes() -> None:
    message = _commit()
    assert decode_gossip_message(encode_gossip_message(message)) == message
    with pytest.raises(MessageDecodeError, match="exceeds"):
        decode_gossip_message(b" " * (MAX_GOSSIP_MESSAGE_BYTES + 1))
    for raw in (b"not json", b'{"kind": "nope"}', b'{"kind": "commit"}', b"[]"):
        with pytest.raises(MessageDecodeError):
            decode_gossip_message(raw)
    extra = encode_gossip_message(message).replace(b'{"commit"', b'{"extra":1,"commit"')
    with pytest.raises(MessageDecodeError, match="Extra inputs"):
        decode_gossip_message(extra)


def test_partial_reveal_is_rejected() -> None:
    # The Ledger cannot see a skipped segment, so nodes refuse a reveal that omits one.
    partial = (VOTES[0],)
    view = View().in_phase(Phase.REVEAL)
    view.commits[(TRACE_ID, 0, AUDITOR)] = _commit(votes=partial).commit
    _check(view, _reveal(votes=partial), Outcome.REJECT, "skips assigned segment 2")


def _round1_view(basis: tuple[str, ...] | None) -> View:
    view = View()
    assert view.trace is not None
    view.trace = replace(view.trace, round=1, basis=basis)
    view.assigned = set()
    return view


def _round1_plan_view(basis: tuple[str, ...], plan: tuple[PlannedEscalation, ...]) -> View:
    view = _round1_view(basis)
    assert view.trace is not None
    view.trace = replace(view.trace, plan=plan)
    return view


def test_bundle_basis_and_plan_rules() -> None:
    _check(View(), _bundle(basis=(AUDITOR,)), Outcome.REJECT, "round-0 bundle names a basis")
    _check(View(), _bundle(plan=PLAN), Outcome.REJECT, "round-0 bundle names a basis or a plan")
    view = _round1_plan_view((AUDITOR,), PLAN)
    view.assigned = {(0, AUDITOR)}
    _check(view, _bundle(round_=1, basis=(AUDITOR,), plan=PLAN), Outcome.ACCEPT)
    _check(view, _bundle(round_=1, basis=(SUBMITTER,), plan=PLAN), Outcome.REJECT, "another")
    _check(view, _bundle(round_=1, basis=(AUDITOR,)), Outcome.REJECT, "another basis or plan")
    unopened = _round1_view(None)
    _check(unopened, _bundle(round_=1, basis=(AUDITOR,), plan=PLAN), Outcome.REJECT, "basis")


def test_a_malformed_round_one_plan_opens_nothing() -> None:
    def plan(*segments: int) -> tuple[PlannedEscalation, ...]:
        return tuple(
            PlannedEscalation(segment=s, tier=Tier.LLM, committee_multiplier=1) for s in segments
        )

    assert check_round_one_plan(plan(0, 2), tuple(sorted((AUDITOR, SUBMITTER))), 3) is None
    assert "ascending" in (check_round_one_plan(plan(2, 0), (), 3) or "")
    assert "ascending" in (check_round_one_plan(plan(1, 1), (), 3) or "")
    assert "segment 3" in (check_round_one_plan(plan(3), (), 3) or "")
    unsorted = tuple(sorted((AUDITOR, SUBMITTER), reverse=True))
    assert "basis" in (check_round_one_plan((), unsorted, 3) or "")


def test_vote_batch_is_judged_from_its_votes() -> None:
    # Commits of the batch are validated before its reveals, whatever order they were given in.
    batch = make_vote_batch([_reveal(), _commit()])
    assert batch.messages() == (_commit(), _reveal())
    _check(View(), make_vote_batch([_commit()]), Outcome.ACCEPT)
    stranger = _commit(key=STRANGER_KEY)
    _check(View(), make_vote_batch([_commit(), stranger]), Outcome.REJECT, "not registered")
    # A duplicate beside a new vote: the batch is accepted; only a batch of nothing new is not.
    view = _committed_view().in_phase(Phase.REVEAL)
    _check(view, make_vote_batch([_commit(), _reveal()]), Outcome.ACCEPT)
    view.reveals.add((TRACE_ID, 0, AUDITOR))
    _check(view, make_vote_batch([_commit(), _reveal()]), Outcome.IGNORE, "no vote")


def test_batch_verdict_rules() -> None:
    accept, ignore = Verdict(Outcome.ACCEPT, "ok"), Verdict(Outcome.IGNORE, "duplicate")
    reject = Verdict(Outcome.REJECT, "bad signature")
    assert compute_batch_verdict([ignore, accept]).outcome is Outcome.ACCEPT
    assert compute_batch_verdict([accept, reject, ignore]) == reject
    assert compute_batch_verdict([ignore, ignore]).outcome is Outcome.IGNORE


def test_vote_batch_wire_limits() -> None:
    batch = make_vote_batch([_commit(), _reveal()])
    assert decode_gossip_message(encode_gossip_message(batch)) == batch
    with pytest.raises(MessageDecodeError, match="1 to"):
        decode_gossip_message(b'{"kind":"votes","commits":[],"reveals":[]}')
    commit = _commit().commit
    too_many = VoteBatch.model_construct(commits=(commit,) * (MAX_VOTE_BATCH_ITEMS + 1))
    with pytest.raises(MessageDecodeError, match="commits"):
        decode_gossip_message(encode_gossip_message(too_many))
    full = VoteBatch.model_construct(
        commits=(commit,) * (MAX_VOTE_BATCH_ITEMS // 2),
        reveals=(_reveal().reveal,) * (MAX_VOTE_BATCH_ITEMS // 2 + 1),
    )
    with pytest.raises(MessageDecodeError, match=f"1 to {MAX_VOTE_BATCH_ITEMS}"):
        decode_gossip_message(encode_gossip_message(full))
