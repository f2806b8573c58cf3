"""Calibration of the verdict probability, and the exposure it came with, from one evaluation.

Run from the repository root:
`python benchmarks/calibration.py [--files F ...] [--limit 200] [--auditors tier1]
[--result EVAL.json | --resume] [--out ...json]`.

Without `--result` it runs `trustnode eval` (`devnet.evaluation.run_evaluation`, a fresh
five-node devnet) on `--limit` records spread evenly over the files (default: every BIG-Bench
Mistake and ProcessBench development file) and keeps its result file beside the output
(`calibration-eval.json`, measured afresh unless `--resume` continues an interrupted run); with
`--result` it reads an earlier one. From the entries it computes the reliability table of
P(SOUND) (ten equal bins), the expected calibration error, the Brier score, and the Brier score
of always answering the base rate, the floor a useful probability must beat. P(SOUND) comes
from the on-chain tallies and an assumed per-vote accuracy (`--judge-accuracy`,
`compute_verdict_probability`): what is tested is whether that model of the judges fits. Writes
the JSON and a PNG (reliability diagram with the bin counts).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Sequence
from functools import partial
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt  # `pip install .[bench]`; headless, it draws with Agg
from common import (
    LABELLED_FILES,
    REPO,
    RESULTS_DIR,
    save_figure,
    spread,
    stamp,
    write_result_and_figure,
)

from devnet.evaluation import DEFAULT_JUDGE_ACCURACY, EvalOptions, run_evaluation
from devnet.evaluation.metrics import (
    compute_base_rate_brier,
    compute_brier,
    compute_calibration_error,
    compute_reliability,
)
from node.termination import run_until_terminated

RESULTS = RESULTS_DIR / "calibration.json"
BINS = 10


def write_records(files: Sequence[Path], limit: int, path: Path) -> None:
    """`limit` record lines spread evenly over the files' concatenation, as one JSONL."""
    lines = [
        line
        for name in files
        for line in name.read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]
    path.write_text("\n".join(spread(lines, limit)) + "\n", encoding="utf-8")


async def run_eval(args: argparse.Namespace, result: Path) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="trust-calibration-") as tmp:
        records = Path(tmp) / "records.jsonl"
        write_records(args.files, args.limit, records)
        options = EvalOptions(
            records=records,
            out=result,
            seed=args.seed,
            auditors=args.auditors,
            judge_accuracy=args.judge_accuracy,
        )
        return await run_evaluation(options, sys.stderr)


def compute_calibration(entries: Sequence[dict[str, Any]]) -> dict[str, Any]:
    final = [e for e in entries if e.get("probability") is not None]
    probabilities = [float(e["probability"]) for e in final]
    labels = [int(e["label"]) for e in final]
    table = compute_reliability(probabilities, labels, BINS)
    return {
        "records": len(entries),
        "final": len(final),
        "brier": compute_brier(probabilities, labels),
        "base_rate_brier": compute_base_rate_brier(labels),
        "expected_calibration_error": compute_calibration_error(table),
        "reliability": table,
    }


def plot(calibration: dict[str, Any], title: str, path: Path) -> None:
    table = calibration["reliability"]
    figure, (diagram, counts) = plt.subplots(
        2, 1, figsize=(5.5, 6.5), sharex=True, gridspec_kw={"height_ratios": (3, 1)}
    )
    diagram.plot([0, 1], [0, 1], color="grey", linestyle=":", label="perfectly calibrated")
    diagram.plot(
        [row["mean_probability"] for row in table],
        [row["observed_sound"] for row in table],
        marker="o",
        label=f"measured (ECE {calibration['expected_calibration_error']})",
    )
    diagram.set_ylabel("share of correct records")
    diagram.set_title(
        f"{title}\nBrier {calibration['brier']} (base rate {calibration['base_rate_brier']})"
    )
    diagram.legend(fontsize=8)
    counts.bar(
        [(row["low"] + row["high"]) / 2 for row in table],
        [row["count"] for row in table],
        width=1 / BINS * 0.9,
    )
    counts.set_xlabel("P(SOUND) from the on-chain tallies")
    counts.set_ylabel("records")
    save_figure(figure, path)


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--files", type=Path, nargs="+", default=list(LABELLED_FILES))
    parser.add_argument("--limit", type=int, default=200)
    parser.add_argument("--auditors", default="tier1")
    parser.add_argument("--judge-accuracy", type=float, default=DEFAULT_JUDGE_ACCURACY)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--result", type=Path, help="an earlier `trustnode eval` result file")
    parser.add_argument(
        "--resume", action="store_true", help="continue the eval result file of an interrupted run"
    )
    parser.add_argument("--out", type=Path, default=RESULTS)
    return parser.parse_args(argv)


def main(argv: Sequence[str]) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    result = args.result or args.out.with_name(args.out.stem + "-eval.json")
    if args.result is None:
        if not args.resume:
            result.unlink(missing_ok=True)  # else `trustnode eval` resumes: nothing remeasured
        run_until_terminated(lambda: run_eval(args, result))
    evaluation = json.loads(result.read_text(encoding="utf-8"))
    calibration = compute_calibration(evaluation["entries"])
    document = {
        "command": " ".join(["python", "benchmarks/calibration.py", *argv]),
        "eval_result": str(result.relative_to(REPO) if result.is_relative_to(REPO) else result),
        "auditors": evaluation.get("options", {}).get("auditors", args.auditors),
        **calibration,
        "wall_s": round(time.perf_counter() - started, 1),
        **stamp(),
    }
    print(json.dumps({k: v for k, v in document.items() if k != "reliability"}, indent=1))
    title = f"Verdict probability, {calibration['final']} records, auditors {document['auditors']}"
    write_result_and_figure(args.out, document, partial(plot, calibration, title))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
