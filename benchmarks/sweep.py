"""Corruption sweep: ProcessBench F1 against the adversarial share of the stake, through the
real network, with oracle auditors (`trustnode eval --auditors oracle:P`).

Run from the repository root:
`python benchmarks/sweep.py [--records FILE] [--limit 12] [--accuracies 0.7 0.9]
[--strategies flip always-valid] [--fractions 0 0.1 0.2 0.3 0.4] [--out ...json]`.

Each point is one `trustnode eval` run (`devnet.evaluation.run_evaluation`) on a fresh
five-node devnet: every node an oracle auditor right with probability P (seeded), the nodes
whose stake is the largest share not above the fraction given `--strategy` instead. The dev
stakes are 10, 20, 30, 40 and 50 ETH, so the realised share (what the plot's x axis shows) is
0, 6.7, 20, 26.7 and 40% for 0, 0.1, 0.2, 0.3 and 0.4. Oracle auditors isolate the protocol
(committees, tally, escalation, adversaries) from judge quality; the papers' claim under test is
"correct under up to 30% malicious participants". Writes the JSON and a PNG plot beside it
(matplotlib, from `pip install .[bench]`, which `make bench` runs).
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt  # `pip install .[bench]`; headless, it draws with Agg
from machine import cpu_model  # benchmarks/ is sys.path[0] when run as a script

from devnet.evaluation import EvalOptions, run_evaluation

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data" / "external-dev"
RESULTS = REPO / "benchmarks" / "results" / "sweep.json"
DEFAULT_RECORDS = DATA / "processbench-gsm8k.jsonl"
#: The papers' claim: correct under up to 30% malicious participants.
CLAIMED_FRACTION = 0.3


async def measure_point(
    records: Path, limit: int, accuracy: float, fraction: float, strategy: str, seed: int
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="trust-sweep-") as tmp:
        options = EvalOptions(
            records=records,
            out=Path(tmp) / "result.json",
            limit=limit,
            seed=seed,
            auditors=f"oracle:{accuracy:g}",
            byzantine=fraction,
            strategy=strategy,  # type: ignore[arg-type]
            judge_accuracy=accuracy,
        )
        started = time.perf_counter()
        document = await run_evaluation(options, io.StringIO())
    metrics = document["metrics"]
    point = {
        "accuracy": accuracy,
        "strategy": strategy if document["adversaries"]["nodes"] else "none",
        "requested_fraction": fraction,
        "adversarial_fraction": document["adversaries"]["stake_fraction"],
        "adversarial_nodes": document["adversaries"]["nodes"],
        "f1": metrics["f1"],
        "accuracy_erroneous": metrics["accuracy_erroneous"],
        "accuracy_correct": metrics["accuracy_correct"],
        "first_error_accuracy": metrics["first_error_accuracy"],
        "brier": metrics["brier"],
        "final": metrics["final"],
        "records": metrics["records"],
        "wall_s": round(time.perf_counter() - started, 1),
    }
    print(json.dumps(point), flush=True)
    return point


async def run(args: argparse.Namespace) -> list[dict[str, Any]]:
    points = []
    for accuracy in args.accuracies:
        honest = await measure_point(args.records, args.limit, accuracy, 0.0, "flip", args.seed)
        points.append(honest)
        for strategy in args.strategies:
            for fraction in (f for f in args.fractions if f > 0):
                points.append(
                    await measure_point(
                        args.records, args.limit, accuracy, fraction, strategy, args.seed
                    )
                )
    return points


def plot(points: Sequence[dict[str, Any]], path: Path) -> None:
    """F1 against the realised adversarial share, one line per (P, strategy)."""
    figure, axes = plt.subplots(figsize=(7, 4.5))
    for accuracy in sorted({p["accuracy"] for p in points}):
        honest = [p for p in points if p["accuracy"] == accuracy and p["strategy"] == "none"]
        for strategy in sorted({p["strategy"] for p in points} - {"none"}):
            line = honest + [
                p for p in points if p["accuracy"] == accuracy and p["strategy"] == strategy
            ]
            line.sort(key=lambda p: p["adversarial_fraction"])
            axes.plot(
                [100 * p["adversarial_fraction"] for p in line],
                [100 * (p["f1"] or 0) for p in line],
                marker="o",
                label=f"oracle P={accuracy:g}, {strategy}",
            )
    axes.axvline(100 * CLAIMED_FRACTION, color="grey", linestyle=":", label="papers' 30% claim")
    axes.set_xlabel("adversarial share of the stake (%)")
    axes.set_ylabel("ProcessBench F1 (%)")
    axes.set_ylim(0, 100)
    axes.legend(fontsize=8)
    axes.set_title("Corruption sweep through the network (5 nodes, on-chain verdicts)")
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return True


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--records", type=Path, default=DEFAULT_RECORDS)
    parser.add_argument("--limit", type=int, default=12)
    parser.add_argument("--accuracies", type=float, nargs="+", default=[0.7, 0.9])
    parser.add_argument("--strategies", nargs="+", default=["flip", "always-valid"])
    parser.add_argument("--fractions", type=float, nargs="+", default=[0, 0.1, 0.2, 0.3, 0.4])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path, default=RESULTS)
    return parser.parse_args(argv)


def main(argv: Sequence[str]) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    points = asyncio.run(run(args))
    document = {
        "command": " ".join(["python", "benchmarks/sweep.py", *argv]),
        "records": str(args.records),
        "limit": args.limit,
        "seed": args.seed,
        "points": points,
        "wall_s": round(time.perf_counter() - started, 1),
        "cpu": cpu_model(),
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "note": "oracle auditors: a labelled simulation of judges, not real judges",
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(document, indent=1) + "\n", encoding="utf-8")
    print(f"written {args.out}")
    plot(points, args.out.with_suffix(".png"))
    print(f"written {args.out.with_suffix('.png')}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
