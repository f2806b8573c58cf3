"""The RPC methods' parameter and result types, and the OpenRPC 1.2 document built from them.

Parameters are validated from JSON text by these strict models, so what `rpc_discover` publishes
is exactly what the server enforces.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue, TypeAdapter
from pydantic.json_schema import JsonSchemaMode

from node.review import REVIEW_ID_PATTERN
from node.rpc.errors import ErrorCode
from node.store import DEFAULT_PAGE_LIMIT, MAX_PAGE_LIMIT, MAX_RATIONALE_CHARS, TraceState
from protocol.models import Level, Trace

__all__ = [
    "METHODS",
    "OPENRPC_VERSION",
    "GetTraceParams",
    "GetVerdictParams",
    "GossipCounts",
    "HistoryItem",
    "ListPendingReviewsParams",
    "ListPendingReviewsResult",
    "ListTracesParams",
    "ListTracesResult",
    "MethodSpec",
    "NoParams",
    "PeerResult",
    "PendingReview",
    "StatusResult",
    "SubmitReviewParams",
    "SubmitReviewResult",
    "SubmitTraceParams",
    "SubmitTraceResult",
    "TraceResult",
    "TraceSummary",
    "VerdictResult",
    "build_openrpc",
]

OPENRPC_VERSION = "1.2.6"
_META_SCHEMA = "https://raw.githubusercontent.com/open-rpc/meta-schema/master/schema.json"

TraceId = Annotated[str, Field(pattern=r"^0x[0-9a-f]{64}$", description="0x + 64 hex digits")]
ReviewId = Annotated[
    str,
    Field(
        pattern=REVIEW_ID_PATTERN,
        description="<trace id>:<round>:<segment index>, as review_listPending returns it",
    ),
]
#: review_listPending's default page: a human works through a few at a time.
DEFAULT_REVIEW_LIMIT = 20


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, strict=True, extra="forbid")


# --- Parameters --------------------------------------------------------------------------------


class NoParams(_Strict):
    pass


class SubmitTraceParams(_Strict):
    trace: Trace


class GetTraceParams(_Strict):
    trace_id: TraceId


class GetVerdictParams(_Strict):
    trace_id: TraceId


class ListTracesParams(_Strict):
    state: TraceState | None = None
    limit: int = Field(default=DEFAULT_PAGE_LIMIT, ge=1, le=MAX_PAGE_LIMIT)
    after: int | None = Field(default=None, ge=0, description="`next_after` of the last page")


class ListPendingReviewsParams(_Strict):
    limit: int = Field(default=DEFAULT_REVIEW_LIMIT, ge=1, le=MAX_PAGE_LIMIT)


class SubmitReviewParams(_Strict):
    review_id: ReviewId
    vote: Literal["VALID", "INVALID", "ABSTAIN"]
    confidence: float = Field(ge=0, le=1, description="how sure the reviewer is, 0 to 1")
    rationale: str = Field(
        default="",
        max_length=MAX_RATIONALE_CHARS,
        description=f"a short note kept on this node, at most {MAX_RATIONALE_CHARS} characters",
    )


# --- Results -----------------------------------------------------------------------------------


class SubmitTraceResult(_Strict):
    trace_id: str
    created: bool
    state: TraceState


class HistoryItem(_Strict):
    state: TraceState
    details: dict[str, JsonValue]
    at_ms: int


class TraceResult(_Strict):
    trace_id: str
    trace: Trace
    state: TraceState
    seq: int
    received_at_ms: int
    updated_at_ms: int
    submit_tx_hash: str | None
    seed: str | None
    snapshot_block: int | None
    verdict: str | None = Field(description="the final verdict's name, once finalized")
    first_error: int | None
    finalize_tx_hash: str | None
    failure_reason: str | None
    history: list[HistoryItem]


class TraceSummary(_Strict):
    trace_id: str
    seq: int
    state: TraceState
    received_at_ms: int
    updated_at_ms: int


class ListTracesResult(_Strict):
    traces: list[TraceSummary]
    next_after: int | None = Field(description="pass back as `after`; null on the last page")


class VerdictResult(_Strict):
    """The on-chain verdict, shaped as `trustnode verdict --json` prints it, plus `is_final`."""

    trace_id: str
    verdict: str
    first_error: int
    segment_verdicts: list[str]
    finalized_at: int
    is_final: bool


class GossipCounts(_Strict):
    published: int = Field(description="gossip messages this node originated since it started")
    delivered: int = Field(
        description="distinct gossip messages delivered to this node (relays not counted)"
    )
    unreadable: int = Field(
        description="pubsub RPCs from peers that did not parse (each cost its sender the stream)"
    )
    dropped: int = Field(
        description="gossip messages dropped on the way out because a peer's queue was full"
    )


class FetchCounts(_Strict):
    sent: int = Field(
        description="anti-entropy requests (/trust/1/fetch) for missing votes or segments sent"
    )
    answered: int = Field(description="of those, answered with a message")
    served: int = Field(description="requests from peers this node answered")


class LlmUsage(_Strict):
    requests: int = Field(description="chat completions the node's LLM evaluator made")
    prompt_tokens: int
    completion_tokens: int


class CanaryRecordResult(_Strict):
    passed: int = Field(description="votes matching a canary's known answer")
    failed: int = Field(description="votes against a known answer")
    abstained: int


class CanaryStatus(_Strict):
    submitted: int = Field(description="canary traces this node mixed into its submissions")
    scored: int = Field(description="of those, finalized and scored")
    auditors: dict[str, CanaryRecordResult] = Field(
        description="each auditor's record on the canaries this node scored, by address"
    )


class StatusResult(_Strict):
    node_address: str | None
    peer_id: str | None
    chain_id: int | None
    block: int | None
    traces_by_state: dict[str, int]
    gossip: GossipCounts
    fetches: FetchCounts
    llm: LlmUsage | None = Field(
        default=None, description="tokens spent by the node's LLM evaluator; null without one"
    )
    canaries: CanaryStatus | None = Field(
        default=None, description="canaries this node submitted and the auditors' records"
    )


class PeerResult(_Strict):
    peer_id: str = Field(description="the peer's libp2p id (base58)")
    mesh_topics: list[str] = Field(
        default_factory=list,
        description="the gossip topics on whose GossipSub mesh this node holds the peer",
    )


class PendingReview(_Strict):
    """A segment awaiting a human: its context pack only, never the rest of the trace."""

    review_id: str
    trace_id: str
    round: int
    index: int = Field(description="the segment's number in the trace's canonical order")
    level: Level
    problem: str
    context: list[str] = Field(description="claims of the nodes this segment depends on")
    text: str = Field(description="the text to judge")
    created_at_ms: int
    deadline_ms: int = Field(description="unix ms; unanswered by then, the review abstains")


class ListPendingReviewsResult(_Strict):
    reviews: list[PendingReview] = Field(description="oldest request first")


class SubmitReviewResult(_Strict):
    review_id: str
    vote: str
    confidence_bps: int = Field(description="the confidence as recorded, in basis points")
    answered_at_ms: int


PeersResult = list[PeerResult]
DiscoverResult = dict[str, JsonValue]


# --- Method table ------------------------------------------------------------------------------


@dataclass(frozen=True)
class MethodSpec:
    name: str
    summary: str
    params: type[_Strict]
    result: Any
    errors: tuple[ErrorCode, ...] = ()
    #: Write methods need the bearer token when one is configured.
    write: bool = False
    #: Reads of content sealed to this node (segments under review) need the token too.
    private: bool = False

    @property
    def needs_token(self) -> bool:
        return self.write or self.private


_E = ErrorCode
METHODS: tuple[MethodSpec, ...] = (
    MethodSpec(
        "audit_submitTrace",
        "Validate and store a trace; the same trace always returns the same id.",
        SubmitTraceParams,
        SubmitTraceResult,
        (_E.UNAUTHORIZED, _E.REQUEST_TOO_LARGE),
        write=True,
    ),
    MethodSpec(
        "audit_getTrace",
        "A stored trace with its pipeline state and history.",
        GetTraceParams,
        TraceResult,
        (_E.TRACE_NOT_FOUND,),
    ),
    MethodSpec(
        "audit_listTraces",
        "Stored traces in insertion order, optionally in one state, a page at a time.",
        ListTracesParams,
        ListTracesResult,
    ),
    MethodSpec(
        "audit_getVerdict",
        "The trace's verdict as the Ledger contract records it.",
        GetVerdictParams,
        VerdictResult,
        (_E.CHAIN_UNAVAILABLE,),
    ),
    MethodSpec(
        "node_status", "This node's identity, chain head and trace counts.", NoParams, StatusResult
    ),
    MethodSpec("node_peers", "The peers this node is connected to.", NoParams, PeersResult),
    MethodSpec(
        "review_listPending",
        "Segments awaiting a human review on this node, oldest first, each with its context "
        "pack only. Needs the bearer token when the node has one: segments are sealed to it.",
        ListPendingReviewsParams,
        ListPendingReviewsResult,
        (_E.UNAUTHORIZED, _E.NO_REVIEW_QUEUE),
        private=True,
    ),
    MethodSpec(
        "review_submit",
        "Record a human's vote on a pending review; the node's auditor commits and reveals it, "
        "signed, with its other votes.",
        SubmitReviewParams,
        SubmitReviewResult,
        (
            _E.UNAUTHORIZED,
            _E.NO_REVIEW_QUEUE,
            _E.REVIEW_NOT_FOUND,
            _E.REVIEW_ANSWERED,
            _E.REVIEW_EXPIRED,
        ),
        write=True,
    ),
    MethodSpec("rpc_discover", "This OpenRPC document.", NoParams, DiscoverResult),
)


def build_openrpc(methods: tuple[MethodSpec, ...], version: str) -> dict[str, Any]:
    """The OpenRPC document of `methods`; shared types live in components.schemas."""
    inputs: list[tuple[str, JsonSchemaMode, TypeAdapter[Any]]] = []
    for spec in methods:
        inputs.append((spec.name + ".params", "validation", TypeAdapter(spec.params)))
        inputs.append((spec.name + ".result", "serialization", TypeAdapter(spec.result)))
    schemas, defs = TypeAdapter.json_schemas(inputs, ref_template="#/components/schemas/{model}")
    components: dict[str, Any] = dict(defs.get("$defs", {}))
    documented = [_method(spec, schemas, components) for spec in methods]
    for spec in methods:
        # Parameter models are listed field by field in each method, not as shared types.
        components.pop(spec.params.__name__, None)
    return {
        "openrpc": OPENRPC_VERSION,
        "info": {"title": "TRUST node", "version": version},
        "methods": documented,
        "components": {
            "schemas": components,
            "errors": {code.name: _error_object(code) for code in ErrorCode},
        },
    }


def _method(
    spec: MethodSpec,
    schemas: dict[tuple[str, JsonSchemaMode], Any],
    components: dict[str, Any],
) -> dict[str, Any]:
    params_schema = components[spec.params.__name__]
    required = set(params_schema.get("required", []))
    params = [
        {"name": name, "required": name in required, "schema": schema}
        for name, schema in params_schema.get("properties", {}).items()
    ]
    result_schema = schemas[(spec.name + ".result", "serialization")]
    if spec.name == "rpc_discover":
        result_schema = {"$ref": _META_SCHEMA}
    return {
        "name": spec.name,
        "summary": spec.summary,
        "paramStructure": "either",
        "params": params,
        "result": {"name": spec.name.split("_", 1)[1] + "Result", "schema": result_schema},
        "errors": [{"$ref": f"#/components/errors/{code.name}"} for code in spec.errors],
    }


def _error_object(code: ErrorCode) -> dict[str, Any]:
    return {"code": int(code), "message": code.name.lower().replace("_", " ")}
