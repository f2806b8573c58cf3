"""`trustnode eval`: audit a labelled JSONL file through a real devnet and score the verdicts.

Every record is submitted through a node's `audit_submitTrace` (round-robin, up to `in_flight`
at once), its `VerdictFinalized` event awaited, and its verdict, first error, gas, verdict
probability and exposure read back from the chain (`onchain.read_trace`), never from a node's
database. The result file is rewritten (atomically) as records finish, so an interrupted run
resumes from it: records already final there are not submitted again.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import math
import os
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, TextIO, get_args

from devnet.deployment import DEFAULT_STAKES_ETH, DEFAULT_TIERS, check_dev_stakes
from devnet.evaluation.metrics import summarize
from devnet.evaluation.onchain import ChainReadingError, SnapshotReader, read_trace
from devnet.evaluation.progress import Progress
from devnet.finality import FinalityWatcher
from devnet.network import NETWORK_FILE, Network, start_network, stop_network
from node.chain import ChainClient, ChainError
from node.chain.ledger import LedgerClient
from node.oracle_labels import write_oracle_labels
from node.rpc_client import RpcClient, RpcClientError
from node.tracefile import read_traces
from protocol.encoding import keccak
from protocol.ids import compute_trace_id
from protocol.models import Tier, Trace
from protocol.params import BASIS_POINTS

Strategy = Literal["flip", "random", "always-valid", "abstain", "copycat", "collude"]
#: Every voting behaviour of `auditors.adversaries` but honest (no attack) and absent.
STRATEGIES: tuple[Strategy, ...] = get_args(Strategy)
#: `oracle:P`: auditors that answer from the records' labels, right with probability P (a
#: labelled simulation, `auditors.oracle`, isolating the protocol from judge quality).
#: `llm`: the local LLM alone, in the LLM tier only (no checkers; the tier-mix ablation).
JUDGE_KINDS = ("tier1", "tier1+llm", "llm")
AUDITOR_KINDS = (*JUDGE_KINDS, "oracle:P")
DEFAULT_NODES = 5
DEFAULT_IN_FLIGHT = 16
DEFAULT_TRACE_TIMEOUT_S = 600.0
#: Accuracy assumed of one vote when turning tallies into P(SOUND) (`--judge-accuracy`).
DEFAULT_JUDGE_ACCURACY = 0.8
#: The result file is rewritten at most this often while records finish (and at the end).
SAVE_EVERY_S = 2.0
RESULT_FORMAT = "trustnode-eval/1"


class EvalError(Exception):
    """The evaluation cannot run as asked; the message is one complete line."""


@dataclass(frozen=True)
class EvalOptions:
    records: Path
    out: Path
    nodes: int = DEFAULT_NODES
    devnet: Path | None = None
    limit: int | None = None
    seed: int = 0
    in_flight: int = DEFAULT_IN_FLIGHT
    trace_timeout_s: float = DEFAULT_TRACE_TIMEOUT_S
    auditors: str = "tier1"
    byzantine: float = 0.0
    strategy: Strategy = "flip"
    judge_accuracy: float = DEFAULT_JUDGE_ACCURACY
    #: The nodes' audit windows in seconds (None: the node's default). A judge slower than a
    #: window is counted absent, so a slow judge (the local LLM here) needs longer ones.
    commit_window_s: float | None = None
    reveal_window_s: float | None = None
    stall_timeout_s: float | None = None
    #: Node i's stake in ETH (None: the dev stakes). Chosen stakes let `byzantine` be met
    #: exactly: the adversaries are the nodes whose stake is the largest share not above it.
    stakes_eth: tuple[int, ...] | None = None


#: The options an entry's verdict depends on: a resumed run must repeat them.
VERDICT_OPTIONS = (
    "nodes",
    "seed",
    "auditors",
    "byzantine",
    "strategy",
    "judge_accuracy",
    "stakes_eth",
    "commit_window_s",
    "reveal_window_s",
    "stall_timeout_s",
)


@dataclass(frozen=True)
class EvalRecord:
    record_id: str
    label: int
    trace: Trace
    trace_id: str


@dataclass
class Adversaries:
    """The nodes given the adversarial strategy and the share of the stake they hold."""

    nodes: list[int] = field(default_factory=list)
    stake_fraction: float = 0.0
    strategy: str | None = None
    stakes_eth: list[int] = field(default_factory=list)


# ---- input -------------------------------------------------------------------------------------


def load_eval_records(path: Path, limit: int | None) -> list[EvalRecord]:
    """Labelled records of `path` (TraceFileError on a bad one); `limit` takes that many evenly
    spaced through the file (the development files list their correct records first)."""
    records: list[EvalRecord] = []
    seen: set[str] = set()
    for found in read_traces(path):
        trace = found.trace
        if trace.record_id is None or trace.label is None:
            raise EvalError(f"{found.where}: an evaluation record needs an 'id' and a 'label'")
        if trace.record_id in seen:
            raise EvalError(f"{found.where}: record id {trace.record_id!r} appears twice")
        seen.add(trace.record_id)
        records.append(EvalRecord(trace.record_id, trace.label, trace, compute_trace_id(trace)))
    if not records:
        raise EvalError(f"{path}: no records")
    if limit is not None and limit < len(records):
        records = [records[i * len(records) // limit] for i in range(limit)]
    return records


# ---- the devnet --------------------------------------------------------------------------------


def compute_adversaries(stakes_eth: Sequence[int], fraction: float) -> tuple[int, ...]:
    """Node indices (1-based) whose stake sum is the largest not above `fraction` of the total;
    among equal sums the fewest nodes, then the lowest indices (the choice is deterministic)."""
    target = fraction * sum(stakes_eth)
    best: tuple[int, ...] = ()
    best_key: tuple[int, int, tuple[int, ...]] = (0, 0, ())
    for size in range(1, len(stakes_eth) + 1):
        for chosen in itertools.combinations(range(1, len(stakes_eth) + 1), size):
            stake = sum(stakes_eth[i - 1] for i in chosen)
            key = (stake, -size, tuple(-i for i in chosen))
            if stake <= target + 1e-9 and key > best_key:
                best, best_key = chosen, key
    return best


def parse_oracle_accuracy(auditors: str) -> float | None:
    """P of `oracle:P` (0 < P <= 1); None for the other kinds; EvalError for anything else."""
    if auditors in JUDGE_KINDS:
        return None
    kind, _, value = auditors.partition(":")
    try:
        accuracy = float(value)
    except ValueError:
        accuracy = math.nan
    if kind != "oracle" or not 0 < accuracy <= 1:
        raise EvalError(
            f"--auditors must be {', '.join(JUDGE_KINDS)} or oracle:P with 0 < P <= 1, "
            f"or one of them per node separated by commas, not {auditors!r}"
        )
    return accuracy


def node_auditor_kinds(options: EvalOptions) -> list[str]:
    """Each node's kind of auditor: `--auditors` names one for all or one per node."""
    kinds = options.auditors.split(",")
    if len(kinds) == 1:
        kinds *= options.nodes
    if len(kinds) != options.nodes:
        raise EvalError(
            f"--auditors names {len(kinds)} kinds for {options.nodes} nodes: one, or one per node"
        )
    for kind in kinds:
        parse_oracle_accuracy(kind)
    return kinds


def compute_node_tiers(options: EvalOptions) -> list[tuple[Tier, ...]]:
    """The tiers each node's auditor registers: an LLM-only auditor stands in the LLM tier
    alone; every other kind in the checker and LLM tiers (its checkers judge first)."""
    return [(Tier.LLM,) if kind == "llm" else DEFAULT_TIERS for kind in node_auditor_kinds(options)]


def node_stakes_eth(options: EvalOptions) -> list[int]:
    """Each node's stake in ETH (EvalError when `stakes_eth` does not fit the nodes)."""
    if options.stakes_eth is None:
        return list(DEFAULT_STAKES_ETH[: options.nodes])
    try:
        check_dev_stakes(options.stakes_eth, options.nodes)
    except ValueError as exc:
        raise EvalError(f"--stakes: {exc}") from None
    return list(options.stakes_eth)


def plan_adversaries(options: EvalOptions) -> Adversaries:
    """Which nodes get `--strategy` for `--byzantine`, and the stake share they hold."""
    stakes = node_stakes_eth(options)
    chosen = compute_adversaries(stakes, options.byzantine) if options.byzantine else ()
    fraction = sum(stakes[i - 1] for i in chosen) / sum(stakes)
    strategy = options.strategy if chosen else None
    return Adversaries(list(chosen), round(fraction, 4), strategy, stakes)


def compute_timing(options: EvalOptions) -> dict[str, float]:
    """The audit windows the options set, as node audit settings."""
    given = {
        "commit_window_s": options.commit_window_s,
        "reveal_window_s": options.reveal_window_s,
        "stall_timeout_s": options.stall_timeout_s,
    }
    return {key: value for key, value in given.items() if value is not None}


def compute_node_settings(
    options: EvalOptions, adversaries: Adversaries, labels_file: Path | None = None
) -> list[dict[str, Any]]:
    """Each node's audit settings for `--auditors` and the adversaries; `labels_file` is where
    the records' labels were written (needed for `oracle:P`)."""
    settings = []
    for index, kind in enumerate(node_auditor_kinds(options), start=1):
        audit = _judge_settings(options, kind, labels_file)
        if index in adversaries.nodes:
            audit["behaviour"] = options.strategy
            if options.strategy == "collude":
                # One shared secret per run: the bloc attacks the same segments.
                audit["bloc_secret"] = "0x" + keccak(f"bloc/{options.seed}".encode()).hex()
        settings.append({"audit": audit})
    return settings


def _judge_settings(options: EvalOptions, kind: str, labels_file: Path | None) -> dict[str, Any]:
    """An honest node's audit settings for one kind of auditor."""
    audit: dict[str, Any] = {"seed": options.seed, **compute_timing(options)}
    if kind in ("tier1+llm", "llm"):
        audit["llm"] = {"endpoint": "local"}
    if kind == "llm":
        audit["checkers"] = False
    accuracy = parse_oracle_accuracy(kind)
    if accuracy is not None:
        if labels_file is None:
            raise EvalError("oracle auditors need the records' labels file")
        audit["oracle"] = {
            "labels_file": str(labels_file),
            "accuracy": accuracy,
            "seed": options.seed,
        }
    return audit


# ---- the result file ---------------------------------------------------------------------------


def read_finished_entries(out: Path, options: EvalOptions) -> dict[str, dict[str, Any]]:
    """Entries of an earlier run on the same records that reached a verdict, by record id;
    EvalError if that run's verdicts came from other options (mixing them would score two
    different networks as one)."""
    records = options.records
    if not out.exists():
        return {}
    try:
        earlier = json.loads(out.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise EvalError(f"{out}: cannot resume from it ({exc}); move it away first") from None
    if not isinstance(earlier, dict) or earlier.get("format") != RESULT_FORMAT:
        raise EvalError(f"{out} is not a `trustnode eval` result file; move it away first")
    if earlier.get("records_file") != str(records):
        raise EvalError(f"{out} holds results for {earlier.get('records_file')}, not {records}")
    _check_same_verdict_options(out, earlier.get("options"), options)
    entries = earlier.get("entries", [])
    return {e["id"]: e for e in entries if e.get("trace_verdict") is not None}


def _check_same_verdict_options(out: Path, earlier: Any, options: EvalOptions) -> None:
    if not isinstance(earlier, dict):
        raise EvalError(f"{out} names no options; move it away first")
    defaults = EvalOptions(records=options.records, out=options.out)
    for name in VERDICT_OPTIONS:
        # Through JSON, as the file holds them (a tuple reads back as a list); a file written
        # before an option existed ran with its default.
        was = earlier.get(name, _as_json(getattr(defaults, name)))
        now = _as_json(getattr(options, name))
        if was != now:
            raise EvalError(
                f"{out} was run with {name} = {was!r}, not {now!r}: resume with the same "
                "options, or write to another --out"
            )


def _as_json(value: Any) -> Any:
    return json.loads(json.dumps(value))


def write_atomically(path: Path, document: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(document, indent=1) + "\n", encoding="utf-8")
    os.replace(partial, path)


# ---- the run -----------------------------------------------------------------------------------


@dataclass
class _Run:
    options: EvalOptions
    records: list[EvalRecord]
    entries: dict[str, dict[str, Any]]
    header: dict[str, Any]
    progress: Progress
    saved_at: float = 0.0

    def document(self) -> dict[str, Any]:
        ordered = [self.entries[r.record_id] for r in self.records if r.record_id in self.entries]
        return {**self.header, "entries": ordered, "metrics": summarize(ordered)}

    def record(self, entry: dict[str, Any]) -> None:
        self.entries[entry["id"]] = entry
        self.progress.advance(_describe(entry))
        if time.monotonic() - self.saved_at >= SAVE_EVERY_S:
            self.save()

    def save(self) -> None:
        write_atomically(self.options.out, self.document())
        self.saved_at = time.monotonic()


def _describe(entry: dict[str, Any]) -> str:
    verdict = entry.get("trace_verdict") or entry.get("error", "no verdict")
    return f"{entry['id']}: {verdict}"


async def run_evaluation(options: EvalOptions, out: TextIO = sys.stderr) -> dict[str, Any]:
    """Run (or resume) the evaluation; returns the result document it wrote."""
    configures_nodes = (
        options.byzantine
        or options.auditors != "tier1"
        or compute_timing(options)
        or options.stakes_eth is not None
    )
    if options.devnet is not None and configures_nodes:
        raise EvalError(
            "--byzantine, --auditors, --stakes and the windows configure the nodes: "
            "not with --devnet"
        )
    records = load_eval_records(options.records, options.limit)
    node_auditor_kinds(options)
    adversaries = plan_adversaries(options)
    finished = read_finished_entries(options.out, options)
    wanted = {r.record_id for r in records}
    done = {rid: entry for rid, entry in finished.items() if rid in wanted}
    header = {
        "format": RESULT_FORMAT,
        "records_file": str(options.records),
        "options": {k: str(v) if isinstance(v, Path) else v for k, v in asdict(options).items()},
        "adversaries": asdict(adversaries),
        "scoring": "devnet.evaluation.metrics",
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    progress = Progress(len(records), out, already_done=len(done))
    run = _Run(options, records, dict(done), header, progress)
    pending = [r for r in records if r.record_id not in done]
    if done:
        out.write(f"resuming: {len(done)} of {len(records)} records already final\n")
    try:
        if pending:
            async with _devnet(options, records, adversaries, out) as network:
                await _audit_all(run, network, pending)
    finally:
        run.save()  # also when interrupted: a rerun resumes from what finished
    return run.document()


@contextlib.asynccontextmanager
async def _devnet(
    options: EvalOptions, records: Sequence[EvalRecord], adversaries: Adversaries, out: TextIO
) -> AsyncIterator[Network]:
    """The devnet of --devnet (left running), else a new one in a temporary directory (with
    the oracle's labels file, for `oracle:P`)."""
    if options.devnet is not None:
        if not (options.devnet / NETWORK_FILE).is_file():
            raise EvalError(f"no node network in {options.devnet}: `trustnode devnet up --nodes N`")
        yield Network.load(options.devnet)
        return
    with tempfile.TemporaryDirectory(prefix="trustnode-eval-") as tmp:
        directory = Path(tmp)
        labels_file = directory / "oracle-labels.json"
        write_oracle_labels([record.trace for record in records], labels_file)
        settings = compute_node_settings(options, adversaries, labels_file)
        out.write(f"starting a devnet of {options.nodes} nodes in {directory}\n")
        network = await start_network(
            directory,
            options.nodes,
            node_settings=settings,
            node_tiers=compute_node_tiers(options),
            node_stakes_eth=adversaries.stakes_eth,
        )
        try:
            yield network
        finally:
            stop_network(directory)


async def _audit_all(run: _Run, network: Network, pending: list[EvalRecord]) -> None:
    chain = ChainClient(network.chain_rpc_url)
    ledger = LedgerClient(chain, network.ledger, network.registry)
    snapshots = SnapshotReader(ledger)
    clients = [RpcClient(node.rpc_url, timeout_s=60.0) for node in network.nodes]
    turns = itertools.count()
    queue = iter(pending)
    accuracy_bps = round(run.options.judge_accuracy * BASIS_POINTS)

    async def worker(auditing: _Auditing) -> None:
        for record in queue:
            run.record(await auditing.audit(record, clients[next(turns) % len(clients)]))

    try:
        watcher = FinalityWatcher(ledger, await chain.block_number())
        auditing = _Auditing(ledger, snapshots, watcher, run.options, accuracy_bps)
        async with asyncio.TaskGroup() as group:
            polling = group.create_task(watcher.run())
            try:
                async with asyncio.TaskGroup() as workers:
                    for _ in range(min(run.options.in_flight, len(pending))):
                        workers.create_task(worker(auditing))
            finally:
                polling.cancel()
    finally:
        for client in clients:
            client.close()
        await chain.close()


@dataclass
class _Auditing:
    ledger: LedgerClient
    snapshots: SnapshotReader
    watcher: FinalityWatcher
    options: EvalOptions
    accuracy_bps: int

    async def audit(self, record: EvalRecord, client: RpcClient) -> dict[str, Any]:
        """Submit one record and read its verdict back from the chain: its result entry."""
        entry = _empty_entry(record)
        body = json.loads(record.trace.model_dump_json(by_alias=True, exclude_none=True))
        started = time.perf_counter()
        try:
            await asyncio.to_thread(client.call, "audit_submitTrace", {"trace": body})
        except RpcClientError as exc:
            return {**entry, "error": f"submission refused: {exc}"}
        final_at = await self._wait_final(record.trace_id)
        if final_at is None:
            return {**entry, "error": f"not final within {self.options.trace_timeout_s:g} s"}
        entry["latency_s"] = round(final_at - started, 3)
        try:
            reading = await read_trace(
                self.ledger, self.snapshots, record.trace, record.trace_id, self.accuracy_bps
            )
        except (ChainReadingError, ChainError) as exc:
            # One unreadable record is an entry with its error, not the end of the run.
            return {**entry, "error": str(exc)}
        return {
            **entry,
            "predicted_first_error": reading.predicted_first_error,
            "trace_verdict": reading.verdict.name,
            "probability": round(reading.probability, 6),
            "gas": reading.gas,
            "max_exposure": reading.exposure.max_auditor_bps / BASIS_POINTS,
            "coalition_exposure": reading.exposure.coalition_bps / BASIS_POINTS,
            "revealed_share": round(reading.revealed_share, 4),
            "snapshot_stakes": reading.snapshot_stakes,
        }

    async def _wait_final(self, trace_id: str) -> float | None:
        """When the trace was seen final; at once if it already was (a trace an interrupted run
        submitted may have been finalized before this run's watcher started)."""
        if (await self.ledger.verdict_of(trace_id)).is_final:
            return time.perf_counter()
        return await self.watcher.wait(trace_id, self.options.trace_timeout_s)


def _empty_entry(record: EvalRecord) -> dict[str, Any]:
    return {
        "id": record.record_id,
        "label": record.label,
        "trace_id": record.trace_id,
        "predicted_first_error": None,
        "trace_verdict": None,
        "probability": None,
        "latency_s": None,
        "gas": None,
        "max_exposure": None,
        "coalition_exposure": None,
        "revealed_share": None,
        "snapshot_stakes": None,
    }
