"""The node's JSON-RPC 2.0 server over HTTP POST (aiohttp), bound to 127.0.0.1 by default.

Limits: a body over `max_request_bytes` is refused from its Content-Length (or while reading a
chunked body) with HTTP 413 and error -32004, before any parsing; the rest of the body is read
and dropped for at most LINGER_S so the client sees the answer. JSON nested deeper than
MAX_JSON_DEPTH is -32600, checked on the raw text before decoding. Batches of up to `max_batch`
requests run in order; a larger or empty batch is one -32600 error. Notifications run but get
no response (HTTP 204 when nothing is left to answer). Every JSON-RPC answer is HTTP 200 except
413 (too large) and 415 (the Content-Type must be application/json, which also keeps browsers
from posting to a loopback node cross-site).

Write methods, and private reads (the segments awaiting human review, sealed to this node), need
`Authorization: Bearer <token>` whenever a token is configured; starting on a non-loopback
address (or with `public=True`) without a token is refused.
"""

from __future__ import annotations

import asyncio
import hmac
import inspect
import itertools
import json
import logging
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from aiohttp import web
from pydantic import BaseModel, TypeAdapter, ValidationError

from node.chain.errors import ChainError
from node.hosts import is_loopback_host
from node.review import ReviewKey, ReviewQueue
from node.rpc.errors import ErrorCode, RpcError
from node.rpc.openrpc import (
    METHODS,
    GetTraceParams,
    GetVerdictParams,
    HistoryItem,
    ListPendingReviewsParams,
    ListPendingReviewsResult,
    ListTracesParams,
    ListTracesResult,
    MethodSpec,
    NoParams,
    PeerResult,
    PendingReview,
    StatusResult,
    SubmitReviewParams,
    SubmitReviewResult,
    SubmitTraceParams,
    SubmitTraceResult,
    TraceResult,
    TraceSummary,
    VerdictResult,
    build_openrpc,
)
from node.store import (
    InvalidReviewError,
    OversizedError,
    ReviewAnsweredError,
    ReviewDeadlinePassedError,
    ReviewRecord,
    Store,
    TraceRecord,
    TraceState,
    UnknownReviewError,
)
from node.tracefile import describe_validation_error
from protocol.errors import EncodingError
from protocol.models import Vote
from protocol.params import MAX_RECORD_BYTES

if TYPE_CHECKING:
    from node.chain.ledger import OnChainVerdict

__all__ = [
    "DEFAULT_CHAIN_TIMEOUT_S",
    "DEFAULT_HOST",
    "MAX_BATCH",
    "MAX_JSON_DEPTH",
    "MAX_REQUEST_BYTES",
    "SHUTDOWN_TIMEOUT_S",
    "RpcConfigError",
    "RpcServer",
]

DEFAULT_HOST = "127.0.0.1"
MAX_REQUEST_BYTES = MAX_RECORD_BYTES + 64 * 1024
MAX_BATCH = 32
MAX_JSON_DEPTH = 64
DEFAULT_CHAIN_TIMEOUT_S = 10.0
#: How long `stop()` lets in-flight requests finish before closing their connections.
SHUTDOWN_TIMEOUT_S = 5.0
#: How long the rest of a refused (413) body is read and dropped so the client sees the answer.
LINGER_S = 1.0
_MAX_MESSAGE_CHARS = 300

VerdictReader = Callable[[str], Awaitable["OnChainVerdict"]]
StatusProvider = Callable[[], Mapping[str, Any] | Awaitable[Mapping[str, Any]]]
PeersProvider = Callable[[], Sequence[Any] | Awaitable[Sequence[Any]]]

logger = logging.getLogger(__name__)
_T = TypeVar("_T")


class RpcConfigError(Exception):
    """The server was asked to listen in a way that would leave writes unprotected."""


@dataclass(frozen=True)
class _Method:
    spec: MethodSpec
    handler: Callable[[Any], Awaitable[Any]]
    result: TypeAdapter[Any]


class RpcServer:
    """Serves the node's JSON-RPC API over the injected store, chain reader and providers."""

    def __init__(
        self,
        store: Store,
        *,
        clock_ms: Callable[[], int],
        status: StatusProvider,
        peers: PeersProvider,
        verdict_reader: VerdictReader | None = None,
        on_trace_accepted: Callable[[str], None] | None = None,
        review_queue: ReviewQueue | None = None,
        token: str | None = None,
        public: bool = False,
        version: str = "0.1.0",
        max_request_bytes: int = MAX_REQUEST_BYTES,
        max_batch: int = MAX_BATCH,
        chain_timeout_s: float = DEFAULT_CHAIN_TIMEOUT_S,
    ) -> None:
        self._store = store
        self._clock_ms = clock_ms
        self._status = status
        self._peers = peers
        self._verdict_reader = verdict_reader
        #: Told the id of each newly stored trace (the coordinator's intake).
        self._on_trace_accepted = on_trace_accepted
        #: Human reviews (tier 3); None on a node without human reviewers.
        self._review_queue = review_queue
        self._expected_auth = None if token is None else f"Bearer {token}".encode()
        self._public = public
        self._max_request_bytes = max_request_bytes
        self._max_batch = max_batch
        self._chain_timeout_s = chain_timeout_s
        self._runner: web.AppRunner | None = None
        handlers: dict[str, Callable[[Any], Awaitable[Any]]] = {
            "audit_submitTrace": self._submit_trace,
            "audit_getTrace": self._get_trace,
            "audit_listTraces": self._list_traces,
            "audit_getVerdict": self._get_verdict,
            "node_status": self._node_status,
            "node_peers": self._node_peers,
            "review_listPending": self._list_pending_reviews,
            "review_submit": self._submit_review,
            "rpc_discover": self._discover,
        }
        self._methods = {
            spec.name: _Method(spec, handlers[spec.name], TypeAdapter(spec.result))
            for spec in METHODS
        }
        self._openrpc = build_openrpc(METHODS, version)

    @property
    def methods(self) -> frozenset[str]:
        return frozenset(self._methods)

    # --- Lifecycle -----------------------------------------------------------------------------

    async def start(self, host: str = DEFAULT_HOST, port: int = 0) -> str:
        """Listen on host:port (0 picks a free port) and return the URL to POST to."""
        if self._runner is not None:
            raise RpcConfigError("the RPC server is already started")
        if (self._public or not is_loopback_host(host)) and self._expected_auth is None:
            raise RpcConfigError(f"listening on {host} beyond loopback needs an RPC token")
        app = web.Application(client_max_size=self._max_request_bytes)
        app.router.add_post("/", self._handle_http)
        runner = web.AppRunner(
            app, access_log=None, shutdown_timeout=SHUTDOWN_TIMEOUT_S, lingering_time=LINGER_S
        )
        await runner.setup()
        try:
            await web.TCPSite(runner, host, port).start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        bound_host, bound_port = runner.addresses[0][:2]
        shown = f"[{bound_host}]" if ":" in bound_host else bound_host
        return f"http://{shown}:{bound_port}/"

    async def stop(self) -> None:
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()

    async def run(self, host: str = DEFAULT_HOST, port: int = 0) -> None:
        """Serve until cancelled; the daemon's TaskGroup owns this task."""
        url = await self.start(host, port)
        logger.info("JSON-RPC listening on %s", url)
        try:
            await asyncio.Event().wait()
        finally:
            await self.stop()

    # --- HTTP ----------------------------------------------------------------------------------

    async def _handle_http(self, request: web.Request) -> web.Response:
        too_large = RpcError(
            ErrorCode.REQUEST_TOO_LARGE,
            f"request body exceeds the {self._max_request_bytes}-byte limit",
        )
        length = request.content_length
        if length is not None and length > self._max_request_bytes:
            return _http_error(too_large, 413)
        if request.content_type != "application/json":
            message = f"Content-Type must be application/json, got {request.content_type!r}"
            return _http_error(RpcError(ErrorCode.INVALID_REQUEST, message[:200]), 415)
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            return _http_error(too_large, 413)
        authorized = self._is_authorized(request.headers.get("Authorization"))
        answer = await self.handle_body(body, authorized=authorized)
        if answer is None:
            return web.Response(status=204)
        return web.Response(body=json.dumps(answer).encode(), content_type="application/json")

    def _is_authorized(self, header: str | None) -> bool:
        if self._expected_auth is None:
            return True
        return hmac.compare_digest((header or "").encode(), self._expected_auth)

    # --- JSON-RPC ------------------------------------------------------------------------------

    async def handle_body(self, body: bytes, *, authorized: bool) -> Any:
        """The JSON answer to one HTTP body, or None when only notifications were sent."""
        try:
            value = _parse_json(body)
        except RpcError as exc:
            return _error_response(None, exc)
        if not isinstance(value, list):
            return await self._handle_one(value, authorized)
        if not value:
            return _error_response(None, RpcError(ErrorCode.INVALID_REQUEST, "empty batch"))
        if len(value) > self._max_batch:
            message = f"batch of {len(value)} requests exceeds the limit of {self._max_batch}"
            return _error_response(None, RpcError(ErrorCode.INVALID_REQUEST, message))
        answers = [await self._handle_one(item, authorized) for item in value]
        return [answer for answer in answers if answer is not None] or None

    async def _handle_one(self, item: Any, authorized: bool) -> dict[str, Any] | None:
        if not isinstance(item, dict):
            message = f"a request must be a JSON object, got {_json_type(item)}"
            return _error_response(None, RpcError(ErrorCode.INVALID_REQUEST, message))
        request_id = item.get("id")
        try:
            _validate_request(item)
        except RpcError as exc:
            return _error_response(request_id if _is_valid_id(request_id) else None, exc)
        notification = "id" not in item
        try:
            result = await self._call(item["method"], item.get("params"), authorized)
        except RpcError as exc:
            return None if notification else _error_response(request_id, exc)
        except Exception:
            logger.exception("RPC method %s failed", item["method"])
            internal = RpcError(ErrorCode.INTERNAL_ERROR, "internal error; see the node's log")
            return None if notification else _error_response(request_id, internal)
        return None if notification else {"jsonrpc": "2.0", "id": request_id, "result": result}

    async def _call(self, name: str, params: Any, authorized: bool) -> Any:
        method = self._methods.get(name)
        if method is None:
            raise RpcError(ErrorCode.METHOD_NOT_FOUND, f"method {name[:100]!r} not found")
        if method.spec.needs_token and not authorized:
            raise RpcError(
                ErrorCode.UNAUTHORIZED,
                f"{name} needs a valid 'Authorization: Bearer <token>' header",
            )
        arguments = _bind_params(method.spec, params)
        result = await method.handler(arguments)
        return method.result.dump_python(result, mode="json", by_alias=True)

    # --- Methods -------------------------------------------------------------------------------

    async def _submit_trace(self, params: SubmitTraceParams) -> SubmitTraceResult:
        try:
            trace_id, created = await asyncio.to_thread(
                self._store.put_trace, params.trace, at_ms=self._clock_ms()
            )
        except OversizedError as exc:
            raise RpcError(ErrorCode.REQUEST_TOO_LARGE, str(exc)) from None
        except EncodingError as exc:
            raise RpcError(ErrorCode.INVALID_PARAMS, f"field 'trace': {exc}") from None
        state = TraceState.RECEIVED
        if created and self._on_trace_accepted is not None:
            self._on_trace_accepted(trace_id)
        if not created:
            record = await asyncio.to_thread(self._store.get_trace, trace_id)
            state = state if record is None else record.state
        return SubmitTraceResult(trace_id=trace_id, created=created, state=state)

    async def _get_trace(self, params: GetTraceParams) -> TraceResult:
        record = await asyncio.to_thread(self._store.get_trace, params.trace_id)
        if record is None:
            raise RpcError(ErrorCode.TRACE_NOT_FOUND, f"trace {params.trace_id} not found")
        history = await asyncio.to_thread(self._store.get_history, params.trace_id)
        return _trace_result(record, [HistoryItem(**vars(entry)) for entry in history])

    async def _list_traces(self, params: ListTracesParams) -> ListTracesResult:
        page = await asyncio.to_thread(
            self._store.list_traces, params.state, params.limit, params.after
        )
        summaries = [
            TraceSummary(
                trace_id=r.trace_id,
                seq=r.seq,
                state=r.state,
                received_at_ms=r.received_at_ms,
                updated_at_ms=r.updated_at_ms,
            )
            for r in page.records
        ]
        return ListTracesResult(traces=summaries, next_after=page.next_after)

    async def _get_verdict(self, params: GetVerdictParams) -> VerdictResult:
        if self._verdict_reader is None:
            raise RpcError(
                ErrorCode.CHAIN_UNAVAILABLE, "this node has no chain configured to read verdicts"
            )
        try:
            async with asyncio.timeout(self._chain_timeout_s):
                verdict = await self._verdict_reader(params.trace_id)
        except TimeoutError:
            message = f"the chain did not answer within {self._chain_timeout_s} s"
            raise RpcError(ErrorCode.CHAIN_UNAVAILABLE, message) from None
        except ChainError as exc:
            message = f"chain unavailable: {str(exc)[:_MAX_MESSAGE_CHARS]}"
            raise RpcError(ErrorCode.CHAIN_UNAVAILABLE, message) from None
        return VerdictResult(
            trace_id=verdict.trace_id,
            verdict=verdict.verdict.name,
            first_error=verdict.first_error,
            segment_verdicts=[segment.name for segment in verdict.segment_verdicts],
            finalized_at=verdict.finalized_at,
            is_final=verdict.is_final,
        )

    async def _node_status(self, _: NoParams) -> StatusResult:
        return StatusResult.model_validate(dict(await _maybe_await(self._status())))

    async def _node_peers(self, _: NoParams) -> list[PeerResult]:
        return [PeerResult.model_validate(dict(peer)) for peer in await _maybe_await(self._peers())]

    async def _discover(self, _: NoParams) -> dict[str, Any]:
        return self._openrpc

    # --- Human review --------------------------------------------------------------------------

    def _reviews(self) -> ReviewQueue:
        if self._review_queue is None:
            raise RpcError(ErrorCode.NO_REVIEW_QUEUE, "no review queue on this node")
        return self._review_queue

    async def _list_pending_reviews(
        self, params: ListPendingReviewsParams
    ) -> ListPendingReviewsResult:
        records = await self._reviews().pending(params.limit)
        return ListPendingReviewsResult(reviews=[_pending_review(record) for record in records])

    async def _submit_review(self, params: SubmitReviewParams) -> SubmitReviewResult:
        """Record the answer only: the auditor service, waiting in `ReviewQueue.request`, turns
        it into this node's vote and signs it in its commit and reveal like any other vote."""
        queue = self._reviews()
        key = ReviewKey.parse(params.review_id)  # the params model already checked the form
        try:
            record = await queue.answer(key, Vote[params.vote], params.confidence, params.rationale)
        except UnknownReviewError:
            message = f"review {key.review_id} not found on this node"
            raise RpcError(ErrorCode.REVIEW_NOT_FOUND, message) from None
        except ReviewAnsweredError:
            message = f"review {key.review_id} is already answered; the first answer stands"
            raise RpcError(ErrorCode.REVIEW_ANSWERED, message) from None
        except ReviewDeadlinePassedError:
            message = f"review {key.review_id} passed its deadline and abstained"
            raise RpcError(ErrorCode.REVIEW_EXPIRED, message) from None
        except InvalidReviewError as exc:
            raise RpcError(ErrorCode.INVALID_PARAMS, f"review_submit: {exc}") from None
        return SubmitReviewResult(
            review_id=key.review_id,
            vote=params.vote,
            confidence_bps=record.confidence_bps or 0,
            answered_at_ms=record.answered_at_ms or 0,
        )


# --- Helpers -----------------------------------------------------------------------------------


async def _maybe_await(value: _T | Awaitable[_T]) -> _T:
    if inspect.isawaitable(value):
        return await value
    return value


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _parse_json(body: bytes) -> Any:
    # Depth is checked on the raw text first: CPython's C decoder recurses on the C stack and a
    # deep enough document crashes the process when the recursion limit has been raised.
    if _max_depth(body) > MAX_JSON_DEPTH:
        raise RpcError(
            ErrorCode.INVALID_REQUEST, f"JSON nested deeper than {MAX_JSON_DEPTH} levels"
        )
    try:
        return json.loads(body.decode("utf-8"), parse_constant=_reject_constant)
    except UnicodeDecodeError:
        raise RpcError(ErrorCode.PARSE_ERROR, "request body is not UTF-8") from None
    except json.JSONDecodeError as exc:
        message = f"invalid JSON: {exc.msg} at char {exc.pos}"
        raise RpcError(ErrorCode.PARSE_ERROR, message) from None
    except ValueError as exc:
        raise RpcError(ErrorCode.PARSE_ERROR, f"invalid JSON: {exc}") from None


_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_BRACKETS = bytes(set(range(256)) - set(b"[]{}"))
_BRACKET_STEP = {ord("["): 1, ord("{"): 1, ord("]"): -1, ord("}"): -1}


def _max_depth(body: bytes) -> int:
    """The deepest bracket nesting of a JSON text, outside strings, without recursion."""
    brackets = _JSON_STRING.sub(b"", body).translate(None, _NOT_BRACKETS)
    if len(brackets) <= MAX_JSON_DEPTH:
        return len(brackets)  # an upper bound, enough to pass the check
    return max(itertools.accumulate(map(_BRACKET_STEP.__getitem__, brackets)))


_REQUEST_MEMBERS = frozenset({"jsonrpc", "method", "params", "id"})


def _validate_request(item: dict[str, Any]) -> None:
    """Raise INVALID_REQUEST naming the first member that breaks JSON-RPC 2.0."""
    unknown = sorted(set(item) - _REQUEST_MEMBERS)
    problem = None
    if item.get("jsonrpc") != "2.0":
        problem = "member 'jsonrpc' must be \"2.0\""
    elif not isinstance(item.get("method"), str):
        problem = f"member 'method' must be a string, got {_json_type(item.get('method'))}"
    elif "id" in item and not _is_valid_id(item["id"]):
        problem = f"member 'id' must be a string, an integer or null, got {_json_type(item['id'])}"
    elif "params" in item and not isinstance(item["params"], dict | list):
        problem = f"member 'params' must be an object or array, got {_json_type(item['params'])}"
    elif unknown:
        problem = f"unknown member {unknown[0][:100]!r}"
    if problem is not None:
        raise RpcError(ErrorCode.INVALID_REQUEST, problem)


def _is_valid_id(value: Any) -> bool:
    return value is None or isinstance(value, str) or type(value) is int


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def _bind_params(spec: MethodSpec, params: Any) -> BaseModel:
    """Validate params (by name or by position) from JSON text, so strict means JSON semantics."""
    names = list(spec.params.model_fields)
    if params is None:
        params = {}
    elif isinstance(params, list):
        if len(params) > len(names):
            message = f"{spec.name} takes at most {len(names)} params, got {len(params)}"
            raise RpcError(ErrorCode.INVALID_PARAMS, message)
        params = dict(zip(names, params, strict=False))
    try:
        return spec.params.model_validate_json(json.dumps(params))
    except ValidationError as exc:
        message = f"{spec.name}: {describe_validation_error(exc)}"
        raise RpcError(ErrorCode.INVALID_PARAMS, message[:_MAX_MESSAGE_CHARS]) from None


def _trace_result(record: TraceRecord, history: list[HistoryItem]) -> TraceResult:
    return TraceResult(
        trace_id=record.trace_id,
        trace=record.trace,
        state=record.state,
        seq=record.seq,
        received_at_ms=record.received_at_ms,
        updated_at_ms=record.updated_at_ms,
        submit_tx_hash=record.submit_tx_hash,
        seed=record.seed,
        snapshot_block=record.snapshot_block,
        verdict=None if record.verdict is None else record.verdict.name,
        first_error=record.first_error,
        finalize_tx_hash=record.finalize_tx_hash,
        failure_reason=record.failure_reason,
        history=history,
    )


def _pending_review(record: ReviewRecord) -> PendingReview:
    segment = record.segment
    return PendingReview(
        review_id=ReviewKey.of(record).review_id,
        trace_id=record.trace_id,
        round=record.round,
        index=segment.index,
        level=segment.level,
        problem=segment.problem,
        context=list(segment.context),
        text=segment.text,
        created_at_ms=record.created_at_ms,
        deadline_ms=record.deadline_ms,
    )


def _error_response(request_id: Any, error: RpcError) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": request_id, "error": error.to_json()}


def _http_error(error: RpcError, status: int) -> web.Response:
    body = json.dumps(_error_response(None, error)).encode()
    response = web.Response(status=status, body=body, content_type="application/json")
    # The unread rest of the body would otherwise be drained from a kept-alive connection.
    response.force_close()
    return response
