"""The JSON-RPC server over real HTTP on 127.0.0.1, backed by a real SQLite store."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from node.chain.errors import ChainUnavailableError
from node.chain.ledger import OnChainVerdict
from node.rpc import (
    MAX_BATCH,
    MAX_JSON_DEPTH,
    MAX_REQUEST_BYTES,
    ErrorCode,
    RpcConfigError,
    RpcServer,
)
from node.rpc.openrpc import METHODS
from node.store import Store, TraceState
from protocol.ids import compute_trace_id
from protocol.models import SegmentVerdict, Trace, TraceVerdict
from protocol.params import MAX_STEPS
from tests.rpc_harness import Node

T0 = 1_700_000_000_000
TX = "0x" + "ab" * 32
SEED = "0x" + "cd" * 32
UNKNOWN_ID = "0x" + "11" * 32
TOKEN = "s3cret-token"
TRACE: dict[str, Any] = {"problem": "What is 2 + 3?", "steps": ["2 + 3 = 5", "So 5."]}
STATUS = {
    "node_address": "0x" + "22" * 20,
    "peer_id": "12D3KooWtest",
    "chain_id": 31337,
    "block": 12,
    "traces_by_state": {"received": 1},
    "gossip": {"published": 3, "delivered": 7, "unreadable": 0, "dropped": 0},
    "fetches": {"sent": 2, "answered": 1, "served": 4},
    "llm": {"requests": 4, "prompt_tokens": 700, "completion_tokens": 12},
    "canaries": {
        "submitted": 2,
        "scored": 1,
        "auditors": {"0x" + "33" * 20: {"passed": 5, "failed": 1, "abstained": 0}},
    },
}
PEERS = [{"peer_id": "12D3KooWpeer", "mesh_topics": ["/trust/1/traces"]}]

Reader = Callable[[str], Awaitable[OnChainVerdict]]


def trace_with(index: int) -> dict[str, Any]:
    return {"problem": f"Problem {index}?", "steps": [f"Step of {index}."]}


async def fake_reader(trace_id: str) -> OnChainVerdict:
    return OnChainVerdict(
        trace_id=trace_id,
        verdict=TraceVerdict.FLAWED,
        first_error=1,
        segment_verdicts=(SegmentVerdict.VALID, SegmentVerdict.INVALID),
        finalized_at=1234,
    )


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store(tmp_path / "node.db") as opened:
        yield opened


async def start_node(store: Store, **options: Any) -> tuple[RpcServer, str]:
    options.setdefault("clock_ms", lambda: T0)
    options.setdefault("status", lambda: STATUS)
    options.setdefault("peers", lambda: PEERS)
    server = RpcServer(store, **options)
    url = await server.start("127.0.0.1", 0)
    return server, url


@pytest.fixture
async def make_node(store: Store) -> AsyncIterator[Callable[..., Awaitable[Node]]]:
    started: list[tuple[RpcServer, httpx.AsyncClient]] = []

    async def make(**options: Any) -> Node:
        server, url = await start_node(store, **options)
        client = httpx.AsyncClient(timeout=30)
        started.append((server, client))
        return Node(server, url, client)

    yield make
    for server, client in started:
        await client.aclose()
        await server.stop()


@pytest.fixture
async def node(make_node: Callable[..., Awaitable[Node]]) -> Node:
    return await make_node(verdict_reader=fake_reader)


# --- Success paths -----------------------------------------------------------------------------


async def test_server_listens_on_loopback(node: Node) -> None:
    assert node.url.startswith("http://127.0.0.1:")


async def test_submit_trace_stores_it_and_returns_its_content_id(node: Node, store: Store) -> None:
    result = await node.result("audit_submitTrace", {"trace": TRACE})
    trace_id = compute_trace_id(Trace.model_validate(TRACE | {"steps": tuple(TRACE["steps"])}))
    assert result == {"trace_id": trace_id, "created": True, "state": "received"}
    record = store.get_trace(trace_id)
    assert record is not None
    assert record.received_at_ms == T0


async def test_submit_trace_is_idempotent(node: Node, store: Store) -> None:
    first = await node.result("audit_submitTrace", {"trace": TRACE})
    store.advance(
        first["trace_id"],
        TraceState.SUBMITTED,
        at_ms=T0 + 1,
        tx_hash=TX,
        seed=SEED,
        snapshot_block=3,
    )
    again = await node.result("audit_submitTrace", [TRACE])
    assert again == {"trace_id": first["trace_id"], "created": False, "state": "submitted"}
    assert len(store.list_traces().records) == 1


async def test_get_trace_returns_trace_state_and_history(node: Node, store: Store) -> None:
    trace_id = (await node.result("audit_submitTrace", {"trace": TRACE}))["trace_id"]
    store.advance(
        trace_id, TraceState.SUBMITTED, at_ms=T0 + 5, tx_hash=TX, seed=SEED, snapshot_block=3
    )
    result = await node.result("audit_getTrace", {"trace_id": trace_id})
    assert result["trace_id"] == trace_id
    assert result["trace"]["problem"] == TRACE["problem"]
    assert result["trace"]["steps"] == TRACE["steps"]
    assert result["state"] == "submitted"
    assert result["submit_tx_hash"] == TX
    assert result["verdict"] is None
    assert [(h["state"], h["at_ms"]) for h in result["history"]] == [
        ("received", T0),
        ("submitted", T0 + 5),
    ]
    assert result["history"][1]["details"]["snapshot_block"] == 3
    assert await node.result("audit_getTrace", [trace_id]) == result


async def test_list_traces_pages_with_a_cursor(node: Node, store: Store) -> None:
    ids = [
        (await node.result("audit_submitTrace", {"trace": trace_with(i)}))["trace_id"]
        for i in range(5)
    ]
    seen: list[str] = []
    after = None
    pages = 0
    while True:
        page = await node.result("audit_listTraces", {"limit": 2, "after": after})
        seen += [t["trace_id"] for t in page["traces"]]
        pages += 1
        after = page["next_after"]
        if after is None:
            break
    assert seen == ids
    assert pages == 3
    everything = await node.result("audit_listTraces")
    assert [t["trace_id"] for t in everything["traces"]] == ids
    store.advance(ids[2], TraceState.FAILED, at_ms=T0 + 1, reason="test")
    failed = await node.result("audit_listTraces", {"state": "failed"})
    assert [(t["trace_id"], t["state"]) for t in failed["traces"]] == [(ids[2], "failed")]
    assert failed["next_after"] is None


async def test_get_verdict_reads_the_injected_chain_reader(node: Node) -> None:
    result = await node.result("audit_getVerdict", {"trace_id": UNKNOWN_ID})
    assert result == {
        "trace_id": UNKNOWN_ID,
        "verdict": "FLAWED",
        "first_error": 1,
        "segment_verdicts": ["VALID", "INVALID"],
        "finalized_at": 1234,
        "is_final": True,
    }


async def test_node_status_and_peers(make_node: Callable[..., Awaitable[Node]]) -> None:
    async def async_peers() -> list[dict[str, Any]]:
        return PEERS

    node = await make_node(peers=async_peers)
    assert await node.result("node_status") == STATUS
    assert await node.result("node_peers", []) == PEERS


# --- OpenRPC -----------------------------------------------------------------------------------


async def test_discover_lists_exactly_the_registered_methods(node: Node) -> None:
    document = await node.result("rpc_discover")
    assert document["openrpc"].startswith("1.2.")
    names = [method["name"] for method in document["methods"]]
    assert sorted(names) == sorted(node.server.methods)
    assert set(names) == {spec.name for spec in METHODS}
    assert len(names) == len(set(names))
    for method, spec in zip(document["methods"], METHODS, strict=True):
        assert [p["name"] for p in method["params"]] == list(spec.params.model_fields)
        assert all("schema" in p for p in method["params"])
        assert method["result"]["schema"]
    by_name = {method["name"]: method for method in document["methods"]}
    submit = by_name["audit_submitTrace"]["params"]
    assert submit == [
        {"name": "trace", "required": True, "schema": {"$ref": "#/components/schemas/Trace"}}
    ]
    assert "Trace" in document["components"]["schemas"]
    refs = json.dumps(document)
    for name in document["components"]["schemas"]:
        assert f'"#/components/schemas/{name}"' in refs
    codes = {e["code"] for e in document["components"]["errors"].values()}
    assert codes == {int(code) for code in ErrorCode}


# --- Request-level errors ------------------------------------------------------------------------


def assert_error(
    response: httpx.Response, code: int, status: int = 200, request_id: Any = None
) -> str:
    assert response.status_code == status, response.text
    answer = response.json()
    assert answer["jsonrpc"] == "2.0"
    assert answer["id"] == request_id
    assert answer["error"]["code"] == code
    message: str = answer["error"]["message"]
    assert "Traceback" not in message
    return message


@pytest.mark.parametrize(
    "body",
    [
        b'{"jsonrpc": "2.0", "method": ',
        b"\xff\xfe{}",
        b'{"jsonrpc": "2.0", "id": NaN}',
        b'{"jsonrpc": "2.0", "id": -Infinity}',
        b'{"jsonrpc": "2.0", "id": ' + b"9" * 5000 + b"}",
        b"",
    ],
)
async def test_malformed_json_is_a_parse_error(node: Node, body: bytes) -> None:
    assert_error(await node.post(body), ErrorCode.PARSE_ERROR)


@pytest.mark.parametrize(
    ("request_", "named"),
    [
        (42, "JSON object"),
        ("audit_getTrace", "JSON object"),
        ({"jsonrpc": "1.0", "id": 1, "method": "node_status"}, "jsonrpc"),
        ({"id": 1, "method": "node_status"}, "jsonrpc"),
        ({"jsonrpc": "2.0", "id": 1}, "method"),
        ({"jsonrpc": "2.0", "id": 1, "method": 5}, "method"),
        ({"jsonrpc": "2.0", "id": 1.5, "method": "node_status"}, "id"),
        ({"jsonrpc": "2.0", "id": True, "method": "node_status"}, "id"),
        ({"jsonrpc": "2.0", "id": {"a": 1}, "method": "node_status"}, "id"),
        ({"jsonrpc": "2.0", "id": None, "method": "node_status", "params": "x"}, "params"),
        ({"jsonrpc": "2.0", "id": None, "method": "node_status", "extra": 1}, "extra"),
    ],
)
async def test_invalid_requests_name_the_problem(node: Node, request_: Any, named: str) -> None:
    valid_id = isinstance(request_, dict) and type(request_.get("id")) in (int, str)
    request_id = request_["id"] if valid_id else None
    message = assert_error(await node.post(request_), ErrorCode.INVALID_REQUEST, 200, request_id)
    assert named in message


async def test_invalid_request_echoes_a_valid_id(node: Node) -> None:
    response = await node.post({"jsonrpc": "1.0", "id": "abc", "method": "node_status"})
    assert response.json()["id"] == "abc"
    assert response.json()["error"]["code"] == ErrorCode.INVALID_REQUEST


async def test_string_and_null_ids_are_echoed(node: Node) -> None:
    for request_id in ["req-1", None, 0]:
        request = {"jsonrpc": "2.0", "id": request_id, "method": "node_peers"}
        answer = (await node.post(request)).json()
        assert answer == {"jsonrpc": "2.0", "id": request_id, "result": PEERS}


async def test_unknown_method(node: Node) -> None:
    error = await node.error("audit_deleteEverything", {})
    assert error["code"] == ErrorCode.METHOD_NOT_FOUND
    assert "audit_deleteEverything" in error["message"]


async def test_wrong_content_type_and_http_method(node: Node) -> None:
    response = await node.client.post(
        node.url,
        content=b'{"jsonrpc":"2.0","id":1,"method":"node_status"}',
        headers={"Content-Type": "text/plain"},
    )
    assert_error(response, ErrorCode.INVALID_REQUEST, status=415)
    assert (await node.client.get(node.url)).status_code == 405


# --- Invalid params ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "params", "named"),
    [
        ("audit_submitTrace", None, "field 'trace': Field required"),
        ("audit_submitTrace", {}, "field 'trace'"),
        ("audit_submitTrace", {"trace": "text"}, "field 'trace'"),
        ("audit_submitTrace", {"trace": TRACE | {"steps": "2 + 3 = 5"}}, "field 'trace.steps'"),
        ("audit_submitTrace", {"trace": TRACE | {"label": "1"}}, "field 'trace.label'"),
        ("audit_submitTrace", {"trace": TRACE | {"label": True}}, "field 'trace.label'"),
        ("audit_submitTrace", {"trace": TRACE | {"colour": "red"}}, "field 'trace.colour'"),
        ("audit_submitTrace", {"trace": {"problem": "p"}}, "exactly one of 'steps'"),
        ("audit_submitTrace", {"trace": TRACE, "fee": 1}, "field 'fee'"),
        ("audit_submitTrace", [TRACE, 1], "at most 1 params"),
        ("audit_getTrace", {}, "field 'trace_id'"),
        ("audit_getTrace", {"trace_id": "0x1234"}, "field 'trace_id'"),
        ("audit_getTrace", {"trace_id": 5}, "field 'trace_id'"),
        ("audit_getVerdict", {"trace_id": UNKNOWN_ID.upper()}, "field 'trace_id'"),
        ("audit_listTraces", {"limit": 0}, "field 'limit'"),
        ("audit_listTraces", {"limit": "10"}, "field 'limit'"),
        ("audit_listTraces", {"state": "exploded"}, "field 'state'"),
        ("audit_listTraces", {"after": -1}, "field 'after'"),
        ("node_status", {"verbose": True}, "field 'verbose'"),
    ],
)
async def test_invalid_params_name_the_field(
    node: Node, method: str, params: Any, named: str
) -> None:
    error = await node.error(method, params)
    assert error["code"] == ErrorCode.INVALID_PARAMS
    assert named in error["message"], error["message"]
    assert error["message"].startswith(method)


# --- Application errors ------------------------------------------------------------------------


async def test_get_unknown_trace_is_not_found(node: Node) -> None:
    error = await node.error("audit_getTrace", {"trace_id": UNKNOWN_ID})
    assert error == {"code": ErrorCode.TRACE_NOT_FOUND, "message": f"trace {UNKNOWN_ID} not found"}


async def test_verdict_without_a_chain_is_chain_unavailable(
    make_node: Callable[..., Awaitable[Node]],
) -> None:
    node = await make_node()
    error = await node.error("audit_getVerdict", [UNKNOWN_ID])
    assert error["code"] == ErrorCode.CHAIN_UNAVAILABLE
    assert "no chain configured" in error["message"]


async def test_verdict_when_the_chain_fails_or_hangs(
    make_node: Callable[..., Awaitable[Node]],
) -> None:
    async def down(trace_id: str) -> OnChainVerdict:
        raise ChainUnavailableError("connection refused by 127.0.0.1:8545")

    async def hangs(trace_id: str) -> OnChainVerdict:
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    node = await make_node(verdict_reader=down)
    error = await node.error("audit_getVerdict", [UNKNOWN_ID])
    assert error["code"] == ErrorCode.CHAIN_UNAVAILABLE
    assert "connection refused" in error["message"]
    slow = await make_node(verdict_reader=hangs, chain_timeout_s=0.05)
    error = await slow.error("audit_getVerdict", [UNKNOWN_ID])
    assert error["code"] == ErrorCode.CHAIN_UNAVAILABLE
    assert "did not answer" in error["message"]


async def test_a_bug_is_an_internal_error_that_is_logged_not_shown(
    make_node: Callable[..., Awaitable[Node]], caplog: pytest.LogCaptureFixture
) -> None:
    def broken() -> dict[str, Any]:
        raise KeyError("secret-internal-detail")

    node = await make_node(status=broken)
    with caplog.at_level(logging.ERROR, logger="node.rpc.server"):
        error = await node.error("node_status")
    assert error["code"] == ErrorCode.INTERNAL_ERROR
    assert "secret-internal-detail" not in error["message"]
    assert "secret-internal-detail" in caplog.text


# --- Sizes and hostile inputs ------------------------------------------------------------------


async def test_oversized_body_is_refused_before_parsing(node: Node, store: Store) -> None:
    body = b'{"jsonrpc":"2.0","id":1,"method":"audit_submitTrace","params":{"trace":{"problem":"'
    body += b"x" * MAX_REQUEST_BYTES + b'","steps":["a"]}}}'
    message = assert_error(await node.post(body), ErrorCode.REQUEST_TOO_LARGE, status=413)
    assert str(MAX_REQUEST_BYTES) in message
    assert store.list_traces().records == ()


async def test_oversized_chunked_body_is_refused(node: Node) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(MAX_REQUEST_BYTES // 65_536 + 2):
            yield b" " * 65_536

    response = await node.client.post(
        node.url, content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert_error(response, ErrorCode.REQUEST_TOO_LARGE, status=413)


async def test_a_trace_of_a_million_steps_is_refused(node: Node) -> None:
    trace = {"problem": "p", "steps": ["s"] * 1_000_000}
    request = {"jsonrpc": "2.0", "id": 1, "method": "audit_submitTrace", "params": [trace]}
    assert_error(await node.post(request), ErrorCode.REQUEST_TOO_LARGE, status=413)


async def test_too_many_steps_within_the_size_limit_names_the_field(node: Node) -> None:
    error = await node.error(
        "audit_submitTrace", [{"problem": "p", "steps": ["s"] * (MAX_STEPS + 1)}]
    )
    assert error["code"] == ErrorCode.INVALID_PARAMS
    assert "field 'trace.steps'" in error["message"]


async def test_a_huge_string_within_the_size_limit_names_the_field(node: Node) -> None:
    error = await node.error("audit_submitTrace", [{"problem": "x" * 900_000, "steps": ["s"]}])
    assert error["code"] == ErrorCode.INVALID_PARAMS
    assert "field 'trace.problem'" in error["message"]
    assert len(error["message"]) < 400


@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH + 1, 100_000])
async def test_deeply_nested_json_is_an_invalid_request(node: Node, depth: int) -> None:
    body = b"[" * depth + b"]" * depth
    message = assert_error(await node.post(body), ErrorCode.INVALID_REQUEST)
    assert "nested deeper" in message


async def test_deep_metadata_in_a_trace_is_refused(node: Node) -> None:
    nested: Any = "leaf"
    for _ in range(MAX_JSON_DEPTH):
        nested = {"k": nested}
    request = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "audit_submitTrace",
        "params": {"trace": TRACE | {"metadata": nested}},
    }
    assert_error(await node.post(request), ErrorCode.INVALID_REQUEST)


# --- Authorization -----------------------------------------------------------------------------


async def test_writes_beyond_loopback_need_the_token(
    make_node: Callable[..., Awaitable[Node]], store: Store
) -> None:
    node = await make_node(token=TOKEN, public=True)
    for headers in [None, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}]:
        error = await node.error("audit_submitTrace", [TRACE], headers=headers)
        assert error["code"] == ErrorCode.UNAUTHORIZED
        assert "Authorization: Bearer" in error["message"]
    assert store.list_traces().records == ()
    auth = {"Authorization": f"Bearer {TOKEN}"}
    result = await node.result("audit_submitTrace", [TRACE], headers=auth)
    assert result["created"] is True
    # Reads stay open.
    assert (await node.result("audit_listTraces"))["traces"][0]["trace_id"] == result["trace_id"]


async def test_unauthorized_is_checked_before_params(
    make_node: Callable[..., Awaitable[Node]],
) -> None:
    node = await make_node(token=TOKEN)
    error = await node.error("audit_submitTrace", {"bogus": 1})
    assert error["code"] == ErrorCode.UNAUTHORIZED


@pytest.mark.parametrize(("host", "public"), [("127.0.0.1", True), ("0.0.0.0", False)])
async def test_listening_beyond_loopback_without_a_token_is_refused(
    store: Store, host: str, public: bool
) -> None:
    server = RpcServer(
        store, clock_ms=lambda: T0, status=lambda: STATUS, peers=lambda: PEERS, public=public
    )
    with pytest.raises(RpcConfigError, match="needs an RPC token"):
        await server.start(host, 0)


# --- Batches and notifications -----------------------------------------------------------------


async def test_batch_answers_each_request_in_order(node: Node) -> None:
    batch = [
        {"jsonrpc": "2.0", "id": "a", "method": "audit_submitTrace", "params": [TRACE]},
        {"jsonrpc": "2.0", "method": "audit_submitTrace", "params": [trace_with(1)]},
        {"jsonrpc": "2.0", "id": "b", "method": "audit_getTrace", "params": [UNKNOWN_ID]},
        1,
        {"jsonrpc": "2.0", "id": "c", "method": "nope"},
    ]
    answers = (await node.post(batch)).json()
    assert [a["id"] for a in answers] == ["a", "b", None, "c"]
    assert answers[0]["result"]["created"] is True
    assert [a["error"]["code"] for a in answers[1:]] == [
        ErrorCode.TRACE_NOT_FOUND,
        ErrorCode.INVALID_REQUEST,
        ErrorCode.METHOD_NOT_FOUND,
    ]
    listed = await node.result("audit_listTraces")
    assert len(listed["traces"]) == 2


async def test_empty_and_oversized_batches_are_invalid(node: Node) -> None:
    assert "empty batch" in assert_error(await node.post([]), ErrorCode.INVALID_REQUEST)
    request = {"jsonrpc": "2.0", "id": 1, "method": "node_status"}
    message = assert_error(await node.post([request] * (MAX_BATCH + 1)), ErrorCode.INVALID_REQUEST)
    assert f"limit of {MAX_BATCH}" in message
    answers = (await node.post([request] * MAX_BATCH)).json()
    assert len(answers) == MAX_BATCH


async def test_notifications_run_but_get_no_response(node: Node, store: Store) -> None:
    notification = {"jsonrpc": "2.0", "method": "audit_submitTrace", "params": [TRACE]}
    response = await node.post(notification)
    assert response.status_code == 204
    assert response.content == b""
    assert len(store.list_traces().records) == 1
    failing = {"jsonrpc": "2.0", "method": "no_such_method"}
    assert (await node.post(failing)).status_code == 204
    assert (await node.post([notification, failing])).status_code == 204


async def test_stop_closes_the_port(store: Store) -> None:
    server, url = await start_node(store)
    await server.stop()
    async with httpx.AsyncClient() as client:
        with pytest.raises(httpx.ConnectError):
            await client.post(url, json={"jsonrpc": "2.0", "id": 1, "method": "node_status"})
