"""SIGKILL a process that is writing to the store: every acknowledged write survives.

The child prints one line after each write returns (so after its durable commit). The test
waits for a chosen line, kills the child with SIGKILL while it keeps writing, then reads every
line the child managed to print and checks the reopened database against all of them.
"""

from __future__ import annotations

import os
import queue
import signal
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path
from typing import IO

import pytest

from node.store import TERMINAL_STATES, Store, TraceState

REPO = Path(__file__).resolve().parents[2]
LINE_TIMEOUT_S = 30.0
EXIT_TIMEOUT_S = 10.0

CHILD = """
import sys
from node.store import Store, TraceState
from protocol.models import Trace, TraceVerdict

H = "0x" + "ab" * 32
PATH = [
    (TraceState.SUBMITTED, {"tx_hash": H, "seed": H, "snapshot_block": 1}),
    (TraceState.DISPATCHED, {"round": 0}),
    (TraceState.COMMITTING, {}),
    (TraceState.REVEALING, {}),
    (TraceState.TALLIED, {}),
    (TraceState.FINALIZED, {"verdict": TraceVerdict.SOUND, "first_error": None, "tx_hash": H}),
]

store = Store(sys.argv[1])
for i in range(1_000_000):
    trace = Trace(problem=f"problem {i}", steps=(f"step {i}", "done"))
    trace_id, _ = store.put_trace(trace, at_ms=i)
    print("put", trace_id, flush=True)
    steps = PATH[: i % (len(PATH) + 1)]
    if i % 7 == 3:
        steps = steps[:2] + [(TraceState.FAILED, {"reason": "test"})]
    for state, details in steps:
        store.advance(trace_id, state, at_ms=i, **details)
        print("adv", trace_id, state.value, flush=True)
"""


def _read_lines(stream: IO[str], lines: queue.Queue[str | None]) -> None:
    for line in stream:
        lines.put(line.rstrip("\n"))
    lines.put(None)


def _run_and_kill(db: Path, script: Path, kill_after: int) -> list[str]:
    """Start the child, SIGKILL it after `kill_after` acknowledged writes, return every ack."""
    with subprocess.Popen(
        [sys.executable, str(script), str(db)], cwd=REPO, stdout=subprocess.PIPE, text=True
    ) as child:
        if child.stdout is None:
            pytest.fail("no pipe to the child")
        lines: queue.Queue[str | None] = queue.Queue()
        reader = threading.Thread(target=_read_lines, args=(child.stdout, lines), daemon=True)
        reader.start()
        acks: list[str] = []
        try:
            while len(acks) < kill_after:
                line = lines.get(timeout=LINE_TIMEOUT_S)
                if line is None:
                    pytest.fail(f"child exited early with {child.wait(timeout=EXIT_TIMEOUT_S)}")
                acks.append(line)
            os.kill(child.pid, signal.SIGKILL)
        finally:
            returncode = child.wait(timeout=EXIT_TIMEOUT_S)
        # Lines printed between our wait point and the kill were acknowledged too.
        while (line := lines.get(timeout=LINE_TIMEOUT_S)) is not None:
            acks.append(line)
        reader.join(timeout=EXIT_TIMEOUT_S)
    assert returncode == -signal.SIGKILL
    return acks


@pytest.mark.parametrize("kill_after", [1, 2, 37, 250])
def test_acknowledged_writes_survive_sigkill(tmp_path: Path, kill_after: int) -> None:
    db = tmp_path / "node.db"
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    acks = _run_and_kill(db, script, kill_after)

    acked_states: dict[str, list[TraceState]] = {}
    for line in acks:
        kind, trace_id, *rest = line.split()
        if kind == "put":
            acked_states[trace_id] = [TraceState.RECEIVED]
        else:
            acked_states[trace_id].append(TraceState(rest[0]))

    with Store(db) as store:
        for trace_id, states in acked_states.items():
            history = [entry.state for entry in store.get_history(trace_id)]
            # Every acknowledged transition is there, in order; at most one more write (done,
            # not yet printed) may follow.
            assert history[: len(states)] == states
            assert len(history) <= len(states) + 1
            record = store.get_trace(trace_id)
            assert record is not None
            assert record.state is history[-1]
        stored = store.list_traces(limit=1_000).records
        # Only the trace being written at the kill may be unacknowledged.
        assert len(stored) - len(acked_states) in (0, 1)
        expected_open = [r.trace_id for r in stored if r.state not in TERMINAL_STATES]
        assert [r.trace_id for r in store.open_traces()] == expected_open
        assert any(s[-1] not in TERMINAL_STATES for s in acked_states.values())

    conn = sqlite3.connect(db)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
    finally:
        conn.close()
