"""Wire and domain models: frozen, strict pydantic models where unknown fields are errors.

Enums that the Solidity contracts also declare (`Tier`, `Vote`, `SegmentVerdict`,
`TraceVerdict`) are `IntEnum`s in the contracts' declaration order; a test compares them
through the ABI. `Level` never goes on-chain and travels by name.
"""

from __future__ import annotations

from enum import IntEnum, StrEnum
from itertools import pairwise
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, JsonValue, model_validator

from protocol.params import (
    BASIS_POINTS,
    MAX_PLAN_EXCLUDED,
    MAX_PROBLEM_CHARS,
    MAX_SEGMENTS,
    MAX_STEPS,
    MAX_TEXT_CHARS,
    MAX_VOTES_PER_REVEAL,
)

Hash32 = Annotated[str, Field(pattern=r"^0x[0-9a-f]{64}$")]
"""A 32-byte value as lowercase 0x-prefixed hex (keccak digests, salts, ids)."""

Address = Annotated[str, Field(pattern=r"^0x[0-9a-f]{40}$")]
"""An Ethereum address as lowercase 0x-prefixed hex (compare with `==`, no checksum games)."""

Signature = Annotated[str, Field(pattern=r"^0x[0-9a-f]{130}$")]
"""A 65-byte secp256k1 signature r || s || v as lowercase hex."""

Uint8 = Annotated[int, Field(ge=0, le=2**8 - 1)]
Uint32 = Annotated[int, Field(ge=0, le=2**32 - 1)]
BasisPoints = Annotated[int, Field(ge=0, le=BASIS_POINTS)]

STEP_SEPARATOR = "\n\n"
"""Joins a record's steps into the reasoning text the HDAG spans index."""


class Level(StrEnum):
    """The five HDAG abstraction levels, from the whole trace down to one mechanical act."""

    GOAL = "goal"
    STRATEGY = "strategy"
    TACTIC = "tactic"
    STEP = "step"
    OPERATION = "operation"

    @property
    def depth(self) -> int:
        """1 for goal ... 5 for operation: decomposition edges go to a strictly greater depth."""
        return _LEVEL_DEPTH[self]


_LEVEL_DEPTH = {level: depth for depth, level in enumerate(Level, start=1)}


class Tier(IntEnum):
    """Auditor tiers, cheapest first; escalation moves a segment to the next one."""

    CHECKER = 0
    LLM = 1
    HUMAN = 2


class Vote(IntEnum):
    """One auditor's judgement of one segment."""

    ABSTAIN = 0
    VALID = 1
    INVALID = 2


class SegmentVerdict(IntEnum):
    """Outcome of the stake-weighted tally of one segment."""

    UNRESOLVED = 0
    VALID = 1
    INVALID = 2


class TraceVerdict(IntEnum):
    """Outcome for a whole trace; NONE is the zero value of a trace not finalized yet."""

    NONE = 0
    SOUND = 1
    FLAWED = 2
    INCONCLUSIVE = 3


class StrictModel(BaseModel):
    """Base of every model: frozen, strict types, unknown fields rejected."""

    model_config = ConfigDict(frozen=True, strict=True, extra="forbid")


class Trace(StrictModel):
    """A chain-of-thought trace to audit.

    Either `steps` or free `reasoning` text (split into steps by the HDAG builder). The
    ProcessBench / BIG-Bench Mistake record `{id, source, problem, steps, label}` validates as is;
    `label` is the record's first wrong step (-1: none) and is never shown to auditors.
    """

    model_config = ConfigDict(populate_by_name=True)

    problem: str = Field(min_length=1, max_length=MAX_PROBLEM_CHARS)
    steps: tuple[Annotated[str, Field(min_length=1)], ...] | None = Field(
        default=None, min_length=1, max_length=MAX_STEPS
    )
    reasoning: str | None = Field(default=None, max_length=MAX_TEXT_CHARS)
    answer: str | None = None
    model: str | None = None
    domain: str | None = None
    metadata: dict[str, JsonValue] | None = None
    record_id: str | None = Field(default=None, alias="id")
    source: str | None = None
    label: int | None = Field(default=None, ge=-1)

    @model_validator(mode="after")
    def _one_text_form(self) -> Trace:
        if (self.steps is None) == (self.reasoning is None):
            raise ValueError("give exactly one of 'steps' or 'reasoning'")
        if not self.text.strip():
            raise ValueError("the reasoning text is empty")
        if len(self.text) > MAX_TEXT_CHARS:
            raise ValueError(f"the reasoning text exceeds {MAX_TEXT_CHARS} characters")
        if self.label is not None and self.steps is not None and self.label >= len(self.steps):
            raise ValueError("'label' points past the last step")
        return self

    @property
    def text(self) -> str:
        """The reasoning text that every HDAG span indexes."""
        if self.steps is not None:
            return STEP_SEPARATOR.join(self.steps)
        return self.reasoning or ""

    def canonical_fields(self) -> dict[str, Any]:
        """The fields that define the trace's identity, in wire (alias) names, Nones dropped."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


class Span(StrictModel):
    """A half-open character range [start, end) of the reasoning text."""

    start: int = Field(ge=0)
    end: int = Field(ge=0)

    @model_validator(mode="after")
    def _ordered(self) -> Span:
        if self.end <= self.start:
            raise ValueError("a span must be non-empty: end > start")
        return self

    def contains(self, other: Span) -> bool:
        return self.start <= other.start and other.end <= self.end

    @property
    def length(self) -> int:
        return self.end - self.start


class HdagNode(StrictModel):
    """One node of the HDAG: a level, a span, its decomposition parent and its dependencies."""

    id: Hash32
    level: Level
    span: Span
    #: Decomposition parent (None only for the goal): a node of strictly smaller depth.
    parent: Hash32 | None
    #: Nodes whose results this one uses; each lies earlier in the text.
    deps: tuple[Hash32, ...] = ()
    #: Character span of this node's claim (its conclusion), what dependants get to see.
    claim: Span


class Hdag(StrictModel):
    """A trace's hierarchical DAG: nodes in canonical order and their Merkle root."""

    trace_id: Hash32
    text: str
    nodes: tuple[HdagNode, ...]
    root: Hash32

    def node_text(self, node: HdagNode) -> str:
        return self.text[node.span.start : node.span.end]

    def claim_text(self, node: HdagNode) -> str:
        return self.text[node.claim.start : node.claim.end]


class Segment(StrictModel):
    """What one auditor receives for one HDAG node: the node and its context pack, no more."""

    trace_id: Hash32
    #: Position of the node in canonical order: the segment number used on-chain.
    index: Uint32
    node_id: Hash32
    level: Level
    tier: Tier
    problem: str
    #: The text to judge. For goal/strategy/tactic it is the claims of the children.
    text: str
    #: Claims (not derivations) of the nodes this one depends on, in text order.
    context: tuple[str, ...] = ()
    #: Merkle proof of `node_id` under the trace's on-chain HDAG root.
    proof: tuple[Hash32, ...] = ()


class VoteEntry(StrictModel):
    """One vote inside an auditor's vote vector."""

    segment: Uint32
    vote: Vote
    confidence: BasisPoints
    #: Hash of the auditor's rationale, kept off-chain; zero when there is none.
    rationale: Hash32


class Commit(StrictModel):
    """A signed commitment to a vote vector: published before any vote is revealed."""

    trace_id: Hash32
    round: Uint8
    auditor: Address
    commitment: Hash32
    signature: Signature


class Reveal(StrictModel):
    """A signed opening of a commitment: the votes (sorted by segment) and the salt."""

    trace_id: Hash32
    round: Uint8
    auditor: Address
    votes: tuple[VoteEntry, ...] = Field(min_length=1, max_length=MAX_VOTES_PER_REVEAL)
    salt: Hash32
    signature: Signature

    @model_validator(mode="after")
    def _votes_sorted_unique(self) -> Reveal:
        segments = [entry.segment for entry in self.votes]
        if any(a >= b for a, b in pairwise(segments)):
            raise ValueError("votes must be sorted by segment with no segment twice")
        return self


class PlannedEscalation(StrictModel):
    """Where one UNRESOLVED segment goes in round 1, as the submitter declares it.

    Round 1's committees follow from the round-0 reveals, but those stay sealed to the submitter
    until round 1's commits close (a copycat seated in round 1 would copy them). So the
    submitter's round-1 bundles declare the plan instead: per escalated segment its tier, the
    committee-size multiplier, and the round-0 members left out of a doubled committee. Every
    node draws round 1 from the plan and checks it against the reveals once they are public.
    """

    segment: Uint32 = Field(lt=MAX_SEGMENTS)
    tier: Tier
    committee_multiplier: int = Field(ge=1, le=2)
    excluded: tuple[Address, ...] = Field(default=(), max_length=MAX_PLAN_EXCLUDED)

    @model_validator(mode="after")
    def _excluded_sorted_unique(self) -> PlannedEscalation:
        if any(a >= b for a, b in pairwise(self.excluded)):
            raise ValueError("excluded auditors must be sorted with none twice")
        return self


class Report(StrictModel):
    """Everything `Ledger.finalize` needs: the signed reveals of every round of one trace."""

    trace_id: Hash32
    reveals: tuple[Reveal, ...]


class Auditor(StrictModel):
    """A registered auditor as snapshotted at a trace's submission: who, how much, which tiers."""

    address: Address
    stake: int = Field(ge=0)
    tiers: tuple[Tier, ...] = Field(min_length=1)
