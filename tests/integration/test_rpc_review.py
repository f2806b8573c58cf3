"""review_listPending and review_submit over real HTTP on 127.0.0.1, over a real store."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from node.review import ReviewQueue
from node.rpc import ErrorCode, RpcServer
from node.store import MAX_RATIONALE_CHARS, ReviewStatus, Store
from protocol.models import Level, Segment, Tier, Vote
from tests.rpc_harness import Node

T0 = 1_700_000_000_000
MINUTE_MS = 60_000
TRACE_ID = "0x" + "11" * 32
TOKEN = "s3cret-token-of-16+"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
STATUS = {
    "node_address": None,
    "peer_id": None,
    "chain_id": None,
    "block": None,
    "traces_by_state": {},
    "gossip": {"published": 0, "delivered": 0, "unreadable": 0, "dropped": 0},
    "fetches": {"sent": 2, "answered": 1, "served": 4},
}


def make_segment(index: int, context: tuple[str, ...] = ("we add 2 and 3",)) -> Segment:
    return Segment(
        trace_id=TRACE_ID,
        index=index,
        node_id="0x" + "22" * 32,
        level=Level.STEP,
        tier=Tier.HUMAN,
        problem="What is 2 + 3?",
        text=f"claim number {index}",
        context=context,
        proof=("0x" + "33" * 32,),
    )


def review_id(index: int, round_: int = 0) -> str:
    return f"{TRACE_ID}:{round_}:{index}"


class FakeClock:
    def __init__(self) -> None:
        self.now_ms = T0

    def __call__(self) -> int:
        return self.now_ms


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store(tmp_path / "node.db") as opened:
        yield opened


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def queue(store: Store, clock: FakeClock) -> ReviewQueue:
    return ReviewQueue(store, clock_ms=clock, poll_s=3_600)


@pytest.fixture
async def make_node(
    store: Store, clock: FakeClock
) -> AsyncIterator[Callable[..., Awaitable[Node]]]:
    started: list[tuple[RpcServer, httpx.AsyncClient]] = []

    async def make(**options: Any) -> Node:
        server = RpcServer(
            store, clock_ms=clock, status=lambda: STATUS, peers=lambda: [], **options
        )
        url = await server.start("127.0.0.1", 0)
        client = httpx.AsyncClient(timeout=30)
        started.append((server, client))
        return Node(server, url, client)

    yield make
    for server, client in started:
        await client.aclose()
        await server.stop()


@pytest.fixture
async def node(make_node: Callable[..., Awaitable[Node]], queue: ReviewQueue) -> Node:
    return await make_node(review_queue=queue)


def put(store: Store, index: int, at: int = T0, round_: int = 0, **segment: Any) -> None:
    store.put_review_request(
        make_segment(index, **segment), round_, created_at_ms=at, deadline_ms=at + MINUTE_MS
    )


# --- Success paths -----------------------------------------------------------------------------


async def test_list_pending_shows_the_context_pack_oldest_first(node: Node, store: Store) -> None:
    put(store, 4, at=T0 - 2)
    put(store, 2, at=T0 - 1, context=())
    result = await node.result("review_listPending")
    assert result == {
        "reviews": [
            {
                "review_id": review_id(4),
                "trace_id": TRACE_ID,
                "round": 0,
                "index": 4,
                "level": "step",
                "problem": "What is 2 + 3?",
                "context": ["we add 2 and 3"],
                "text": "claim number 4",
                "created_at_ms": T0 - 2,
                "deadline_ms": T0 - 2 + MINUTE_MS,
            },
            {
                "review_id": review_id(2),
                "trace_id": TRACE_ID,
                "round": 0,
                "index": 2,
                "level": "step",
                "problem": "What is 2 + 3?",
                "context": [],
                "text": "claim number 2",
                "created_at_ms": T0 - 1,
                "deadline_ms": T0 - 1 + MINUTE_MS,
            },
        ]
    }
    # No proof, node id or tier: only what the human needs to judge.
    assert "proof" not in str(result)
    limited = await node.result("review_listPending", {"limit": 1})
    assert [r["index"] for r in limited["reviews"]] == [4]
    assert await node.result("review_listPending", [1]) == limited


async def test_list_pending_leaves_out_answered_and_late_reviews(
    node: Node, store: Store, clock: FakeClock
) -> None:
    put(store, 1, at=T0 - MINUTE_MS)  # due exactly now
    put(store, 2)
    put(store, 3)
    await node.result(
        "review_submit", {"review_id": review_id(2), "vote": "VALID", "confidence": 1}
    )
    assert [r["index"] for r in (await node.result("review_listPending"))["reviews"]] == [3]
    clock.now_ms = T0 + MINUTE_MS
    assert (await node.result("review_listPending"))["reviews"] == []


async def test_submit_records_the_answer(node: Node, store: Store, clock: FakeClock) -> None:
    put(store, 3)
    clock.now_ms = T0 + 5
    params = {
        "review_id": review_id(3),
        "vote": "INVALID",
        "confidence": 0.85,
        "rationale": "3 + 2 is 5",
    }
    result = await node.result("review_submit", params)
    assert result == {
        "review_id": review_id(3),
        "vote": "INVALID",
        "confidence_bps": 8_500,
        "answered_at_ms": T0 + 5,
    }
    record = store.get_review(TRACE_ID, 0, 3)
    assert record is not None
    assert (record.status, record.vote, record.confidence_bps, record.rationale) == (
        ReviewStatus.ANSWERED,
        Vote.INVALID,
        8_500,
        "3 + 2 is 5",
    )


async def test_submit_by_position_without_a_rationale(node: Node, store: Store) -> None:
    put(store, 3, round_=1)
    result = await node.result("review_submit", [review_id(3, round_=1), "ABSTAIN", 0])
    assert result["vote"] == "ABSTAIN"
    record = store.get_review(TRACE_ID, 1, 3)
    assert record is not None
    assert (record.vote, record.confidence_bps, record.rationale) == (Vote.ABSTAIN, 0, "")


async def test_submit_wakes_the_auditor_waiting_on_the_review(
    node: Node, queue: ReviewQueue
) -> None:
    stored = asyncio.Event()
    queue.request_listeners.append(lambda _: stored.set())
    waiting = asyncio.create_task(queue.request(make_segment(7), 600.0))
    async with asyncio.timeout(5):
        await stored.wait()
    params = {"review_id": review_id(7), "vote": "VALID", "confidence": 0.5, "rationale": "ok"}
    await node.result("review_submit", params)
    async with asyncio.timeout(5):
        judgement = await waiting
    assert (judgement.vote, judgement.confidence, judgement.rationale) == (Vote.VALID, 0.5, "ok")


# --- Errors ------------------------------------------------------------------------------------


async def test_unknown_review(node: Node, store: Store) -> None:
    put(store, 3)
    for unknown in [review_id(4), review_id(3, round_=1), f"{TRACE_ID}:999:9999999999"]:
        params = {"review_id": unknown, "vote": "VALID", "confidence": 1}
        error = await node.error("review_submit", params)
        assert error == {
            "code": ErrorCode.REVIEW_NOT_FOUND,
            "message": f"review {unknown} not found on this node",
        }


async def test_already_answered(node: Node, store: Store) -> None:
    put(store, 3)
    params = {"review_id": review_id(3), "vote": "VALID", "confidence": 1}
    await node.result("review_submit", params)
    error = await node.error("review_submit", params | {"vote": "INVALID"})
    assert error["code"] == ErrorCode.REVIEW_ANSWERED
    assert "already answered" in error["message"]
    record = store.get_review(TRACE_ID, 0, 3)
    assert record is not None
    assert record.vote is Vote.VALID


async def test_deadline_passed(node: Node, store: Store, clock: FakeClock) -> None:
    put(store, 3)
    clock.now_ms = T0 + MINUTE_MS
    params = {"review_id": review_id(3), "vote": "VALID", "confidence": 1}
    error = await node.error("review_submit", params)
    assert error == {
        "code": ErrorCode.REVIEW_EXPIRED,
        "message": f"review {review_id(3)} passed its deadline and abstained",
    }


OK = {"review_id": review_id(3), "vote": "VALID", "confidence": 0.5}


@pytest.mark.parametrize(
    ("method", "params", "named"),
    [
        ("review_submit", {}, "field 'review_id'"),
        ("review_submit", OK | {"review_id": "0x1234:0:3"}, "field 'review_id'"),
        ("review_submit", OK | {"review_id": review_id(3).upper()}, "field 'review_id'"),
        ("review_submit", OK | {"review_id": f"{TRACE_ID}:0:03"}, "field 'review_id'"),
        ("review_submit", OK | {"review_id": 3}, "field 'review_id'"),
        ("review_submit", OK | {"vote": "MAYBE"}, "field 'vote'"),
        ("review_submit", OK | {"vote": "valid"}, "field 'vote'"),
        ("review_submit", OK | {"vote": 1}, "field 'vote'"),
        ("review_submit", {k: v for k, v in OK.items() if k != "confidence"}, "'confidence'"),
        ("review_submit", OK | {"confidence": 1.5}, "field 'confidence'"),
        ("review_submit", OK | {"confidence": -0.1}, "field 'confidence'"),
        ("review_submit", OK | {"confidence": "0.5"}, "field 'confidence'"),
        ("review_submit", OK | {"confidence": True}, "field 'confidence'"),
        ("review_submit", OK | {"rationale": 5}, "field 'rationale'"),
        (
            "review_submit",
            OK | {"rationale": "x" * (MAX_RATIONALE_CHARS + 1)},
            "field 'rationale'",
        ),
        ("review_submit", OK | {"signature": "0x"}, "field 'signature'"),
        ("review_submit", [review_id(3), "VALID", 1, "", 5], "at most 4 params"),
        ("review_listPending", {"limit": 0}, "field 'limit'"),
        ("review_listPending", {"limit": 1_001}, "field 'limit'"),
        ("review_listPending", {"limit": "5"}, "field 'limit'"),
        ("review_listPending", {"state": "pending"}, "field 'state'"),
    ],
)
async def test_malformed_params_name_the_field(
    node: Node, store: Store, method: str, params: Any, named: str
) -> None:
    put(store, 3)
    error = await node.error(method, params)
    assert error["code"] == ErrorCode.INVALID_PARAMS
    assert error["message"].startswith(method)
    assert named in error["message"], error["message"]
    record = store.get_review(TRACE_ID, 0, 3)
    assert record is not None
    assert record.status is ReviewStatus.PENDING


async def test_a_node_without_a_review_queue_says_so(
    make_node: Callable[..., Awaitable[Node]],
) -> None:
    node = await make_node()
    for method, params in [("review_listPending", None), ("review_submit", OK)]:
        error = await node.error(method, params)
        assert error == {
            "code": ErrorCode.NO_REVIEW_QUEUE,
            "message": "no review queue on this node",
        }


async def test_both_methods_need_the_token_beyond_loopback(
    make_node: Callable[..., Awaitable[Node]], queue: ReviewQueue, store: Store
) -> None:
    put(store, 3)
    node = await make_node(review_queue=queue, token=TOKEN, public=True)
    for headers in [None, {"Authorization": "Bearer wrong"}]:
        for method, params in [("review_listPending", None), ("review_submit", OK)]:
            error = await node.error(method, params, headers=headers)
            assert error["code"] == ErrorCode.UNAUTHORIZED
            assert method in error["message"]
    record = store.get_review(TRACE_ID, 0, 3)
    assert record is not None
    assert record.status is ReviewStatus.PENDING
    listed = await node.result("review_listPending", headers=AUTH)
    assert [r["review_id"] for r in listed["reviews"]] == [review_id(3)]
    assert (await node.result("review_submit", OK, headers=AUTH))["vote"] == "VALID"


# --- OpenRPC -----------------------------------------------------------------------------------


async def test_discover_documents_both_methods_and_their_errors(node: Node) -> None:
    document = await node.result("rpc_discover")
    by_name = {method["name"]: method for method in document["methods"]}
    submit = by_name["review_submit"]
    assert [(p["name"], p["required"]) for p in submit["params"]] == [
        ("review_id", True),
        ("vote", True),
        ("confidence", True),
        ("rationale", False),
    ]
    params = {p["name"]: p["schema"] for p in submit["params"]}
    assert params["vote"]["enum"] == ["VALID", "INVALID", "ABSTAIN"]
    assert (params["confidence"]["minimum"], params["confidence"]["maximum"]) == (0, 1)
    assert params["rationale"]["maxLength"] == MAX_RATIONALE_CHARS
    assert params["review_id"]["pattern"].startswith("^0x[0-9a-f]{64}:")
    assert "signed" in submit["summary"]
    errors = {ref["$ref"].rsplit("/", 1)[1] for ref in submit["errors"]}
    assert errors == {
        "UNAUTHORIZED",
        "NO_REVIEW_QUEUE",
        "REVIEW_NOT_FOUND",
        "REVIEW_ANSWERED",
        "REVIEW_EXPIRED",
    }
    listing = by_name["review_listPending"]
    assert [p["name"] for p in listing["params"]] == ["limit"]
    assert listing["result"]["schema"] == {"$ref": "#/components/schemas/ListPendingReviewsResult"}
    pending = document["components"]["schemas"]["PendingReview"]["properties"]
    assert set(pending) == {
        "review_id",
        "trace_id",
        "round",
        "index",
        "level",
        "problem",
        "context",
        "text",
        "created_at_ms",
        "deadline_ms",
    }
    codes = document["components"]["errors"]
    assert codes["REVIEW_EXPIRED"]["code"] == -32013
