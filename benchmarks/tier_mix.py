"""Tier-mix ablation: the same records through the network with every node's checkers alone, its
local LLM alone, both, and a mixed network of checker nodes and LLM-only nodes.

Run from the repository root:
`python benchmarks/tier_mix.py [--records FILE ...] [--limit 6] [--arms tier1 llm tier1+llm
llm,llm,tier1,tier1,tier1] [--commit-window 600] [--stall-timeout 2400] [--trace-timeout 3000]
[--out ...json] [--replot]`.

Each arm is one `trustnode eval` run on a fresh five-node devnet (dev stakes 10-50 ETH) with
`--auditors ARM`: `tier1`, the tier-1 checkers on every node (standing in the checker and LLM
tiers, judging first on every segment); `llm`, the local SmolLM2-135M alone on every node
(standing in the LLM tier only, so every segment routes to it); `tier1+llm`, both on every node
(the checker first, the LLM on what it leaves); and a mix naming one kind per node, by default
two LLM-only nodes (20% of the stake) beside three checker nodes, so the LLM tier's committees
draw from all five and the checker tier's from the three. The windows are long because the LLM
on two shared cores outlasts the default ones (`docs/results.md`, "Confirmed, and what long
windows change"). Beside every uniform arm stands its single judge in process on the same
records (`sweep.measure_single_judge`, `sweep.measure_single_tiered_judge`), so what the
network adds is visible. Writes the JSON and a PNG (matplotlib, `pip install .[bench]`).
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt  # `pip install .[bench]`; headless, it draws with Agg
from common import DATA, RESULTS_DIR, replot, save_figure, stamp, write_result
from sweep import measure_single_judge, measure_single_tiered_judge

from devnet.evaluation import EvalOptions, run_evaluation
from devnet.evaluation.runner import node_auditor_kinds, plan_adversaries
from node.termination import run_until_terminated

RESULTS = RESULTS_DIR / "tier-mix.json"
DEFAULT_RECORDS = (DATA / "bbm-dyck_languages.jsonl", DATA / "processbench-gsm8k.jsonl")
DEFAULT_ARMS = ("tier1", "llm", "tier1+llm", "llm,llm,tier1,tier1,tier1")
#: The figures an arm reports from the evaluation's metrics.
REPORTED = (
    "f1",
    "accuracy_erroneous",
    "accuracy_correct",
    "first_error_accuracy",
    "trace_precision",
    "trace_recall",
    "brier",
    "latency_mean_s",
    "revealed_share_mean",
    "final",
    "records",
)


def llm_stake_share(options: EvalOptions) -> float:
    """The share of the stake held by nodes that judge with the LLM (alone or beside checkers)."""
    stakes = plan_adversaries(options).stakes_eth
    kinds = node_auditor_kinds(options)
    held = sum(stake for stake, kind in zip(stakes, kinds, strict=True) if "llm" in kind)
    return round(held / sum(stakes), 4)


async def measure_arm(
    records: Path, limit: int, arm: str, timing: dict[str, float]
) -> dict[str, Any]:
    """One `trustnode eval` run of this arm, with its single judge beside it."""
    with tempfile.TemporaryDirectory(prefix="trust-tier-mix-") as tmp:
        options = EvalOptions(
            records=records,
            out=Path(tmp) / "result.json",
            limit=limit,
            seed=1,
            auditors=arm,
            **timing,
        )
        started = time.perf_counter()
        document = await run_evaluation(options, io.StringIO())
    metrics = document["metrics"]
    point = {
        "records_file": records.name,
        "arm": arm,
        "llm_stake_share": llm_stake_share(options),
        **{name: metrics.get(name) for name in REPORTED},
        "wall_s": round(time.perf_counter() - started, 1),
        "single_judge": await measure_single(records, limit, arm),
    }
    print(json.dumps(point), flush=True)
    return point


async def measure_single(records: Path, limit: int, arm: str) -> dict[str, float | None] | None:
    """The arm's judge alone on every segment, in process; None for a mixed network."""
    if arm == "tier1":
        return measure_single_judge(records, limit)
    if arm in ("llm", "tier1+llm"):
        return await measure_single_tiered_judge(records, limit, checkers=arm == "tier1+llm")
    return None


async def run(args: argparse.Namespace, document: dict[str, Any]) -> None:
    timing = {
        "commit_window_s": args.commit_window,
        "stall_timeout_s": args.stall_timeout,
        "trace_timeout_s": args.trace_timeout,
    }
    for records in args.records:
        for arm in args.arms:
            document["points"].append(await measure_arm(records, args.limit, arm, timing))
            write_result(args.out, document)


def plot(points: Sequence[dict[str, Any]], path: Path) -> None:
    """One panel per records file: F1 and first-error accuracy per arm through the network,
    the arm's single judge in process as a marker."""
    files = list(dict.fromkeys(p["records_file"] for p in points))
    figure, panels = plt.subplots(1, len(files), figsize=(6 * len(files), 4.4), squeeze=False)
    for panel, name in zip(panels.flat, files, strict=True):
        arms = [p for p in points if p["records_file"] == name]
        xs = range(len(arms))
        bars = ((-0.2, "f1", "F1"), (0.2, "first_error_accuracy", "first error"))
        for offset, key, label in bars:
            values = [100 * (p[key] or 0) for p in arms]
            panel.bar([x + offset for x in xs], values, width=0.4, label=f"{label}, network")
        singles = [(x, p["single_judge"]) for x, p in zip(xs, arms, strict=True)]
        marked = [(x - 0.2, 100 * (s["f1"] or 0)) for x, s in singles if s is not None]
        if marked:
            panel.plot(*zip(*marked, strict=True), "k_", markersize=18, label="F1, one judge")
        panel.set_xticks(list(xs), [p["arm"].replace(",", ",\n") for p in arms], fontsize=7)
        panel.set_ylim(0, 100)
        panel.set_ylabel("%")
        panel.set_title(f"{name}: {arms[0]['records']} records")
        panel.legend(fontsize=7)
    figure.suptitle("Tier mix through the network (5 nodes, on-chain verdicts)")
    save_figure(figure, path)


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--records", type=Path, nargs="+", default=list(DEFAULT_RECORDS))
    parser.add_argument("--limit", type=int, default=6)
    parser.add_argument("--arms", nargs="+", default=list(DEFAULT_ARMS))
    parser.add_argument("--commit-window", type=float, default=600.0)
    parser.add_argument("--stall-timeout", type=float, default=2400.0)
    parser.add_argument("--trace-timeout", type=float, default=3000.0)
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--replot", action="store_true", help="only redraw the PNG from --out")
    return parser.parse_args(argv)


def main(argv: Sequence[str]) -> int:
    args = parse_args(argv)
    if args.replot:
        replot(args.out, plot)
        return 0
    started = time.perf_counter()
    document: dict[str, Any] = {
        "command": " ".join(["python", "benchmarks/tier_mix.py", *argv]),
        "limit": args.limit,
        **stamp(),
        "note": "real judges: the tier-1 checkers and the local SmolLM2-135M, no oracle",
        "points": [],
    }
    run_until_terminated(lambda: run(args, document))
    document["wall_s"] = round(time.perf_counter() - started, 1)
    write_result(args.out, document)
    plot(document["points"], args.out.with_suffix(".png"))
    print(f"written {args.out} and {args.out.with_suffix('.png')}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
