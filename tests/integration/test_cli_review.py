"""`trustnode review`: the interactive session scripted line by line, and `--list`, against a real
RPC server on 127.0.0.1 over a real store. The CLI is synchronous, so it runs in a thread."""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from node.cli import main
from node.review import ReviewQueue
from node.review_cli import ACTION_PROMPT, ReviewSession, SessionSummary, printable
from node.rpc import RpcServer
from node.rpc_client import RpcClient
from node.store import ReviewStatus, Store
from protocol.models import Level, Segment, Tier, Vote

T0 = 1_700_000_000_000
TRACE_ID = "0x" + "11" * 32
TOKEN = "s3cret-token-of-16+"
STATUS: dict[str, Any] = {}


def make_segment(index: int, text: str = "", context: tuple[str, ...] = ()) -> Segment:
    return Segment(
        trace_id=TRACE_ID,
        index=index,
        node_id="0x" + "22" * 32,
        level=Level.TACTIC if index == 1 else Level.STEP,
        tier=Tier.HUMAN,
        problem="What is 2 + 3?",
        text=text or f"claim number {index}",
        context=context,
    )


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store(tmp_path / "node.db") as opened:
        yield opened


@pytest.fixture
async def url(store: Store) -> AsyncIterator[str]:
    queue = ReviewQueue(store, clock_ms=lambda: T0)
    server = RpcServer(
        store,
        clock_ms=lambda: T0,
        status=lambda: STATUS,
        peers=lambda: [],
        review_queue=queue,
        token=TOKEN,
    )
    yield await server.start("127.0.0.1", 0)
    await server.stop()


def put(store: Store, segment: Segment, at: int) -> None:
    store.put_review_request(segment, 0, created_at_ms=at, deadline_ms=T0 + 60_000)


class ScriptedInput(io.StringIO):
    """Lines typed by the reviewer; `before_line[n]` runs just before line n is read."""

    def __init__(self, text: str, before_line: dict[int, Callable[[], object]]) -> None:
        super().__init__(text)
        self._before_line = before_line
        self._read = 0

    def readline(self, size: int | None = -1) -> str:
        hook = self._before_line.get(self._read)
        if hook is not None:
            hook()
        self._read += 1
        return super().readline(size)


def run_session(url: str, stdin: io.StringIO) -> tuple[SessionSummary, str]:
    out = io.StringIO()
    with RpcClient(url, token=TOKEN) as client:
        summary = ReviewSession(client, stdin, out).run()
    return summary, out.getvalue()


async def test_a_scripted_session_answers_skips_and_shows_refusals(store: Store, url: str) -> None:
    put(store, make_segment(1, context=("2 + 3 = 5", "5 is odd")), T0 - 5)
    put(store, make_segment(2), T0 - 4)
    put(store, make_segment(3, text="evil \x1b[2J text\u202e"), T0 - 3)
    put(store, make_segment(4), T0 - 2)
    put(store, make_segment(5), T0 - 1)

    def answered_elsewhere() -> None:
        store.answer_review(
            TRACE_ID, 0, 3, vote=Vote.VALID, confidence_bps=1, rationale="", at_ms=T0
        )

    typed = [
        "x",  # 0: not an action: asked again
        "v",  # 1: review 1 VALID
        "2",  # 2: out of range: asked again
        "0.9",  # 3
        "looks right",  # 4
        "S",  # 5: review 2 skipped (case does not matter)
        "a",  # 6: review 3 ABSTAIN: no confidence asked
        "unsure",  # 7: rationale; then the submit is refused (answered elsewhere first)
        "invalid",  # 8: review 4 INVALID
        "",  # 9: default confidence
        "",  # 10: no rationale
        "q",  # 11: quit before review 5
    ]
    stdin = ScriptedInput("\n".join(typed) + "\n", {7: answered_elsewhere})
    summary, out = await asyncio.to_thread(run_session, url, stdin)

    assert (summary.answered, summary.skipped, summary.refused) == (2, 1, 1)
    assert out.count(ACTION_PROMPT) == 6  # five reviews shown, one asked twice
    assert "please answer v, i, a, s or q" in out
    assert "confidence is a number from 0 to 1" in out
    assert "--- review 1 of 5 ---" in out
    assert "level     tactic" in out
    assert "problem\n  What is 2 + 3?" in out
    assert "relies on\n  - 2 + 3 = 5\n  - 5 is odd" in out
    assert "text\n  claim number 1" in out
    assert "recorded VALID with confidence 0.9" in out
    assert "not recorded: review " in out
    assert "already answered" in out
    assert "(error -32012)" in out
    # The trace's escape sequence reaches the terminal escaped, never raw.
    assert "\x1b" not in out
    assert "\u202e" not in out
    assert "evil \\x1b[2J text\\u202e" in out
    assert "recorded INVALID with confidence 1" in out
    assert "--- review 5 of 5 ---" in out
    assert out.rstrip().endswith("2 answered, 1 skipped, 1 refused")

    def stored(index: int) -> tuple[ReviewStatus, Vote | None, int | None, str | None]:
        record = store.get_review(TRACE_ID, 0, index)
        assert record is not None
        return record.status, record.vote, record.confidence_bps, record.rationale

    assert stored(1) == (ReviewStatus.ANSWERED, Vote.VALID, 9_000, "looks right")
    assert stored(2) == (ReviewStatus.PENDING, None, None, None)
    assert stored(3) == (ReviewStatus.ANSWERED, Vote.VALID, 1, "")
    assert stored(4) == (ReviewStatus.ANSWERED, Vote.INVALID, 10_000, "")
    assert stored(5) == (ReviewStatus.PENDING, None, None, None)


async def test_end_of_input_quits_without_submitting(store: Store, url: str) -> None:
    put(store, make_segment(1), T0 - 1)
    summary, out = await asyncio.to_thread(run_session, url, ScriptedInput("v\n", {}))
    assert (summary.answered, summary.skipped, summary.refused) == (0, 0, 0)
    assert out.rstrip().endswith("0 answered, 0 skipped, 0 refused")
    assert [r.index for r in store.pending_reviews(T0)] == [1]


async def test_nothing_pending(url: str) -> None:
    summary, out = await asyncio.to_thread(run_session, url, ScriptedInput("", {}))
    assert out == "no reviews pending\n"
    assert summary.answered == 0


async def test_main_list_prints_json_lines(
    store: Store, url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    put(store, make_segment(1), T0 - 2)
    put(store, make_segment(2, text="a \x07 bell"), T0 - 1)
    argv = ["review", "--rpc", url, "--token", TOKEN, "--list"]
    assert await asyncio.to_thread(main, argv) == 0
    out = capsys.readouterr().out
    assert "\x07" not in out  # JSON escapes it
    lines = [json.loads(line) for line in out.splitlines()]
    assert [line["review_id"] for line in lines] == [f"{TRACE_ID}:0:1", f"{TRACE_ID}:0:2"]
    assert lines[1]["text"] == "a \x07 bell"
    assert await asyncio.to_thread(main, [*argv, "--limit", "1"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 1


async def test_main_interactive_reads_stdin(
    store: Store, url: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    put(store, make_segment(1), T0 - 1)
    monkeypatch.setattr("sys.stdin", io.StringIO("i\n0.7\nwrong sum\n"))
    assert await asyncio.to_thread(main, ["review", "--rpc", url, "--token", TOKEN]) == 0
    assert "1 answered, 0 skipped, 0 refused" in capsys.readouterr().out
    record = store.get_review(TRACE_ID, 0, 1)
    assert record is not None
    assert (record.vote, record.confidence_bps, record.rationale) == (
        Vote.INVALID,
        7_000,
        "wrong sum",
    )


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ([], "Authorization: Bearer"),  # the node has a token and none was given
        (["--token", TOKEN, "--limit", "0"], "--limit must be at least 1"),
    ],
)
async def test_main_errors_are_one_line(
    url: str, capsys: pytest.CaptureFixture[str], extra: list[str], message: str
) -> None:
    assert await asyncio.to_thread(main, ["review", "--rpc", url, "--list", *extra]) == 2
    err = capsys.readouterr().err
    assert err.startswith("trustnode: error: ")
    assert message in err
    assert len(err.splitlines()) == 1


def test_an_unreachable_node_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["review", "--rpc", "http://127.0.0.1:9/", "--list"]) == 2
    err = capsys.readouterr().err
    assert "cannot reach the node's RPC" in err
    assert len(err.splitlines()) == 1


def test_printable_escapes_controls_but_keeps_lines_and_unicode() -> None:
    assert printable("a\tb\nc é ∑") == "a\tb\nc é ∑"
    assert printable("\x1b[31mred\x9b\u2066") == "\\x1b[31mred\\x9b\\u2066"
