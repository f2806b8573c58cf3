"""How long `trustnode eval` takes over 1,000 tier-1 records on a 5-node devnet (issue #6's
target: within 15 minutes on this 2-core machine), against the same judging done in one process.

Run from the repository root:
`python benchmarks/eval_speed.py [--records 1000] [--nodes 5] [--in-flight 16]
[--out benchmarks/results/eval-speed.json]`.

The records are `--records` evenly spaced through every labelled development file (BIG-Bench
Mistake and ProcessBench, in file order, as the other experiments take them), written as one
JSONL. Two measurements in one run:

- baseline, in process: each record's HDAG built and every segment judged by `Tier1Checker`, the
  judging work alone, with no protocol around it;
- product: a fresh devnet (Anvil and `--nodes` `trustnode run` processes, meshed) and the
  evaluation harness itself (`devnet.evaluation.runner.run_evaluation`, what `trustnode eval
  --devnet DIR` runs), every record submitted through RPC and its verdict read from the chain.
  Timed from the first submission to the last verdict read, without the devnet's start.

Reports the wall time (and its projection to 1,000 records when fewer ran), records and segments
per second, the CPU seconds the node processes and Anvil spent, the product's wall time over the
baseline's, the eval's own metrics, and the node logs' warnings. Writes `--out`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from common import LABELLED_FILES, RESULTS_DIR, spread, stamp, write_result
from e2e import read_cpu_s, scan_logs

from auditors.checkers import Tier1Checker
from devnet.evaluation.metrics import format_eval_metrics
from devnet.evaluation.runner import EvalOptions, run_evaluation
from devnet.network import Network, start_network, stop_network
from node.rpc_client import RpcClient
from node.termination import run_until_terminated
from protocol.hdag import build_hdag
from protocol.models import Tier, Trace
from protocol.segments import build_segments

RESULTS = RESULTS_DIR / "eval-speed.json"
DEFAULT_RECORDS = 1000
DEFAULT_NODES = 5
DEFAULT_IN_FLIGHT = 16
#: Issue #6: 1,000 tier-1 records within 15 minutes.
TARGET_RECORDS = 1000
TARGET_S = 15 * 60


def pick_record_lines(count: int) -> list[str]:
    """`count` JSON lines evenly spaced through the labelled files, in file order."""
    lines = [
        line
        for path in LABELLED_FILES
        for line in path.read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]
    return spread(lines, count)


def judge_in_process(traces: Sequence[Trace]) -> dict[str, Any]:
    """The baseline: HDAG, segments and tier-1 judgement of every record, in this process."""
    checker = Tier1Checker()
    segments = 0
    started = time.perf_counter()
    cpu_started = time.process_time()
    for trace in traces:
        hdag = build_hdag(trace)
        for segment in build_segments(trace, hdag, [Tier.CHECKER] * len(hdag.nodes)):
            checker.judge(segment)
            segments += 1
    return {
        "wall_s": round(time.perf_counter() - started, 2),
        "cpu_s": round(time.process_time() - cpu_started, 2),
        "segments": segments,
    }


async def evaluate_on_devnet(
    records_file: Path, workdir: Path, nodes: int, in_flight: int
) -> dict[str, Any]:
    """The product: a fresh devnet, then the evaluation harness on it, timed and CPU-counted."""
    directory = workdir / "devnet"
    print(f"starting {nodes} nodes in {directory}", flush=True)
    network = await start_network(directory, nodes)
    try:
        return await _timed_evaluation(network, directory, records_file, workdir, in_flight)
    finally:
        stop_network(directory)
        print("devnet stopped", flush=True)


async def _timed_evaluation(
    network: Network, directory: Path, records_file: Path, workdir: Path, in_flight: int
) -> dict[str, Any]:
    options = EvalOptions(
        records=records_file,
        out=workdir / "eval.json",
        nodes=len(network.nodes),
        devnet=directory,
        in_flight=in_flight,
    )
    pids = [*(node.pid for node in network.nodes), network.anvil_pid or 0]  # Anvil last
    cpu_before = [read_cpu_s(pid) for pid in pids]
    started = time.perf_counter()
    document = await run_evaluation(options)
    wall_s = time.perf_counter() - started
    cpu_after = [read_cpu_s(pid) for pid in pids]
    cpu = [after - before for after, before in zip(cpu_after, cpu_before, strict=True)]
    return {
        "wall_s": round(wall_s, 1),
        "in_flight": in_flight,
        "cpu_s_nodes": round(sum(cpu[:-1]), 1),
        "cpu_s_anvil": round(cpu[-1], 1),
        "traffic": await sum_node_counters(network),
        "metrics": document["metrics"],
        "node_log_problems": scan_logs(network),
    }


async def sum_node_counters(network: Network) -> dict[str, int]:
    """Gossip and anti-entropy counters of `node_status`, summed over the nodes."""
    totals: Counter[str] = Counter()
    for node in network.nodes:
        client = RpcClient(node.rpc_url, timeout_s=30.0)
        try:
            status = await asyncio.to_thread(client.call, "node_status")
        finally:
            client.close()
        for group in ("gossip", "fetches"):
            totals.update({f"{group}_{name}": count for name, count in status[group].items()})
    return dict(totals)


def compute_figures(
    records: int, baseline: dict[str, Any], product: dict[str, Any]
) -> dict[str, Any]:
    """Rates, the projection to the target's 1,000 records, and the product over the baseline."""
    wall_s = product["wall_s"]
    projected_s = wall_s * TARGET_RECORDS / records
    return {
        "records_per_s": round(records / wall_s, 3),
        "segments_per_s": round(baseline["segments"] / wall_s, 1),
        "cpu_s_nodes_per_record": round(product["cpu_s_nodes"] / records, 3),
        "product_wall_over_baseline_wall": round(wall_s / baseline["wall_s"], 1),
        "projected_s_for_1000_records": round(projected_s, 1),
        "target_s_for_1000_records": TARGET_S,
        "target_met": projected_s <= TARGET_S,
    }


def format_report(result: dict[str, Any]) -> str:
    figures, product, baseline = result["figures"], result["product"], result["baseline"]
    verdict = "met" if figures["target_met"] else "NOT met"
    return "\n".join(
        [
            f"{result['records']} records, {baseline['segments']} segments",
            f"baseline (in process): {baseline['wall_s']} s",
            f"product (devnet, {result['nodes']} nodes, {product['in_flight']} in flight): "
            f"{product['wall_s']} s, {figures['records_per_s']} records/s, "
            f"{figures['segments_per_s']} segments/s, "
            f"{product['cpu_s_nodes']} CPU-s of the nodes ({figures['cpu_s_nodes_per_record']} "
            f"per record), {product['cpu_s_anvil']} of Anvil",
            f"product / baseline wall time: {figures['product_wall_over_baseline_wall']}x",
            f"1,000 records: {figures['projected_s_for_1000_records']} s against "
            f"{TARGET_S} s, {verdict}",
            format_eval_metrics(product["metrics"]),
        ]
    )


async def run(args: argparse.Namespace) -> dict[str, Any]:
    lines = pick_record_lines(args.records)
    traces = [Trace.model_validate_json(line) for line in lines]
    print(f"{len(lines)} records; judging them in process first", flush=True)
    baseline = judge_in_process(traces)
    with tempfile.TemporaryDirectory(prefix="trust-eval-speed-") as tmp:
        workdir = Path(tmp)
        records_file = workdir / "records.jsonl"
        records_file.write_text("\n".join(lines) + "\n", encoding="utf-8")
        product = await evaluate_on_devnet(records_file, workdir, args.nodes, args.in_flight)
    return {
        "command": " ".join(["python", "benchmarks/eval_speed.py", *args.argv]),
        **stamp(),
        "cpu_count": os.cpu_count(),
        "records": len(lines),
        "nodes": args.nodes,
        "baseline": baseline,
        "product": product,
        "figures": compute_figures(len(lines), baseline, product),
    }


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--records", type=int, default=DEFAULT_RECORDS)
    parser.add_argument("--nodes", type=int, default=DEFAULT_NODES)
    parser.add_argument("--in-flight", type=int, default=DEFAULT_IN_FLIGHT)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    args.argv = list(argv)
    return args


def main(argv: Sequence[str]) -> int:
    args = parse_args(argv)
    result = run_until_terminated(lambda: run(args))
    write_result(args.out, result)
    print(format_report(result))
    print(f"written {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
