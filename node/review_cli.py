"""`trustnode review`: a terminal session that shows each pending human review and submits the
answer through the node's RPC (`review_listPending`, `review_submit`).

The reviewer sees the segment's context pack only (level, problem, the claims it relies on, its
text). Segment text comes from whoever submitted the trace, so control and bidi characters are
shown escaped: a trace cannot drive the reviewer's terminal. Streams are injected so tests
script the session.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Protocol, TextIO

from node.rpc_client import RpcCallError
from node.store import MAX_RATIONALE_CHARS

__all__ = [
    "ACTION_PROMPT",
    "DEFAULT_CONFIDENCE",
    "ReviewCaller",
    "ReviewSession",
    "SessionSummary",
    "format_review",
    "print_pending",
    "printable",
]

ACTION_PROMPT = "[v]alid / [i]nvalid / [a]bstain / [s]kip / [q]uit: "
#: Confidence when the reviewer just presses Enter; an abstention is sent with 0.
DEFAULT_CONFIDENCE = 1.0
#: C0/C1 controls (but newline and tab) and the bidi overrides that can disguise text.
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


class ReviewCaller(Protocol):
    """What the session needs of `node.rpc_client.RpcClient`."""

    def call(self, method: str, params: dict[str, Any] | list[Any] | None = None) -> Any: ...


class _Action(StrEnum):
    VALID = "VALID"
    INVALID = "INVALID"
    ABSTAIN = "ABSTAIN"
    SKIP = "skip"
    QUIT = "quit"


_ACTIONS = {
    "v": _Action.VALID,
    "valid": _Action.VALID,
    "i": _Action.INVALID,
    "invalid": _Action.INVALID,
    "a": _Action.ABSTAIN,
    "abstain": _Action.ABSTAIN,
    "s": _Action.SKIP,
    "skip": _Action.SKIP,
    "q": _Action.QUIT,
    "quit": _Action.QUIT,
}


@dataclass
class SessionSummary:
    answered: int = 0
    skipped: int = 0
    refused: int = 0

    def __str__(self) -> str:
        return f"{self.answered} answered, {self.skipped} skipped, {self.refused} refused"


def printable(text: str) -> str:
    """`text` with control and bidi-override characters shown as escapes (`\\x1b`)."""
    return _UNSAFE.sub(lambda match: match.group().encode("unicode_escape").decode(), text)


def _indented(text: str) -> str:
    return "\n".join("  " + line for line in printable(text).splitlines() or [""])


def format_review(review: dict[str, Any], number: int, total: int) -> str:
    """The context pack of one pending review, as the session shows it."""
    deadline = datetime.fromtimestamp(review["deadline_ms"] / 1000, UTC)
    lines = [
        f"--- review {number} of {total} ---",
        f"id        {review['review_id']}",
        f"level     {printable(review['level'])}",
        f"deadline  {deadline.isoformat(timespec='seconds')}",
        "problem",
        _indented(review["problem"]),
    ]
    if review["context"]:
        lines.append("relies on")
        lines += [_indented(f"- {claim}") for claim in review["context"]]
    lines += ["text", _indented(review["text"])]
    return "\n".join(lines)


def print_pending(client: ReviewCaller, limit: int | None, out: TextIO) -> int:
    """`--list`: one JSON object per pending review (ASCII-escaped), oldest first."""
    for review in _pending(client, limit):
        out.write(json.dumps(review) + "\n")
    return 0


def _pending(client: ReviewCaller, limit: int | None) -> list[dict[str, Any]]:
    params = {} if limit is None else {"limit": limit}
    reviews: list[dict[str, Any]] = client.call("review_listPending", params)["reviews"]
    return reviews


class ReviewSession:
    """Shows each pending review and asks for a vote; end of input quits, like `q`.

    A refused submission (answered elsewhere, deadline passed) is shown and the session goes
    on; an unreachable node raises the client's error.
    """

    def __init__(self, client: ReviewCaller, stdin: TextIO, out: TextIO) -> None:
        self._client = client
        self._in = stdin
        self._out = out

    def run(self, limit: int | None = None) -> SessionSummary:
        summary = SessionSummary()
        reviews = _pending(self._client, limit)
        if not reviews:
            self._say("no reviews pending")
            return summary
        try:
            for number, review in enumerate(reviews, start=1):
                self._say(format_review(review, number, len(reviews)))
                if not self._review_one(review, summary):
                    break
        except KeyboardInterrupt:
            self._say("")
        self._say(str(summary))
        return summary

    def _review_one(self, review: dict[str, Any], summary: SessionSummary) -> bool:
        """Ask about one review and submit the answer; False when the reviewer quits."""
        action = self._ask_action()
        if action is None or action is _Action.QUIT:
            return False
        if action is _Action.SKIP:
            summary.skipped += 1
            return True
        confidence = 0.0 if action is _Action.ABSTAIN else self._ask_confidence()
        rationale = None if confidence is None else self._ask_rationale()
        if confidence is None or rationale is None:
            return False
        params = {
            "review_id": review["review_id"],
            "vote": action.value,
            "confidence": confidence,
            "rationale": rationale,
        }
        try:
            self._client.call("review_submit", params)
        except RpcCallError as exc:
            summary.refused += 1
            self._say(f"not recorded: {exc.message} (error {exc.code})")
            return True
        summary.answered += 1
        self._say(f"recorded {action.value} with confidence {confidence:g}")
        return True

    def _ask_action(self) -> _Action | None:
        while (answer := self._ask(ACTION_PROMPT)) is not None:
            if answer.lower() in _ACTIONS:
                return _ACTIONS[answer.lower()]
            self._say("please answer v, i, a, s or q")
        return None

    def _ask_confidence(self) -> float | None:
        prompt = f"confidence 0..1 [{DEFAULT_CONFIDENCE:g}]: "
        while (answer := self._ask(prompt)) is not None:
            if not answer:
                return DEFAULT_CONFIDENCE
            try:
                value = float(answer)
            except ValueError:
                value = -1.0
            if 0.0 <= value <= 1.0:  # NaN fails too
                return value
            self._say("confidence is a number from 0 to 1, e.g. 0.8")
        return None

    def _ask_rationale(self) -> str | None:
        prompt = "rationale (optional, one line): "
        while (answer := self._ask(prompt)) is not None:
            if len(answer) <= MAX_RATIONALE_CHARS:
                return answer
            self._say(f"a rationale holds at most {MAX_RATIONALE_CHARS} characters")
        return None

    def _ask(self, prompt: str) -> str | None:
        """One line of input, stripped; None at end of input."""
        self._out.write(prompt)
        self._out.flush()
        line = self._in.readline()
        if line == "":
            self._out.write("\n")  # end the prompt's line: nothing typed echoed a newline
            return None
        return line.strip()

    def _say(self, text: str) -> None:
        self._out.write(text + "\n")
        self._out.flush()
