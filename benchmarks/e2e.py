"""End to end on a five-node devnet: submit to on-chain verdict, throughput, memory, gossip.

Run from the repository root: `python benchmarks/e2e.py [--duration 60] [--samples 20]`. Each
configuration gets a devnet of its own (Anvil plus five `trustnode run` processes, meshed):

- product: the default audit settings (segments batched into one bundle per round, phases that
  end as soon as every assigned auditor answered);
- unadmitted: the product driving every accepted trace at once, without the adaptive admission
  of `node.pipeline.admission` (what admission control is measured against under load);
- baseline: one gossip message per sealed segment and phases that last their whole fixed windows,
  the way a protocol with fixed-length commit and reveal phases behaves (no admission control).

On each: latency from `audit_submitTrace` to the `VerdictFinalized` event with one trace in flight
(p50, p95), then sustained throughput for `--duration` seconds with up to `--in-flight` traces in
flight spread round-robin over the nodes' RPCs (audited segments finalized within the window per
second), the nodes' RSS sampled every second, and the gossip messages the nodes originated per
audited segment (`node_status` counters). Every trace has exactly 10 HDAG segments; one in four
has a planted arithmetic error, and each verdict is read back from the Ledger and checked against
it. Prints a table with the ratios and targets and writes benchmarks/results/e2e.json.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from machine import cpu_model, host_speed  # benchmarks/ is sys.path[0] as a script

from devnet.finality import FinalityWatcher
from devnet.network import Network, start_network, stop_network
from node.chain import ChainClient
from node.chain.ledger import LedgerClient
from node.rpc_client import RpcClient
from node.termination import run_until_terminated
from protocol.hdag import build_hdag
from protocol.models import Trace, TraceVerdict

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results" / "e2e.json"
NODES = 5
SEGMENTS = 10
SEED = "trust-e2e-1"
#: Every PLANTED_EVERY-th trace carries a wrong product in its first step.
PLANTED_EVERY = 4
#: Latency traces and throughput traces come from disjoint index ranges (a resubmitted trace
#: would return its old id, already final).
THROUGHPUT_FIRST_INDEX = 1_000_000
DEFAULT_DURATION_S = 60.0
DEFAULT_SAMPLES = 20
DEFAULT_IN_FLIGHT = 32
#: Latency traces audited before sampling starts (imports, first connections, caches).
WARMUP_TRACES = 2
RSS_SAMPLE_S = 1.0
#: A trace not final this long after its submission counts as unfinished (the nodes' own stall
#: timeout is 60 s).
TRACE_TIMEOUT_S = 90.0
#: The baseline's fixed commit and reveal windows. With one trace in flight the product closes
#: each phase in well under a second (its whole two-round audit, chain included, takes about
#: 0.9 s), and 1.0 s windows gave every sequential trace its right verdict with every vote in;
#: that is the least a fixed-phase protocol must provision. Under load no fixed window is safe
#: (the nodes' CPU is the limit), so load runs report wrong verdicts instead of hiding them.
BASELINE_WINDOW_S = 1.0
TARGET_P50_S = 2.0
TARGET_SEGMENTS_PER_S = 50.0
TARGET_RSS_MIB = 150.0

PRODUCT: dict[str, Any] = {}
#: The product driving every accepted trace at once (no adaptive admission): what the load
#: test measures admission control against.
UNADMITTED: dict[str, Any] = {"audit": {"adaptive_admission": False}}
BASELINE: dict[str, Any] = {
    "audit": {
        "batching": False,
        "fixed_phases": True,
        "adaptive_admission": False,
        "commit_window_s": BASELINE_WINDOW_S,
        "reveal_window_s": BASELINE_WINDOW_S,
    }
}
CONFIGS = {"product": PRODUCT, "unadmitted": UNADMITTED, "baseline": BASELINE}


# ---- traces -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class BenchTrace:
    index: int
    body: dict[str, Any]
    planted: bool


def compute_trace(index: int) -> BenchTrace:
    """A four-step arithmetic trace whose numbers come from a seeded generator per index."""
    rng = random.Random(f"{SEED}/{index}")
    a, b, c, d = (rng.randint(2, 99) for _ in range(4))
    planted = index % PLANTED_EVERY == 0
    first = a * b + (rng.randint(1, 9) if planted else 0)
    second = c * d
    total = first + second
    steps = [
        f"First, {a} * {b} = {first} units.",
        f"Then {c} * {d} = {second} units.",
        f"Adding, {first} + {second} = {total} units.",
        f"The total is {total} units.",
    ]
    body = {
        "problem": f"Order {index}: how many units are {a} * {b} plus {c} * {d}?",
        "steps": steps,
        "answer": str(total),
        "model": "benchmark",
        "domain": "arithmetic",
    }
    return BenchTrace(index, body, planted)


def is_ten_segments(trace: BenchTrace) -> bool:
    return len(build_hdag(Trace.model_validate_json(json.dumps(trace.body))).nodes) == SEGMENTS


def generate_traces(first_index: int) -> Iterator[BenchTrace]:
    """Distinct traces of exactly SEGMENTS segments (any other shape is skipped)."""
    for index in itertools.count(first_index):
        trace = compute_trace(index)
        if is_ten_segments(trace):
            yield trace


# ---- the nodes ---------------------------------------------------------------------------------


@dataclass
class Sample:
    trace: BenchTrace
    trace_id: str
    submitted_at: float
    final_at: float | None

    @property
    def latency_s(self) -> float | None:
        return None if self.final_at is None else self.final_at - self.submitted_at


@dataclass
class Bench:
    network: Network
    watcher: FinalityWatcher
    clients: list[RpcClient]
    rss_peak: dict[int, int] = field(default_factory=dict)

    async def submit(self, node: int, trace: BenchTrace) -> tuple[str, float]:
        started = time.perf_counter()
        client = self.clients[node % len(self.clients)]
        result = await asyncio.to_thread(client.call, "audit_submitTrace", {"trace": trace.body})
        return str(result["trace_id"]), started

    async def audit(self, node: int, trace: BenchTrace) -> Sample:
        trace_id, started = await self.submit(node, trace)
        final_at = await self.watcher.wait(trace_id, TRACE_TIMEOUT_S)
        return Sample(trace, trace_id, started, final_at)

    async def gossip_published(self) -> tuple[int, int]:
        """(published, delivered) summed over the nodes."""
        published = delivered = 0
        for client in self.clients:
            status = await asyncio.to_thread(client.call, "node_status")
            published += int(status["gossip"]["published"])
            delivered += int(status["gossip"]["delivered"])
        return published, delivered

    async def sample_rss(self) -> None:
        while True:
            for node in self.network.nodes:
                rss = read_rss_bytes(node.pid)
                self.rss_peak[node.index] = max(self.rss_peak.get(node.index, 0), rss)
            await asyncio.sleep(RSS_SAMPLE_S)


def read_rss_bytes(pid: int) -> int:
    """VmRSS of a live process; 0 once it is gone."""
    try:
        status = Path(f"/proc/{pid}/status").read_text(encoding="ascii")
    except OSError:
        return 0
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def read_cpu_s(pid: int) -> float:
    """User plus system CPU seconds of a live process; 0 once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text(encoding="ascii").rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    # After the command: state is field 3, utime and stime are fields 14 and 15.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# ---- the measurements --------------------------------------------------------------------------


def compute_percentile(values: Sequence[float], percent: int) -> float:
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[percent - 1]


def summarize_latency(samples: Sequence[Sample]) -> dict[str, Any]:
    done = sorted(s.latency_s for s in samples if s.latency_s is not None)
    if not done:
        return {"samples": len(samples), "final": 0}
    return {
        "samples": len(samples),
        "final": len(done),
        "p50_s": round(compute_percentile(done, 50), 3),
        "p95_s": round(compute_percentile(done, 95), 3),
        "mean_s": round(statistics.fmean(done), 3),
        "min_s": round(done[0], 3),
        "max_s": round(done[-1], 3),
    }


async def measure_latency(bench: Bench, samples: int) -> list[Sample]:
    """One trace in flight; the nodes take turns as the submitter."""
    traces = generate_traces(0)
    for node in range(WARMUP_TRACES):
        await bench.audit(node, next(traces))
    return [await bench.audit(i, next(traces)) for i in range(samples)]


async def measure_throughput(
    bench: Bench, duration_s: float, in_flight: int
) -> tuple[list[Sample], float, float]:
    """Workers keep `in_flight` traces going until the window ends, then wait for their last.

    Returns every sample and the window's start and end (perf_counter seconds).
    """
    traces = generate_traces(THROUGHPUT_FIRST_INDEX)
    turns = itertools.count()
    samples: list[Sample] = []
    started = time.perf_counter()
    ends = started + duration_s

    async def worker() -> None:
        while time.perf_counter() < ends:
            turn = next(turns)
            samples.append(await bench.audit(turn, next(traces)))

    async with asyncio.TaskGroup() as workers:
        for _ in range(in_flight):
            workers.create_task(worker())
    return samples, started, ends


async def check_verdicts(ledger: LedgerClient, samples: Sequence[Sample]) -> dict[str, Any]:
    """Verdicts read from the Ledger: planted traces must be FLAWED, the others must not."""
    final = [s for s in samples if s.final_at is not None]
    verdicts = await asyncio.gather(*(ledger.verdict_of(s.trace_id) for s in final))
    counts = Counter(v.verdict.name for v in verdicts)
    wrong = sum(
        (v.verdict is TraceVerdict.FLAWED) != s.trace.planted
        for s, v in zip(final, verdicts, strict=True)
    )
    return {"by_verdict": dict(sorted(counts.items())), "wrong": wrong}


async def measure_config(
    name: str, settings: dict[str, Any], workdir: Path, args: argparse.Namespace
) -> dict[str, Any]:
    directory = workdir / name
    print(f"[{name}] starting {NODES} nodes in {directory}", flush=True)
    network = await start_network(directory, NODES, node_settings=[settings] * NODES)
    try:
        return await _measure_on(name, network, settings, args)
    finally:
        stop_network(directory)
        print(f"[{name}] devnet stopped", flush=True)


async def _measure_on(
    name: str, network: Network, settings: dict[str, Any], args: argparse.Namespace
) -> dict[str, Any]:
    chain = ChainClient(network.chain_rpc_url)
    ledger = LedgerClient(chain, network.ledger, network.registry)
    clients = [RpcClient(node.rpc_url, timeout_s=30.0) for node in network.nodes]
    watcher = FinalityWatcher(ledger, await chain.block_number())
    bench = Bench(network, watcher, clients)
    try:
        async with asyncio.TaskGroup() as group:
            background = [group.create_task(watcher.run()), group.create_task(bench.sample_rss())]
            try:
                return await _run_phases(name, bench, settings, args)
            finally:
                for task in background:
                    task.cancel()
    finally:
        for client in clients:
            client.close()
        await chain.close()


async def _run_phases(
    name: str, bench: Bench, settings: dict[str, Any], args: argparse.Namespace
) -> dict[str, Any]:
    latency = await measure_latency(bench, args.samples)
    print(f"[{name}] latency: {summarize_latency(latency)}", flush=True)
    gossip_before = await bench.gossip_published()
    pids = [node.pid for node in bench.network.nodes] + [bench.network.anvil_pid or 0]
    cpu_before = [read_cpu_s(pid) for pid in pids]
    samples, started, ends = await measure_throughput(bench, args.duration, args.in_flight)
    drained = time.perf_counter()
    cpu = [after - before for after, before in zip(map(read_cpu_s, pids), cpu_before, strict=True)]
    gossip_after = await bench.gossip_published()
    rss_end = {node.index: read_rss_bytes(node.pid) for node in bench.network.nodes}
    in_window = [s for s in samples if s.final_at is not None and s.final_at <= ends]
    final = [s for s in samples if s.final_at is not None]
    segments = SEGMENTS * len(final)
    published = gossip_after[0] - gossip_before[0]
    delivered = gossip_after[1] - gossip_before[1]
    result = {
        "settings": settings.get("audit", {}),
        "latency": summarize_latency(latency),
        "latency_verdicts": await check_verdicts(bench.watcher.ledger, latency),
        "throughput": {
            "duration_s": args.duration,
            "in_flight": args.in_flight,
            "traces_submitted": len(samples),
            "traces_final_in_window": len(in_window),
            "segments_per_s": round(SEGMENTS * len(in_window) / (ends - started), 1),
            "traces_per_s": round(len(in_window) / (ends - started), 2),
            "unfinished_after_drain": len(samples) - len(final),
            "drain_s": round(drained - ends, 1),
            "latency_under_load": summarize_latency(samples),
            "verdicts": await check_verdicts(bench.watcher.ledger, samples),
            "cpu_s_nodes": round(sum(cpu[:-1]), 1),
            "cpu_s_anvil": round(cpu[-1], 1),
        },
        "gossip": {
            "published": published,
            "delivered": delivered,
            "messages_per_segment": round(published / segments, 3) if segments else None,
            "deliveries_per_segment": round(delivered / segments, 3) if segments else None,
        },
        "rss_mib": {
            "peak": {str(i): _mib(b) for i, b in sorted(bench.rss_peak.items())},
            "end": {str(i): _mib(b) for i, b in sorted(rss_end.items())},
            "peak_max": _mib(max(bench.rss_peak.values())),
        },
        "node_log_problems": scan_logs(bench.network),
        "stalled_finalizations": count_log_lines(bench.network, "stalled: finalizing it"),
    }
    print(f"[{name}] throughput: {result['throughput']}", flush=True)
    return result


def _mib(value: int) -> float:
    return round(value / 2**20, 1)


def scan_logs(network: Network) -> dict[str, Any]:
    """WARNING and ERROR lines of the node logs: counted, a few distinct messages kept."""
    counts: Counter[str] = Counter()
    examples: dict[str, None] = {}
    for node in network.nodes:
        for line in node.log.read_text(encoding="utf-8", errors="replace").splitlines():
            parts = line.split(" ", 4)
            if len(parts) == 5 and parts[2] in ("WARNING", "ERROR", "CRITICAL"):
                counts[parts[2]] += 1
                if len(examples) < 10:
                    examples.setdefault(f"node {node.index}: {parts[3]} {parts[4][:160]}")
    return {"counts": dict(counts), "examples": list(examples)}


def count_log_lines(network: Network, needle: str) -> int:
    """Lines of the node logs containing `needle` (a trace finalized as stalled, say)."""
    return sum(
        node.log.read_text(encoding="utf-8", errors="replace").count(needle)
        for node in network.nodes
    )


# ---- report ------------------------------------------------------------------------------------


def compute_ratios(
    product: dict[str, Any], unadmitted: dict[str, Any], baseline: dict[str, Any]
) -> dict[str, float]:
    def ratio(a: float, b: float) -> float:
        return round(a / b, 2) if b else float("nan")

    lp, lb = product["latency"], baseline["latency"]
    tp, tb = product["throughput"], baseline["throughput"]
    gp, gb = product["gossip"], baseline["gossip"]
    return {
        "latency_p50_baseline_over_product": ratio(lb["p50_s"], lp["p50_s"]),
        "latency_p95_baseline_over_product": ratio(lb["p95_s"], lp["p95_s"]),
        "throughput_product_over_baseline": ratio(tp["segments_per_s"], tb["segments_per_s"]),
        "throughput_product_over_unadmitted": ratio(
            tp["segments_per_s"], unadmitted["throughput"]["segments_per_s"]
        ),
        "messages_per_segment_baseline_over_product": ratio(
            gb["messages_per_segment"], gp["messages_per_segment"]
        ),
    }


def compute_targets(product: dict[str, Any]) -> dict[str, Any]:
    p50 = product["latency"]["p50_s"]
    rate = product["throughput"]["segments_per_s"]
    rss = product["rss_mib"]["peak_max"]
    return {
        "p50_s_max": TARGET_P50_S,
        "segments_per_s_min": TARGET_SEGMENTS_PER_S,
        "rss_mib_per_node_max": TARGET_RSS_MIB,
        "p50_met": p50 <= TARGET_P50_S,
        "throughput_met": rate >= TARGET_SEGMENTS_PER_S,
        "rss_met": rss <= TARGET_RSS_MIB,
    }


def format_table(configs: dict[str, dict[str, Any]]) -> str:
    """One column per configuration, in the order given."""

    def row(name: str, path: tuple[str, ...], unit: str) -> tuple[str, ...]:
        def get(figures: dict[str, Any]) -> str:
            value: Any = figures
            for key in path:
                value = value[key]
            return f"{value}{unit}"

        return (name, *(get(figures) for figures in configs.values()))

    rows = [
        ("figure", *configs),
        row("latency p50", ("latency", "p50_s"), " s"),
        row("latency p95", ("latency", "p95_s"), " s"),
        row("throughput", ("throughput", "segments_per_s"), " seg/s"),
        row("traces final in window", ("throughput", "traces_final_in_window"), ""),
        row("latency p50 under load", ("throughput", "latency_under_load", "p50_s"), " s"),
        row("unfinished after drain", ("throughput", "unfinished_after_drain"), ""),
        row("wrong verdicts (load)", ("throughput", "verdicts", "wrong"), ""),
        row("stalled traces finalized", ("stalled_finalizations",), ""),
        row("gossip messages / segment", ("gossip", "messages_per_segment"), ""),
        row("deliveries / segment", ("gossip", "deliveries_per_segment"), ""),
        row("peak RSS, largest node", ("rss_mib", "peak_max"), " MiB"),
        row("CPU s, 5 nodes (window)", ("throughput", "cpu_s_nodes"), ""),
        row("CPU s, Anvil (window)", ("throughput", "cpu_s_anvil"), ""),
    ]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(
            cell.ljust(width) if column == 0 else cell.rjust(width)
            for column, (cell, width) in enumerate(zip(r, widths, strict=True))
        )
        for r in rows
    )


async def run(args: argparse.Namespace) -> dict[str, Any]:
    speed_before = host_speed()
    with contextlib.ExitStack() as stack:
        if args.workdir is None:
            workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="trust-e2e-")))
        else:
            workdir = args.workdir.resolve()
        configs = {
            name: await measure_config(name, settings, workdir, args)
            for name, settings in CONFIGS.items()
        }
    return {
        "nodes": NODES,
        "segments_per_trace": SEGMENTS,
        "planted_every": PLANTED_EVERY,
        **configs,
        "ratios": compute_ratios(**configs),
        "targets": compute_targets(configs["product"]),
        "cpu_count": os.cpu_count(),
        "cpu": cpu_model(),
        # The same figures on a host twice as fast are not the code's doing: compare runs of
        # different days only after dividing by this.
        "host_speed_rounds_per_s": {"before": speed_before, "after": host_speed()},
        "python": platform.python_version(),
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--duration", type=float, default=DEFAULT_DURATION_S)
    parser.add_argument("--samples", type=int, default=DEFAULT_SAMPLES)
    parser.add_argument("--in-flight", type=int, default=DEFAULT_IN_FLIGHT)
    parser.add_argument(
        "--workdir", type=Path, default=None, help="keep the devnets' directories (logs) here"
    )
    parser.add_argument(
        "--output", type=Path, default=RESULTS, help="where the JSON goes (default: %(default)s)"
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str]) -> int:
    args = parse_args(argv)
    figures = run_until_terminated(lambda: run(args))  # SIGTERM stops its devnets too
    print(format_table({name: figures[name] for name in CONFIGS}))
    for name, value in figures["ratios"].items():
        print(f"{name}: {value}x")
    targets = figures["targets"]
    print(
        f"targets: p50 <= {TARGET_P50_S} s {'met' if targets['p50_met'] else 'NOT met'}; "
        f">= {TARGET_SEGMENTS_PER_S:g} seg/s {'met' if targets['throughput_met'] else 'NOT met'}; "
        f"RSS <= {TARGET_RSS_MIB:g} MiB/node {'met' if targets['rss_met'] else 'NOT met'}"
    )
    speed = figures["host_speed_rounds_per_s"]
    print(f"host speed (machine.host_speed): {speed['before']} before, {speed['after']} after")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(figures, indent=1) + "\n", encoding="utf-8")
    print(f"written {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
