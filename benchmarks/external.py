"""First-mistake accuracy and ProcessBench F1 on the external development records, through the
real network: devnet, real gossip, verdicts read from the chain.

Run from the repository root:
`python benchmarks/external.py [--files F ...] [--nodes 5] [--llm-nodes 0] [--limit K]
[--in-flight 16] [--out benchmarks/results/external.json]`.

One devnet (Anvil plus `--nodes` `trustnode run` processes, meshed) serves every file; the first
`--llm-nodes` nodes also run the embedded LLM evaluator (SmolLM2-135M, `{"audit": {"llm":
{"endpoint": "local"}}}`), the others judge with the tier-1 checkers only. Every record of each
file (with `--limit K`, K records evenly spaced through the file, since the files
list their correct records first) is submitted as is, `{id, source, problem, steps,
label}` being a valid trace, through `audit_submitTrace` on the nodes' RPCs in turn, with up to
`--in-flight` traces in flight. `--commit-window`, `--reveal-window` and `--stall-timeout` set
those audit settings on every node (an LLM as slow as SmolLM2 on two cores needs minutes).
Each trace's `VerdictFinalized` event is awaited and its verdict
and first error are read from the Ledger (`verdictOf`), never from a node's database.

Scoring, per record with label L (index of the first wrong step, -1 when every step is right):
the prediction P is the on-chain first error when the verdict is FLAWED, else -1 (SOUND and
INCONCLUSIVE both claim no located error; the Ledger stores no first error for them). A trace
not final within `--trace-timeout` counts as P = None, wrong for every figure.

- first-mistake accuracy: share of records with P == L (BIG-Bench Mistake's measure);
- accuracy on erroneous records: share of L >= 0 with P == L (the exact step);
- accuracy on correct records: share of L == -1 with P == -1;
- ProcessBench F1: harmonic mean of the last two (0 when both are 0).

After the devnet is stopped, every record is also judged offline with the same checkers
(`checkers_offline.judge_trace`, policies `all_levels` and `steps_and_operations`), so each
network prediction sits beside the simulation's. Writes per-file figures and per-record rows to
`--out` and prints a table. Development split: the figures are reported, never tuned to.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from checkers_offline import DATA_DIR, judge_trace  # benchmarks/ is sys.path[0]
from checkers_offline import _outcome as compute_outcome
from e2e import scan_logs
from eth_typing import HexStr
from machine import cpu_model

from auditors.checkers import Tier1Checker
from devnet.evaluation.metrics import compute_f1, compute_share
from devnet.finality import FinalityWatcher
from devnet.network import Network, start_network, stop_network
from node.chain import ChainClient
from node.chain.ledger import LedgerClient
from node.rpc_client import RpcClient, RpcClientError
from node.termination import run_until_terminated
from protocol.models import Trace, TraceVerdict

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results" / "external.json"
BBM_FILES = (
    "bbm-multistep_arithmetic",
    "bbm-dyck_languages",
    "bbm-word_sorting",
    "bbm-logical_deduction",
    "bbm-tracking_shuffled_objects",
)
PROCESSBENCH_FILES = tuple(
    f"processbench-{name}" for name in ("gsm8k", "math", "olympiadbench", "omnimath")
)
DEFAULT_FILES = BBM_FILES
#: Issue #5's first-mistake accuracy targets (tier 1 only).
TARGETS = {
    "bbm-multistep_arithmetic": 0.95,
    "bbm-dyck_languages": 0.85,
    "bbm-word_sorting": 0.70,
}
#: ProcessBench F1 averaged over its four subsets, from the data README.
PUBLISHED_PROCESSBENCH_F1 = {
    "o1-mini": 87.9,
    "QwQ-32B-Preview": 71.5,
    "GPT-4o": 61.9,
    "Qwen2.5-72B-Instruct": 61.2,
    "Qwen2.5-Math-7B-PRM800K": 56.5,
}
DEFAULT_NODES = 5
DEFAULT_IN_FLIGHT = 16
DEFAULT_TRACE_TIMEOUT_S = 600.0
DEFAULT_PROGRESS_EVERY = 25
LLM_SETTINGS: dict[str, Any] = {"llm": {"endpoint": "local"}}


@dataclass(frozen=True)
class Record:
    stem: str
    record_id: str
    label: int
    body: dict[str, Any]


@dataclass
class Outcome:
    record: Record
    trace_id: str | None = None
    latency_s: float | None = None
    verdict: str | None = None
    predicted: int | None = None
    gas_submit: int | None = None
    gas_finalize: int | None = None
    error: str | None = None


def load_records(stem: str, limit: int | None) -> list[Record]:
    path = DATA_DIR / f"{stem}.jsonl"
    lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    if limit is not None and limit < len(lines):
        # The files list correct records first: an evenly spaced subset keeps both kinds.
        lines = [lines[i * len(lines) // limit] for i in range(limit)]
    records = []
    for line in lines:
        body = json.loads(line)
        records.append(Record(stem, str(body["id"]), int(body["label"]), body))
    return records


# ---- the network -------------------------------------------------------------------------------


class Auditing:
    """Submits records round-robin over the nodes' RPCs and reads their verdicts from the chain."""

    def __init__(
        self,
        watcher: FinalityWatcher,
        ledger: LedgerClient,
        clients: Sequence[RpcClient],
        timeout_s: float,
    ) -> None:
        self.watcher = watcher
        self.ledger = ledger
        self.clients = clients
        self.timeout_s = timeout_s
        self._turns = itertools.count()

    async def audit(self, record: Record) -> Outcome:
        outcome = Outcome(record)
        client = self.clients[next(self._turns) % len(self.clients)]
        started = time.perf_counter()
        try:
            result = await asyncio.to_thread(
                client.call, "audit_submitTrace", {"trace": record.body}
            )
        except RpcClientError as exc:
            outcome.error = f"rejected: {exc}"
            return outcome
        outcome.trace_id = str(result["trace_id"])
        final_at = await self.watcher.wait(outcome.trace_id, self.timeout_s)
        if final_at is None:
            outcome.error = f"not final within {self.timeout_s:g} s"
            return outcome
        outcome.latency_s = final_at - started
        verdict = await self.ledger.verdict_of(outcome.trace_id)
        outcome.verdict = verdict.verdict.name
        flawed = verdict.verdict is TraceVerdict.FLAWED
        outcome.predicted = verdict.first_error if flawed else -1
        outcome.gas_submit, outcome.gas_finalize = await self._gas(outcome.trace_id)
        return outcome

    async def _gas(self, trace_id: str) -> tuple[int | None, int | None]:
        """Gas of the trace's submit and finalize transactions, from their receipts."""
        submission = await self.ledger.submission_of(trace_id)
        finals = await self.ledger.finalizations(0, "latest", trace_id=trace_id)
        return (
            None if submission is None else await self._gas_of(submission.tx_hash),
            await self._gas_of(finals[0].tx_hash) if finals else None,
        )

    async def _gas_of(self, tx_hash: str) -> int:
        receipt = await self.ledger.chain.w3.eth.get_transaction_receipt(HexStr(tx_hash))
        return int(receipt["gasUsed"])


async def audit_file(
    auditing: Auditing, records: Sequence[Record], in_flight: int, progress_every: int
) -> list[Outcome]:
    """Keeps up to `in_flight` records in flight; outcomes in record order."""
    outcomes: list[Outcome | None] = [None] * len(records)
    queue = iter(enumerate(records))
    done = 0
    started = time.perf_counter()

    async def worker() -> None:
        nonlocal done
        for index, record in queue:
            outcomes[index] = await auditing.audit(record)
            done += 1
            if done % progress_every == 0 or done == len(records):
                right = sum(o is not None and o.predicted == o.record.label for o in outcomes)
                print(
                    f"  [{records[0].stem}] {done}/{len(records)} final, "
                    f"{right} exact so far, {time.perf_counter() - started:.0f} s",
                    flush=True,
                )

    async with asyncio.TaskGroup() as workers:
        for _ in range(min(in_flight, len(records))):
            workers.create_task(worker())
    return [outcome for outcome in outcomes if outcome is not None]


async def run_network(
    args: argparse.Namespace, files: dict[str, list[Record]], directory: Path
) -> tuple[dict[str, list[Outcome]], dict[str, Any]]:
    settings = [
        {"audit": {**timing, **(LLM_SETTINGS if index < args.llm_nodes else {})}}
        for index, timing in enumerate([compute_timing(args)] * args.nodes)
    ]
    print(f"starting {args.nodes} nodes ({args.llm_nodes} with the local LLM) in {directory}")
    started = time.perf_counter()
    network = await start_network(directory, args.nodes, node_settings=settings)
    startup_s = time.perf_counter() - started
    try:
        outcomes, seconds = await _audit_on(network, args, files)
        logs = scan_logs(network)
        llm_usage = await _llm_usage(network)
    finally:
        stop_network(directory)
        print("devnet stopped", flush=True)
    return outcomes, {
        "startup_s": round(startup_s, 1),
        "seconds_per_file": seconds,
        "node_log_problems": logs,
        "llm_usage": llm_usage,
    }


def compute_timing(args: argparse.Namespace) -> dict[str, float]:
    """The audit windows given on the command line; the nodes' defaults for the others."""
    given = {
        "commit_window_s": args.commit_window,
        "reveal_window_s": args.reveal_window,
        "stall_timeout_s": args.stall_timeout,
    }
    return {key: value for key, value in given.items() if value is not None}


async def _audit_on(
    network: Network, args: argparse.Namespace, files: dict[str, list[Record]]
) -> tuple[dict[str, list[Outcome]], dict[str, float]]:
    chain = ChainClient(network.chain_rpc_url)
    ledger = LedgerClient(chain, network.ledger, network.registry)
    clients = [RpcClient(node.rpc_url, timeout_s=60.0) for node in network.nodes]
    watcher = FinalityWatcher(ledger, await chain.block_number())
    auditing = Auditing(watcher, ledger, clients, args.trace_timeout)
    outcomes: dict[str, list[Outcome]] = {}
    seconds: dict[str, float] = {}
    try:
        async with asyncio.TaskGroup() as group:
            polling = group.create_task(watcher.run())
            try:
                for stem, records in files.items():
                    print(f"[{stem}] {len(records)} records", flush=True)
                    started = time.perf_counter()
                    outcomes[stem] = await audit_file(
                        auditing, records, args.in_flight, args.progress_every
                    )
                    seconds[stem] = round(time.perf_counter() - started, 1)
            finally:
                polling.cancel()
    finally:
        for client in clients:
            client.close()
        await chain.close()
    return outcomes, seconds


async def _llm_usage(network: Network) -> dict[str, Any]:
    usage: dict[str, Any] = {}
    for node in network.nodes:
        with RpcClient(node.rpc_url, timeout_s=10.0) as client:
            status = await asyncio.to_thread(client.call, "node_status")
        if status.get("llm") is not None:
            usage[str(node.index)] = status["llm"]
    return usage


# ---- scoring -----------------------------------------------------------------------------------


def compute_offline(records: Sequence[Record]) -> list[dict[str, int]]:
    """The offline simulation's predictions for each record, with the current checkers."""
    checker = Tier1Checker()
    return [
        judge_trace(checker, Trace.model_validate_json(json.dumps(record.body)))
        for record in records
    ]


def score(predicted: Sequence[int | None], labels: Sequence[int]) -> dict[str, Any]:
    pairs = list(zip(predicted, labels, strict=True))
    erroneous = [(p, label) for p, label in pairs if label >= 0]
    correct = [(p, label) for p, label in pairs if label < 0]
    on_erroneous = compute_share(sum(p == label for p, label in erroneous), len(erroneous))
    on_correct = compute_share(sum(p == -1 for p, _ in correct), len(correct))
    outcomes = Counter(
        "unfinished" if p is None else compute_outcome(p, label) for p, label in pairs
    )
    return {
        "first_mistake_accuracy": compute_share(sum(p == label for p, label in pairs), len(pairs)),
        "accuracy_erroneous": on_erroneous,
        "accuracy_correct": on_correct,
        "f1": compute_f1(on_erroneous, on_correct),
        "outcomes": dict(sorted(outcomes.items())),
    }


def summarize_file(
    stem: str, outcomes: Sequence[Outcome], offline: Sequence[dict[str, int]] | None
) -> dict[str, Any]:
    labels = [o.record.label for o in outcomes]
    latencies = [o.latency_s for o in outcomes if o.latency_s is not None]
    gas = [
        o.gas_submit + o.gas_finalize
        for o in outcomes
        if o.gas_submit is not None and o.gas_finalize is not None
    ]
    result: dict[str, Any] = {
        "records": len(outcomes),
        "erroneous_records": sum(label >= 0 for label in labels),
        "target": TARGETS.get(stem),
        "network": score([o.predicted for o in outcomes], labels),
        "verdicts": dict(sorted(Counter(o.verdict or "UNFINISHED" for o in outcomes).items())),
        "latency_mean_s": round(statistics.fmean(latencies), 2) if latencies else None,
        "latency_p50_s": round(statistics.median(latencies), 2) if latencies else None,
        "gas_per_trace_mean": round(statistics.fmean(gas)) if gas else None,
    }
    target = result["target"]
    accuracy = result["network"]["first_mistake_accuracy"]
    result["target_met"] = None if target is None else accuracy is not None and accuracy >= target
    if offline is not None:
        for policy in ("steps_and_operations", "all_levels"):
            guesses = [prediction[policy] for prediction in offline]
            result[f"offline_{policy}"] = score(guesses, labels)
        agree = sum(
            o.predicted == p["steps_and_operations"] for o, p in zip(outcomes, offline, strict=True)
        )
        result["network_agrees_with_offline_steps_and_operations"] = agree
    result["items"] = [
        {
            "id": o.record.record_id,
            "label": o.record.label,
            "predicted": o.predicted,
            "verdict": o.verdict,
            "latency_s": None if o.latency_s is None else round(o.latency_s, 3),
            "gas": None
            if o.gas_submit is None or o.gas_finalize is None
            else o.gas_submit + o.gas_finalize,
            **({} if offline is None else {"offline": offline[i]["steps_and_operations"]}),
            **({} if o.error is None else {"error": o.error}),
        }
        for i, o in enumerate(outcomes)
    ]
    return result


# ---- report ------------------------------------------------------------------------------------


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}"


def format_table(results: dict[str, Any]) -> str:
    header = (
        "file",
        "n",
        "acc%",
        "err%",
        "ok%",
        "F1",
        "offline acc%",
        "agree",
        "target",
        "verdicts S/F/I",
        "lat s",
        "gas",
    )
    rows = [header]
    for stem, r in results.items():
        net = r["network"]
        offline = r.get("offline_steps_and_operations", {})
        target = r["target"]
        verdicts = r["verdicts"]
        rows.append(
            (
                stem,
                str(r["records"]),
                _pct(net["first_mistake_accuracy"]),
                _pct(net["accuracy_erroneous"]),
                _pct(net["accuracy_correct"]),
                _pct(net["f1"]),
                _pct(offline.get("first_mistake_accuracy")),
                str(r.get("network_agrees_with_offline_steps_and_operations", "-")),
                "-" if target is None else f"{target:.0%} {'met' if r['target_met'] else 'NOT'}",
                "/".join(str(verdicts.get(v, 0)) for v in ("SOUND", "FLAWED", "INCONCLUSIVE")),
                str(r["latency_mean_s"]),
                str(r["gas_per_trace_mean"]),
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    return "\n".join(
        "  ".join(
            cell.ljust(w) if i == 0 else cell.rjust(w)
            for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        )
        for row in rows
    )


def _git_state() -> dict[str, Any]:
    def git(*command: str) -> str:
        done = subprocess.run(
            ["git", *command], cwd=REPO, capture_output=True, text=True, check=False
        )
        return done.stdout.strip()

    return {"commit": git("rev-parse", "HEAD"), "dirty": bool(git("status", "--porcelain"))}


async def run(args: argparse.Namespace) -> dict[str, Any]:
    files = {stem: load_records(stem, args.limit) for stem in args.files}
    started = time.perf_counter()
    with contextlib.ExitStack() as stack:
        if args.workdir is None:
            prefix = "trust-external-"
            directory = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix=prefix)))
        else:
            directory = args.workdir.resolve()
        outcomes, network_figures = await run_network(args, files, directory)
    wall_s = time.perf_counter() - started
    results = {}
    for stem, records in files.items():
        offline = None if args.no_offline else compute_offline(records)
        results[stem] = summarize_file(stem, outcomes[stem], offline)
    return {
        "command": " ".join(["python", "benchmarks/external.py", *sys.argv[1:]]),
        "nodes": args.nodes,
        "llm_nodes": args.llm_nodes,
        "llm": "SmolLM2-135M (embedded, xllamacpp)" if args.llm_nodes else None,
        "limit": args.limit,
        "in_flight": args.in_flight,
        "audit_timing": compute_timing(args),
        "scoring": (
            "predicted = on-chain first error when the verdict is FLAWED, else -1; "
            "unfinished = wrong; F1 = harmonic mean of accuracy on erroneous (exact step) "
            "and on correct records"
        ),
        "wall_s": round(wall_s, 1),
        **network_figures,
        "results": results,
        "published_processbench_f1": PUBLISHED_PROCESSBENCH_F1,
        "git": _git_state(),
        "cpu_count": os.cpu_count(),
        "cpu": cpu_model(),
        "python": platform.python_version(),
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "note": "development split: reported, not tuned to",
    }


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument(
        "--files", nargs="+", default=list(DEFAULT_FILES), help="file stems in the data directory"
    )
    parser.add_argument("--nodes", type=int, default=DEFAULT_NODES)
    parser.add_argument("--llm-nodes", type=int, default=0)
    parser.add_argument(
        "--limit", type=int, default=None, help="K records of each file, evenly spaced"
    )
    parser.add_argument("--in-flight", type=int, default=DEFAULT_IN_FLIGHT)
    for flag in ("--commit-window", "--reveal-window", "--stall-timeout"):
        parser.add_argument(
            flag, type=float, default=None, help="seconds, every node (default: the node's)"
        )
    parser.add_argument("--trace-timeout", type=float, default=DEFAULT_TRACE_TIMEOUT_S)
    parser.add_argument("--progress-every", type=int, default=DEFAULT_PROGRESS_EVERY)
    parser.add_argument("--no-offline", action="store_true", help="skip the offline comparison")
    parser.add_argument("--workdir", type=Path, default=None, help="keep the devnet's directory")
    parser.add_argument("--out", type=Path, default=RESULTS, help="default: %(default)s")
    args = parser.parse_args(argv)
    if not 0 <= args.llm_nodes <= args.nodes:
        parser.error("--llm-nodes must lie between 0 and --nodes")
    return args


def main(argv: Sequence[str]) -> int:
    args = parse_args(argv)
    figures = run_until_terminated(lambda: run(args))
    print(format_table(figures["results"]))
    print(f"wall time {figures['wall_s']} s (devnet start {figures['startup_s']} s)")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(figures, indent=1) + "\n", encoding="utf-8")
    print(f"written {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
