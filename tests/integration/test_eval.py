"""`trustnode eval` on a real devnet: records submitted through RPC, verdicts read from chain.

One evaluation of three labelled records on four node processes (Anvil, libp2p, all on
127.0.0.1); then the CLI resumes the finished result file without starting anything, and a run
whose file lost one verdict audits only that record again on a fresh devnet.
"""

from __future__ import annotations

import asyncio
import io
import json
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from devnet.evaluation import EvalOptions, run_evaluation
from devnet.network import NETWORK_FILE, Network
from node.cli import main as trustnode_main
from node.termination import EXIT_TERMINATED

RECORDS = [
    {
        "id": "planted",
        "problem": "Tickets cost 15 dollars. What do 6 tickets and a 12 dollar fee cost?",
        "steps": [
            "First, 6 * 15 = 90 dollars.",
            "Then 90 + 12 = 103 dollars.",
            "The total is 103 dollars.",
        ],
        "label": 1,
    },
    {
        "id": "sound",
        "problem": "What is 4 * 5 plus 3?",
        "steps": ["First, 4 * 5 = 20.", "Then 20 + 3 = 23."],
        "label": -1,
    },
    {
        "id": "planted-first",
        "problem": "What is 7 * 8 minus 6?",
        "steps": ["First, 7 * 8 = 54.", "Then 54 - 6 = 48."],
        "label": 0,
    },
]
FIELDS = {
    "id",
    "label",
    "trace_id",
    "predicted_first_error",
    "trace_verdict",
    "probability",
    "latency_s",
    "gas",
    "max_exposure",
    "coalition_exposure",
    "revealed_share",
    "snapshot_stakes",
}


@pytest.fixture
def records_file(tmp_path: Path) -> Path:
    path = tmp_path / "records.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in RECORDS), encoding="utf-8")
    return path


def _by_id(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {entry["id"]: entry for entry in document["entries"]}


async def test_eval_scores_on_chain_verdicts_and_resumes(
    records_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "result.json"
    options = EvalOptions(records=records_file, out=out, nodes=4, in_flight=3)
    progress = io.StringIO()
    document = await run_evaluation(options, progress)

    entries = _by_id(document)
    assert set(entries) == {"planted", "sound", "planted-first"}
    for entry in entries.values():
        assert set(entry) == FIELDS, entry
        assert entry["gas"] > 100_000
        assert 0 <= entry["probability"] <= 1
        assert 0 < entry["max_exposure"] <= entry["coalition_exposure"] <= 1
        assert 0 < entry["revealed_share"] <= 1  # the checkers answer within the windows
        assert len(entry["snapshot_stakes"]) == 4  # every node's auditor, as audited
        assert all(stake > 0 for stake in entry["snapshot_stakes"].values())
    assert entries["planted"]["trace_verdict"] == "FLAWED"
    assert entries["planted"]["predicted_first_error"] == 1
    assert entries["planted-first"]["predicted_first_error"] == 0
    assert entries["sound"]["trace_verdict"] in ("SOUND", "INCONCLUSIVE")
    assert entries["sound"]["predicted_first_error"] == -1
    # A located error weighs against SOUND: its probability is below the sound record's.
    assert entries["planted"]["probability"] < entries["sound"]["probability"]
    metrics = document["metrics"]
    assert metrics["first_error_accuracy"] == 1.0 and metrics["f1"] == 1.0
    assert metrics["trace_precision"] == 1.0 and metrics["trace_recall"] == 1.0
    assert json.loads(out.read_text(encoding="utf-8")) == document
    assert "3/3 100%" in progress.getvalue()

    # Finished: the CLI resumes it without a devnet and prints the same figures, given the
    # options its verdicts came from (the default 5 nodes is another network).
    capsys.readouterr()
    command = ["eval", str(records_file), "--out", str(out)]
    assert await asyncio.to_thread(trustnode_main, command) == 2
    assert "was run with nodes = 4, not 5" in capsys.readouterr().err
    assert await asyncio.to_thread(trustnode_main, [*command, "--nodes", "4"]) == 0
    assert "first-error acc.   100.0%" in capsys.readouterr().out
    assert _by_id(json.loads(out.read_text(encoding="utf-8"))) == entries

    # A verdict lost (an interrupted run): only that record is audited again.
    lost = json.loads(out.read_text(encoding="utf-8"))
    lost["entries"] = [e for e in lost["entries"] if e["id"] != "sound"]
    out.write_text(json.dumps(lost), encoding="utf-8")
    progress = io.StringIO()
    document = await run_evaluation(options, progress)
    assert "resuming: 2 of 3 records already final" in progress.getvalue()
    again = _by_id(document)
    assert again["planted"] == entries["planted"]
    assert again["sound"]["trace_id"] == entries["sound"]["trace_id"]
    assert again["sound"]["predicted_first_error"] == -1


async def test_eval_with_oracle_auditors_follows_the_labels(tmp_path: Path) -> None:
    """At P = 1 the oracle answers from the labels alone: a record labelled wrong at a correct
    step ends FLAWED there, and one labelled correct despite a false sum ends SOUND."""
    records = [
        {**RECORDS[1], "id": "labelled-wrong", "label": 1},
        {**RECORDS[2], "id": "labelled-right", "label": -1},
    ]
    path = tmp_path / "oracle.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    options = EvalOptions(
        records=path, out=tmp_path / "oracle.json", nodes=4, auditors="oracle:1", seed=5
    )
    document = await run_evaluation(options, io.StringIO())
    entries = _by_id(document)
    assert entries["labelled-wrong"]["trace_verdict"] == "FLAWED"
    assert entries["labelled-wrong"]["predicted_first_error"] == 1
    assert entries["labelled-right"]["trace_verdict"] == "SOUND"
    assert document["metrics"]["f1"] == 1.0
    assert document["options"]["auditors"] == "oracle:1"


def _is_running(pid: int) -> bool:
    """Alive and not a zombie (an exited child its parent has not reaped yet)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


def test_sigterm_stops_the_devnet_eval_started(records_file: Path, tmp_path: Path) -> None:
    """Python's default SIGTERM skipped every `finally`: Anvil and the nodes outlived the run."""
    command = [sys.executable, "-m", "node", "eval", str(records_file), "--nodes", "4"]
    out = tmp_path / "terminated.json"
    process = subprocess.Popen(
        [*command, "--out", str(out)], stderr=subprocess.PIPE, text=True, bufsize=1
    )
    try:
        assert process.stderr is not None
        started = re.search(r"starting a devnet of 4 nodes in (\S+)", process.stderr.readline())
        assert started, "eval did not report its devnet directory"
        network_file = Path(started.group(1)) / NETWORK_FILE
        deadline = time.monotonic() + 180
        while not network_file.exists():
            assert process.poll() is None and time.monotonic() < deadline
            time.sleep(0.1)
        network = Network.load(network_file.parent)
        pids = [node.pid for node in network.nodes] + [network.anvil_pid]
        assert all(pid is not None and _is_running(pid) for pid in pids)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=120) == EXIT_TERMINATED
        assert "terminated (SIGTERM)" in process.stderr.read()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        if process.stderr is not None:
            process.stderr.close()
    assert not [pid for pid in pids if pid is not None and _is_running(pid)]
    assert not network_file.parent.exists()  # its temporary directory went with it
