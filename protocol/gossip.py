"""Gossip validation: a pure function per message kind returning accept, ignore or reject.

The node passes in a read-only view of what it knows (the chain's traces and auditors, the
votes seen so far, the phase of each round). `REJECT` means the sender broke the protocol and
is penalized; `IGNORE` means the message is useless now (duplicate, early, late) but not
malicious. Each rule states its consequence first, as in the consensus specs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from itertools import pairwise
from typing import Protocol

from protocol.eip712 import compute_commit_digest, compute_reveal_digest
from protocol.errors import VoteError
from protocol.messages import (
    CommitMessage,
    GossipMessage,
    RevealMessage,
    SealedRevealMessage,
    SegmentBundle,
    TraceAnnouncement,
    VoteBatch,
    compute_envelope_digest,
)
from protocol.models import Commit, Hash32, PlannedEscalation, Reveal
from protocol.signing import recover_signer
from protocol.votes import compute_commitment


class Outcome(Enum):
    ACCEPT = "accept"
    IGNORE = "ignore"
    REJECT = "reject"


class Phase(Enum):
    """Where a round of a trace stands, as the node's collector sees it."""

    COMMIT = "commit"
    REVEAL = "reveal"
    CLOSED = "closed"


@dataclass(frozen=True)
class Verdict:
    outcome: Outcome
    reason: str

    @property
    def accepted(self) -> bool:
        return self.outcome is Outcome.ACCEPT


ACCEPT = Verdict(Outcome.ACCEPT, "ok")


def _ignore(reason: str) -> Verdict:
    return Verdict(Outcome.IGNORE, reason)


def _reject(reason: str) -> Verdict:
    return Verdict(Outcome.REJECT, reason)


@dataclass(frozen=True)
class TraceOnChain:
    """What the Ledger says about a submitted trace."""

    trace_id: Hash32
    root: Hash32
    segment_count: int
    submitter: str
    #: Current round; messages of other rounds are ignored.
    round: int
    phase: Phase
    #: Round-0 revealers that fixed round 1's committees, once round 1 has opened.
    basis: tuple[str, ...] | None = None
    #: The escalations round 1 was opened with (declared by the submitter), once it has.
    plan: tuple[PlannedEscalation, ...] | None = None


class GossipView(Protocol):
    """Read-only state a validator consults; the node implements it over its store and chain."""

    @property
    def domain_separator(self) -> bytes: ...

    def get_trace(self, trace_id: str) -> TraceOnChain | None: ...

    def is_registered(self, address: str) -> bool: ...

    def get_commit(self, trace_id: str, round_: int, auditor: str) -> Commit | None: ...

    def has_reveal(self, trace_id: str, round_: int, auditor: str) -> bool: ...

    def has_sealed_reveal(self, trace_id: str, round_: int, auditor: str) -> bool: ...

    def is_assigned(self, trace_id: str, round_: int, segment: int, auditor: str) -> bool: ...

    def assigned_segments(self, trace_id: str, round_: int, auditor: str) -> tuple[int, ...]: ...


def validate_gossip_message(message: GossipMessage, view: GossipView) -> Verdict:
    """Dispatch on the message kind; the decoder has already enforced size and schema."""
    if isinstance(message, TraceAnnouncement):
        return validate_trace_announcement(message, view)
    if isinstance(message, SegmentBundle):
        return validate_segment_bundle(message, view)
    if isinstance(message, CommitMessage):
        return validate_commit_message(message, view)
    if isinstance(message, VoteBatch):
        return compute_batch_verdict([validate_gossip_message(m, view) for m in message.messages()])
    if isinstance(message, SealedRevealMessage):
        return validate_sealed_reveal_message(message, view)
    return validate_reveal_message(message, view)


def compute_batch_verdict(verdicts: Sequence[Verdict]) -> Verdict:
    """A vote batch's verdict from its votes' verdicts, taken one by one in batch order."""
    # [REJECT] A vote of the batch breaks the protocol: whoever relays it is penalized
    for verdict in verdicts:
        if verdict.outcome is Outcome.REJECT:
            return verdict
    # [IGNORE] No vote of the batch is new and timely (only the accepted ones are recorded)
    if not any(verdict.accepted for verdict in verdicts):
        return _ignore("no vote of the batch is usable now")
    return ACCEPT


def _signer_of(digest: str, signature: str) -> str | None:
    try:
        return recover_signer(digest, signature)
    except VoteError:
        return None


def validate_trace_announcement(message: TraceAnnouncement, view: GossipView) -> Verdict:
    # [REJECT] The announcement is signed by the submitter it names
    if _signer_of(compute_envelope_digest(message), message.signature) != message.submitter:
        return _reject("announcement signature does not recover to the submitter")
    trace = view.get_trace(message.trace_id)
    # [IGNORE] The trace is not on-chain yet as far as this node knows (it may be soon)
    if trace is None:
        return _ignore("trace not known on-chain yet")
    # [REJECT] The announcement agrees with the on-chain commitment
    if (trace.root, trace.segment_count, trace.submitter) != (
        message.root,
        message.segment_count,
        message.submitter,
    ):
        return _reject("announcement disagrees with the on-chain trace")
    return ACCEPT


def validate_segment_bundle(message: SegmentBundle, view: GossipView) -> Verdict:
    trace = view.get_trace(message.trace_id)
    # [IGNORE] The trace is not on-chain yet as far as this node knows
    if trace is None:
        return _ignore("trace not known on-chain yet")
    # [REJECT] Only the trace's submitter dispatches its segments, and it signed this bundle
    if message.sender != trace.submitter:
        return _reject("segments sent by someone other than the trace's submitter")
    if _signer_of(compute_envelope_digest(message), message.signature) != message.sender:
        return _reject("bundle signature does not recover to the sender")
    # [IGNORE] The bundle is for a round other than the current one
    if message.round != trace.round:
        return _ignore(f"bundle for round {message.round}, current round is {trace.round}")
    # [REJECT] Round 0 has no basis or plan; a later round's bundles all name the basis and the
    # plan it opened with
    if message.round == 0 and (message.basis or message.plan):
        return _reject("a round-0 bundle names a basis or a plan")
    if message.round > 0 and (tuple(message.basis), tuple(message.plan)) != (
        trace.basis,
        trace.plan,
    ):
        return _reject("bundle names another basis or plan than its round opened with")
    for item in message.items:
        verdict = _validate_sealed_segment(item.index, item.recipient, trace, view)
        if not verdict.accepted:
            return verdict
    return ACCEPT


def check_round_one_plan(
    plan: Sequence[PlannedEscalation], basis: Sequence[str], segment_count: int
) -> str | None:
    """Why a round-1 bundle's plan and basis cannot open round 1, or None: a node checks this
    before drawing committees from them (the submitter signed them, but may be faulty)."""
    segments = [p.segment for p in plan]
    if any(a >= b for a, b in pairwise(segments)):
        return "plan segments are not ascending and distinct"
    if segments and segments[-1] >= segment_count:
        return f"plan names segment {segments[-1]} of a trace of {segment_count}"
    if any(a >= b for a, b in pairwise(basis)):
        return "basis auditors are not ascending and distinct"
    return None


def _validate_sealed_segment(
    index: int, recipient: str, trace: TraceOnChain, view: GossipView
) -> Verdict:
    # [REJECT] The segment exists in the trace's on-chain HDAG
    if index >= trace.segment_count:
        return _reject(f"segment {index} beyond the trace's {trace.segment_count} segments")
    # [REJECT] A segment is sealed only to an auditor assigned to it by sortition
    if not view.is_assigned(trace.trace_id, trace.round, index, recipient):
        return _reject(f"segment {index} sealed to an auditor not assigned to it")
    return ACCEPT


def _validate_vote_header(
    trace_id: str,
    round_: int,
    auditor: str,
    digest: str,
    signature: str,
    view: GossipView,
    *,
    earlier_round: bool = False,
) -> Verdict | TraceOnChain:
    """Rules shared by commits and reveals; returns the trace when they all pass.
    `earlier_round`: a vote of a round before the current one is still of use (a round-0
    reveal made public after round 0)."""
    # [REJECT] The vote is signed by the auditor it names (EIP-712, this chain and Ledger)
    if _signer_of(digest, signature) != auditor:
        return _reject("vote signature does not recover to the auditor")
    # [REJECT] The vote is signed by a registered auditor
    if not view.is_registered(auditor):
        return _reject("auditor is not registered")
    trace = view.get_trace(trace_id)
    # [IGNORE] The trace is not on-chain yet as far as this node knows
    if trace is None:
        return _ignore("trace not known on-chain yet")
    # [IGNORE] The vote is for a round other than the current one
    if round_ != trace.round and not (earlier_round and round_ < trace.round):
        return _ignore(f"vote for round {round_}, current round is {trace.round}")
    return trace


def validate_commit_message(message: CommitMessage, view: GossipView) -> Verdict:
    commit = message.commit
    digest = compute_commit_digest(commit, view.domain_separator)
    header = _validate_vote_header(
        commit.trace_id, commit.round, commit.auditor, digest, commit.signature, view
    )
    if isinstance(header, Verdict):
        return header
    # [IGNORE] The round's commit phase has closed
    if header.phase is not Phase.COMMIT:
        return _ignore("commit phase has closed")
    known = view.get_commit(commit.trace_id, commit.round, commit.auditor)
    # [IGNORE] The same commit was seen before
    if known is not None and known.commitment == commit.commitment:
        return _ignore("duplicate commit")
    # [REJECT] A second, different commit for one trace and round is equivocation
    if known is not None:
        return _reject("equivocation: a different commit for this trace and round")
    return ACCEPT


def validate_reveal_message(message: RevealMessage, view: GossipView) -> Verdict:
    reveal = message.reveal
    header = _validate_reveal_header(reveal, view)
    if isinstance(header, Verdict):
        return header
    if reveal.round == 0 and (header.round > 0 or header.phase is Phase.CLOSED):
        return _validate_published_reveal(reveal, header, view)
    # [IGNORE] The round's reveal phase is not open (not yet, or closed already)
    if header.phase is not Phase.REVEAL:
        return _ignore(f"reveal phase is not open (round is in {header.phase.value})")
    # [IGNORE] The reveal was seen before
    if view.has_reveal(reveal.trace_id, reveal.round, reveal.auditor):
        return _ignore("duplicate reveal")
    commit = view.get_commit(reveal.trace_id, reveal.round, reveal.auditor)
    # [IGNORE] A reveal without an earlier commit counts for nothing
    if commit is None:
        return _ignore("no earlier commit from this auditor")
    return _validate_reveal_votes(reveal, commit, view)


def _validate_published_reveal(reveal: Reveal, trace: TraceOnChain, view: GossipView) -> Verdict:
    """A round-0 reveal in clear after round 0 closed: it was sealed to the submitter during the
    round, and is made public once round 1's commits are closed (by the submitter, for its
    basis) or the trace stalls (by its auditor), so that any node can check round 1's plan and
    finalize.
    """
    # [IGNORE] The reveal was seen before
    if view.has_reveal(reveal.trace_id, 0, reveal.auditor):
        return _ignore("duplicate reveal")
    commit = view.get_commit(reveal.trace_id, 0, reveal.auditor)
    if trace.basis is not None:
        # [IGNORE] Once round 1 is open only the basis counts (this node may never have seen
        # a basis member's commit: the submitter's signed bundle vouches for it)
        if reveal.auditor not in trace.basis:
            return _ignore("round-0 reveal outside the round-1 basis")
    # [IGNORE] Without round 1, a reveal counts only with the commit this node saw in time
    elif commit is None:
        return _ignore("no earlier commit from this auditor")
    return _validate_reveal_votes(reveal, commit, view)


def validate_sealed_reveal_message(message: SealedRevealMessage, view: GossipView) -> Verdict:
    """A round-0 reveal sealed to the submitter: checked by its header, since only the
    submitter can open it (and then checks it as a reveal in clear)."""
    sealed = message.sealed
    header = _validate_vote_header(
        sealed.trace_id,
        sealed.round,
        sealed.auditor,
        compute_envelope_digest(sealed),
        sealed.signature,
        view,
    )
    if isinstance(header, Verdict):
        return header
    # [REJECT] A round-0 reveal is sealed to the trace's submitter, nobody else
    if sealed.recipient != header.submitter:
        return _reject("reveal sealed to someone other than the trace's submitter")
    # [IGNORE] The round's reveal phase is not open (not yet, or closed already)
    if header.phase is not Phase.REVEAL:
        return _ignore(f"reveal phase is not open (round is in {header.phase.value})")
    # [IGNORE] The reveal was seen before (sealed or in clear)
    if view.has_sealed_reveal(sealed.trace_id, 0, sealed.auditor) or view.has_reveal(
        sealed.trace_id, 0, sealed.auditor
    ):
        return _ignore("duplicate reveal")
    # [IGNORE] A reveal without an earlier commit counts for nothing
    if view.get_commit(sealed.trace_id, 0, sealed.auditor) is None:
        return _ignore("no earlier commit from this auditor")
    # [REJECT] Only an auditor assigned in the round reveals in it
    if not view.assigned_segments(sealed.trace_id, 0, sealed.auditor):
        return _reject("sealed reveal of an auditor assigned no segment")
    return ACCEPT


def validate_opened_reveal(reveal: Reveal, view: GossipView) -> Verdict:
    """A sealed reveal the submitter opened: it opens the auditor's commit and covers exactly
    its segments (the envelope signature is not the reveal's own EIP-712 one)."""
    header = _validate_reveal_header(reveal, view)
    if isinstance(header, Verdict):
        return header
    commit = view.get_commit(reveal.trace_id, reveal.round, reveal.auditor)
    # [IGNORE] A reveal without an earlier commit counts for nothing
    if commit is None:
        return _ignore("no earlier commit from this auditor")
    return _validate_reveal_votes(reveal, commit, view)


def _validate_reveal_header(reveal: Reveal, view: GossipView) -> Verdict | TraceOnChain:
    digest = compute_reveal_digest(reveal, view.domain_separator)
    return _validate_vote_header(
        reveal.trace_id,
        reveal.round,
        reveal.auditor,
        digest,
        reveal.signature,
        view,
        earlier_round=reveal.round == 0,
    )


def _validate_reveal_votes(reveal: Reveal, commit: Commit | None, view: GossipView) -> Verdict:
    # [REJECT] The reveal opens exactly the committed votes
    expected = compute_commitment(
        reveal.votes, reveal.salt, reveal.auditor, reveal.trace_id, reveal.round
    )
    if commit is not None and expected != commit.commitment:
        return _reject("reveal does not match the auditor's commit")
    # [REJECT] The votes cover exactly the segments the auditor was assigned in this round
    # (the Ledger cannot see a skipped segment, so a partial reveal would be miscounted)
    voted = tuple(entry.segment for entry in reveal.votes)
    assigned = view.assigned_segments(reveal.trace_id, reveal.round, reveal.auditor)
    if voted != assigned:
        stray = sorted(set(voted) - set(assigned))
        if stray:
            return _reject(f"vote on segment {stray[0]} the auditor was not assigned")
        return _reject(f"reveal skips assigned segment {sorted(set(assigned) - set(voted))[0]}")
    return ACCEPT
